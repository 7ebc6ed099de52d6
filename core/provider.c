#include "provider.h"
#include "errmsg.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "xml.h"

/* Container and instance metadata requests: the SDKs use 1-5 s; a host without the service
 * must fail fast. */
#define CONTAINER_TIMEOUT 5.0
#define IMDS_TIMEOUT 2.0
#define HTTP_ATTEMPTS 2
#define TOKEN_FILE_MAX (64 * 1024)
#define PROCESS_OUTPUT_MAX (64 * 1024)

extern char **environ;

static bool s_set(const char *s)
{
    return s && *s;
}

/* Ends a fetch with a failure. */
static void s_fail(struct aws_client *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_fail(struct aws_client *c, const char *code, const char *fmt, ...)
{
    struct aws_error e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    aws_client_creds_done(c, NULL, &e);
}

/* Reads a token file (web identity, container authorization) into out, trimmed. */
static int s_read_token_file(const char *path, struct buf *out, char *err, size_t errlen)
{
    int result = -1;
    FILE *f = fopen(path, "rb");
    if (!f) {
        errmsg_set(err, errlen, "cannot read %s: %s", path, ERRNO_TEXT(errno));
        return -1;
    }
    for (;;) {
        if (buf_reserve(out, 4096) != 0) {
            errmsg_set(err, errlen, "out of memory");
            goto cleanup;
        }
        size_t got = fread(out->data + out->len, 1, out->cap - out->len - 1, f);
        out->len += got;
        out->data[out->len] = '\0';
        if (got == 0)
            break;
        if (out->len > TOKEN_FILE_MAX) {
            errmsg_set(err, errlen, "%s is larger than %d bytes", path, TOKEN_FILE_MAX);
            goto cleanup;
        }
    }
    if (ferror(f)) {
        errmsg_set(err, errlen, "cannot read %s", path);
        goto cleanup;
    }
    size_t start = 0;
    while (start < out->len && isspace((unsigned char)out->data[start]))
        start++;
    while (out->len > start && isspace((unsigned char)out->data[out->len - 1]))
        out->len--;
    memmove(out->data, out->data + start, out->len - start);
    out->len -= start;
    out->data[out->len] = '\0';
    if (!out->len) {
        errmsg_set(err, errlen, "%s is empty", path);
        goto cleanup;
    }
    result = 0;

cleanup:
    fclose(f);
    if (result != 0)
        buf_free_secret(out);
    return result;
}

/* ---- times and JSON --------------------------------------------------------------- */

time_t provider_parse_time(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *p = s ? strptime(s, "%Y-%m-%dT%H:%M:%S", &tm) : NULL;
    if (!p)
        return (time_t)-1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return (time_t)-1;
        while (isdigit((unsigned char)*p))
            p++;
    }
    long offset = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return (time_t)-1;
        int hh = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (*p == ':')
            p++;
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]))
            return (time_t)-1;
        int mm = (p[0] - '0') * 10 + (p[1] - '0');
        p += 2;
        if (hh > 23 || mm > 59)
            return (time_t)-1;
        offset = sign * (hh * 3600L + mm * 60L);
    }
    if (*p)
        return (time_t)-1;
    time_t t = timegm(&tm);
    return t == (time_t)-1 ? t : t - offset;
}

