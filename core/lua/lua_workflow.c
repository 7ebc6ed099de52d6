/* The workflow scheduler: threads, the queues between them, and the primitives the Lua
 * runner (lua/credreport/runner.lua) uses to move accounts and outcomes across threads. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/exitcode.h"
#include "base/log.h"
#include "lua/mq.h"
#include "base/runlock.h"
#include "lua/workflow.h"

/* Process-wide: signals are. */
static _Atomic int s_signal;          /* the signal that asked us to stop, or 0 */
static _Atomic bool s_stopping;       /* workers start no new account */
static _Atomic bool s_abandon;        /* workers stop driving their loops at once */
static _Atomic int s_in_flight;       /* accounts being processed, all workers */

static void s_on_signal(int sig)
{
    int expected = 0;
    if (!atomic_compare_exchange_strong(&s_signal, &expected, sig)) {
        /* The second signal: the user insists. write() is safe in a signal handler. */
        static const char msg[] = "credreport: a second signal: stopping at once; the manifest "
                                  "was NOT written\n";
        ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
        (void)w;
        _exit(EXIT_SIGNAL_BASE + sig);
    }
}

/* Only a workflow run stops gracefully; plain scripts and listings keep the default. */
static void s_handle_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = s_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

struct link {
    bool coordinator;
    struct mq *accounts;  /* coordinator → workers */
    struct mq *outcomes;  /* workers → coordinator */
    /* coordinator */
    struct task *waiter;  /* waiting in core.next_outcome() */
    struct task *main_task; /* runner.coordinate: the run ends when it does */
    double grace_period;
    double deadline;      /* after a stop request: when waiting for outcomes ends */
    bool stop_told;       /* the waiter was told "stopping" */
    bool discovered;      /* discovery ended (core.close_accounts) */
    bool discovered_told; /* the waiter was told "discovered" */
    bool interrupted;     /* the grace period is over */
    bool posted;          /* an account went to the workers */
    int main_connections; /* this thread's share of [aws] max_connections, per endpoint */
    int all_connections;  /* all of them, while the workers have no account */
    /* worker */
    int in_flight, limit;
    int workers;          /* worker threads taking accounts from the same queue */
    long turns_started;   /* accounts this thread started, and when the first did */
    double first_turn_at;
    /* Accounts whose reports this thread asked for ahead of their turn (the workflow's
     * prepare), oldest first: they start before those still queued. Only this thread uses
     * the list, so it is not an mq, which locks. */
    struct mq_msg *prepared_head, *prepared_tail;
    bool can_prepare;     /* the workflow has a prepare function */
    int preparing, prepare_limit; /* prepare tasks running, and at most */
    int prepare_paid, prepare_wasted; /* prepares that started a report, and the others */
    int workflow_ref;     /* the script's workflow table in this thread's state */
    char *load_error;     /* why this thread could not load the workflow */
    double no_memory_since; /* an account could not start since then; 0: it could */
};

struct worker {
    pthread_t thread;
    const struct workflow_options *o;
    struct link link;
    struct runtime *rt;
    pthread_mutex_t *ready_mu;
    pthread_cond_t *ready_cv;
    int *ready;
};

static struct link *s_link(lua_State *L, bool coordinator)
{
    struct runtime *rt = runtime_get(L);
    struct link *k = rt->workflow;
    if (!k || k->coordinator != coordinator || !k->accounts)
        luaL_error(L, "this primitive belongs to the workflow runner (%s thread only)",
                   coordinator ? "coordinator" : "worker");
    return k;
}

/* core.post_account(json) -> true | false: hands an account to the workers; false when the
 * run is stopping and the account will not start. */
static int l_post_account(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    struct link *k = s_link(L, true);
    if (atomic_load(&s_stopping)) {
        lua_pushboolean(L, 0);
        return 1;
    }
    if (mq_push(k->accounts, s, len) != 0)
        return luaL_error(L, "cannot queue the account (out of memory or queue closed)");
    k->posted = true;
    lua_pushboolean(L, 1);
    return 1;
}

