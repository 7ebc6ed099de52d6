/* Tasks: every script runs in coroutines ("tasks") that the core suspends while they wait
 * (an AWS call, a sleep, another task) and resumes from the loop when the wait is over, so a
 * wait never holds an OS thread. */
#include "lua/lua_runtime.h"

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lualib.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "base/exitcode.h"
#include "lua/lua_bundle.h"
#include "lua/lua_primitives.h"
#include "base/log.h"

#define TASK_MT "credreport.task"
/* Percentages: a cycle starts when the heap has grown 10% past what the last one kept, and
 * runs four times as fast as memory is allocated. */
#define LUA_GC_PAUSE 110
#define LUA_GC_STEPMUL 400

/* Registry keys: addresses, not strings, so no script can collide with them. */
static char s_runtime_key;
static char s_tasks_key; /* coroutine -> task userdata, for tasks not yet finished */

struct task {
    struct runtime *rt;
    lua_State *co;
    int self_ref;    /* keeps the task (and its coroutine) alive until it ends */
    int result_ref;  /* table {ok, n, ...} once it ended */
    int joiners_ref; /* array of tasks waiting in join() */
    bool running, waiting, done, is_main;
    /* In core.sleep(): its timer, what it will return, and its place among the sleeps
     * runtime_short_of_work() cuts short (rt->cuttable). */
    struct loop_timer *sleep_timer;
    bool sleep_cut;
    struct task *cut_prev, *cut_next;
};

struct runtime *runtime_get(lua_State *L)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_runtime_key);
    struct runtime *rt = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return rt;
}

static struct task *s_task_of(lua_State *L, lua_State *co)
{
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_tasks_key);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    lua_rawget(L, -2);
    struct task *t = lua_touserdata(L, -1);
    lua_pop(L, 2);
    return t;
}

struct task *runtime_current_task(lua_State *L)
{
    struct task *t = s_task_of(L, L);
    if (!t)
        luaL_error(L, "this call waits, so it must run in a task, not inside a coroutine the "
                      "script created itself");
    /* Checked before anything is started, so a refused wait leaves nothing behind. */
    if (!lua_isyieldable(L))
        luaL_error(L, "this call waits, which is not possible inside a C function such as "
                      "table.sort's comparator or a metamethod");
    return t;
}

bool runtime_task_running(const struct task *t)
{
    return t->running;
}

bool runtime_task_done(const struct task *t)
{
    return t->done;
}

int runtime_wait(lua_State *L, struct task *t)
{
    t->waiting = true;
    return lua_yield(L, 0);
}

static void s_resume(struct task *t, int nargs);

void runtime_wake(struct runtime *rt, struct task *t, int n)
{
    lua_xmove(rt->L, t->co, n);
    s_resume(t, n);
}

/* [-0, +0, m] Sets the task of coroutine co in the table of unfinished tasks: the value at
 * index value (a task userdata), or none when value is 0. */
static void s_tasks_set(lua_State *L, lua_State *co, int value)
{
    value = value ? lua_absindex(L, value) : 0;
    lua_rawgetp(L, LUA_REGISTRYINDEX, &s_tasks_key);
    lua_pushthread(co);
    lua_xmove(co, L, 1);
    if (value)
        lua_pushvalue(L, value);
    else
        lua_pushnil(L);
    lua_rawset(L, -3);
    lua_pop(L, 1);
}

/* [-0, +0, -] Records the task's outcome (nres values on co's stack; for a failure one
 * message) and wakes the tasks joined on it with (ok, ...). */
