/* Running a script: a plain script runs on the main thread; a workflow (a script that
 * returns a table with discover() and process()) runs discovery on the main thread and
 * processes accounts on worker threads, each with its own Lua state loaded from the same
 * script (the model of wrk), many accounts in flight per thread. */
#ifndef CREDREPORT_WORKFLOW_H
#define CREDREPORT_WORKFLOW_H

#include "lua/lua_runtime.h"

enum workflow_mode { WF_RUN, WF_ACCOUNTS, WF_DRY_RUN };

struct workflow_options {
    struct runtime_options rt; /* for every thread's runtime */
    const char *script;
    int argc;
    char **argv;
    enum workflow_mode mode;
    int threads;               /* worker threads (>= 1) */
    int concurrency;           /* accounts in flight in all (>= 1) */
    /* [aws] max_connections split for a workflow run: each worker's, and the main thread's
     * (rt.http.max_connections, all of it, is for a script's only thread) */
    int worker_connections;
    int main_connections;
    int worker_grow_connections; /* each worker's to grow to for a far endpoint; 0: none */
    const char *lock_path;     /* held for the whole run; NULL: no lock */
    double grace_period;       /* seconds in-flight accounts get after SIGINT/SIGTERM */
    const char *format;        /* WF_ACCOUNTS: "table", "json" or "csv" */
};


/* Returns the process exit status. */
int workflow_main(const struct workflow_options *o);

#endif