/* core.close_accounts(): no more accounts will come; core.next_outcome() says so once
 * ("discovered"). */
static int l_close_accounts(lua_State *L)
{
    struct link *k = s_link(L, true);
    mq_close(k->accounts);
    k->discovered = true;
    /* This thread's calls are over until the run ends, while the workers' go on: the
     * connections it kept would hold slots of endpoints that limit connections. */
    loop_close_idle_connections(runtime_get(L)->loop);
    return 0;
}

/* core.all_connections(on): while no account has gone to the workers, the main thread may use
 * every connection (on), or keeps to its share again, closing those it keeps idle (off). Does
 * nothing outside a workflow's main thread (run, accounts, --dry-run) or on a worker. */
static int l_all_connections(lua_State *L)
{
    bool on = lua_toboolean(L, 1);
    struct runtime *rt = runtime_get(L);
    struct link *k = rt->workflow;
    if (!k || !k->coordinator)
        return 0;
    if (on && k->posted)
        return luaL_error(L, "core.all_connections: the workers already have accounts");
    loop_set_max_connections(rt->loop, on ? k->all_connections : k->main_connections);
    if (!on)
        loop_close_idle_connections(rt->loop);
    return 0;
}

/* core.next_outcome() -> json | nil, "discovered" | nil, "stopping" | nil, "interrupted"
 * Waits for the next account outcome from a worker, or for discovery to end (once, after
 * core.close_accounts()). After SIGINT/SIGTERM it answers "stopping" once, then outcomes
 * until the grace period ends, then "interrupted". */
static int l_next_outcome(lua_State *L)
{
    struct link *k = s_link(L, true);
    struct mq_msg *m = mq_pop(k->outcomes);
    if (m) {
        lua_pushlstring(L, m->data, m->len);
        free(m);
        return 1;
    }
    if (k->discovered && !k->discovered_told) {
        k->discovered_told = true;
        lua_pushnil(L);
        lua_pushstring(L, "discovered");
        return 2;
    }
    if (k->interrupted || (atomic_load(&s_signal) && !k->stop_told)) {
        k->stop_told = true;
        lua_pushnil(L);
        lua_pushstring(L, k->interrupted ? "interrupted" : "stopping");
        return 2;
    }
    if (k->waiter)
        return luaL_error(L, "only one task may wait for outcomes");
    k->waiter = runtime_current_task(L);
    return runtime_wait(L, k->waiter);
}

/* Memory that runs out may come back as other accounts end, so a worker that cannot start
 * or hand on an account tries again; for this long at most. After that the run ends at once:
 * waiting for that account forever, it would hold the lock against the next runs. */
#define NO_MEMORY_PATIENCE 5.0

static _Noreturn void s_exit_no_memory(void)
{
    fprintf(stderr, "credreport: out of memory for %.0f s: a worker could not go on with an "
                    "account; the run ends without its manifest\n", NO_MEMORY_PATIENCE);
    _exit(EXIT_INTERNAL);
}

/* A copy of what a worker must hand on about an account it took (its outcome, or the account
 * back after its prepare): lost, the coordinator would wait for that account forever. */
static struct mq_msg *s_msg_or_exit(const char *data, size_t len)
{
    for (double waited = 0; waited < NO_MEMORY_PATIENCE; waited += 0.1) {
        struct mq_msg *m = mq_msg_new(data, len);
        if (m)
            return m;
        nanosleep(&(struct timespec){.tv_nsec = 100 * 1000 * 1000}, NULL);
    }
    s_exit_no_memory();
}

/* core.post_outcome(json): an account is done (worker side). */
static int l_post_outcome(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    struct link *k = s_link(L, false);
    if (mq_push_msg(k->outcomes, s_msg_or_exit(s, len)) != 0)
        return luaL_error(L, "cannot queue the outcome: the run's queue is closed");
    k->in_flight--;
    atomic_fetch_sub(&s_in_flight, 1);
    return 0;
}

