/* The exit statuses of credreport, for cron and monitoring: defined here once and given to
 * Lua as core.exit (lua/lua_core.c). */
#ifndef CREDREPORT_EXITCODE_H
#define CREDREPORT_EXITCODE_H

enum exit_status {
    EXIT_DELIVERED = 0,        /* every account in scope delivered */
    EXIT_ACCOUNTS_FAILED = 1,  /* the run completed, some accounts failed (see the manifest) */
    EXIT_USAGE = 2,            /* usage or configuration error */
    EXIT_CANNOT_START = 3,     /* no credentials, a failed preflight, the organization unlisted */
    EXIT_LOCKED = 4,           /* another run holds the lock */
    EXIT_NOTHING_IN_SCOPE = 5, /* no account in scope: nothing to deliver */
    EXIT_INTERNAL = 70,        /* an unrecoverable Lua error (a bug), or memory out for long
                                  where the run cannot go on: exits at once, no core */
    EXIT_SIGNAL_BASE = 128,    /* stopped by signal N: 128 + N, as a shell reports it */
};

#endif
