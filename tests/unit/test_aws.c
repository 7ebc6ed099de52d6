/* The request state machine of aws.c, against the emulator over real HTTP: retries (failures
 * that pass, failures that do not, attempts running out, the retry quota), clock-skew
 * correction, S3's answer for a bucket asked in the wrong region, and the renewal of a
 * provider's credentials (before they expire, after the service says they expired, a failed
 * fetch given to the calls that waited).
 *
 * The client's wall clock is injected (aws_settings.wall_clock), as aws-c-auth's tests inject
 * the clock of its cached credentials provider: a test puts the client minutes away from the
 * emulator, or near its credentials' expiry, without sleeping or touching the system's time.
 * Backoff is made short through retry_config. The emulator (tests/emulator) runs as a child
 * process, stopped at exit; faults, time travel and the request log (which proves what went
 * over the wire: attempts, signing regions, access keys) go through its admin API. */
#include <ctype.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "aws/aws.h"
#include "aws/credentials/provider.h"
#include "base/log.h"
#include "emulator.h"
#include "unit.h"

static char s_url[64];     /* http://127.0.0.1:PORT */
static struct loop *s_loop;
static const char *s_section = "setup"; /* the test running, for bail() */

/* Stops here: a call that never ends would leave the remaining tests nothing sound to use. */
static _Noreturn void bail(const char *why)
{
    unit_failed++;
    fprintf(stderr, "FAIL test_aws: %s: %s: giving up\n", s_section, why);
    unit_emulator_stop();
    exit(unit_report("test_aws"));
}

/* ---- the admin API -------------------------------------------------------------------- */

struct got {
    bool done;
    long status;
    struct buf body;
};

static void on_admin(void *arg, struct http_response *resp)
{
    struct got *g = arg;
    g->done = true;
    g->status = resp->status;
    if (resp->body.len && buf_append(&g->body, resp->body.data, resp->body.len) != 0)
        g->status = -1;
}

/* Drives l until the transfer answering into g ends, or for 10 s. */
static void wait_got(struct loop *l, struct got *g)
{
    double deadline = loop_now() + 10;
    while (!g->done && loop_now() < deadline)
        loop_run_once(l, 50);
}

/* method /_emulator/path with a JSON body (or NULL); the status, the body in out if given. */
static long admin(const char *method, const char *path, const char *body, struct buf *out)
{
    char url[512], err[256];
    snprintf(url, sizeof url, "%s/_emulator/%s", s_url, path);
    struct header_list h = HEADER_LIST_INIT;
    if (body && headers_set(&h, "Content-Type", "application/json") != 0)
        bail("out of memory");
    struct http_request req = {.method = method, .url = url, .headers = &h, .body = body,
                               .body_len = body ? strlen(body) : 0};
    struct got g = {false, 0, BUF_INIT};
    if (loop_http(s_loop, &req, on_admin, &g, err, sizeof err) != 0)
        bail(err);
    wait_got(s_loop, &g);
    headers_free(&h);
    if (!g.done)
        bail("the emulator's admin API did not answer");
    if (out)
        *out = g.body;
    else
        buf_free(&g.body);
    return g.status;
}

static void emu(const char *method, const char *path, const char *body)
{
    long status = admin(method, path, body, NULL);
    CHECK(status == 200, "%s /_emulator/%s: status %ld", method, path, status);
}

/* Faults (a rules array) on a fresh emulator: no log, no issued credentials, no time travel. */
static void emu_reset(const char *rules)
{
    emu("POST", "reset", NULL);
    if (rules) {
        char body[2048];
        snprintf(body, sizeof body, "{\"rules\": %s}", rules);
        emu("PUT", "faults", body);
    }
}

/* The request log, filtered (service=sts&action=GetCallerIdentity), oldest first. */
#define LOGGED_MAX 16
struct logged {
    int n;
    struct {
        long status;
        char error_code[64];
        char access_key[64];
        char region[32];
    } r[LOGGED_MAX];
};

/* The value of "key": in [p, end): a string's text, or "" for null; false when absent. */
static bool json_field(const char *p, const char *end, const char *key, char *out, size_t cap)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *k = memmem(p, (size_t)(end - p), pat, strlen(pat));
    if (!k)
        return false;
    k += strlen(pat);
    while (k < end && *k == ' ')
        k++;
    size_t n = 0;
    if (k < end && *k == '"') {
        for (k++; k < end && *k != '"' && n + 1 < cap; k++)
            out[n++] = *k;
    } else if (k < end && *k != 'n') { /* a number; null stays "" */
        for (; k < end && (isdigit((unsigned char)*k) || *k == '-') && n + 1 < cap; k++)
            out[n++] = *k;
    }
    out[n] = '\0';
    return true;
}

static void requests(const char *filter, struct logged *l)
{
    char path[256];
    struct buf body = BUF_INIT;
    snprintf(path, sizeof path, "requests?%s", filter);
    memset(l, 0, sizeof *l);
    long status = admin("GET", path, NULL, &body);
    CHECK(status == 200 && body.data, "GET /_emulator/%s: %ld", path, status);
    const char *end = body.data ? body.data + body.len : NULL;
    const char *p = body.data ? strstr(body.data, "\"seq\":") : NULL;
    while (p && l->n < LOGGED_MAX) {
        const char *next = strstr(p + 1, "\"seq\":");
        const char *stop = next ? next : end;
        char status_text[16] = "";
        json_field(p, stop, "status", status_text, sizeof status_text);
        l->r[l->n].status = atol(status_text);
        json_field(p, stop, "error_code", l->r[l->n].error_code, sizeof l->r[l->n].error_code);
        json_field(p, stop, "access_key", l->r[l->n].access_key, sizeof l->r[l->n].access_key);
        json_field(p, stop, "region", l->r[l->n].region, sizeof l->r[l->n].region);
        l->n++;
        p = next;
    }
    buf_free(&body);
}

/* ---- a client's world: ctx, shared state, the injected clock -------------------------- */

struct test_clock {
    long offset; /* seconds the client's clock is ahead of this machine's */
};

static time_t test_clock_now(void *arg)
{
    return time(NULL) + ((struct test_clock *)arg)->offset;
}

/* Organizations answers in JSON: enough of a decoder for its error bodies ("__type",
 * "message"; no escapes in what the emulator sends). 0 for a JSON object, as the hook's
 * contract says, so that 2xx bodies are not taken for malformed ones. */