/* Adds m to the accounts that start before those still queued: last, or first. */
static void s_keep_prepared(struct link *k, struct mq_msg *m, bool first)
{
    if (first && k->prepared_head) {
        m->next = k->prepared_head;
        k->prepared_head = m;
        return;
    }
    m->next = NULL;
    if (k->prepared_tail)
        k->prepared_tail->next = m;
    else
        k->prepared_head = m;
    k->prepared_tail = m;
}

/* core.prepared(json, paid): the account's prepare is over (worker side), and started its
 * report (paid) or not; the account starts before those still queued, and one whose report
 * was not started (its calls failed, or a report was already there) before those prepared:
 * their reports are under way, and its own, if it needs one, takes IAM seconds from its turn. */
static int l_prepared(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    bool paid = lua_toboolean(L, 2);
    struct link *k = s_link(L, false);
    s_keep_prepared(k, s_msg_or_exit(s, len), !paid);
    k->preparing--;
    if (paid)
        k->prepare_paid++;
    else
        k->prepare_wasted++;
    return 0;
}

/* core.stopping() -> false | signal number, signal name */
static int l_stopping(lua_State *L)
{
    int sig = atomic_load(&s_signal);
    if (!sig) {
        lua_pushboolean(L, 0);
        return 1;
    }
    lua_pushinteger(L, sig);
    lua_pushstring(L, sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "signal");
    return 2;
}

/* core.in_flight() -> accounts being processed by the workers now */
static int l_in_flight(lua_State *L)
{
    lua_pushinteger(L, atomic_load(&s_in_flight));
    return 1;
}

void workflow_primitives_add(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"post_account", l_post_account}, {"close_accounts", l_close_accounts},
        {"next_outcome", l_next_outcome}, {"post_outcome", l_post_outcome},
        {"stopping", l_stopping}, {"in_flight", l_in_flight}, {"prepared", l_prepared},
        {"all_connections", l_all_connections}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}

/* ---- driving ---------------------------------------------------------------------- */

/* [-0, +1, e] Pushes require("credreport.runner")[name]. */
static int l_runner_fn(lua_State *L)
{
    const char *name = lua_tostring(L, 1);
    lua_getglobal(L, "require");
    lua_pushstring(L, "credreport.runner");
    lua_call(L, 1, 1);
    lua_getfield(L, -1, name);
    if (!lua_isfunction(L, -1))
        return luaL_error(L, "credreport.runner has no function %s", name);
    return 1;
}

/* Pushes the runner's function (or returns -1 with the error printed). */
static int s_push_runner_fn(struct runtime *rt, const char *name)
{
    lua_State *L = rt->L;
    lua_pushcfunction(L, l_runner_fn);
    lua_pushstring(L, name);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        fprintf(stderr, "credreport: %s\n", lua_tostring(L, -1));
        lua_pop(L, 1);
        return -1;
    }
    return 0;
}

static bool s_is_workflow(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        return false;
    lua_getfield(L, idx, "discover");
    lua_getfield(L, idx, "process");
    lua_getfield(L, idx, "finish");
    bool ok = lua_isfunction(L, -1) && lua_isfunction(L, -2) && lua_isfunction(L, -3);
    lua_pop(L, 3);
    return ok;
}

/* A table with discover or process, but not a whole workflow: a mistake to report. */
static bool s_looks_like_workflow(lua_State *L, int idx)
{
    idx = lua_absindex(L, idx);
    if (!lua_istable(L, idx))
        return false;
    bool some = lua_getfield(L, idx, "discover") != LUA_TNIL;
    some |= lua_getfield(L, idx, "process") != LUA_TNIL;
    lua_pop(L, 2);
    return some;
}