int provider_creds_from_json(struct aws_ctx *ctx, enum provider_json kind, const char *body,
                             size_t len, const char *source, struct aws_creds *out, char *err,
                             size_t errlen)
{
    enum { F_AK, F_SK, F_TOKEN, F_EXP, F_EXTRA, F_N };
    const char *keys[F_N] = {"AccessKeyId", "SecretAccessKey",
                             kind == PROVIDER_JSON_PROCESS ? "SessionToken" : "Token",
                             "Expiration", kind == PROVIDER_JSON_PROCESS ? "Version" : "Code"};
    char *v[F_N] = {NULL};
    int result = -1;
    struct aws_creds c;

    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    if (aws_ctx_json_fields(ctx, body, len, keys, v, F_N) != 0) {
        errmsg_set(err, errlen, "the response is not a JSON object");
        goto cleanup;
    }
    if (kind == PROVIDER_JSON_PROCESS) {
        if (!v[F_EXTRA] || strcmp(v[F_EXTRA], "1") != 0) {
            errmsg_set(err, errlen, "the output's Version is %s, expected 1",
                     v[F_EXTRA] ? "not 1" : "missing");
            goto cleanup;
        }
    } else if (v[F_EXTRA] && strcmp(v[F_EXTRA], "Success") != 0) {
        /* Codes are words like "Success" or "AssumeRoleUnauthorizedAccess"; cut anyway. */
        errmsg_set(err, errlen, "the response's Code is %.60s", v[F_EXTRA]);
        goto cleanup;
    }
    if (!s_set(v[F_AK]) || !s_set(v[F_SK])) {
        errmsg_set(err, errlen, "the response has no %s", !s_set(v[F_AK]) ? "AccessKeyId"
                                                                        : "SecretAccessKey");
        goto cleanup;
    }
    if (kind != PROVIDER_JSON_PROCESS && (!s_set(v[F_TOKEN]) || !s_set(v[F_EXP]))) {
        errmsg_set(err, errlen, "the response has no %s", !s_set(v[F_TOKEN]) ? "Token"
                                                                           : "Expiration");
        goto cleanup;
    }
    if (s_set(v[F_EXP])) {
        c.expiration = provider_parse_time(v[F_EXP]);
        if (c.expiration == (time_t)-1 || c.expiration == 0) {
            errmsg_set(err, errlen, "the Expiration is not an ISO 8601 time");
            goto cleanup;
        }
    }
    c.access_key_id = v[F_AK];
    c.secret_access_key = v[F_SK];
    c.session_token = s_set(v[F_TOKEN]) ? v[F_TOKEN] : NULL;
    v[F_AK] = v[F_SK] = NULL;
    if (c.session_token)
        v[F_TOKEN] = NULL;
    snprintf(c.source, sizeof c.source, "%s", source);
    *out = c;
    memset(&c, 0, sizeof c);
    result = 0;

cleanup:
    for (int i = 0; i < F_N; i++)
        creds_free_string(&v[i]);
    creds_free(&c);
    return result;
}

/* Credentials from an STS AssumeRole* response; 0 or -1. */
static int s_sts_creds(const struct buf *body, const char *source, struct aws_creds *out)
{
    int result = -1;
    char err[128];
    memset(out, 0, sizeof *out);
    struct xml_node *root = xml_parse(body->data, body->len, err, sizeof err);
    const struct xml_node *cr = root ? xml_find_deep(root, "Credentials") : NULL;
    const char *ak = cr ? xml_find_text(cr, "AccessKeyId") : NULL;
    const char *sk = cr ? xml_find_text(cr, "SecretAccessKey") : NULL;
    const char *tok = cr ? xml_find_text(cr, "SessionToken") : NULL;
    time_t exp = provider_parse_time(cr ? xml_find_text(cr, "Expiration") : NULL);
    if (s_set(ak) && s_set(sk) && s_set(tok) && exp != (time_t)-1) {
        out->access_key_id = strdup(ak);
        out->secret_access_key = strdup(sk);
        out->session_token = strdup(tok);
        out->expiration = exp;
        snprintf(out->source, sizeof out->source, "%s", source);
        if (out->access_key_id && out->secret_access_key && out->session_token)
            result = 0;
        else
            creds_free(out);
    }
    /* The parsed tree and the body hold the secrets too. */
    xml_free(root);
    OPENSSL_cleanse(body->data, body->len);
    return result;
}

/* ---- role (AssumeRole with the parent client's credentials) ----------------------- */

struct role_provider {
    struct aws_provider base;
    struct aws_client *parent;
    struct aws_client *client; /* during a fetch */
    char *role_arn, *session_name, *external_id;
    int duration_seconds;
};

static void s_role_done(void *arg, const struct aws_result *res)
{
    struct role_provider *rp = arg;
    struct aws_client *c = rp->client;
    rp->client = NULL;
    if (!res->ok) {
        struct aws_error e = res->error;
        snprintf(e.message, sizeof e.message, "assuming role %.160s: %.60s: %.220s",
                 rp->role_arn, res->error.code, res->error.message);
        aws_client_creds_done(c, NULL, &e);
        return;
    }
    struct aws_creds fresh;
    if (s_sts_creds(res->body, "assumed role", &fresh) != 0) {
        s_fail(c, "MalformedResponse", "assuming role %s: the response has no usable "
               "credentials", rp->role_arn);
        return;
    }
    aws_client_creds_done(c, &fresh, NULL);
}

