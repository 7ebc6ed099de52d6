/* The Lua runtime of one thread: a lua_State with the core's primitives, the tasks
 * (coroutines) it runs, and the loop that wakes them. Only lua_*.c files include this. */
#ifndef CREDREPORT_LUA_RUNTIME_H
#define CREDREPORT_LUA_RUNTIME_H

#include <lua.h>
#include <stdbool.h>

#include "aws.h"
#include "loop.h"

struct runtime_options {
    const char *lua_dir;        /* where the Lua library lives */
    const char *region;         /* default region; NULL: AWS_REGION, AWS_DEFAULT_REGION, profile, us-east-1 */
    struct http_settings http;
    struct retry_config retry;
    struct endpoint_overrides endpoints;
};

struct runtime {
    lua_State *L;
    struct loop *loop;
    struct aws_ctx *aws;
    struct aws_shared shared;
    int live_tasks;
};

struct task;

/* Public entry points (used by main.c). */
struct runtime *runtime_new(const struct runtime_options *o, char *err, size_t errlen);
void runtime_free(struct runtime *rt);
/* Runs a script as the main task with arg = {...}, drives the loop until every task ended,
 * and returns the exit status: the main task's integer result, 0 by default, 1 on error. */
int runtime_run_file(struct runtime *rt, const char *path, int argc, char **argv);

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
/* True while t is the running task (a completion arriving before the task yielded). */
bool runtime_task_running(const struct task *t);

int luaopen_credreport_aws(lua_State *L);

#endif
