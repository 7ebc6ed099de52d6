/* Credentials printed by a credential_process command, run beside the loop. */
#include "aws/credentials/provider_internal.h"
#include "base/errmsg.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define PROCESS_OUTPUT_MAX (64 * 1024)

extern char **environ;

/* A credential_process run on a loop: its stdout is read as it comes (a watch on the pipe),
 * then its exit is awaited (a watch on its pidfd), both until the deadline, so the thread goes
 * on serving its other accounts meanwhile. Its stderr goes to /dev/null: a helper that fails
 * may print a token there, and nothing it prints is shown. */
struct provider_process {
    struct loop *loop;
    pid_t pid;
    int out_fd;                 /* the pipe's read end, then -1 */
    int pid_fd;                 /* a pidfd, once stdout has ended */
    struct loop_watch *watch;
    double deadline;
    int timeout_s;
    struct buf out;             /* a secret: wiped */
    bool too_long;
    bool reaped;                /* status holds its exit status */
    int status;
    provider_process_fn done;
    void *arg;
};

static void s_proc_free(struct provider_process *pr)
{
    if (pr->out_fd >= 0)
        close(pr->out_fd);
    if (pr->pid_fd >= 0)
        close(pr->pid_fd);
    buf_free_secret(&pr->out);
    free(pr);
}

/* Reaps the child (killing its group first when kill_first) and ends the run. */
static void s_proc_finish(struct provider_process *pr, bool kill_first)
{
    char err[200] = "";
    int status = pr->status, rc = -1;
    if (kill_first)
        kill(-pr->pid, SIGKILL);
    /* After SIGKILL, or once its pidfd said it exited, this does not wait long. */
    while (!pr->reaped && waitpid(pr->pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (kill_first) {
        errmsg_set(err, sizeof err, "still running after %d s: killed", pr->timeout_s);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        if (WIFEXITED(status))
            errmsg_set(err, sizeof err, "exited with status %d", WEXITSTATUS(status));
        else
            errmsg_set(err, sizeof err, "killed by signal %d", WTERMSIG(status));
    } else if (pr->too_long) {
        errmsg_set(err, sizeof err, "printed more than %d bytes", PROCESS_OUTPUT_MAX);
    } else {
        rc = 0;
    }
    if (rc != 0) {
        /* What it printed may be secret: say so rather than show it. */
        size_t n = strlen(err);
        snprintf(err + n, sizeof err - n, " (its output is not shown)");
        buf_free_secret(&pr->out);
    }
    pr->done(pr->arg, rc, &pr->out, rc == 0 ? NULL : err);
    s_proc_free(pr);
}

static void s_proc_poll_exit(void *arg);

static void s_proc_on_exit(void *arg, bool timed_out)
{
    struct provider_process *pr = arg;
    if (!timed_out)
        loop_unwatch(pr->loop, pr->watch);
    s_proc_finish(pr, timed_out);
}

static void s_proc_poll_exit(void *arg)
{
    struct provider_process *pr = arg;
    int status;
    pid_t w = waitpid(pr->pid, &status, WNOHANG);
    if (w == 0 && loop_now() < pr->deadline && loop_timer_add(pr->loop, 0.02, s_proc_poll_exit, pr))
        return;
    if (w == pr->pid) {
        /* reaped: s_proc_finish must not wait for it again */
        pr->reaped = true;
        pr->status = status;
    }
    s_proc_finish(pr, w == 0);
}

static void s_proc_on_output(void *arg, bool timed_out)
{
    struct provider_process *pr = arg;
    if (timed_out) {
        s_proc_finish(pr, true);
        return;
    }
    char chunk[4096];
    for (;;) {
        ssize_t got = read(pr->out_fd, chunk, sizeof chunk);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            OPENSSL_cleanse(chunk, sizeof chunk);
            return; /* more later */
        }
        if (got <= 0)
            break; /* end of output (or a read error: the same) */
        if (pr->out.len + (size_t)got > PROCESS_OUTPUT_MAX)
            pr->too_long = true;
        else if (buf_append(&pr->out, chunk, (size_t)got) != 0)
            pr->too_long = true; /* out of memory: the run fails */
    }
    OPENSSL_cleanse(chunk, sizeof chunk);
    loop_unwatch(pr->loop, pr->watch);
    close(pr->out_fd);
    pr->out_fd = -1;
    /* Its output ended; now its exit. */
    pr->pid_fd = (int)syscall(SYS_pidfd_open, pr->pid, 0);
    double left = pr->deadline - loop_now();
    if (pr->pid_fd >= 0 && (pr->watch = loop_watch(pr->loop, pr->pid_fd, left, s_proc_on_exit, pr)))
        return;
    /* No pidfd (a kernel before 5.3): look for the exit every few milliseconds. */
    s_proc_poll_exit(pr);
}

int provider_process_start(struct loop *loop, const char *command, int timeout_s,
                           provider_process_fn done, void *arg, char *err, size_t errlen)
{
    int result = -1;
    int outp[2] = {-1, -1};
    bool fa_init = false, attr_init = false;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char *argv[] = {"sh", "-c", (char *)command, NULL};
    struct provider_process *pr = calloc(1, sizeof *pr);

    if (!pr)
        goto oom;
    pr->out_fd = pr->pid_fd = -1;
    if (pipe2(outp, O_CLOEXEC) != 0 || fcntl(outp[0], F_SETFL, O_NONBLOCK) != 0) {
        errmsg_set(err, errlen, "cannot create a pipe: %s", ERRNO_TEXT(errno));
        goto cleanup;
    }
    if (posix_spawn_file_actions_init(&fa) != 0)
        goto oom;
    fa_init = true;
    if (posix_spawnattr_init(&attr) != 0)
        goto oom;
    attr_init = true;
    sigset_t none, deflt;
    sigemptyset(&none);
    sigemptyset(&deflt);
    sigaddset(&deflt, SIGPIPE);
    if (posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0) != 0 ||
        posix_spawn_file_actions_adddup2(&fa, outp[1], 1) != 0 ||
        posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0) != 0 ||
        posix_spawn_file_actions_addclosefrom_np(&fa, 3) != 0 ||
        /* A new session: no controlling terminal, and a group to kill on timeout. */
        posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                            POSIX_SPAWN_SETSIGDEF) != 0 ||
        posix_spawnattr_setsigmask(&attr, &none) != 0 ||
        posix_spawnattr_setsigdefault(&attr, &deflt) != 0)
        goto oom;
    int rc = posix_spawn(&pr->pid, "/bin/sh", &fa, &attr, argv, environ);
    if (rc != 0) {
        errmsg_set(err, errlen, "cannot start /bin/sh: %s", ERRNO_TEXT(rc));
        goto cleanup;
    }
    close(outp[1]);
    outp[1] = -1;
    pr->loop = loop;
    pr->out_fd = outp[0];
    outp[0] = -1;
    pr->timeout_s = timeout_s;
    pr->deadline = loop_now() + timeout_s;
    pr->done = done;
    pr->arg = arg;
    if (!(pr->watch = loop_watch(loop, pr->out_fd, timeout_s, s_proc_on_output, pr))) {
        errmsg_set(err, errlen, "cannot watch its output: %s", ERRNO_TEXT(errno));
        kill(-pr->pid, SIGKILL);
        while (waitpid(pr->pid, NULL, 0) < 0 && errno == EINTR)
            ;
        goto cleanup;
    }
    pr = NULL; /* the loop's now */
    result = 0;
    goto cleanup;