static void json_text(const char *body, size_t len, const char *key, char *out, size_t cap)
{
    char pat[32];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *k = memmem(body, len, pat, strlen(pat));
    const char *end = body + len;
    if (!k)
        return;
    for (k += strlen(pat); k < end && (*k == ' ' || *k == ':'); k++)
        ;
    size_t n = 0;
    if (k < end && *k == '"')
        for (k++; k < end && *k != '"' && n + 1 < cap; k++)
            out[n++] = *k;
    out[n] = '\0';
}

static int test_json_error(void *arg, const char *body, size_t len, struct aws_error *e)
{
    (void)arg;
    size_t i = 0;
    while (i < len && isspace((unsigned char)body[i]))
        i++;
    if (i == len || body[i] != '{')
        return -1;
    json_text(body, len, "__type", e->code, sizeof e->code);
    json_text(body, len, "message", e->message, sizeof e->message);
    return 0;
}

#define MGMT_KEY "AKIAIOSFODNN7EXAMPLE"
#define MGMT_SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

struct env {
    struct aws_shared shared;
    struct aws_ctx *ctx;
    struct aws_client *mgmt; /* the management account's long-term keys */
    struct test_clock clock;
};

static void settings_for(struct env *e, int max_attempts, struct aws_settings *s)
{
    memset(s, 0, sizeof *s);
    snprintf(s->region, sizeof s->region, "us-east-1");
    s->endpoints.global = s_url;
    retry_config_default(&s->retry);
    s->retry.max_attempts = max_attempts;
    /* Backoff of milliseconds: the state machine is the same, the test is fast. */
    s->retry.base_delay = 0.002;
    s->retry.throttle_base_delay = 0.002;
    s->retry.max_backoff = 0.02;
    s->json_error = test_json_error;
    s->wall_clock = test_clock_now;
    s->wall_clock_arg = &e->clock;
}

/* quota: the retry quota's capacity (0: the default). */
static void env_init(struct env *e, int max_attempts, int quota)
{
    memset(e, 0, sizeof *e);
    if (aws_shared_init(&e->shared) != 0)
        bail("out of memory");
    if (quota)
        retry_quota_init(&e->shared.quota, quota);
    struct aws_settings s;
    settings_for(e, max_attempts, &s);
    char err[256];
    e->ctx = aws_ctx_new(s_loop, &e->shared, &s, err, sizeof err);
    if (!e->ctx)
        bail(err);
    struct aws_creds cr = {.access_key_id = (char *)MGMT_KEY,
                           .secret_access_key = (char *)MGMT_SECRET};
    snprintf(cr.source, sizeof cr.source, "test");
    e->mgmt = aws_client_new_static(e->ctx, &cr);
    if (!e->mgmt)
        bail("out of memory");
}

static void env_free(struct env *e)
{
    aws_client_unref(e->mgmt);
    aws_ctx_free(e->ctx);
    aws_shared_cleanup(&e->shared);
}

/* ---- calls ----------------------------------------------------------------------------- */

struct outcome {
    bool done;
    bool ok;
    bool retryable;
    bool credentials;
    long status;
    int attempts;
    char code[96];
    char message[512];
};

static void on_done(void *arg, const struct aws_result *res)
{
    struct outcome *o = arg;
    o->done = true;
    o->ok = res->ok;
    o->retryable = res->retryable;
    o->credentials = res->credentials;
    o->status = res->status;
    o->attempts = res->attempts;
    snprintf(o->code, sizeof o->code, "%s", res->error.code);
    snprintf(o->message, sizeof o->message, "%s", res->error.message);
}

static void wait_for(struct outcome *o, size_t n)
{
    double deadline = loop_now() + 30;
    for (;;) {
        size_t left = 0;
        for (size_t i = 0; i < n; i++)
            left += !o[i].done;
        if (!left)
            return;
        if (loop_now() > deadline)
            bail("a call did not end within 30 s");
        loop_run_once(s_loop, 50);
    }
}

static void send_sts(struct aws_client *c, struct outcome *o)
{
    struct aws_request r;
    memset(o, 0, sizeof *o);
    if (aws_query_init(&r, service_find("sts"), "GetCallerIdentity", NULL) != 0)
        bail("out of memory");
    aws_send(c, &r, on_done, o);
}

static void call_sts(struct aws_client *c, struct outcome *o)
{
    send_sts(c, o);
    wait_for(o, 1);
}

/* ListObjectsV2 of a bucket; region NULL: the ctx's (or the one remembered for the bucket). */
static void call_s3_list(struct aws_client *c, const char *bucket, const char *region,
                         struct outcome *o)
{
    struct aws_request r;
    memset(o, 0, sizeof *o);
    aws_request_init(&r, service_find("s3"));
    r.operation = "GET";
    r.bucket = bucket;
    r.query = "list-type=2";
    r.region = region;
    aws_send(c, &r, on_done, o);
    wait_for(o, 1);
}

static void call_orgs(struct aws_client *c, struct outcome *o)
{
    struct aws_request r;
    char target[96];
    const struct service *svc = service_find("organizations");
    memset(o, 0, sizeof *o);
    aws_request_init(&r, svc);
    r.operation = "ListRoots";
    snprintf(target, sizeof target, "%s.ListRoots", svc->target_prefix);
    r.target = target;
    if (buf_puts(&r.body, "{}") != 0)
        bail("out of memory");
    aws_send(c, &r, on_done, o);
    wait_for(o, 1);
}

#define GCI "service=sts&action=GetCallerIdentity"

/* ---- 1. retries ------------------------------------------------------------------------ */