static void s_task_end(struct task *t, bool ok, int nres)
{
    struct runtime *rt = t->rt;
    lua_State *L = rt->L;
    t->done = true;
    rt->live_tasks--;
    lua_createtable(L, nres, 2);
    lua_pushboolean(L, ok);
    lua_setfield(L, -2, "ok");
    lua_pushinteger(L, nres);
    lua_setfield(L, -2, "n");
    lua_xmove(t->co, L, nres);
    for (int i = nres; i >= 1; i--)
        lua_rawseti(L, -(i + 1), i);
    t->result_ref = luaL_ref(L, LUA_REGISTRYINDEX);

    s_tasks_set(L, t->co, 0);

    /* The joiners list is taken first: a woken joiner may itself end and recurse here. */
    int joiners = t->joiners_ref;
    t->joiners_ref = LUA_NOREF;
    int self = t->self_ref;
    t->self_ref = LUA_NOREF;
    if (joiners != LUA_NOREF) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, joiners);
        luaL_unref(L, LUA_REGISTRYINDEX, joiners);
        int n = (int)lua_rawlen(L, -1);
        for (int i = 1; i <= n; i++) {
            lua_rawgeti(L, -1, i);
            struct task *j = lua_touserdata(L, -1);
            lua_pop(L, 1);
            lua_rawgeti(L, LUA_REGISTRYINDEX, t->result_ref);
            int k = 0;
            lua_getfield(L, -1, "ok");
            k++;
            for (int v = 1; v <= nres; v++, k++)
                lua_rawgeti(L, -1 - k, v);
            lua_remove(L, -1 - k);
            runtime_wake(rt, j, k);
        }
        lua_pop(L, 1);
    }
    luaL_unref(L, LUA_REGISTRYINDEX, self);
}

static void s_resume(struct task *t, int nargs)
{
    struct runtime *rt = t->rt;
    int nres = 0;
    t->running = true;
    t->waiting = false;
    int status = lua_resume(t->co, rt->L, nargs, &nres);
    t->running = false;
    if (status == LUA_YIELD) {
        lua_pop(t->co, nres);
        if (t->waiting)
            return;
        lua_pushstring(t->co, "coroutine.yield() called in a task outside a coroutine the "
                              "script created: use credreport's primitives to wait");
        status = LUA_ERRRUN;
    }
    if (status == LUA_OK) {
        s_task_end(t, true, nres);
        return;
    }
    /* The error value is kept as it is (an AWS error table stays a table for join());
     * what is printed is its text, made on the main state: the coroutine is dead. */
    lua_State *L = rt->L;
    lua_xmove(t->co, L, 1);
    int err_idx = lua_gettop(L);
    const char *msg = luaL_tolstring(L, err_idx, NULL);
    if (lua_istable(L, err_idx)) {
        lua_getfield(L, err_idx, "message");
        if (lua_isstring(L, -1))
            msg = lua_tostring(L, -1);
    }
    luaL_traceback(L, t->co, msg, 0);
    size_t tlen;
    const char *trace = lua_tolstring(L, -1, &tlen);
    struct log_field f[] = {{.key = "error", .kind = LOG_TEXT, .text = trace, .len = tlen}};
    log_event(LOG_ERROR, t->is_main ? "the script failed" : "a task failed", f, 1);
    lua_settop(L, err_idx);
    lua_xmove(L, t->co, 1);
    s_task_end(t, false, 1);
}

static void s_on_start_timer(void *arg)
{
    struct task *t = arg;
    s_resume(t, lua_gettop(t->co) - 1);
}

/* [-(n+1), +1, m] Makes a task of the function and n arguments on top of L; it starts from
 * the loop, never inside the caller. Pushes the task. */
static struct task *s_spawn(lua_State *L, int n, bool is_main)
{
    struct runtime *rt = runtime_get(L);
    struct task *t = lua_newuserdatauv(L, sizeof *t, 1);
    memset(t, 0, sizeof *t);
    t->rt = rt;
    t->is_main = is_main;
    t->self_ref = t->result_ref = t->joiners_ref = LUA_NOREF;
    luaL_setmetatable(L, TASK_MT);
    lua_State *co = lua_newthread(L);
    lua_setiuservalue(L, -2, 1);
    t->co = co;
    lua_insert(L, -(n + 2));      /* task below fn and args */
    lua_xmove(L, co, n + 1);
    /* Registered before its start is scheduled, since registering may raise (memory): a
     * timer must never start a task that is garbage. */
    s_tasks_set(L, co, -1);
    lua_pushvalue(L, -1);
    t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    if (!loop_timer_add(rt->loop, 0, s_on_start_timer, t)) {
        luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
        t->self_ref = LUA_NOREF;
        s_tasks_set(L, co, 0);
        luaL_error(L, "out of memory");
    }
    rt->live_tasks++;
    return t;
}

