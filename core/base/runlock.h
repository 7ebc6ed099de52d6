/* The run lock: at most one run at a time per lock file, so that a cron job that outlasts
 * its interval is not overlapped by the next one. The lock lives in a place no other user
 * can write to, and a lock file someone else planted is refused, not trusted. */
#ifndef CREDREPORT_RUNLOCK_H
#define CREDREPORT_RUNLOCK_H

#include <stdbool.h>
#include <stddef.h>

/* The default lock file: $XDG_RUNTIME_DIR/credreport.lock when that directory is private to
 * the user (as systemd makes it), else credreport.lock in /tmp/credreport-<uid>, a directory
 * created with mode 0700 and checked to be the user's own (not a symbolic link, no access
 * for others). Returns 0 with the path in buf, or -1 with the reason in err. */
int runlock_default_path(char *buf, size_t cap, char *err, size_t errlen);

/* Takes the lock for the life of the process: returns its descriptor (kept open), or -1 with
 * *busy = true when another run holds it (err names its pid when known), or *busy = false
 * when the file cannot be used (a symbolic link, not a regular file, owned by someone else,
 * writable by others, or an I/O error; err says which). The pid is written only once the
 * lock is held. */
int runlock_take(const char *path, bool *busy, char *err, size_t errlen);

#endif