static void test_retry(void)
{
    struct env e;
    struct outcome o;
    struct logged l;
    s_section = "test_retry";

    /* A 500 twice, then the answer: three attempts, and the quota gets back what they took. */
    env_init(&e, 3, 0);
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"action\": \"GetCallerIdentity\","
              " \"count\": 2, \"status\": 500}]");
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 3, "500 x2 then 200: ok %d, attempts %d, %s", o.ok, o.attempts,
          o.code);
    requests(GCI, &l);
    CHECK(l.n == 3 && l.r[0].status == 500 && l.r[1].status == 500 && l.r[2].status == 200,
          "the emulator saw 500, 500, 200 (%d requests)", l.n);
    CHECK(atomic_load(&e.shared.quota.tokens) == RETRY_QUOTA_CAPACITY,
          "the quota refilled after the success (%d)", atomic_load(&e.shared.quota.tokens));

    /* A 503, a dropped connection. */
    emu_reset("[{\"type\": \"error\", \"service\": \"sts\", \"count\": 1, \"status\": 503,"
              " \"code\": \"ServiceUnavailable\"}]");
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 2, "503 then 200: ok %d, attempts %d", o.ok, o.attempts);
    /* Two resets: libcurl itself sends again once when a kept-alive connection (the one the
     * admin call just used) dies unanswered, so the first attempt meets both. */
    emu_reset("[{\"type\": \"reset\", \"service\": \"sts\", \"count\": 2}]");
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 2, "reset x2 then 200: ok %d, attempts %d, %s", o.ok, o.attempts,
          o.code);
    requests(GCI, &l);
    CHECK(l.n == 3 && l.r[0].status == 0 && l.r[1].status == 0 && l.r[2].status == 200,
          "the emulator dropped two, answered one (%d)", l.n);

    /* Throttling is retried too (with its own base delay). */
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"count\": 1, \"status\": 400,"
              " \"code\": \"Throttling\"}]");
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 2, "throttled then 200: ok %d, attempts %d", o.ok, o.attempts);
    env_free(&e);

    /* A 4xx that is no throttling: at once, one attempt. */
    env_init(&e, 3, 0);
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"count\": 3, \"status\": 400,"
              " \"code\": \"ValidationError\", \"message\": \"nope\"}]");
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 1 && !o.retryable && o.status == 400,
          "non-retryable: ok %d, attempts %d, retryable %d, status %ld", o.ok, o.attempts,
          o.retryable, o.status);
    CHECK_STR(o.code, "ValidationError", "the service's code");
    CHECK_STR(o.message, "nope", "the service's message");
    requests(GCI, &l);
    CHECK(l.n == 1, "one request on the wire (%d)", l.n);
    /* The same from the service itself: a role that does not exist. */
    emu_reset(NULL);
    struct aws_request r;
    if (aws_query_init(&r, service_find("sts"), "AssumeRole", NULL) != 0 ||
        aws_form_add(&r.body, "RoleArn", "arn:aws:iam::333333333333:role/missing") != 0 ||
        aws_form_add(&r.body, "RoleSessionName", "test-aws") != 0)
        bail("out of memory");
    memset(&o, 0, sizeof o);
    aws_send(e.mgmt, &r, on_done, &o);
    wait_for(&o, 1);
    CHECK(!o.ok && o.attempts == 1 && !o.retryable && strcmp(o.code, "AccessDenied") == 0,
          "AccessDenied: attempts %d, retryable %d, %s", o.attempts, o.retryable, o.code);
    CHECK(atomic_load(&e.shared.quota.tokens) == RETRY_QUOTA_CAPACITY, "nothing taken (%d)",
          atomic_load(&e.shared.quota.tokens));

    /* Attempts run out: the last error, marked retryable for the caller. */
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"action\": \"GetCallerIdentity\","
              " \"status\": 500}]");
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 3 && o.retryable && o.status == 500,
          "exhausted: ok %d, attempts %d, retryable %d", o.ok, o.attempts, o.retryable);
    CHECK_STR(o.code, "InternalFailure", "STS's code for a 500");
    requests(GCI, &l);
    CHECK(l.n == 3, "three requests on the wire (%d)", l.n);
    CHECK(atomic_load(&e.shared.quota.tokens) == RETRY_QUOTA_CAPACITY - 2 * RETRY_COST,
          "a failure keeps what its retries took (%d)", atomic_load(&e.shared.quota.tokens));
    /* An error the service meant, after a 500: the service is healthy, as after a success. */
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"count\": 1, \"status\": 500},"
              " {\"type\": \"fail\", \"service\": \"sts\", \"count\": 2, \"status\": 400,"
              " \"code\": \"ValidationError\"}]");
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 2 && !o.retryable, "500 then 400: ok %d, attempts %d, retryable %d",
          o.ok, o.attempts, o.retryable);
    CHECK(atomic_load(&e.shared.quota.tokens) == RETRY_QUOTA_CAPACITY - 2 * RETRY_COST,
          "the retry's cost came back (%d)", atomic_load(&e.shared.quota.tokens));
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 1, "400 at once: attempts %d", o.attempts);
    CHECK(atomic_load(&e.shared.quota.tokens) == RETRY_QUOTA_CAPACITY - 2 * RETRY_COST + 1,
          "one token back, as for a success without retries (%d)", atomic_load(&e.shared.quota.tokens));
    env_free(&e);

    /* A quota that pays for one retry: the second retry is not made, though attempts are left. */
    env_init(&e, 5, RETRY_COST);
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"action\": \"GetCallerIdentity\","
              " \"status\": 500}]");
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 2 && o.retryable,
          "quota drained: ok %d, attempts %d (of 5), retryable %d", o.ok, o.attempts, o.retryable);
    CHECK(atomic_load(&e.shared.quota.tokens) == 0, "quota empty (%d)",
          atomic_load(&e.shared.quota.tokens));
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 1 && o.retryable, "no retry from an empty quota: attempts %d",
          o.attempts);
    /* A success without retries gives one token back. */
    emu_reset(NULL);
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 1, "recovered: %s", o.code);
    CHECK(atomic_load(&e.shared.quota.tokens) == 1, "one token back (%d)",
          atomic_load(&e.shared.quota.tokens));
    env_free(&e);
}

/* ---- 2. clock skew --------------------------------------------------------------------- */

static void check_offset(struct env *e, long want, const char *what)
{
    long off = atomic_load(&e->shared.skew_offset);
    /* The Date header has whole seconds, and a second may pass between it and the reading. */
    CHECK(labs(off - want) <= 2, "%s: offset %ld, want about %ld", what, off, want);
}