/* core.spawn(fn, ...) -> task */
static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TFUNCTION);
    s_spawn(L, lua_gettop(L) - 1, false);
    return 1;
}

/* task:join() -> true, results... | false, error. Waits for the task to end. */
static int l_task_join(lua_State *L)
{
    struct task *t = luaL_checkudata(L, 1, TASK_MT);
    if (t->done) {
        lua_rawgeti(L, LUA_REGISTRYINDEX, t->result_ref);
        lua_getfield(L, -1, "ok");
        lua_getfield(L, -2, "n");
        int n = (int)lua_tointeger(L, -1);
        lua_pop(L, 1);
        luaL_checkstack(L, n, "too many results");
        for (int i = 1; i <= n; i++)
            lua_rawgeti(L, -1 - (i - 1) - 1, i);
        lua_remove(L, -(n + 2));
        return n + 1;
    }
    struct task *me = runtime_current_task(L);
    if (me == t)
        return luaL_error(L, "a task cannot join itself");
    struct runtime *rt = t->rt;
    if (t->joiners_ref == LUA_NOREF) {
        lua_newtable(L);
        t->joiners_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, t->joiners_ref);
    lua_pushlightuserdata(L, me);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 1);
    (void)rt;
    return runtime_wait(L, me);
}

static int l_task_done(lua_State *L)
{
    struct task *t = luaL_checkudata(L, 1, TASK_MT);
    lua_pushboolean(L, t->done);
    return 1;
}

static int l_task_gc(lua_State *L)
{
    struct task *t = luaL_checkudata(L, 1, TASK_MT);
    if (t->result_ref != LUA_NOREF) {
        luaL_unref(L, LUA_REGISTRYINDEX, t->result_ref);
        t->result_ref = LUA_NOREF;
    }
    return 0;
}

static void s_uncuttable(struct task *t)
{
    if (t->cut_prev)
        t->cut_prev->cut_next = t->cut_next;
    else if (t->rt->cuttable == t)
        t->rt->cuttable = t->cut_next;
    if (t->cut_next)
        t->cut_next->cut_prev = t->cut_prev;
    t->cut_prev = t->cut_next = NULL;
}

static void s_on_sleep_timer(void *arg)
{
    struct task *t = arg;
    t->sleep_timer = NULL;
    s_uncuttable(t);
    lua_pushboolean(t->rt->L, t->sleep_cut);
    runtime_wake(t->rt, t, 1);
}

/* core.sleep(seconds[, idle_seconds]) -> whether it waited idle_seconds, or less, instead */
static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    luaL_argcheck(L, s >= 0, 1, "must not be negative");
    double idle = luaL_optnumber(L, 2, s);
    luaL_argcheck(L, idle >= 0, 2, "must not be negative");
    struct task *t = runtime_current_task(L);
    struct runtime *rt = t->rt;
    bool cuttable = idle < s;
    t->sleep_cut = cuttable && rt->short_of_work;
    t->sleep_timer = loop_timer_add(rt->loop, t->sleep_cut ? idle : s, s_on_sleep_timer, t);
    if (!t->sleep_timer)
        return luaL_error(L, "out of memory");
    if (cuttable && !rt->short_of_work) {
        t->cut_next = rt->cuttable;
        if (rt->cuttable)
            rt->cuttable->cut_prev = t;
        rt->cuttable = t;
    }
    return runtime_wait(L, t);
}

void runtime_short_of_work(struct runtime *rt)
{
    if (rt->short_of_work)
        return;
    rt->short_of_work = true;
    while (rt->cuttable) {
        struct task *t = rt->cuttable;
        s_uncuttable(t);
        loop_timer_cancel(t->sleep_timer);
        t->sleep_timer = NULL;
        lua_pushboolean(rt->L, 1);
        runtime_wake(rt, t, 1);
    }
}

