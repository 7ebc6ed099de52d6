/* The Lua runtime of one thread: a lua_State with the core's primitives, the tasks
 * (coroutines) it runs, and the loop that wakes them. Only lua_*.c files include this. */
#ifndef CREDREPORT_LUA_RUNTIME_H
#define CREDREPORT_LUA_RUNTIME_H

#include <lua.h>
#include <stdbool.h>

#include "aws/aws.h"
#include "config/config.h"
#include "http/loop.h"

/* What identifies a run, the same in every thread. */
struct run_info {
    char id[48];      /* 20261128T213000Z-1a2b3c4d */
    time_t started;
    char date[11];    /* 2026-11-28 (UTC) */
    char time[7];     /* 213000 */
};

struct runtime_options {
    const char *lua_dir;        /* where the Lua library lives */
    const char *region;         /* default region; NULL: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1 */
    struct http_settings http;
    struct retry_config retry;
    struct endpoint_overrides endpoints;
    const struct config *config; /* seen by Lua as require "credreport.config"; may be NULL */
    const struct run_info *run;  /* seen by Lua as require "credreport.run"; may be NULL */
    struct aws_shared *shared;   /* shared by the threads of a run; NULL: the runtime's own */
};

struct runtime {
    lua_State *L;
    struct loop *loop;
    struct aws_ctx *aws;
    struct aws_shared own_shared;
    int live_tasks;
    /* Other threads may wake this loop (workflow queues): waiting with nothing pending in
     * the loop itself is then no deadlock. */
    bool external_wakeups;
    void *workflow; /* the workflow link of this thread (lua_workflow.c), or NULL */
    /* Tasks waiting in core.wait_queue(), oldest first: a ring of queue_cap. */
    struct task **queue;
    size_t queue_head, queue_len, queue_cap;
    /* Set once by runtime_short_of_work(); the tasks in core.sleep() that it cuts short. */
    bool short_of_work;
    struct task *cuttable;
};

struct task;

/* Script paths that start with this name files of the library built into the binary:
 * "(built in)/workflows/organization.lua". */
#define RUNTIME_BUILTIN "(built in)/"
struct lua_bundle_file;
/* The built-in file at path (with or without the prefix), or NULL. */
const struct lua_bundle_file *runtime_builtin(const char *path);

/* Whether this thread's requests waiting for a connection, and `more` about to be, are fewer
 * than twice its connections per endpoint: below that core.wait_queue() lets calls go and a
 * worker starts accounts. With held, the calls rate limiters hold count as waiting too. */
bool runtime_queue_has_room(const struct runtime *rt, size_t more, bool held);

/* Public entry points (used by main.c). */
struct runtime *runtime_new(const struct runtime_options *o, char *err, size_t errlen);
void runtime_free(struct runtime *rt);
enum { RUN_OK = 0, RUN_SCRIPT_ERROR = 1, RUN_LOAD_ERROR = 2 };
/* Runs the script at path as the main task (with arg = {...}) until every task it started
 * ended. On RUN_OK *results_ref is a registry reference to {ok=, n=, ...results}. */
int runtime_run_main(struct runtime *rt, const char *path, int argc, char **argv,
                     int *results_ref);

/* Drives the loop while keep_going says so (NULL: while any task is alive). keep_going runs
 * after every loop iteration and may start tasks. -1 when tasks wait with nothing pending. */
typedef bool (*runtime_keep_going_fn)(struct runtime *rt, void *arg);
int runtime_drive(struct runtime *rt, runtime_keep_going_fn keep_going, void *arg);

/* [-(nargs+1), +0, -] Makes a task of the function and arguments on top of rt->L; it starts
 * from the loop. With keep_ref the task stays referenced (for its results) until unref'd.
 * NULL when memory runs out. */
struct task *runtime_spawn(struct runtime *rt, int nargs, int *keep_ref);
/* [-0, +1|0, -] Pushes {ok=, n=, ...results} of an ended task; false if it has not ended. */
bool runtime_push_results(struct runtime *rt, const struct task *t);

/* For the lua_*.c files. */
struct runtime *runtime_get(lua_State *L);
/* The task running in L; raises when L is not a task (for example inside a coroutine the
 * script created itself). */
struct task *runtime_current_task(lua_State *L);
/* Suspends the running task until runtime_wake(); returns what lua_yield returns. The values
 * given to runtime_wake become the results of the primitive that called this.
 * [-0, +?, -] */
int runtime_wait(lua_State *L, struct task *t);
/* Resumes t with the n values on top of rt->L's stack (moved to the task). [-n, +0, -] */
void runtime_wake(struct runtime *rt, struct task *t, int n);
/* The thread has run short of work (a worker: every account of the run started, and few in
 * flight): the tasks in core.sleep(seconds, idle_seconds) return at once, with true, and later
 * calls wait only idle_seconds. Once; later calls do nothing. */
void runtime_short_of_work(struct runtime *rt);
/* True while t is the running task (a completion arriving before the task yielded). */
bool runtime_task_running(const struct task *t);
/* True once t has ended. */
bool runtime_task_done(const struct task *t);

/* [-0, +1, e] Pushes lua-cjson's function name ("encode", "decode"): how C reaches cjson. */
void runtime_cjson(lua_State *L, const char *name);

#endif