static void test_skew(void)
{
    struct env e;
    struct outcome o;
    struct logged l;
    s_section = "test_skew";

    /* The client 25 minutes behind: STS says the signature expired; corrected from Date. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    e.clock.offset = -1500;
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 2, "STS, client behind: ok %d, attempts %d, %s", o.ok,
          o.attempts, o.code);
    check_offset(&e, 1500, "STS");
    requests(GCI, &l);
    CHECK(l.n == 2 && l.r[0].status == 403 && strcmp(l.r[0].error_code, "SignatureDoesNotMatch") == 0 &&
              l.r[1].status == 200, "403 SignatureDoesNotMatch, then 200 (%d requests)", l.n);
    /* The offset stays: the next call is right the first time. */
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 1, "next call: ok %d, attempts %d", o.ok, o.attempts);
    /* And it is the run's: another thread's ctx, sharing the state, uses it at once. */
    struct aws_settings s;
    settings_for(&e, 3, &s);
    char err[256];
    struct aws_ctx *other = aws_ctx_new(s_loop, &e.shared, &s, err, sizeof err);
    struct aws_creds cr = {.access_key_id = (char *)MGMT_KEY,
                           .secret_access_key = (char *)MGMT_SECRET};
    struct aws_client *oc = other ? aws_client_new_static(other, &cr) : NULL;
    if (!oc)
        bail("out of memory");
    call_sts(oc, &o);
    CHECK(o.ok && o.attempts == 1, "another ctx of the run: ok %d, attempts %d", o.ok, o.attempts);
    aws_client_unref(oc);
    aws_ctx_free(other);
    env_free(&e);

    /* S3 with the client 30 minutes ahead: RequestTimeTooSkewed. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    e.clock.offset = 1800;
    call_s3_list(e.mgmt, "credreport-reports", NULL, &o);
    CHECK(o.ok && o.attempts == 2, "S3, client ahead: ok %d, attempts %d, %s", o.ok, o.attempts,
          o.code);
    check_offset(&e, -1800, "S3");
    requests("service=s3", &l);
    CHECK(l.n == 2 && strcmp(l.r[0].error_code, "RequestTimeTooSkewed") == 0 && l.r[1].status == 200,
          "RequestTimeTooSkewed, then 200 (%d requests)", l.n);
    call_s3_list(e.mgmt, "credreport-reports", NULL, &o);
    CHECK(o.ok && o.attempts == 1, "S3 next call: attempts %d", o.attempts);
    env_free(&e);

    /* Organizations (JSON): InvalidSignatureException "Signature expired". */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    e.clock.offset = -1320;
    call_orgs(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 2, "Organizations: ok %d, attempts %d, %s %s", o.ok, o.attempts,
          o.code, o.message);
    check_offset(&e, 1320, "Organizations");
    requests("service=organizations", &l);
    CHECK(l.n == 2 && strcmp(l.r[0].error_code, "InvalidSignatureException") == 0,
          "InvalidSignatureException first (%d requests)", l.n);
    env_free(&e);

    /* The server's clock off instead: the same correction. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    emu("PUT", "faults", "{\"clock_skew_seconds\": 1600, \"rules\": []}");
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 2, "server ahead: ok %d, attempts %d", o.ok, o.attempts);
    check_offset(&e, 1600, "server ahead");
    env_free(&e);

    /* Three minutes off is within what AWS accepts: no correction, no extra attempt. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    e.clock.offset = -180;
    call_sts(e.mgmt, &o);
    CHECK(o.ok && o.attempts == 1, "small offset: ok %d, attempts %d", o.ok, o.attempts);
    check_offset(&e, 0, "small offset");
    env_free(&e);

    /* A skew error that persists after the correction is not tried again. */
    env_init(&e, 3, 0);
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"status\": 403,"
              " \"code\": \"SignatureDoesNotMatch\","
              " \"message\": \"Signature expired: 20200101T000000Z is now earlier than ...\"}]");
    e.clock.offset = -1500;
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 2 && strcmp(o.code, "SignatureDoesNotMatch") == 0,
          "skew retried once: ok %d, attempts %d, %s", o.ok, o.attempts, o.code);
    env_free(&e);
}

/* ---- 3. S3 in the wrong region --------------------------------------------------------- */

static void test_redirect(void)
{
    struct env e;
    struct outcome o;
    struct logged l;
    s_section = "test_redirect";

    env_init(&e, 3, 0);
    emu_reset(NULL);
    /* credreport-reports-eu lives in eu-west-1; the ctx's region is us-east-1. */
    call_s3_list(e.mgmt, "credreport-reports-eu", NULL, &o);
    CHECK(o.ok && o.attempts == 2, "wrong region: ok %d, attempts %d, %s %s", o.ok, o.attempts,
          o.code, o.message);
    requests("service=s3", &l);
    CHECK(l.n == 2, "two requests (%d)", l.n);
    CHECK(l.n == 2 && l.r[0].status == 400 && strcmp(l.r[0].error_code, "AuthorizationHeaderMalformed") == 0 &&
              strcmp(l.r[0].region, "us-east-1") == 0,
          "first signed for us-east-1: %ld %s %s", l.r[0].status, l.r[0].error_code, l.r[0].region);
    CHECK(l.n == 2 && l.r[1].status == 200 && strcmp(l.r[1].region, "eu-west-1") == 0,
          "then for eu-west-1: %ld %s", l.r[1].status, l.r[1].region);

    /* Remembered: the next call to the bucket goes to eu-west-1 at once. */
    emu_reset(NULL);
    call_s3_list(e.mgmt, "credreport-reports-eu", NULL, &o);
    CHECK(o.ok && o.attempts == 1, "remembered: ok %d, attempts %d", o.ok, o.attempts);
    requests("service=s3", &l);
    CHECK(l.n == 1 && strcmp(l.r[0].region, "eu-west-1") == 0, "signed for eu-west-1 (%s)",
          l.r[0].region);
    /* Per bucket: another bucket keeps the ctx's region. */
    call_s3_list(e.mgmt, "credreport-reports", NULL, &o);
    CHECK(o.ok && o.attempts == 1, "other bucket: ok %d, attempts %d", o.ok, o.attempts);
    /* A region the caller names wins over the memory, and is corrected the same way. */
    call_s3_list(e.mgmt, "credreport-reports-eu", "us-east-1", &o);
    CHECK(o.ok && o.attempts == 2, "named region: ok %d, attempts %d", o.ok, o.attempts);

    /* An unknown bucket names no region: its answer at once. */
    emu_reset(NULL);
    call_s3_list(e.mgmt, "no-such-bucket-anywhere", NULL, &o);
    CHECK(!o.ok && o.attempts == 1 && strcmp(o.code, "NoSuchBucket") == 0,
          "unknown bucket: no redirect (%d, %s)", o.attempts, o.code);
    env_free(&e);
}

/* ---- 4. credentials from a provider ---------------------------------------------------- */