static void s_role_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct role_provider *rp = (struct role_provider *)p;
    struct aws_request r;
    char dur[16];
    snprintf(dur, sizeof dur, "%d", rp->duration_seconds);
    int rc = aws_query_init(&r, service_find("sts"), "AssumeRole", NULL);
    /* The external id is a secret: the body is wiped when freed, and reserved before it goes
     * in so no growth leaves a copy behind (percent-encoding at most triples a value). */
    r.secret_body = true;
    rc |= buf_reserve(&r.body, 256 + 3 * (strlen(rp->role_arn) + strlen(rp->session_name) +
                                          (rp->external_id ? strlen(rp->external_id) : 0)));
    rc |= aws_form_add(&r.body, "RoleArn", rp->role_arn);
    rc |= aws_form_add(&r.body, "RoleSessionName", rp->session_name);
    if (rp->external_id)
        rc |= aws_form_add(&r.body, "ExternalId", rp->external_id);
    if (rp->duration_seconds > 0)
        rc |= aws_form_add(&r.body, "DurationSeconds", dur);
    if (rc != 0) {
        aws_request_cleanup(&r);
        s_fail(c, "OutOfMemory", "out of memory");
        return;
    }
    rp->client = c;
    aws_send(rp->parent, &r, s_role_done, rp);
}

static void s_role_free(struct aws_provider *p)
{
    struct role_provider *rp = (struct role_provider *)p;
    free(rp->role_arn);
    free(rp->session_name);
    creds_free_string(&rp->external_id);
    aws_client_unref(rp->parent);
    free(rp);
}

struct aws_client *aws_client_new_role(struct aws_client *parent, const struct aws_role *role)
{
    struct role_provider *rp = calloc(1, sizeof *rp);
    if (!rp)
        return NULL;
    rp->base.fetch = s_role_fetch;
    rp->base.free = s_role_free;
    rp->role_arn = strdup(role->role_arn);
    rp->session_name = strdup(role->session_name ? role->session_name : "credreport");
    rp->external_id = role->external_id ? strdup(role->external_id) : NULL;
    rp->duration_seconds = role->duration_seconds;
    rp->parent = parent;
    aws_client_ref(parent);
    if (!rp->role_arn || !rp->session_name || (role->external_id && !rp->external_id)) {
        s_role_free(&rp->base);
        return NULL;
    }
    struct aws_client *c = aws_client_new_provider(aws_client_ctx(parent), &rp->base);
    if (c && role->own_rate_limits)
        aws_client_separate_rate_limits(c);
    return c;
}

/* ---- web identity (AssumeRoleWithWebIdentity, unsigned) --------------------------- */

struct web_provider {
    struct aws_provider base;
    struct aws_client *anon;
    struct aws_client *client;
    struct creds_role_step role;
    char *token_file;
};

static void s_web_done(void *arg, const struct aws_result *res)
{
    struct web_provider *wp = arg;
    struct aws_client *c = wp->client;
    wp->client = NULL;
    if (!res->ok) {
        struct aws_error e = res->error;
        snprintf(e.message, sizeof e.message, "web identity: assuming role %.160s: %.60s: %.220s",
                 wp->role.role_arn, res->error.code, res->error.message);
        aws_client_creds_done(c, NULL, &e);
        return;
    }
    struct aws_creds fresh;
    if (s_sts_creds(res->body, "web identity", &fresh) != 0) {
        s_fail(c, "MalformedResponse", "web identity: assuming role %s: the response has no "
               "usable credentials", wp->role.role_arn);
        return;
    }
    aws_client_creds_done(c, &fresh, NULL);
}

static void s_web_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct web_provider *wp = (struct web_provider *)p;
    struct buf token = BUF_INIT;
    char err[300];
    struct aws_request r;
    int rc = aws_query_init(&r, service_find("sts"), "AssumeRoleWithWebIdentity", NULL);
    r.secret_body = true;
    /* Read at every fetch: Kubernetes rotates the projected token. */
    if (s_read_token_file(wp->token_file, &token, err, sizeof err) != 0) {
        aws_request_cleanup(&r);
        s_fail(c, "CredentialsError", "web identity: token file: %s", err);
        return;
    }
    char dur[16];
    snprintf(dur, sizeof dur, "%d", wp->role.duration_seconds);
    /* Reserved before the token goes in, so no growth of the body leaves a copy of it. */
    rc |= buf_reserve(&r.body, 256 + 3 * (strlen(wp->role.role_arn) +
                                          strlen(wp->role.session_name) + token.len));
    rc |= aws_form_add(&r.body, "RoleArn", wp->role.role_arn);
    rc |= aws_form_add(&r.body, "RoleSessionName", wp->role.session_name);
    rc |= aws_form_add(&r.body, "WebIdentityToken", token.data);
    if (wp->role.duration_seconds > 0)
        rc |= aws_form_add(&r.body, "DurationSeconds", dur);
    buf_free_secret(&token);
    if (rc != 0) {
        aws_request_cleanup(&r);
        s_fail(c, "OutOfMemory", "out of memory");
        return;
    }
    wp->client = c;
    aws_send(wp->anon, &r, s_web_done, wp);
}