oom:
    errmsg_set(err, errlen, "out of memory");
cleanup:
    for (int i = 0; i < 2; i++)
        if (outp[i] >= 0)
            close(outp[i]);
    if (fa_init)
        posix_spawn_file_actions_destroy(&fa);
    if (attr_init)
        posix_spawnattr_destroy(&attr);
    if (pr)
        s_proc_free(pr);
    return result;
}

/* provider_run_process: the result of the run, filled by its callback. */
struct run_wait {
    bool done;
    int rc;
    struct buf *out;
    char *err;
    size_t errlen;
};

static void s_run_wait_done(void *arg, int rc, struct buf *out, const char *err)
{
    struct run_wait *w = arg;
    w->done = true;
    w->rc = rc;
    if (rc == 0) {
        *w->out = *out;
        memset(out, 0, sizeof *out);
    } else {
        errmsg_set(w->err, w->errlen, "%s", err);
    }
}

int provider_run_process(const char *command, int timeout_s, struct buf *out, char *err,
                         size_t errlen)
{
    struct http_settings hs;
    http_settings_default(&hs);
    struct loop *l = loop_new(&hs, err, errlen);
    if (!l)
        return -1;
    struct run_wait w = {false, -1, out, err, errlen};
    memset(out, 0, sizeof *out);
    if (provider_process_start(l, command, timeout_s, s_run_wait_done, &w, err, errlen) == 0)
        while (!w.done)
            loop_run_once(l, 1000);
    loop_free(l);
    return w.done ? w.rc : -1;
}

struct process_provider {
    struct aws_provider base;
    char *command;
    char source[48];
    struct aws_client *client; /* while a run is under way */
};

static void s_process_done(void *arg, int rc, struct buf *out, const char *why)
{
    struct process_provider *pp = arg;
    struct aws_client *c = pp->client;
    struct aws_creds fresh;
    char err[400];
    pp->client = NULL;
    if (rc != 0) {
        provider_fail(c, "CredentialsError", "credential_process (%s): %s", pp->source, why);
        return;
    }
    if (provider_creds_from_json(aws_client_ctx(c), PROVIDER_JSON_PROCESS,
                                 out->data ? out->data : "", out->len, "credential_process",
                                 &fresh, err, sizeof err) != 0) {
        provider_fail(c, "CredentialsError", "credential_process (%s): %s", pp->source, err);
        return;
    }
    aws_client_creds_done(c, &fresh, NULL);
}

/* Starts the command; the thread goes on with its other work until it ends. */
static void s_process_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct process_provider *pp = (struct process_provider *)p;
    char err[300];
    pp->client = c;
    if (provider_process_start(aws_ctx_loop(aws_client_ctx(c)), pp->command,
                               PROVIDER_PROCESS_TIMEOUT, s_process_done, pp, err,
                               sizeof err) != 0) {
        pp->client = NULL;
        provider_fail(c, "CredentialsError", "credential_process (%s): %s", pp->source, err);
    }
}

static void s_process_free(struct aws_provider *p)
{
    struct process_provider *pp = (struct process_provider *)p;
    creds_free_string(&pp->command);
    free(pp);
}

struct aws_client *provider_process_client(struct aws_ctx *ctx, const char *command,
                                           const char *source)
{
    struct process_provider *pp = calloc(1, sizeof *pp);
    if (!pp)
        return NULL;
    pp->base.fetch = s_process_fetch;
    pp->base.free = s_process_free;
    snprintf(pp->source, sizeof pp->source, "%s", source);
    if (!(pp->command = strdup(command))) {
        free(pp);
        return NULL;
    }
    return aws_client_new_provider(ctx, &pp->base);
}