/* Assumes a role with the management account's keys, as the role provider does, and hands
 * the credentials over with an expiration of its choosing (by the client's clock), so that a
 * test decides when the client thinks they run out. */
struct test_provider {
    struct aws_provider base;
    struct env *env;
    struct aws_client *client; /* during a fetch */
    const char *role_arn;
    long lifetime;             /* > 0: expiration = the client's clock + this; 0: STS's */
    int fetches;
    char last_key[64];         /* the access key handed out last */
};

#define ROLE_OK "arn:aws:iam::222222222222:role/OrganizationAccountAccessRole"
#define ROLE_MISSING "arn:aws:iam::222222222222:role/missing"

static void tp_done(void *arg, const struct aws_result *res)
{
    struct test_provider *tp = arg;
    struct aws_client *c = tp->client;
    tp->client = NULL;
    if (!res->ok) {
        aws_client_creds_done(c, NULL, &res->error);
        return;
    }
    const struct xml_node *cr = res->xml ? xml_find_deep(res->xml, "Credentials") : NULL;
    const char *ak = cr ? xml_find_text(cr, "AccessKeyId") : NULL;
    const char *sk = cr ? xml_find_text(cr, "SecretAccessKey") : NULL;
    const char *tok = cr ? xml_find_text(cr, "SessionToken") : NULL;
    time_t exp = provider_parse_time(cr ? xml_find_text(cr, "Expiration") : NULL);
    struct aws_creds fresh;
    memset(&fresh, 0, sizeof fresh);
    if (ak && sk && tok && exp != (time_t)-1) {
        fresh.access_key_id = strdup(ak);
        fresh.secret_access_key = strdup(sk);
        fresh.session_token = strdup(tok);
    }
    if (!fresh.access_key_id || !fresh.secret_access_key || !fresh.session_token) {
        creds_free(&fresh);
        struct aws_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.code, sizeof e.code, "MalformedResponse");
        aws_client_creds_done(c, NULL, &e);
        return;
    }
    fresh.expiration = tp->lifetime > 0 ? test_clock_now(&tp->env->clock) + tp->lifetime : exp;
    snprintf(fresh.source, sizeof fresh.source, "test provider");
    snprintf(tp->last_key, sizeof tp->last_key, "%s", ak);
    aws_client_creds_done(c, &fresh, NULL);
}

static void tp_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct test_provider *tp = (struct test_provider *)p;
    struct aws_request r;
    tp->fetches++;
    if (aws_query_init(&r, service_find("sts"), "AssumeRole", NULL) != 0 ||
        aws_form_add(&r.body, "RoleArn", tp->role_arn) != 0 ||
        aws_form_add(&r.body, "RoleSessionName", "test-aws") != 0)
        bail("out of memory");
    tp->client = c;
    aws_send(tp->env->mgmt, &r, tp_done, tp);
}

static void tp_free(struct aws_provider *p)
{
    (void)p; /* on the test's stack */
}

static struct aws_client *provider_client(struct env *e, struct test_provider *tp,
                                          const char *role_arn, long lifetime)
{
    memset(tp, 0, sizeof *tp);
    tp->base.fetch = tp_fetch;
    tp->base.free = tp_free;
    tp->env = e;
    tp->role_arn = role_arn;
    tp->lifetime = lifetime;
    struct aws_client *c = aws_client_new_provider(e->ctx, &tp->base);
    if (!c)
        bail("out of memory");
    return c;
}

/* The access key of the last GetCallerIdentity the emulator saw. */
static const char *last_gci_key(struct logged *l)
{
    requests(GCI, l);
    return l->n ? l->r[l->n - 1].access_key : "";
}