/* ---- the connection queue: calls that can wait their turn in their task ------------ */

/* A request waiting for a connection holds its built call (call, attempt, headers, URL:
 * about 1.3 KB); a task waiting here holds nothing more than itself. When the checks of
 * thousands of waiting accounts fall due faster than the endpoint answers, they wait here,
 * in turn, while the connections stay as busy: the thread keeps twice its connections per
 * endpoint in requests waiting for one. Calls a throttled service's rate limiter holds
 * count when a worker starts an account whose first call may go to that service (held):
 * they will queue for a connection, and the account would wait with them (at 10,000
 * accounts with STS's rate cut, accounts started while their AssumeRoles waited for
 * tokens: peak RSS 94-124 MiB, now 56-63). Counted for core.wait_queue() too, they kept
 * every report check (a call to IAM) waiting until the last role was assumed. */
bool runtime_queue_has_room(const struct runtime *rt, size_t more, bool held)
{
    size_t waiting = loop_slot_backlog(rt->loop) + (held ? aws_ctx_pacing(rt->aws) : 0);
    return waiting + more < 2 * (size_t)loop_max_connections(rt->loop);
}

/* core.wait_queue(): returns at once while the thread has room in its connection queue and
 * no task waits here before it; otherwise waits, first come first served. */
static int l_wait_queue(lua_State *L)
{
    struct runtime *rt = runtime_get(L);
    if (rt->queue_len == 0 && runtime_queue_has_room(rt, 0, false))
        return 0;
    struct task *t = runtime_current_task(L);
    if (rt->queue_len == rt->queue_cap) {
        size_t cap = rt->queue_cap ? 2 * rt->queue_cap : 64;
        struct task **q = malloc(cap * sizeof *q);
        if (!q)
            return luaL_error(L, "out of memory");
        for (size_t i = 0; i < rt->queue_len; i++)
            q[i] = rt->queue[(rt->queue_head + i) % rt->queue_cap];
        free(rt->queue);
        rt->queue = q;
        rt->queue_cap = cap;
        rt->queue_head = 0;
    }
    rt->queue[(rt->queue_head + rt->queue_len++) % rt->queue_cap] = t;
    return runtime_wait(L, t);
}

/* Wakes the tasks waiting in core.wait_queue() while the connection queue has room: each
 * queues its call as it resumes. */
static void s_wake_queue(struct runtime *rt)
{
    while (rt->queue_len > 0 && runtime_queue_has_room(rt, 0, false)) {
        struct task *t = rt->queue[rt->queue_head];
        rt->queue_head = (rt->queue_head + 1) % rt->queue_cap;
        rt->queue_len--;
        runtime_wake(rt, t, 0);
    }
}

/* core.time() -> seconds since the epoch (with fractions). */
static int l_time(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
    return 1;
}

/* core.monotonic() -> seconds on a clock that never jumps. */
static int l_monotonic(lua_State *L)
{
    lua_pushnumber(L, loop_now());
    return 1;
}