static void s_web_free(struct aws_provider *p)
{
    struct web_provider *wp = (struct web_provider *)p;
    creds_role_step_free(&wp->role);
    free(wp->token_file);
    aws_client_unref(wp->anon);
    free(wp);
}

struct aws_client *provider_web_identity_client(struct aws_ctx *ctx,
                                                const struct creds_role_step *role,
                                                const char *token_file)
{
    struct web_provider *wp = calloc(1, sizeof *wp);
    if (!wp)
        return NULL;
    wp->base.fetch = s_web_fetch;
    wp->base.free = s_web_free;
    wp->anon = aws_client_new_anonymous(ctx);
    wp->role.role_arn = strdup(role->role_arn);
    wp->role.session_name = strdup(role->session_name ? role->session_name : "credreport");
    wp->role.duration_seconds = role->duration_seconds;
    wp->token_file = strdup(token_file);
    if (!wp->anon || !wp->role.role_arn || !wp->role.session_name || !wp->token_file) {
        s_web_free(&wp->base);
        return NULL;
    }
    return aws_client_new_provider(ctx, &wp->base);
}

/* ---- credential_process ----------------------------------------------------------- */

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
        s_fail(c, "CredentialsError", "credential_process (%s): %s", pp->source, why);
        return;
    }
    if (provider_creds_from_json(aws_client_ctx(c), PROVIDER_JSON_PROCESS,
                                 out->data ? out->data : "", out->len, "credential_process",
                                 &fresh, err, sizeof err) != 0) {
        s_fail(c, "CredentialsError", "credential_process (%s): %s", pp->source, err);
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
        s_fail(c, "CredentialsError", "credential_process (%s): %s", pp->source, err);
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

/* ---- container endpoint ----------------------------------------------------------- */

/* host is the URL's host (brackets kept for IPv6). */
static bool s_container_host_allowed(const char *host)
{
    if (strcasecmp(host, "localhost") == 0 || strcmp(host, "[::1]") == 0 ||
        strcmp(host, "169.254.170.2") == 0 || strcmp(host, "169.254.170.23") == 0)
        return true;
    if (host[0] == '[') {
        char v6[64];
        size_t n = strlen(host);
        if (n < 3 || n - 2 >= sizeof v6 || host[n - 1] != ']')
            return false;
        memcpy(v6, host + 1, n - 2);
        v6[n - 2] = '\0';
        struct in6_addr a, want;
        return inet_pton(AF_INET6, v6, &a) == 1 &&
               inet_pton(AF_INET6, "fd00:ec2::23", &want) == 1 &&
               memcmp(&a, &want, sizeof a) == 0;
    }
    struct in_addr a4;
    /* inet_pton takes only dotted quads (no "127.1" or octal forms). */
    return inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127;
}

int provider_container_url(const char *relative, const char *full, char **url, char *err,
                           size_t errlen)
{
    struct buf b = BUF_INIT;
    *url = NULL;
    if (s_set(relative)) {
        if (relative[0] != '/') {
            errmsg_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
            return -1;
        }
        if (buf_printf(&b, "http://169.254.170.2%s", relative) != 0 || !(*url = buf_steal(&b)))
            goto oom;
        return 1;
    }
    if (!s_set(full))
        return 0;
    bool https = strncasecmp(full, "https://", 8) == 0;
    if (!https && strncasecmp(full, "http://", 7) != 0) {
        errmsg_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI must be an http:// or "
                 "https:// URL");
        return -1;
    }
    if (!https) {
        const char *h = full + 7;
        size_t n;
        if (h[0] == '[') {
            const char *close = strchr(h, ']');
            n = close ? (size_t)(close - h) + 1 : strlen(h);
        } else {
            n = strcspn(h, ":/?#");
        }
        char host[300];
        if (strcspn(h, "@/?#") < n || n == 0 || n >= sizeof host) {
            errmsg_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI: cannot read its host");
            return -1;
        }
        memcpy(host, h, n);
        host[n] = '\0';
        if (!s_container_host_allowed(host)) {
            errmsg_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI: plain http is allowed "
                     "only to a loopback address, 169.254.170.2, 169.254.170.23 or "
                     "fd00:ec2::23, not %.100s (use https)", host);
            return -1;
        }
    }
    if (strchr(full, '@')) {
        /* user:password@host would also bypass the host check above. */
        errmsg_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_FULL_URI must not hold user info");
        return -1;
    }
    if (!(*url = strdup(full)))
        goto oom;
    return 1;