static void test_creds_expiry(void)
{
    struct env e;
    struct outcome o;
    struct logged l;
    struct test_provider tp;
    char first[64];
    s_section = "test_creds_expiry";

    /* Renewed before the call when too little time is left by the client's clock. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    struct aws_client *c = provider_client(&e, &tp, ROLE_OK, 300);
    call_sts(c, &o);
    CHECK(o.ok && o.attempts == 1 && tp.fetches == 1, "first call: ok %d, %s, fetches %d",
          o.ok, o.code, tp.fetches);
    snprintf(first, sizeof first, "%s", tp.last_key);
    CHECK(first[0] && strncmp(first, "ASIA", 4) == 0, "temporary key handed out: %s", first);
    CHECK_STR(last_gci_key(&l), first, "the call used the provider's key");
    call_sts(c, &o);
    CHECK(o.ok && tp.fetches == 1, "reused while fresh: fetches %d", tp.fetches);
    /* 200 s later by the client's clock 100 s are left, less than the 2 minutes a call needs:
     * the call waits for new ones. (200 s is inside the signature's 5 minutes.) */
    e.clock.offset = 200;
    call_sts(c, &o);
    CHECK(o.ok && o.attempts == 1 && tp.fetches == 2, "renewed first: ok %d, attempts %d, fetches %d",
          o.ok, o.attempts, tp.fetches);
    CHECK(strcmp(tp.last_key, first) != 0, "a new key (%s)", tp.last_key);
    CHECK_STR(last_gci_key(&l), tp.last_key, "the call used the renewed key");
    requests("service=sts", &l);
    CHECK(l.n == 5 && strcmp(l.r[3].access_key, MGMT_KEY) == 0 &&
              strcmp(l.r[4].access_key, tp.last_key) == 0,
          "AssumeRole, then the call (%d requests)", l.n);
    aws_client_unref(c);
    env_free(&e);

    /* Within 10 minutes of expiring but usable: the call goes at once with the current key
     * and the renewal runs beside it. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    c = provider_client(&e, &tp, ROLE_OK, 500);
    call_sts(c, &o);
    snprintf(first, sizeof first, "%s", tp.last_key);
    e.clock.offset = 100;
    call_sts(c, &o);
    CHECK(o.ok && o.attempts == 1, "background renewal: ok %d, %s", o.ok, o.code);
    CHECK_STR(last_gci_key(&l), first, "the call did not wait: the current key");
    for (int i = 0; i < 200 && tp.client; i++)
        loop_run_once(s_loop, 20);
    CHECK(tp.fetches == 2 && strcmp(tp.last_key, first) != 0, "renewed beside the call: %d fetches",
          tp.fetches);
    call_sts(c, &o);
    CHECK(o.ok && tp.fetches == 2, "then used: %s", o.code);
    CHECK_STR(last_gci_key(&l), tp.last_key, "the next call used the renewed key");
    aws_client_unref(c);
    env_free(&e);

    /* Credentials shorter-lived than what a call needs (90 s) are used anyway for a minute
     * after they arrive, by the client's clock; then fetched again. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    c = provider_client(&e, &tp, ROLE_OK, 90);
    e.clock.offset = 120;
    call_sts(c, &o);
    CHECK(o.ok && o.attempts == 1 && tp.fetches == 1, "short-lived: ok %d, %s, fetches %d", o.ok,
          o.code, tp.fetches);
    e.clock.offset = 150; /* 30 s after they arrived, 60 s left */
    call_sts(c, &o);
    CHECK(o.ok && tp.fetches == 1, "short-lived, within the minute: fetches %d", tp.fetches);
    e.clock.offset = 200; /* 80 s after, 10 s left */
    call_sts(c, &o);
    CHECK(o.ok && tp.fetches == 2, "short-lived, after the minute: fetches %d", tp.fetches);
    aws_client_unref(c);
    env_free(&e);

    /* A renewal that fails while the current key still works fails nobody... */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    c = provider_client(&e, &tp, ROLE_OK, 200);
    call_sts(c, &o);
    CHECK(o.ok && tp.fetches == 1, "first call: %s", o.code);
    tp.role_arn = ROLE_MISSING;
    e.clock.offset = 70; /* 130 s left, more than a call needs */
    call_sts(c, &o);
    for (int i = 0; i < 200 && tp.client; i++)
        loop_run_once(s_loop, 20);
    CHECK(o.ok && tp.fetches == 2, "failed background renewal: ok %d, %s, fetches %d", o.ok,
          o.code, tp.fetches);
    /* ...until it no longer works: then the call gets the provider's failure. */
    e.clock.offset = 90; /* 110 s left */
    call_sts(c, &o);
    CHECK(!o.ok && o.credentials && strcmp(o.code, "AccessDenied") == 0 && o.attempts == 0,
          "no usable key: ok %d, credentials %d, %s, attempts %d", o.ok, o.credentials, o.code,
          o.attempts);
    CHECK(tp.fetches == 3, "fetched for it (%d)", tp.fetches);
    /* A call that waited while the clock said the key was spent, and the clock stepped back
     * (NTP) before the fetch failed: the key is usable again, so the call goes with it. */
    e.clock.offset = 90; /* 110 s left: the call waits for the fetch */
    send_sts(c, &o);
    CHECK(!o.done && tp.fetches == 4, "waiting for the fetch: done %d, fetches %d", o.done,
          tp.fetches);
    e.clock.offset = 0;
    wait_for(&o, 1);
    CHECK(o.ok && o.attempts == 1, "the failed fetch did not fail it: ok %d, %s", o.ok, o.code);
    CHECK_STR(last_gci_key(&l), tp.last_key, "sent with the key still usable");
    aws_client_unref(c);
    env_free(&e);
}

static void test_creds_expired_token(void)
{
    struct env e;
    struct outcome o;
    struct logged l;
    struct test_provider tp;
    char first[64];
    s_section = "test_creds_expired_token";

    /* The emulator's clock passes the credentials' Expiration while the client's clock says
     * there is an hour left: ExpiredToken, a new fetch, one more attempt. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    struct aws_client *c = provider_client(&e, &tp, ROLE_OK, 0);
    call_sts(c, &o);
    CHECK(o.ok && tp.fetches == 1, "first call: %s", o.code);
    snprintf(first, sizeof first, "%s", tp.last_key);
    emu("POST", "advance", "{\"seconds\": 3700}");
    call_sts(c, &o);
    CHECK(o.ok && o.attempts == 2 && tp.fetches == 2, "ExpiredToken: ok %d, attempts %d, fetches %d, %s",
          o.ok, o.attempts, tp.fetches, o.code);
    requests(GCI, &l);
    CHECK(l.n == 3 && strcmp(l.r[1].error_code, "ExpiredToken") == 0 &&
              strcmp(l.r[1].access_key, first) == 0 && strcmp(l.r[2].access_key, tp.last_key) == 0 &&
              strcmp(tp.last_key, first) != 0 && l.r[2].status == 200,
          "ExpiredToken with the old key, 200 with the new (%d requests)", l.n);
    aws_client_unref(c);
    env_free(&e);

    /* Once per call: a service that keeps saying so gets its answer back. */
    env_init(&e, 3, 0);
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"action\": \"GetCallerIdentity\","
              " \"status\": 403, \"code\": \"ExpiredToken\"}]");
    c = provider_client(&e, &tp, ROLE_OK, 0);
    call_sts(c, &o);
    CHECK(!o.ok && o.attempts == 2 && tp.fetches == 2 && strcmp(o.code, "ExpiredToken") == 0,
          "ExpiredToken twice: attempts %d, fetches %d, %s", o.attempts, tp.fetches, o.code);
    aws_client_unref(c);
    /* Fixed credentials cannot be renewed: no second attempt. */
    call_sts(e.mgmt, &o);
    CHECK(!o.ok && o.attempts == 1 && strcmp(o.code, "ExpiredToken") == 0,
          "static client: attempts %d, %s", o.attempts, o.code);
    env_free(&e);
}

/* A role client's kept credentials start a later client of the same role without another
 * AssumeRole, once; credentials about to be renewed, or another role's, start nothing. */