/* The next account to start: those prepared first, in the order they were. */
static struct mq_msg *s_next_account(struct link *k)
{
    struct mq_msg *m = k->prepared_head;
    if (!m)
        return mq_pop(k->accounts);
    k->prepared_head = m->next;
    if (!k->prepared_head)
        k->prepared_tail = NULL;
    return m;
}

/* An account that waits this long for its turn, or will, has its report asked for. */
#define PREPARE_AFTER 1.0
/* Turns started before their rate says how long the queued accounts will wait. */
#define PREPARE_RATE_AFTER 64
/* Prepares that start no report, in flight or done, allowed beyond those that did. */
#define PREPARE_SLACK 4
/* Seconds IAM takes for most reports: an account whose turn comes sooner than this after its
 * prepare would have found its report ready sooner had it been prepared sooner. */
#define PREPARE_LEAD 6.0

/* Whether the oldest of this thread's prepared accounts waited PREPARE_LEAD since its prepare:
 * its report should be ready by now. Prepared accounts are then not taken as soon as their
 * reports are (prepares wait for room in the budget of kept roles). And its turn, which starts
 * with the role its prepare assumed and a check of that report, does not wait for the calls a
 * rate limiter holds (the AssumeRoles of the accounts still queued, when STS throttles). */
static bool s_prepared_report_due(const struct link *k)
{
    return k->prepared_head && loop_now() - k->prepared_head->queued_at >= PREPARE_LEAD;
}

/* Whether the accounts queued now will wait PREPARE_AFTER or longer for their turns, at the
 * rate turns have started (this thread's, times the threads). */
static bool s_queue_waits_long(const struct link *k, double now)
{
    if (k->turns_started < PREPARE_RATE_AFTER)
        return false;
    double rate = (double)k->turns_started * k->workers / (now - k->first_turn_at);
    return (double)mq_length(k->accounts) >= rate * PREPARE_AFTER;
}

/* An account that has waited PREPARE_AFTER for its turn, or will (a large organization: the
 * accounts queued take that long to start), has its report asked for: the workflow's
 * prepare, a task of two calls (AssumeRole, GenerateCredentialReport) that keeps only the
 * role's credentials for the turn, while the run's budget for them allows
 * (aws_role_keep). IAM generates the report meanwhile, so it is ready, or nearly, when the
 * account starts, instead of every account waiting in turn for its own. This goes on while
 * it pays: a prepare that finds the report already generated (a run within IAM's 4 hours of
 * the last) or fails costs two calls for nothing. Until prepares show they pay, few are in
 * flight. Once prepared accounts wait longer for their turns than reports take, asking
 * further ahead gains nothing, and prepares wait for room in the budget: a role prepared
 * beyond it is assumed a second time in its turn (at 30,000 accounts, 22,000 roles were;
 * 400 to 7,700 with this wait). Until then, as in a run's first seconds, they go beyond it. */
static void s_prepare_ahead(struct runtime *rt, struct link *k)
{
    lua_State *L = rt->L;
    while (k->can_prepare && k->preparing < k->prepare_limit &&
           k->preparing + k->prepare_wasted < k->prepare_paid + PREPARE_SLACK &&
           (!s_prepared_report_due(k) || aws_keep_has_room(rt->aws, (size_t)k->preparing + 1))) {
        double now = loop_now();
        double by = s_queue_waits_long(k, now) ? now : now - PREPARE_AFTER;
        struct mq_msg *m = mq_pop_queued_by(k->accounts, by);
        if (!m)
            break;
        if (s_push_runner_fn(rt, "prepare") != 0) {
            s_keep_prepared(k, m, false); /* it starts in turn, unprepared */
            k->can_prepare = false;
            break;
        }
        lua_rawgeti(L, LUA_REGISTRYINDEX, k->workflow_ref);
        lua_pushlstring(L, m->data, m->len);
        if (!runtime_spawn(rt, 2, NULL)) {
            s_keep_prepared(k, m, false); /* out of memory: it starts in turn, unprepared */
            break;
        }
        free(m);
        k->preparing++;
    }
}