oom:
    buf_free(&b);
    errmsg_set(err, errlen, "out of memory");
    return -1;
}

struct container_provider {
    struct aws_provider base;
    struct aws_client *client;
    char *url;
    int attempts;
};

static void s_container_get(struct container_provider *cp);

static void s_container_done(void *arg, struct http_response *resp)
{
    struct container_provider *cp = arg;
    struct aws_client *c = cp->client;
    char err[300];
    if ((resp->status == 0 || resp->status >= 500) && cp->attempts < HTTP_ATTEMPTS &&
        !resp->too_large &&
        !(resp->timed_out && resp->transport_error == -1)) {
        s_container_get(cp);
        return;
    }
    cp->client = NULL;
    if (resp->status == 0) {
        s_fail(c, "CredentialsError", "container credentials from %s: %s", cp->url, resp->error);
        return;
    }
    if (resp->status != 200) {
        s_fail(c, "CredentialsError", "container credentials from %s: HTTP status %ld",
               cp->url, resp->status);
        return;
    }
    struct aws_creds fresh;
    if (provider_creds_from_json(aws_client_ctx(c), PROVIDER_JSON_CONTAINER, resp->body.data,
                                 resp->body.len, "container", &fresh, err, sizeof err) != 0) {
        s_fail(c, "CredentialsError", "container credentials from %s: %s", cp->url, err);
        return;
    }
    aws_client_creds_done(c, &fresh, NULL);
}

static void s_container_get(struct container_provider *cp)
{
    struct aws_client *c = cp->client;
    struct header_list h = HEADER_LIST_INIT;
    struct buf token = BUF_INIT;
    char err[300];
    const char *file = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
    const char *literal = getenv("AWS_CONTAINER_AUTHORIZATION_TOKEN");
    cp->attempts++;
    /* The file wins and is read each time (EKS Pod Identity rotates it). */
    if (s_set(file)) {
        if (s_read_token_file(file, &token, err, sizeof err) != 0) {
            cp->client = NULL;
            s_fail(c, "CredentialsError", "container credentials: authorization token file: %s",
                   err);
            return;
        }
    } else if (s_set(literal) && buf_puts(&token, literal) != 0) {
        goto oom;
    }
    if (token.len && strpbrk(token.data, "\r\n")) {
        buf_free_secret(&token);
        cp->client = NULL;
        s_fail(c, "CredentialsError", "container credentials: the authorization token holds a "
               "line break");
        return;
    }
    if (token.len && headers_set(&h, "Authorization", token.data) != 0)
        goto oom;
    buf_free_secret(&token);
    struct http_request req = {.method = "GET", .url = cp->url, .headers = &h};
    if (aws_ctx_http(aws_client_ctx(c), &req, CONTAINER_TIMEOUT, s_container_done, cp, err,
                     sizeof err) != 0) {
        headers_free(&h);
        cp->client = NULL;
        s_fail(c, "CredentialsError", "container credentials from %s: %s", cp->url, err);
        return;
    }
    /* The header list holds the token: wipe it. */
    for (size_t i = 0; i < h.n; i++)
        OPENSSL_cleanse(h.items[i].value, strlen(h.items[i].value));
    headers_free(&h);
    return;

oom:
    buf_free_secret(&token);
    headers_free(&h);
    cp->client = NULL;
    s_fail(c, "OutOfMemory", "out of memory");
}

static void s_container_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct container_provider *cp = (struct container_provider *)p;
    cp->client = c;
    cp->attempts = 0;
    s_container_get(cp);
}

static void s_container_free(struct aws_provider *p)
{
    struct container_provider *cp = (struct container_provider *)p;
    free(cp->url);
    free(cp);
}

struct aws_client *provider_container_client(struct aws_ctx *ctx, const char *url)
{
    struct container_provider *cp = calloc(1, sizeof *cp);
    if (!cp)
        return NULL;
    cp->base.fetch = s_container_fetch;
    cp->base.free = s_container_free;
    if (!(cp->url = strdup(url))) {
        free(cp);
        return NULL;
    }
    return aws_client_new_provider(ctx, &cp->base);
}