static void test_creds_kept(void)
{
    struct env e;
    struct outcome o;
    struct logged l;
    struct test_provider tp;
    struct aws_kept_role k;
    char first[64];
    s_section = "test_creds_kept";

    env_init(&e, 3, 0);
    emu_reset(NULL);
    struct aws_role role = {.role_arn = ROLE_OK, .session_name = "test-kept"};
    struct aws_client *a = aws_client_new_role(e.mgmt, &role);
    if (!a)
        bail("out of memory");
    CHECK(aws_role_keep(a, &k) == 0, "nothing kept before the role is assumed");
    call_sts(a, &o);
    CHECK(o.ok, "the first client calls as the role: %s", o.code);
    snprintf(first, sizeof first, "%s", last_gci_key(&l));
    CHECK(aws_role_keep(e.mgmt, &k) == 0, "a client with fixed keys is no role's");
    CHECK(aws_role_keep(a, &k) == 1 && k.role_arn && strcmp(k.role_arn, ROLE_OK) == 0 &&
              k.creds.access_key_id && strcmp(k.creds.access_key_id, first) == 0,
          "kept: the role and its key");
    aws_client_unref(a);
    role.kept = &k;
    struct aws_client *b = aws_client_new_role(e.mgmt, &role);
    if (!b)
        bail("out of memory");
    CHECK(!k.role_arn && !k.creds.access_key_id, "taken by the new client");
    call_sts(b, &o);
    CHECK(o.ok, "the later client calls: %s", o.code);
    CHECK_STR(last_gci_key(&l), first, "with the kept key");
    requests("service=sts&action=AssumeRole", &l);
    CHECK(l.n == 1, "the role was assumed once (%d)", l.n);
    CHECK(aws_role_keep(b, &k) == 1, "kept again");
    CHECK(atomic_load(&e.shared.kept_bytes) == k.bytes && k.bytes > sizeof k + strlen(ROLE_OK),
          "counted against the budget: %zu bytes", k.bytes);
    struct aws_kept_role over;
    struct aws_ctx *ctx = aws_client_ctx(b);
    e.shared.kept_budget = 2 * k.bytes - 1;
    CHECK(aws_role_keep(b, &over) == 0 && !over.role_arn, "nothing kept beyond the budget");
    CHECK(aws_keep_has_room(ctx, 0) && !aws_keep_has_room(ctx, 1),
          "no room for another role of the kept one's size");
    e.shared.kept_budget = 3 * k.bytes;
    CHECK(aws_keep_has_room(ctx, 2) && !aws_keep_has_room(ctx, 3), "room for two more of its size");
    e.shared.kept_budget = AWS_KEPT_BUDGET;
    aws_client_unref(b);
    role.role_arn = "arn:aws:iam::333333333333:role/OrganizationAccountAccessRole";
    struct aws_client *other = aws_client_new_role(e.mgmt, &role);
    if (!other)
        bail("out of memory");
    CHECK(!k.role_arn, "another role's kept credentials are dropped");
    CHECK(atomic_load(&e.shared.kept_bytes) == 0 && atomic_load(&e.shared.kept_roles) == 0,
          "and their bytes given back");
    e.shared.kept_budget = 1;
    CHECK(aws_keep_has_room(aws_client_ctx(other), 1000000), "room for any number while none is kept");
    e.shared.kept_budget = AWS_KEPT_BUDGET;
    call_sts(other, &o);
    CHECK(o.ok && strcmp(last_gci_key(&l), first) != 0, "that client assumes its own role: %s", o.code);
    aws_client_unref(other);

    /* Kept credentials within 10 minutes of expiring would be renewed at once: not used. */
    struct aws_client *c = provider_client(&e, &tp, ROLE_OK, 500);
    call_sts(c, &o);
    struct aws_creds short_lived;
    memset(&short_lived, 0, sizeof short_lived);
    CHECK(aws_client_creds(c, &short_lived) == 1, "a copy of the short-lived credentials");
    aws_client_unref(c);
    struct test_provider tp2;
    c = provider_client(&e, &tp2, ROLE_OK, 3600);
    CHECK(!aws_client_start_with(c, &short_lived) && !short_lived.access_key_id,
          "credentials with 500 s left are not started with, and are wiped");
    call_sts(c, &o);
    CHECK(o.ok && tp2.fetches == 1, "the client fetches its own: %s, fetches %d", o.code, tp2.fetches);
    struct aws_creds more;
    memset(&more, 0, sizeof more);
    CHECK(aws_client_creds(c, &more) == 1, "a copy of the long-lived credentials");
    CHECK(!aws_client_start_with(c, &more), "a client that has credentials keeps them");
    aws_client_unref(c);
    env_free(&e);
}

/* Kept credentials hold a session token in canonical base64 (as STS's are) decoded, and any
 * other as it came; either is given back to the next client exactly. */