static bool s_worker_keep_going(struct runtime *rt, void *arg)
{
    struct link *k = arg;
    lua_State *L = rt->L;
    if (atomic_load(&s_abandon))
        return false;
    bool stopping = atomic_load(&s_stopping);
    /* An account starts when this thread's requests are not already queued for connections:
     * one started now would only wait in that queue, holding memory, and those already in
     * flight would wait longer behind it. Accounts waiting for their reports queue nothing.
     * The calls rate limiters hold count as queued unless the next account is prepared and
     * its report due (s_prepared_report_due). */
    size_t started = 0; /* their first requests are not queued yet: they run from the loop */
    while (stopping || (k->in_flight < k->limit &&
                        runtime_queue_has_room(rt, started, !s_prepared_report_due(k)))) {
        struct mq_msg *m = s_next_account(k);
        if (!m)
            break;
        /* Every account taken is answered for, so none goes missing: processed, or failed
         * because the workflow did not load here or the run is stopping. */
        bool loaded = k->workflow_ref != LUA_NOREF;
        const char *fn = stopping ? "not_started" : loaded ? "process" : "fail";
        if (s_push_runner_fn(rt, fn) != 0) {
            free(m);
            continue; /* cannot happen once the coordinator loaded the same library */
        }
        if (stopping)
            lua_pushinteger(L, atomic_load(&s_signal));
        else if (loaded)
            lua_rawgeti(L, LUA_REGISTRYINDEX, k->workflow_ref);
        else
            lua_pushstring(L, k->load_error ? k->load_error : "the workflow did not load");
        lua_pushlstring(L, m->data, m->len);
        if (!runtime_spawn(rt, 2, NULL)) {
            /* Out of memory: the account goes first when this loop next comes round (within a
             * second). */
            double now = loop_now();
            if (!k->no_memory_since)
                k->no_memory_since = now;
            else if (now - k->no_memory_since > NO_MEMORY_PATIENCE)
                s_exit_no_memory();
            s_keep_prepared(k, m, true);
            break;
        }
        k->no_memory_since = 0;
        free(m);
        k->in_flight++;
        started++;
        if (k->turns_started++ == 0)
            k->first_turn_at = loop_now();
        atomic_fetch_add(&s_in_flight, 1);
    }
    if (!stopping)
        s_prepare_ahead(rt, k);
    /* The last accounts decide when the run ends: once every account has started and this
     * thread has no more in flight than connections per endpoint, checking each often costs
     * the run nothing it could use otherwise (report.fetch). */
    if (!rt->short_of_work && k->in_flight <= loop_max_connections(rt->loop) && k->preparing == 0 &&
        !k->prepared_head && mq_drained(k->accounts))
        runtime_short_of_work(rt);
    return !(k->in_flight == 0 && k->preparing == 0 && !k->prepared_head && rt->live_tasks == 0 &&
             mq_drained(k->accounts));
}

/* os.exit in a worker thread: exit() there would run the process's exit handlers, OpenSSL's
 * cleanup among them, under the threads still running (the main thread then crashed in
 * OpenSSL). The workflow's load in the worker fails instead, or the account that called it. */
static int l_worker_exit(lua_State *L)
{
    return luaL_error(L, "os.exit(%s) in a worker thread: only the main thread ends a run",
                      luaL_tolstring(L, 1, NULL));
}