/* ---- EC2 instance metadata (IMDSv2) ----------------------------------------------- */

enum imds_step { IMDS_TOKEN, IMDS_ROLE, IMDS_CREDS };

struct imds_provider {
    struct aws_provider base;
    struct aws_client *client;
    char *endpoint;   /* without a trailing slash */
    char *tried;      /* the chain's earlier failures, or NULL */
    enum imds_step step;
    int attempts;     /* of the current step */
    char *token;      /* NULL: IMDSv1 (the token PUT was refused) */
    char role[256];
    struct buf url;
};

static void s_imds_request(struct imds_provider *ip);

static void s_imds_fail(struct imds_provider *ip, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void s_imds_fail(struct imds_provider *ip, const char *fmt, ...)
{
    struct aws_client *c = ip->client;
    char why[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    ip->client = NULL;
    creds_free_string(&ip->token);
    if (ip->tried)
        s_fail(c, "NoCredentials", "no AWS credentials: %s; instance metadata: %s", ip->tried,
               why);
    else
        s_fail(c, "CredentialsError", "instance metadata (%s): %s", ip->endpoint, why);
}

static void s_imds_done(void *arg, struct http_response *resp)
{
    struct imds_provider *ip = arg;
    char err[300];
    static const char *const what[] = {"the token PUT", "the role name GET",
                                       "the credentials GET"};
    if ((resp->status == 0 || resp->status >= 500) && ip->attempts < HTTP_ATTEMPTS &&
        !resp->too_large &&
        /* A first request that got no answer at all: no IMDS here, fail fast. */
        !(resp->status == 0 && ip->step == IMDS_TOKEN)) {
        s_imds_request(ip);
        return;
    }
    if (resp->status == 0) {
        s_imds_fail(ip, "%s (%s): %s", ip->endpoint, what[ip->step], resp->error);
        return;
    }
    switch (ip->step) {
    case IMDS_TOKEN:
        if (resp->status == 200 && resp->body.len) {
            if (!(ip->token = strndup(resp->body.data, resp->body.len)))
                goto oom;
            ip->token[strcspn(ip->token, "\r\n")] = '\0';
        } else if (resp->status != 403 && resp->status != 404 && resp->status != 405) {
            s_imds_fail(ip, "%s: the token PUT got HTTP status %ld", ip->endpoint, resp->status);
            return;
        } /* 403/404/405: no IMDSv2 here; the SDKs then fall back to IMDSv1 */
        ip->step = IMDS_ROLE;
        break;
    case IMDS_ROLE: {
        if (resp->status == 404) {
            s_imds_fail(ip, "%s: no IAM role is attached to this instance", ip->endpoint);
            return;
        }
        if (resp->status != 200) {
            s_imds_fail(ip, "%s: the role name GET got HTTP status %ld", ip->endpoint,
                        resp->status);
            return;
        }
        const char *b = resp->body.data ? resp->body.data : "";
        size_t n = strcspn(b, "\r\n");
        while (n && isspace((unsigned char)b[n - 1]))
            n--;
        if (!n || n >= sizeof ip->role || strcspn(b, "/?#%") < n) {
            s_imds_fail(ip, "%s: no usable role name in the response", ip->endpoint);
            return;
        }
        memcpy(ip->role, b, n);
        ip->role[n] = '\0';
        ip->step = IMDS_CREDS;
        break;
    }
    case IMDS_CREDS: {
        if (resp->status != 200) {
            s_imds_fail(ip, "%s: the credentials GET got HTTP status %ld", ip->endpoint,
                        resp->status);
            return;
        }
        struct aws_creds fresh;
        if (provider_creds_from_json(aws_client_ctx(ip->client), PROVIDER_JSON_IMDS,
                                     resp->body.data, resp->body.len, "instance metadata",
                                     &fresh, err, sizeof err) != 0) {
            s_imds_fail(ip, "%s: role %s: %s", ip->endpoint, ip->role, err);
            return;
        }
        struct aws_client *c = ip->client;
        ip->client = NULL;
        creds_free_string(&ip->token);
        aws_client_creds_done(c, &fresh, NULL);
        return;
    }
    }
    ip->attempts = 0;
    s_imds_request(ip);
    return;
oom:
    s_imds_fail(ip, "out of memory");
}

static void s_imds_request(struct imds_provider *ip)
{
    struct header_list h = HEADER_LIST_INIT;
    char err[300];
    const char *method = "GET";
    int rc = 0;
    ip->attempts++;
    buf_reset(&ip->url);
    if (ip->step == IMDS_TOKEN) {
        method = "PUT";
        rc |= buf_printf(&ip->url, "%s/latest/api/token", ip->endpoint);
        rc |= headers_set(&h, "X-aws-ec2-metadata-token-ttl-seconds", "21600");
    } else {
        rc |= buf_printf(&ip->url, "%s/latest/meta-data/iam/security-credentials/%s",
                         ip->endpoint, ip->step == IMDS_CREDS ? ip->role : "");
        if (ip->token)
            rc |= headers_set(&h, "X-aws-ec2-metadata-token", ip->token);
    }
    if (rc != 0) {
        headers_free(&h);
        s_imds_fail(ip, "out of memory");
        return;
    }
    struct http_request req = {.method = method, .url = ip->url.data, .headers = &h};
    rc = aws_ctx_http(aws_client_ctx(ip->client), &req, IMDS_TIMEOUT, s_imds_done, ip, err,
                      sizeof err);
    for (size_t i = 0; i < h.n; i++)
        OPENSSL_cleanse(h.items[i].value, strlen(h.items[i].value));
    headers_free(&h);
    if (rc != 0)
        s_imds_fail(ip, "%s", err);
}

static void s_imds_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct imds_provider *ip = (struct imds_provider *)p;
    ip->client = c;
    ip->step = IMDS_TOKEN;
    ip->attempts = 0;
    s_imds_request(ip);
}

static void s_imds_free(struct aws_provider *p)
{
    struct imds_provider *ip = (struct imds_provider *)p;
    free(ip->endpoint);
    free(ip->tried);
    creds_free_string(&ip->token);
    buf_free(&ip->url);
    free(ip);
}

struct aws_client *provider_imds_client(struct aws_ctx *ctx, const char *endpoint,
                                        const char *tried)
{
    struct imds_provider *ip = calloc(1, sizeof *ip);
    if (!ip)
        return NULL;
    ip->base.fetch = s_imds_fetch;
    ip->base.free = s_imds_free;
    ip->endpoint = strdup(endpoint);
    ip->tried = tried ? strdup(tried) : NULL;
    if (!ip->endpoint || (tried && !ip->tried)) {
        s_imds_free(&ip->base);
        return NULL;
    }
    size_t n = strlen(ip->endpoint);
    while (n && ip->endpoint[n - 1] == '/')
        ip->endpoint[--n] = '\0';
    return aws_client_new_provider(ctx, &ip->base);
}

/* ---- the chain -------------------------------------------------------------------- */

static const char *s_imds_endpoint(void)
{
    const char *e = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    return s_set(e) ? e : "http://169.254.169.254";
}

static bool s_imds_disabled(void)
{
    const char *v = getenv("AWS_EC2_METADATA_DISABLED");
    return v && strcasecmp(v, "true") == 0;
}

/* The base client of a profile's plan; NULL with err. */
static struct aws_client *s_plan_base(struct aws_ctx *ctx, const struct creds_plan *plan,
                                      char *err, size_t errlen)
{
    struct aws_client *c = NULL;
    struct aws_creds env;
    char e[300];
    char *url = NULL;
    int rc;

    memset(&env, 0, sizeof env);
    switch (plan->base_kind) {
    case CREDS_BASE_STATIC:
        c = aws_client_new_static(ctx, &plan->base);
        break;
    case CREDS_BASE_PROCESS:
        c = provider_process_client(ctx, plan->process, plan->base.source);
        break;
    case CREDS_BASE_WEB_IDENTITY:
        c = provider_web_identity_client(ctx, &plan->web, plan->web_token_file);
        break;
    case CREDS_BASE_ENVIRONMENT:
        rc = creds_from_env(&env, e, sizeof e);
        if (rc <= 0) {
            errmsg_set(err, errlen, "%s: credential_source Environment: %s", plan->base.source,
                     rc < 0 ? e : "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
            return NULL;
        }
        c = aws_client_new_static(ctx, &env);
        creds_free(&env);
        break;
    case CREDS_BASE_CONTAINER:
        rc = provider_container_url(getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
                                    getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), &url, e,
                                    sizeof e);
        if (rc <= 0) {
            errmsg_set(err, errlen, "%s: credential_source EcsContainer: %s", plan->base.source,
                     rc < 0 ? e : "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                                  "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set");
            return NULL;
        }
        c = provider_container_client(ctx, url);
        free(url);
        break;
    case CREDS_BASE_IMDS:
        if (s_imds_disabled()) {
            errmsg_set(err, errlen, "%s: credential_source Ec2InstanceMetadata, but "
                     "AWS_EC2_METADATA_DISABLED is true", plan->base.source);
            return NULL;
        }
        c = provider_imds_client(ctx, s_imds_endpoint(), NULL);
        break;
    }
    if (!c)
        errmsg_set(err, errlen, "out of memory");
    return c;
}

static struct aws_client *s_plan_client(struct aws_ctx *ctx, const struct creds_plan *plan,
                                        char *err, size_t errlen)
{
    struct aws_client *c = s_plan_base(ctx, plan, err, errlen);
    for (size_t i = 0; c && i < plan->n_steps; i++) {
        struct aws_role role = {
            .role_arn = plan->steps[i].role_arn,
            .session_name = plan->steps[i].session_name,
            .external_id = plan->steps[i].external_id,
            .duration_seconds = plan->steps[i].duration_seconds,
        };
        struct aws_client *next = aws_client_new_role(c, &role);
        aws_client_unref(c);
        c = next;
        if (!c)
            errmsg_set(err, errlen, "out of memory");
    }
    return c;
}

struct aws_client *provider_chain(struct aws_ctx *ctx, const char *profile, char *err,
                                  size_t errlen)
{
    struct aws_client *c = NULL;
    struct buf tried = BUF_INIT;
    struct aws_creds base;
    struct creds_plan plan;
    struct creds_role_step web;
    char *token_file = NULL, *url = NULL;
    char e[400];
    int rc = 0;
    bool explicit_profile = s_set(profile);

    memset(&base, 0, sizeof base);
    memset(&plan, 0, sizeof plan);
    memset(&web, 0, sizeof web);
    if (!explicit_profile) {
        rc = creds_from_env(&base, e, sizeof e);
        if (rc < 0) {
            errmsg_set(err, errlen, "credentials from the environment: %s", e);
            goto cleanup;
        }
        if (rc == 1) {
            c = aws_client_new_static(ctx, &base);
            goto made;
        }
        rc = creds_web_identity_from_env(&web, &token_file, e, sizeof e);
        if (rc < 0) {
            errmsg_set(err, errlen, "web identity from the environment: %s", e);
            goto cleanup;
        }
        if (rc == 1) {
            c = provider_web_identity_client(ctx, &web, token_file);
            goto made;
        }
        if (buf_puts(&tried, "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are "
                             "not set; web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set; ") != 0)
            goto oom;
    }
    rc = creds_plan_resolve(profile, &plan, e, sizeof e);
    if (rc < 0) {
        errmsg_set(err, errlen, "credentials from the shared files: %s", e);
        goto cleanup;
    }
    if (rc == 1) {
        c = s_plan_client(ctx, &plan, err, errlen);
        goto cleanup;
    }
    const char *name = explicit_profile ? profile : getenv("AWS_PROFILE");
    const char *cf = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *kf = getenv("AWS_CONFIG_FILE");
    if (buf_printf(&tried, "shared files: no credentials for profile \"%s\" in %s or %s; ",
                   s_set(name) ? name : "default", s_set(cf) ? cf : "~/.aws/credentials",
                   s_set(kf) ? kf : "~/.aws/config") != 0)
        goto oom;

    rc = provider_container_url(getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
                                getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), &url, e, sizeof e);
    if (rc < 0) {
        errmsg_set(err, errlen, "container credentials: %s", e);
        goto cleanup;
    }
    if (rc == 1) {
        c = provider_container_client(ctx, url);
        goto made;
    }
    if (buf_puts(&tried, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set") != 0)
        goto oom;
    if (s_imds_disabled()) {
        errmsg_set(err, errlen, "no AWS credentials found: %s; instance metadata: disabled by "
                 "AWS_EC2_METADATA_DISABLED", tried.data);
        goto cleanup;
    }
    /* The last resort: known to fail only after asking, at the first call. */
    c = provider_imds_client(ctx, s_imds_endpoint(), tried.data);
made:
    if (!c)
        goto oom;
    goto cleanup;

oom:
    errmsg_set(err, errlen, "out of memory");
cleanup:
    creds_free(&base);
    creds_plan_free(&plan);
    creds_role_step_free(&web);
    free(token_file);
    free(url);
    buf_free(&tried);
    return c;
}