static void test_creds_kept_token(void)
{
    struct env e;
    s_section = "test_creds_kept_token";
    env_init(&e, 1, 0);
    unsigned char bytes[64];
    for (size_t i = 0; i < sizeof bytes; i++)
        bytes[i] = (unsigned char)(i * 37 + 11);
    char padded[3][100];
    for (int pad = 0; pad < 3; pad++) /* 48, 47 and 46 bytes: no "=", "=" and "==" */
        EVP_EncodeBlock((unsigned char *)padded[pad], bytes, 48 - pad);
    const struct {
        const char *token;
        size_t raw; /* 0: kept as text */
    } cases[] = {
        {padded[0], 48}, {padded[1], 47}, {padded[2], 46},
        {"IQoJb3JpZ2luX2VtEmu+/abc", 18},
        {"IQoJb3JpZ2luX2VtEmuabc", 0},   /* not a whole number of 4-character groups */
        {"IQoJb3JpZ2luX2VtEmu-_abc", 0}, /* base64url's alphabet */
        {"IQoJb3JpZ2luX2VtEmuaAB==", 0}, /* "B" in the last group: encoding the bytes gives "A" */
        {"IQoJb3JpZ2luX2V=Emuabcde", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct aws_role role = {.role_arn = ROLE_OK, .session_name = "test-kept"};
        struct aws_client *c = aws_client_new_role(e.mgmt, &role);
        struct aws_creds creds = {.access_key_id = strdup("ASIAKEPTTOKEN0000000"),
                                  .secret_access_key = strdup("kept/secret"),
                                  .session_token = strdup(cases[i].token),
                                  .expiration = test_clock_now(&e.clock) + 3600};
        if (!c || !creds.access_key_id || !creds.secret_access_key || !creds.session_token)
            bail("out of memory");
        CHECK(aws_client_start_with(c, &creds), "%zu: the client starts with the token", i);
        struct aws_kept_role k;
        CHECK(aws_role_keep(c, &k) == 1, "%zu: kept", i);
        CHECK(cases[i].raw ? k.token_raw && k.token_raw_len == cases[i].raw && !k.creds.session_token
                           : !k.token_raw && k.creds.session_token,
              "%zu: %s (%zu bytes)", i, cases[i].raw ? "decoded" : "as text", k.token_raw_len);
        size_t stored = cases[i].raw ? cases[i].raw : strlen(cases[i].token);
        CHECK(k.bytes == sizeof k + AWS_KEPT_OVERHEAD + strlen(ROLE_OK) + 20 + 11 + stored &&
                  atomic_load(&e.shared.kept_bytes) == k.bytes,
              "%zu: counted at the bytes stored (%zu)", i, k.bytes);
        struct aws_creds back;
        CHECK(aws_kept_role_take(&k, &back) == 0 && back.session_token &&
                  strcmp(back.session_token, cases[i].token) == 0 && back.access_key_id &&
                  strcmp(back.access_key_id, "ASIAKEPTTOKEN0000000") == 0,
              "%zu: given back as it was: %s", i, back.session_token ? back.session_token : "(none)");
        creds_free(&back);
        aws_kept_role_free(&k);
        CHECK(atomic_load(&e.shared.kept_bytes) == 0 && !k.token_raw, "%zu: freed, its bytes given back", i);
        aws_client_unref(c);
    }
    env_free(&e);
}

static void test_creds_failure(void)
{
    struct env e;
    struct outcome o[3];
    struct logged l;
    struct test_provider tp;
    s_section = "test_creds_failure";

    /* Three calls wait for the first credentials; the one fetch fails; each gets its error. */
    env_init(&e, 3, 0);
    emu_reset(NULL);
    struct aws_client *c = provider_client(&e, &tp, ROLE_MISSING, 0);
    for (int i = 0; i < 3; i++)
        send_sts(c, &o[i]);
    wait_for(o, 3);
    for (int i = 0; i < 3; i++)
        CHECK(!o[i].ok && o[i].credentials && !o[i].retryable && o[i].attempts == 0 &&
                  strcmp(o[i].code, "AccessDenied") == 0,
              "waiter %d: ok %d, credentials %d, retryable %d, attempts %d, %s", i, o[i].ok,
              o[i].credentials, o[i].retryable, o[i].attempts, o[i].code);
    CHECK(tp.fetches == 1, "one fetch for the three (%d)", tp.fetches);
    requests(GCI, &l);
    CHECK(l.n == 0, "no call went out (%d)", l.n);
    requests("service=sts&action=AssumeRole", &l);
    CHECK(l.n == 1, "one AssumeRole (%d)", l.n);
    /* The next call tries again. */
    tp.role_arn = ROLE_OK;
    call_sts(c, &o[0]);
    CHECK(o[0].ok && tp.fetches == 2, "fetched again: ok %d, %s", o[0].ok, o[0].code);
    aws_client_unref(c);
    env_free(&e);

    /* A failure that may pass (STS 500s, its attempts spent) reaches them as retryable. */
    env_init(&e, 2, 0);
    emu_reset("[{\"type\": \"fail\", \"service\": \"sts\", \"action\": \"AssumeRole\","
              " \"status\": 500}]");
    c = provider_client(&e, &tp, ROLE_OK, 0);
    for (int i = 0; i < 2; i++)
        send_sts(c, &o[i]);
    wait_for(o, 2);
    for (int i = 0; i < 2; i++)
        CHECK(!o[i].ok && o[i].credentials && o[i].retryable &&
                  strcmp(o[i].code, "InternalFailure") == 0,
              "waiter %d: credentials %d, retryable %d, %s", i, o[i].credentials, o[i].retryable,
              o[i].code);
    CHECK(tp.fetches == 1, "one fetch (%d)", tp.fetches);
    requests("service=sts&action=AssumeRole", &l);
    CHECK(l.n == 2, "the fetch's own retries: %d AssumeRole", l.n);
    aws_client_unref(c);
    env_free(&e);
}

/* Connections the emulator has open now (its own count), the admin call's included; -1 when
 * it cannot tell. The callers check the count: a check here would count once per poll, and
 * the run's number of checks would vary with the timing. */
static long emu_open_connections(void)
{
    struct buf body = BUF_INIT;
    bool ok = admin("GET", "info", NULL, &body) == 200 && body.data;
    const char *p = ok ? strstr(body.data, "\"open\":") : NULL;
    long n = p ? strtol(p + 7, NULL, 10) : -1;
    buf_free(&body);
    return n;
}

static long emu_open_connections_settled(long want)
{
    long n = -1;
    for (int i = 0; i < 40 && (n = emu_open_connections()) != want; i++)
        usleep(25000);
    return n;
}

/* A loop done with an endpoint for a while closes the connections it kept, which a server
 * counts against its connection limit; with a transfer in flight it keeps them. */
static void test_close_idle_connections(void)
{
    struct http_settings hs;
    http_settings_default(&hs);
    char err[256], url[512];
    struct loop *l = loop_new(&hs, err, sizeof err);
    CHECK(l != NULL, "loop: %s", err);
    long before = emu_open_connections();
    CHECK(before >= 0, "the emulator's count of open connections (GET /_emulator/info)");
    snprintf(url, sizeof url, "%s/_emulator/info", s_url);
    struct http_request req = {.method = "GET", .url = url};
    struct got g = {false, 0, BUF_INIT};
    CHECK(loop_http(l, &req, on_admin, &g, err, sizeof err) == 0, "%s", err);
    CHECK(!loop_close_idle_connections(l), "not while a transfer is in flight");
    wait_got(l, &g);
    buf_free(&g.body);
    CHECK(g.status == 200, "the call went through: %ld", g.status);
    CHECK(emu_open_connections_settled(before + 1) == before + 1, "its connection is kept alive");
    CHECK(loop_close_idle_connections(l), "closed once idle");
    CHECK(emu_open_connections_settled(before) == before, "and the server saw it close");
    g = (struct got){false, 0, BUF_INIT};
    CHECK(loop_http(l, &req, on_admin, &g, err, sizeof err) == 0, "%s", err);
    wait_got(l, &g);
    buf_free(&g.body);
    CHECK(g.status == 200, "the loop still sends: %ld", g.status);
    loop_free(l);
}

int main(void)
{
    log_configure("error", false);
    if (!unit_emulator_start("test_aws", s_url, sizeof s_url))
        bail("no emulator");
    atexit(unit_emulator_stop);
    if (loop_global_init() != 0)
        bail("curl");
    struct http_settings hs;
    http_settings_default(&hs);
    char err[256];
    s_loop = loop_new(&hs, err, sizeof err);
    if (!s_loop)
        bail(err);

    test_retry();
    test_skew();
    test_redirect();
    test_creds_expiry();
    test_creds_expired_token();
    test_creds_kept();
    test_creds_kept_token();
    test_creds_failure();
    test_close_idle_connections();

    loop_free(s_loop);
    loop_global_cleanup();
    unit_emulator_stop();
    return unit_report("test_aws");
}