static void *s_worker_main(void *arg)
{
    struct worker *w = arg;
    char err[512];
    struct runtime_options ro = w->o->rt;
    ro.http.max_connections = w->o->worker_connections;
    ro.http.grow_connections = w->o->worker_grow_connections;
    w->rt = runtime_new(&ro, err, sizeof err);
    pthread_mutex_lock(w->ready_mu);
    (*w->ready)++;
    pthread_cond_signal(w->ready_cv);
    pthread_mutex_unlock(w->ready_mu);
    if (!w->rt) {
        log_msg(LOG_ERROR, "a worker thread could not start: %s", err);
        return NULL;
    }
    struct runtime *rt = w->rt;
    rt->workflow = &w->link;
    rt->external_wakeups = true;
    lua_getglobal(rt->L, "os");
    lua_pushcfunction(rt->L, l_worker_exit);
    lua_setfield(rt->L, -2, "exit");
    lua_pop(rt->L, 1);
    int results = LUA_NOREF;
    int rc = runtime_run_main(rt, w->o->script, w->o->argc, w->o->argv, &results);
    if (rc == RUN_OK) {
        lua_rawgeti(rt->L, LUA_REGISTRYINDEX, results);
        lua_rawgeti(rt->L, -1, 1);
        if (s_is_workflow(rt->L, -1)) {
            lua_getfield(rt->L, -1, "prepare");
            w->link.can_prepare = lua_isfunction(rt->L, -1);
            lua_pop(rt->L, 1);
            w->link.workflow_ref = luaL_ref(rt->L, LUA_REGISTRYINDEX);
        } else {
            lua_pop(rt->L, 1);
        }
        lua_pop(rt->L, 1);
        luaL_unref(rt->L, LUA_REGISTRYINDEX, results);
    }
    if (w->link.workflow_ref == LUA_NOREF)
        w->link.load_error = strdup("the workflow script failed to load in a worker thread");
    runtime_drive(rt, s_worker_keep_going, &w->link);
    /* This thread's accounts are done while the main thread writes the run's files, its
     * largest allocations: what the accounts left behind is freed first (glibc gives the
     * top of this thread's heap back to the system), and the connections kept would hold
     * slots of an endpoint that limits them. */
    lua_gc(rt->L, LUA_GCCOLLECT);
    loop_close_idle_connections(rt->loop);
    return NULL;
}

static bool s_coordinator_keep_going(struct runtime *rt, void *arg)
{
    struct link *k = arg;
    if (atomic_load(&s_signal) && !atomic_load(&s_stopping)) {
        atomic_store(&s_stopping, true);
        k->deadline = loop_now() + k->grace_period;
        mq_close(k->accounts); /* wakes the workers, which answer for what is queued */
    }
    if (atomic_load(&s_stopping) && !k->interrupted && loop_now() >= k->deadline)
        k->interrupted = true;
    if (k->waiter) {
        struct mq_msg *m = mq_pop(k->outcomes);
        struct task *t = k->waiter;
        if (m) {
            k->waiter = NULL;
            lua_pushlstring(rt->L, m->data, m->len);
            free(m);
            runtime_wake(rt, t, 1);
        } else if (k->discovered && !k->discovered_told) {
            k->waiter = NULL;
            k->discovered_told = true;
            lua_pushnil(rt->L);
            lua_pushstring(rt->L, "discovered");
            runtime_wake(rt, t, 2);
        } else if (atomic_load(&s_stopping) && (k->interrupted || !k->stop_told)) {
            k->waiter = NULL;
            k->stop_told = true;
            lua_pushnil(rt->L);
            lua_pushstring(rt->L, k->interrupted ? "interrupted" : "stopping");
            runtime_wake(rt, t, 2);
        }
    }
    /* The run ends with the coordinating task: a discovery still stuck in a call after the
     * grace period is abandoned. */
    return k->main_task ? !runtime_task_done(k->main_task) : rt->live_tasks > 0;
}

/* The exit status a task's results give: its first result when it is an integer. */
static int s_task_status(struct runtime *rt, struct task *t, int fallback)
{
    int status = fallback;
    if (runtime_push_results(rt, t)) {
        lua_getfield(rt->L, -1, "ok");
        lua_rawgeti(rt->L, -2, 1);
        if (lua_toboolean(rt->L, -2))
            status = lua_isinteger(rt->L, -1) ? (int)lua_tointeger(rt->L, -1) : 0;
        lua_pop(rt->L, 3);
    }
    return status;
}