void task_primitives_add(lua_State *L)
{
    static const luaL_Reg task_methods[] = {
        {"join", l_task_join}, {"done", l_task_done}, {NULL, NULL}};
    if (luaL_newmetatable(L, TASK_MT)) {
        luaL_newlib(L, task_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_task_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {
        {"spawn", l_spawn}, {"sleep", l_sleep}, {"time", l_time},
        {"monotonic", l_monotonic}, {"wait_queue", l_wait_queue}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}

/* An error outside any protected call: the process cannot go on. abort() would leave a core
 * with the run's credentials where cores are collected (a pipe in core_pattern takes one
 * whatever the size limit), so exit at once instead, unless core dumps were allowed for
 * debugging ([run] core_dumps). */
static int s_panic(lua_State *L)
{
    const char *msg = lua_tostring(L, -1);
    fprintf(stderr, "credreport: unrecoverable Lua error: %s\n", msg ? msg : "?");
    if (prctl(PR_GET_DUMPABLE, 0, 0, 0, 0) == 1)
        abort();
    _exit(EXIT_INTERNAL);
}

void runtime_cjson(lua_State *L, const char *name)
{
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "cjson");
    lua_getfield(L, -1, name);
    lua_replace(L, -3);
    lua_pop(L, 1);
}

/* [-0, +1, e] Pushes cjson.decode(the string at idx); raises on bad JSON. */
static void s_json_decode(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    runtime_cjson(L, "decode");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
}

/* Decodes a JSON error body with lua-cjson: {"__type": ..., "message"|"Message": ...}. */
static int l_decode_json_error(lua_State *L)
{
    struct aws_error *e = lua_touserdata(L, 1);
    s_json_decode(L, 2);
    if (!e)
        return 0;
    if (lua_istable(L, -1)) {
        static const char *code_keys[] = {"__type", "code", "Code"};
        static const char *msg_keys[] = {"message", "Message", "errorMessage"};
        for (size_t i = 0; i < 3 && !e->code[0]; i++) {
            lua_getfield(L, -1, code_keys[i]);
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(e->code, sizeof e->code, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
        for (size_t i = 0; i < 3 && !e->message[0]; i++) {
            lua_getfield(L, -1, msg_keys[i]);
            if (lua_type(L, -1) == LUA_TSTRING)
                snprintf(e->message, sizeof e->message, "%s", lua_tostring(L, -1));
            lua_pop(L, 1);
        }
    }
    return 0;
}

static int s_json_error(void *arg, const char *body, size_t len, struct aws_error *e)
{
    struct runtime *rt = arg;
    lua_State *L = rt->L;
    lua_pushcfunction(L, l_decode_json_error);
    lua_pushlightuserdata(L, e);
    lua_pushlstring(L, body, len);
    int rc = lua_pcall(L, 2, 0, 0);
    if (rc != LUA_OK)
        lua_pop(L, 1);
    return rc == LUA_OK ? 0 : -1;
}

struct json_fields_call {
    const char *const *keys;
    char **values;
    size_t n;
    bool oom;
};

/* [-0, +0, e] Decodes the JSON body (argument 2) with lua-cjson and copies the top-level
 * string or number fields that argument 1 (a struct json_fields_call) asks for. */
static int l_json_fields(lua_State *L)
{
    struct json_fields_call *jf = lua_touserdata(L, 1);
    s_json_decode(L, 2);
    if (!lua_istable(L, -1))
        return luaL_error(L, "not a JSON object");
    for (size_t i = 0; i < jf->n && !jf->oom; i++) {
        int t = lua_getfield(L, -1, jf->keys[i]);
        if (t == LUA_TSTRING) {
            size_t len;
            const char *v = lua_tolstring(L, -1, &len);
            jf->oom = !(jf->values[i] = strndup(v, len));
        } else if (t == LUA_TNUMBER) {
            /* cjson gives floats: 1 must read "1", as JSON wrote it. Only a whole number
             * within long long may be cast (1e19, Infinity and NaN may not: cjson reads
             * them too); others are written as they are ("1e+19", "inf", "nan"). */
            char num[64];
            lua_Number d = lua_tonumber(L, -1);
            if (isfinite(d) && d > -0x1p63 && d < 0x1p63 && d == trunc(d))
                snprintf(num, sizeof num, "%lld", (long long)d);
            else
                snprintf(num, sizeof num, "%.17g", (double)d);
            jf->oom = !(jf->values[i] = strdup(num));
        }
        lua_pop(L, 1);
    }
    return 0;
}

/* The json_fields hook (aws.h), run in the thread's Lua state like s_json_error. */
static int s_json_fields(void *arg, const char *body, size_t len, const char *const *keys,
                         char **values, size_t n_keys)
{
    struct runtime *rt = arg;
    lua_State *L = rt->L;
    struct json_fields_call jf = {keys, values, n_keys, false};
    for (size_t i = 0; i < n_keys; i++)
        values[i] = NULL;
    /* cjson decodes arrays to tables too: only an object will do. */
    size_t start = 0;
    while (start < len && strchr(" \t\r\n", body[start]))
        start++;
    if (start == len || body[start] != '{')
        return -1;
    lua_pushcfunction(L, l_json_fields);
    lua_pushlightuserdata(L, &jf);
    lua_pushlstring(L, body, len);
    int rc = lua_pcall(L, 2, 0, 0);
    if (rc != LUA_OK)
        lua_pop(L, 1);
    if (rc == LUA_OK && !jf.oom)
        return 0;
    for (size_t i = 0; i < n_keys; i++) {
        if (values[i]) {
            explicit_bzero(values[i], strlen(values[i]));
            free(values[i]);
            values[i] = NULL;
        }
    }
    return -1;
}

/* [-0, +0, m] package.loaded["credreport.config"] = {section = {key = typed value}} */
static void s_export_config(lua_State *L, const struct config *c)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_newtable(L);
    for (size_t i = 0; c && i < c->n; i++) {
        const struct config_value *v = &c->values[i];
        if (lua_getfield(L, -1, v->section) != LUA_TTABLE) {
            lua_pop(L, 1);
            lua_newtable(L);
            lua_pushvalue(L, -1);
            lua_setfield(L, -3, v->section);
        }
        switch (v->type) {
        case CFG_INT:
            lua_pushinteger(L, atol(v->text));
            break;
        case CFG_NUMBER:
            lua_pushnumber(L, atof(v->text));
            break;
        case CFG_BOOL:
            lua_pushboolean(L, strcmp(v->text, "true") == 0);
            break;
        case CFG_LIST: {
            lua_newtable(L);
            lua_Integer n = 0;
            for (const char *p = v->text; *p;) {
                const char *comma = strchr(p, ',');
                size_t len = comma ? (size_t)(comma - p) : strlen(p);
                lua_pushlstring(L, p, len);
                lua_rawseti(L, -2, ++n);
                p += len + (comma ? 1 : 0);
            }
            break;
        }
        default:
            lua_pushstring(L, v->text);
        }
        lua_setfield(L, -2, v->key);
        lua_pop(L, 1);
    }
    lua_setfield(L, -2, "credreport.config");
    lua_pop(L, 2);
}

/* [-0, +0, m] package.loaded["credreport.run"] = {id, started, started_iso, date, time, version} */
static void s_export_run(lua_State *L, const struct run_info *r)
{
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "loaded");
    lua_newtable(L);
    if (r) {
        char iso[32];
        struct tm tm;
        gmtime_r(&r->started, &tm);
        strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
        lua_pushstring(L, r->id);
        lua_setfield(L, -2, "id");
        lua_pushinteger(L, (lua_Integer)r->started);
        lua_setfield(L, -2, "started");
        lua_pushstring(L, iso);
        lua_setfield(L, -2, "started_iso");
        lua_pushstring(L, r->date);
        lua_setfield(L, -2, "date");
        lua_pushstring(L, r->time);
        lua_setfield(L, -2, "time");
    }
    lua_pushstring(L, CREDREPORT_VERSION);
    lua_setfield(L, -2, "version");
    lua_setfield(L, -2, "credreport.run");
    lua_pop(L, 2);
}

static const char *s_default_region(const char *given)
{
    if (given && *given)
        return given;
    const char *r = getenv("AWS_REGION");
    if (!r || !*r)
        r = getenv("AWS_DEFAULT_REGION");
    return r && *r ? r : "us-east-1";
}

const struct lua_bundle_file *runtime_builtin(const char *path)
{
    if (strncmp(path, RUNTIME_BUILTIN, strlen(RUNTIME_BUILTIN)) == 0)
        path += strlen(RUNTIME_BUILTIN);
    for (const struct lua_bundle_file *f = lua_bundle; f->path; f++)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

/* package.searchers entry: a module of the library built into the binary. */
static int l_bundle_searcher(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (const char *p = name; *p; p++)
        luaL_addchar(&b, *p == '.' ? '/' : *p);
    luaL_addstring(&b, ".lua");
    luaL_pushresult(&b);
    const struct lua_bundle_file *f = runtime_builtin(lua_tostring(L, -1));
    if (!f) {
        lua_pushfstring(L, "no module '%s' built into credreport", name);
        return 1;
    }
    const char *chunk = lua_pushfstring(L, "@" RUNTIME_BUILTIN "%s", f->path);
    if (luaL_loadbuffer(L, f->source, f->len, chunk) != LUA_OK)
        return lua_error(L);
    lua_pushstring(L, chunk + 1);
    return 2;
}

struct runtime *runtime_new(const struct runtime_options *o, char *err, size_t errlen)
{
    struct runtime *rt = calloc(1, sizeof *rt);
    if (!rt) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    if (aws_shared_init(&rt->own_shared) != 0) {
        snprintf(err, errlen, "out of memory");
        free(rt);
        return NULL;
    }
    rt->loop = loop_new(&o->http, err, errlen);
    if (!rt->loop)
        goto fail;
    struct aws_settings s;
    memset(&s, 0, sizeof s);
    snprintf(s.region, sizeof s.region, "%s", s_default_region(o->region));
    s.endpoints = o->endpoints;
    s.retry = o->retry;
    s.json_error = s_json_error;
    s.json_fields = s_json_fields;
    s.json_error_arg = rt;
    rt->aws = aws_ctx_new(rt->loop, o->shared ? o->shared : &rt->own_shared, &s, err, errlen);
    if (!rt->aws)
        goto fail;
    rt->L = luaL_newstate();
    if (!rt->L) {
        snprintf(err, errlen, "out of memory creating the Lua state");
        goto fail;
    }
    lua_State *L = rt->L;
    lua_atpanic(L, s_panic);
    /* Thousands of accounts wait at once, each holding a little; the garbage of finished
     * calls would otherwise grow the heap to twice what is alive before a cycle starts. */
    lua_gc(L, LUA_GCINC, LUA_GC_PAUSE, LUA_GC_STEPMUL, 0);
    luaL_openlibs(L);
    lua_pushlightuserdata(L, rt);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_runtime_key);
    lua_newtable(L);
    lua_rawsetp(L, LUA_REGISTRYINDEX, &s_tasks_key);
    luaL_requiref(L, "cjson", luaopen_cjson, 0);
    lua_pop(L, 1);
    luaL_requiref(L, "credreport.core", luaopen_credreport_core, 0);
    lua_pop(L, 1);
    s_export_config(L, o->config);
    s_export_run(L, o->run);
    lua_getglobal(L, "package");
    if (o->lua_dir) {
        lua_pushfstring(L, "%s/?.lua;%s/?/init.lua", o->lua_dir, o->lua_dir);
        lua_setfield(L, -2, "path");
    }
    /* After the searchers of files, the library built into the binary. */
    lua_getfield(L, -1, "searchers");
    lua_pushcfunction(L, l_bundle_searcher);
    lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
    lua_pop(L, 2);
    return rt;
fail:
    runtime_free(rt);
    return NULL;
}

void runtime_free(struct runtime *rt)
{
    if (!rt)
        return;
    if (rt->L)
        lua_close(rt->L); /* releases clients before the ctx they use */
    aws_ctx_free(rt->aws);
    loop_free(rt->loop);
    aws_shared_cleanup(&rt->own_shared);
    free(rt->queue);
    free(rt);
}

static int s_spawn_protected(lua_State *L)
{
    s_spawn(L, lua_gettop(L) - 1, false);
    return 1;
}

struct task *runtime_spawn(struct runtime *rt, int nargs, int *keep_ref)
{
    lua_State *L = rt->L;
    lua_pushcfunction(L, s_spawn_protected);
    lua_insert(L, -(nargs + 2));
    if (lua_pcall(L, nargs + 1, 1, 0) != LUA_OK) {
        lua_pop(L, 1);
        return NULL;
    }
    struct task *t = lua_touserdata(L, -1);
    if (keep_ref)
        *keep_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    else
        lua_pop(L, 1);
    return t;
}

bool runtime_push_results(struct runtime *rt, const struct task *t)
{
    if (!t->done)
        return false;
    lua_rawgeti(rt->L, LUA_REGISTRYINDEX, t->result_ref);
    return true;
}

static bool s_until_no_task(struct runtime *rt, void *arg)
{
    (void)arg;
    return rt->live_tasks > 0;
}

int runtime_drive(struct runtime *rt, runtime_keep_going_fn keep_going, void *arg)
{
    if (!keep_going)
        keep_going = s_until_no_task;
    while (keep_going(rt, arg)) {
        if (loop_run_once(rt->loop, 1000) == 0 && !keep_going(rt, arg))
            break;
        s_wake_queue(rt);
        if (loop_pending(rt->loop) == 0 && rt->live_tasks > 0 && !rt->external_wakeups) {
            log_msg(LOG_ERROR, "%d task(s) wait for each other with nothing in progress: giving up",
                    rt->live_tasks);
            return -1;
        }
    }
    return 0;
}

struct main_start {
    const char *path;
    int argc;
    char **argv;
    bool loaded;
};

/* [-0, +1, m] What runtime_run_main does before the loop runs, under lua_pcall: it allocates
 * (arg, package.path, the task), and memory running out must not end the process. Pushes
 * the main task; raises with the load error (m->loaded false) or out of memory. */
static int s_start_main(lua_State *L)
{
    struct main_start *m = lua_touserdata(L, 1);
    lua_settop(L, 0);
    lua_createtable(L, m->argc, 1);
    lua_pushstring(L, m->path);
    lua_rawseti(L, -2, 0);
    for (int i = 0; i < m->argc; i++) {
        lua_pushstring(L, m->argv[i]);
        lua_rawseti(L, -2, i + 1);
    }
    lua_setglobal(L, "arg");
    /* A script may require modules that sit beside it. */
    const char *slash = strrchr(m->path, '/');
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "path");
    lua_pushliteral(L, ";");
    if (slash)
        lua_pushlstring(L, m->path, (size_t)(slash - m->path));
    else
        lua_pushliteral(L, ".");
    lua_pushliteral(L, "/?.lua");
    lua_concat(L, 4);
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    const struct lua_bundle_file *builtin = runtime_builtin(m->path);
    if (strncmp(m->path, RUNTIME_BUILTIN, strlen(RUNTIME_BUILTIN)) != 0)
        builtin = NULL;
    int load = builtin ? luaL_loadbuffer(L, builtin->source, builtin->len,
                                         lua_pushfstring(L, "@%s", m->path))
                       : luaL_loadfile(L, m->path);
    if (load != LUA_OK)
        return lua_error(L);
    if (builtin)
        lua_remove(L, -2); /* the chunk name */
    m->loaded = true;
    for (int i = 0; i < m->argc; i++)
        lua_pushstring(L, m->argv[i]);
    s_spawn(L, m->argc, true);
    return 1;
}

int runtime_run_main(struct runtime *rt, const char *path, int argc, char **argv,
                     int *results_ref)
{
    lua_State *L = rt->L;
    *results_ref = LUA_NOREF;
    struct main_start m = {path, argc, argv, false};
    lua_pushcfunction(L, s_start_main);
    lua_pushlightuserdata(L, &m);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "credreport: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return m.loaded ? RUN_SCRIPT_ERROR : RUN_LOAD_ERROR;
    }
    const struct task *main_task = lua_touserdata(L, -1);
    int keep = luaL_ref(L, LUA_REGISTRYINDEX);
    int rc = runtime_drive(rt, NULL, NULL);
    if (rc == 0 && runtime_push_results(rt, main_task)) {
        lua_getfield(L, -1, "ok");
        rc = lua_toboolean(L, -1) ? RUN_OK : RUN_SCRIPT_ERROR;
        lua_pop(L, 1);
        *results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    } else {
        rc = RUN_SCRIPT_ERROR;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, keep);
    return rc;
}