static int s_run_workflow(struct runtime *rt, const struct workflow_options *o, int wf_ref)
{
    loop_set_max_connections(rt->loop, o->main_connections);
    int lock_fd = -1;
    if (o->lock_path && *o->lock_path) {
        char err[512];
        bool busy;
        lock_fd = runlock_take(o->lock_path, &busy, err, sizeof err);
        if (lock_fd < 0 && busy) {
            fprintf(stderr, "credreport: %s: the lock %s; exiting without doing anything\n",
                    o->lock_path, err);
            return EXIT_LOCKED;
        }
        if (lock_fd < 0) {
            fprintf(stderr, "credreport: cannot use the lock file %s: %s (set another with "
                            "--lock-file or [run] lock_file)\n", o->lock_path, err);
            return EXIT_CANNOT_START;
        }
    }
    struct mq accounts, outcomes;
    if (mq_init(&accounts) != 0 || mq_init(&outcomes) != 0) {
        fprintf(stderr, "credreport: cannot create the work queues\n");
        return EXIT_CANNOT_START;
    }
    struct link coord = {.coordinator = true, .accounts = &accounts, .outcomes = &outcomes,
                         .workflow_ref = LUA_NOREF, .grace_period = o->grace_period,
                         .main_connections = o->main_connections,
                         .all_connections = o->rt.http.max_connections};
    if (mq_subscribe(&outcomes, rt->loop) != 0) {
        mq_destroy(&accounts);
        mq_destroy(&outcomes);
        log_msg(LOG_ERROR, "out of memory");
        return EXIT_CANNOT_START;
    }
    rt->workflow = &coord;
    rt->external_wakeups = true;
    s_handle_signals();
    log_enable_progress();

    int n = o->threads > 0 ? o->threads : 1;
    struct worker *workers = calloc((size_t)n, sizeof *workers);
    pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
    int ready = 0, started = 0;
    int status = EXIT_CANNOT_START;
    if (!workers) {
        fprintf(stderr, "credreport: out of memory\n");
        goto done;
    }
    int per_thread = (o->concurrency + n - 1) / n;
    for (int i = 0; i < n; i++) {
        struct worker *w = &workers[i];
        w->o = o;
        w->link = (struct link){.accounts = &accounts, .outcomes = &outcomes,
                                .limit = per_thread, .workers = n, .workflow_ref = LUA_NOREF,
                                .prepare_limit = 4 * o->worker_connections < per_thread
                                                     ? 4 * o->worker_connections : per_thread};
        w->ready_mu = &ready_mu;
        w->ready_cv = &ready_cv;
        w->ready = &ready;
    }
    alloc_tune(n);
    /* Workers subscribe their loops once they exist; each is created on its thread, so
     * wait until all are before anything is pushed. */
    for (int i = 0; i < n; i++) {
        if (pthread_create(&workers[i].thread, NULL, s_worker_main, &workers[i]) != 0) {
            log_msg(LOG_ERROR, "cannot start worker thread %d", i + 1);
            break;
        }
        started++;
    }
    pthread_mutex_lock(&ready_mu);
    while (ready < started)
        pthread_cond_wait(&ready_cv, &ready_mu);
    pthread_mutex_unlock(&ready_mu);
    int alive = 0;
    for (int i = 0; i < started; i++) {
        if (workers[i].rt && mq_subscribe(&accounts, workers[i].rt->loop) == 0)
            alive++;
    }
    if (!alive)
        log_msg(LOG_ERROR, "no worker thread could start");
    else if (s_push_runner_fn(rt, "coordinate") == 0) {
        lua_rawgeti(rt->L, LUA_REGISTRYINDEX, wf_ref);
        int keep = LUA_NOREF;
        struct task *t = runtime_spawn(rt, 1, &keep);
        coord.main_task = t;
        if (t) {
            runtime_drive(rt, s_coordinator_keep_going, &coord);
            status = s_task_status(rt, t, EXIT_CANNOT_START);
            luaL_unref(rt->L, LUA_REGISTRYINDEX, keep);
        } else {
            log_msg(LOG_ERROR, "out of memory");
        }
    }
done:
    mq_close(&accounts);
    if (atomic_load(&s_in_flight) > 0 || rt->live_tasks > 0) {
        /* Stopped, and the grace period is over: the manifest is written; what is still in
         * flight (accounts, a listing) is abandoned with the process. */
        atomic_store(&s_abandon, true);
        fflush(stdout);
        fflush(stderr);
        _exit(status);
    }
    for (int i = 0; i < started; i++) {
        pthread_join(workers[i].thread, NULL);
        free(workers[i].link.load_error);
        runtime_free(workers[i].rt);
    }
    free(workers);
    rt->workflow = NULL;
    mq_destroy(&accounts);
    mq_destroy(&outcomes);
    if (lock_fd >= 0)
        close(lock_fd);
    return status;
}

int workflow_main(const struct workflow_options *o)
{
    char err[512];
    struct runtime *rt = runtime_new(&o->rt, err, sizeof err);
    if (!rt) {
        fprintf(stderr, "credreport: %s\n", err);
        return EXIT_CANNOT_START;
    }
    int results = LUA_NOREF, status;
    int rc = runtime_run_main(rt, o->script, o->argc, o->argv, &results);
    if (rc != RUN_OK) {
        status = rc == RUN_LOAD_ERROR ? EXIT_USAGE : EXIT_ACCOUNTS_FAILED;
        goto done;
    }
    lua_State *L = rt->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, results);
    lua_rawgeti(L, -1, 1);
    if (!s_is_workflow(L, -1)) {
        if (s_looks_like_workflow(L, -1)) {
            fprintf(stderr, "credreport: %s returns a table that looks like a workflow but is "
                            "not one: a workflow has discover, process and finish functions\n",
                    o->script);
            status = EXIT_USAGE;
        } else if (o->mode != WF_RUN) {
            fprintf(stderr, "credreport: %s is not a workflow (it must return a table with "
                            "discover, process and finish functions)\n", o->script);
            status = EXIT_USAGE;
        } else {
            status = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : 0;
        }
        lua_settop(L, 0);
        goto done;
    }
    int wf_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    if (o->mode == WF_RUN) {
        status = s_run_workflow(rt, o, wf_ref);
    } else if (s_push_runner_fn(rt, o->mode == WF_ACCOUNTS ? "list" : "dry_run") == 0) {
        /* It lists the organization as a run's main thread does: with that thread's share of
         * connections, and all of them for the checks of --resume (core.all_connections), the
         * one workflow primitive it has: no queue links it to workers. */
        struct link solo = {.coordinator = true, .main_connections = o->main_connections,
                            .all_connections = o->rt.http.max_connections};
        rt->workflow = &solo;
        loop_set_max_connections(rt->loop, o->main_connections);
        lua_rawgeti(L, LUA_REGISTRYINDEX, wf_ref);
        lua_pushstring(L, o->format ? o->format : "table");
        int keep = LUA_NOREF;
        struct task *t = runtime_spawn(rt, 2, &keep);
        if (t) {
            runtime_drive(rt, NULL, NULL);
            status = s_task_status(rt, t, EXIT_CANNOT_START);
            luaL_unref(L, LUA_REGISTRYINDEX, keep);
        } else {
            log_msg(LOG_ERROR, "out of memory");
            status = EXIT_CANNOT_START;
        }
        rt->workflow = NULL;
    } else {
        status = EXIT_USAGE;
    }
    luaL_unref(L, LUA_REGISTRYINDEX, wf_ref);
done:
    luaL_unref(rt->L, LUA_REGISTRYINDEX, results);
    runtime_free(rt);
    return status;
}
