#include "aws/aws.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "base/log.h"
#include "aws/sigv4.h"
#include "base/xml.h"

/* Temporary credentials are renewed this long before they expire; requests keep using the
 * old ones meanwhile unless fewer than AWS_CREDS_MIN_LEFT seconds remain. */
#define AWS_CREDS_REFRESH_BEFORE (10 * 60)
#define AWS_CREDS_MIN_LEFT (2 * 60)

/* Fresh credentials are used by the calls that waited for them even when they expire within
 * AWS_CREDS_MIN_LEFT (a provider may hand out short-lived ones), for this long after arriving;
 * otherwise those calls would fetch again and again. */
#define AWS_CREDS_FRESH_GRACE 60

struct aws_ctx;

/* An aws_ctx_http() request. */
struct ctx_http {
    struct aws_ctx *ctx;
    http_done_fn done;
    void *arg;
    struct buf body;
    struct ctx_http *prev, *next;
};

#define S3_BUCKET_MAX 64   /* a bucket name's 63 characters and the '\0' */
#define S_BUCKET_REGIONS 8 /* buckets whose region S3 named, remembered per thread */
/* Refusals at a server's connection limit in a row that a call meets by trying again at once
 * (each lowers the limit the process keeps to it); after them it backs off: from 50 ms,
 * doubling, up to 1 s. */
#define S_PROMPT_REFUSALS 4
static const struct retry_config s_refusal_backoff = {.base_delay = 0.05, .max_backoff = 1.0};
/* A throttle taken as random waits as a server error does (from 0.1 s, doubling), but never
 * above 0.4 s: its next answer is as likely throttled however long it waits. At 1 answer in
 * 10 over 10,000 accounts, the few calls throttled 4 or 5 times in a row (waits up to 0.8 and
 * 1.6 s) stored their reports 1-3 s after every other account's. */
static const struct retry_config s_noise_backoff = {.base_delay = 0.1, .max_backoff = 0.4};
/* Attempts of a call that may end in a timeout. Each may take the stall limit (30 s): an
 * endpoint that takes requests and answers none fails the preflight after about 80 s, not
 * after max_attempts of them. Errors answered at once get every attempt. */
#define S_MAX_TIMEOUTS 3

struct aws_ctx {
    struct loop *loop;
    struct aws_shared *shared;
    struct aws_settings settings;
    uint64_t rng; /* xorshift state for backoff jitter */
    struct xml_reader *xml; /* parses every XML response of the thread (NULL: out of memory,
                             * each gets a parser of its own) */
    struct ctx_http *http; /* aws_ctx_http() requests whose transfer has not ended */
    /* Buckets S3 said live in another region, so later requests go there at once. */
    struct { char bucket[S3_BUCKET_MAX]; char region[AWSNAME_REGION_MAX]; } bucket_regions[S_BUCKET_REGIONS];
    unsigned n_bucket_regions;
    size_t pacing; /* calls waiting for their rate limiter's token */
};

struct aws_call;

struct aws_client {
    struct aws_ctx *ctx;
    int refs;
    struct aws_creds creds;
    bool have_creds;
    bool anonymous;           /* requests go unsigned */
    /* Rate limiters of the identity: the ctx's shared ones, or the client's own (created at
     * its first call) when own_limits. */
    struct rate_limits *limits;
    bool own_limits;
    bool ahead;               /* its calls are requests `ahead` */
    /* Signing keys derived from creds, for the two scopes used last (a member role signs
     * for IAM; the run's own identity mostly for STS and S3). Wiped when creds change. */
    struct sigv4_key keys[2];
    unsigned next_key;
    /* Provider clients only. */
    struct aws_provider *provider;
    time_t fetched_at;        /* when the current credentials arrived */
    bool refreshing;
    struct aws_call *waiters; /* calls waiting for credentials */
};

struct attempt;

struct aws_call {
    struct aws_client *client;
    struct aws_request req;
    aws_done_fn done;
    void *arg;
    char region[AWSNAME_REGION_MAX];
    struct rate_limiter *limiter; /* NULL until looked up, or when memory ran out */
    bool token_promised;          /* waiting for a token the limiter promised */
    struct attempt *at;           /* the attempt waiting for a connection slot */
    char operation[64];           /* req.operation points here */
    const char *endpoint;         /* of the last attempt (owned by the loop), for errors */
    int attempts;
    int refusals;                 /* attempts the server refused at its connection limit */
    int lost;                     /* attempts taken as lost (http_request.lost_after_ms) */
    int timeouts;                 /* attempts that timed out, lost ones included */
    char body_hash[65];           /* the body's SHA-256 (hex) once known; "" before */
    int retry_cost;
    bool skew_retried;
    bool region_retried;
    bool creds_retried;
    double started;
    double paced_at;              /* when the last attempt was given its time to go by the
                                   * rate limiter */
    struct aws_call *next_waiter;
};

static void s_attempt(struct aws_call *call);
static void s_ctx_http_unlink_free(struct ctx_http *h);

/* ---- ctx and clients -------------------------------------------------------------- */

int aws_shared_init(struct aws_shared *s)
{
    retry_quota_init(&s->quota, RETRY_QUOTA_CAPACITY);
    atomic_store(&s->skew_offset, 0);
    atomic_store(&s->kept_bytes, 0);
    atomic_store(&s->kept_roles, 0);
    s->kept_budget = AWS_KEPT_BUDGET;
    s->limits = rate_limits_new();
    return s->limits ? 0 : -1;
}

void aws_shared_cleanup(struct aws_shared *s)
{
    rate_limits_free(s->limits);
    s->limits = NULL;
}

struct aws_ctx *aws_ctx_new(struct loop *loop, struct aws_shared *shared,
                            const struct aws_settings *settings, char *err, size_t errlen)
{
    struct aws_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    ctx->loop = loop;
    ctx->shared = shared;
    ctx->settings = *settings;
    ctx->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)ctx;
    if (!ctx->rng)
        ctx->rng = 88172645463325252ull;
    ctx->xml = xml_reader_new();
    if (!ctx->xml) {
        free(ctx);
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    return ctx;
}

void aws_ctx_free(struct aws_ctx *ctx)
{
    if (!ctx)
        return;
    /* Their transfers are abandoned by loop_free() without callbacks. */
    while (ctx->http)
        s_ctx_http_unlink_free(ctx->http);
    xml_reader_free(ctx->xml);
    free(ctx);
}

struct loop *aws_ctx_loop(struct aws_ctx *ctx)
{
    return ctx->loop;
}

size_t aws_ctx_pacing(const struct aws_ctx *ctx)
{
    return ctx->pacing;
}

/* The wall clock of the ctx's settings (aws_settings.wall_clock). */
static time_t s_wall_now(const struct aws_ctx *ctx)
{
    return ctx->settings.wall_clock ? ctx->settings.wall_clock(ctx->settings.wall_clock_arg)
                                    : time(NULL);
}

static double s_random01(struct aws_ctx *ctx)
{
    uint64_t x = ctx->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    ctx->rng = x;
    return (double)(x >> 11) / 9007199254740992.0;
}

/* A client of ctx with one reference and the ctx's shared rate limiters, no credentials yet.
 * NULL when memory runs out. */
static struct aws_client *s_client_alloc(struct aws_ctx *ctx)
{
    struct aws_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->ctx = ctx;
    c->refs = 1;
    c->limits = ctx->shared->limits;
    return c;
}

struct aws_client *aws_client_new_static(struct aws_ctx *ctx, const struct aws_creds *creds)
{
    struct aws_client *c = s_client_alloc(ctx);
    if (!c)
        return NULL;
    if (creds_copy(&c->creds, creds) != 0) {
        free(c);
        return NULL;
    }
    c->have_creds = true;
    return c;
}

struct aws_client *aws_client_new_anonymous(struct aws_ctx *ctx)
{
    struct aws_client *c = s_client_alloc(ctx);
    if (!c)
        return NULL;
    c->anonymous = true;
    snprintf(c->creds.source, sizeof c->creds.source, "anonymous");
    return c;
}

struct aws_client *aws_client_new_provider(struct aws_ctx *ctx, struct aws_provider *p)
{
    struct aws_client *c = s_client_alloc(ctx);
    if (!c) {
        p->free(p);
        return NULL;
    }
    c->provider = p;
    return c;
}

void aws_client_separate_rate_limits(struct aws_client *c)
{
    c->limits = NULL;
    c->own_limits = true;
}

void aws_client_send_ahead(struct aws_client *c)
{
    c->ahead = true;
}

bool aws_client_start_with(struct aws_client *c, struct aws_creds *creds)
{
    time_t now = s_wall_now(c->ctx);
    if (!c->provider || c->have_creds || !creds->access_key_id ||
        (creds->expiration && creds->expiration - now <= AWS_CREDS_REFRESH_BEFORE)) {
        creds_free(creds);
        return false;
    }
    c->creds = *creds;
    memset(creds, 0, sizeof *creds);
    c->have_creds = true;
    c->fetched_at = now;
    return true;
}

struct aws_provider *aws_client_provider(const struct aws_client *c)
{
    return c->provider;
}

/* The bytes token's base64 stands for, allocated (*raw, *len), when encoding them gives
 * token back exactly; false otherwise (or when memory runs out): the token is then kept as
 * text, as it came. */
static bool s_token_decode(const char *token, unsigned char **raw, size_t *len)
{
    size_t n = strlen(token);
    if (n == 0 || n % 4 != 0 || n > INT_MAX)
        return false;
    size_t pad = token[n - 1] == '=' ? (token[n - 2] == '=' ? 2 : 1) : 0;
    unsigned char *bytes = malloc(n / 4 * 3);
    char *again = malloc(n + 1);
    bool ok = bytes && again && EVP_DecodeBlock(bytes, (const unsigned char *)token, (int)n) >= 0 &&
              EVP_EncodeBlock((unsigned char *)again, bytes, (int)(n / 4 * 3 - pad)) == (int)n &&
              memcmp(again, token, n) == 0;
    if (again) {
        OPENSSL_cleanse(again, n);
        free(again);
    }
    if (!ok) {
        if (bytes)
            OPENSSL_cleanse(bytes, n / 4 * 3);
        free(bytes);
        return false;
    }
    *raw = bytes;
    *len = n / 4 * 3 - pad;
    return true;
}

int aws_role_keep(struct aws_client *c, struct aws_kept_role *out)
{
    memset(out, 0, sizeof *out);
    const char *arn = aws_client_role_arn(c);
    if (!arn || !c->have_creds)
        return 0;
    const struct aws_creds *cr = &c->creds;
    size_t token_len = cr->session_token ? strlen(cr->session_token) : 0;
    /* Counted with the token as text first: a role beyond the budget costs no copy. */
    size_t bytes = sizeof *out + AWS_KEPT_OVERHEAD + strlen(arn) + strlen(cr->access_key_id) +
                   strlen(cr->secret_access_key) + token_len;
    struct aws_shared *shared = c->ctx->shared;
    if (atomic_fetch_add(&shared->kept_bytes, bytes) + bytes > shared->kept_budget) {
        atomic_fetch_sub(&shared->kept_bytes, bytes);
        return 0;
    }
    atomic_fetch_add(&shared->kept_roles, 1);
    out->shared = shared;
    out->bytes = bytes;
    struct aws_creds text = *cr;
    text.session_token = NULL;
    if (creds_copy(&out->creds, &text) != 0 || !(out->role_arn = strdup(arn)))
        goto out_of_memory;
    if (cr->session_token && s_token_decode(cr->session_token, &out->token_raw, &out->token_raw_len)) {
        atomic_fetch_sub(&shared->kept_bytes, token_len - out->token_raw_len);
        out->bytes -= token_len - out->token_raw_len;
    } else if (cr->session_token && !(out->creds.session_token = strdup(cr->session_token))) {
        goto out_of_memory;
    }
    return 1;

out_of_memory:
    aws_kept_role_free(out);
    return -1;
}

bool aws_keep_has_room(const struct aws_ctx *ctx, size_t more)
{
    struct aws_shared *shared = ctx->shared;
    size_t bytes = atomic_load(&shared->kept_bytes), roles = atomic_load(&shared->kept_roles);
    size_t each = roles ? bytes / roles : 0;
    return bytes + more * each <= shared->kept_budget;
}

int aws_kept_role_take(struct aws_kept_role *k, struct aws_creds *out)
{
    if (k->token_raw) {
        size_t n = (k->token_raw_len + 2) / 3 * 4;
        if (!(k->creds.session_token = malloc(n + 1))) {
            memset(out, 0, sizeof *out);
            return -1;
        }
        EVP_EncodeBlock((unsigned char *)k->creds.session_token, k->token_raw, (int)k->token_raw_len);
    }
    *out = k->creds;
    memset(&k->creds, 0, sizeof k->creds);
    return 0;
}

void aws_kept_role_free(struct aws_kept_role *k)
{
    free(k->role_arn);
    k->role_arn = NULL;
    creds_free(&k->creds);
    if (k->token_raw) {
        OPENSSL_cleanse(k->token_raw, k->token_raw_len);
        free(k->token_raw);
    }
    k->token_raw = NULL;
    k->token_raw_len = 0;
    if (k->shared) {
        atomic_fetch_sub(&k->shared->kept_bytes, k->bytes);
        atomic_fetch_sub(&k->shared->kept_roles, 1);
    }
    k->shared = NULL;
    k->bytes = 0;
}

struct aws_ctx *aws_client_ctx(const struct aws_client *c)
{
    return c->ctx;
}

void aws_client_ref(struct aws_client *c)
{
    c->refs++;
}

void aws_client_unref(struct aws_client *c)
{
    if (!c || --c->refs > 0)
        return;
    creds_free(&c->creds);
    OPENSSL_cleanse(c->keys, sizeof c->keys);
    if (c->provider)
        c->provider->free(c->provider);
    if (c->own_limits)
        rate_limits_free(c->limits);
    free(c);
}

int aws_client_creds(struct aws_client *c, struct aws_creds *out)
{
    if (!c->have_creds)
        return 0;
    return creds_copy(out, &c->creds) == 0 ? 1 : -1;
}

/* ---- requests --------------------------------------------------------------------- */

void aws_request_init(struct aws_request *r, const struct service *svc)
{
    memset(r, 0, sizeof *r);
    r->service = *svc;
    r->method = svc->protocol == AWS_REST_XML ? "GET" : "POST";
}

void aws_request_cleanup(struct aws_request *r)
{
    headers_free(&r->headers);
    if (r->secret_body)
        buf_free_secret(&r->body);
    else
        buf_free(&r->body);
}

int aws_form_add(struct buf *body, const char *name, const char *value)
{
    if (body->len && buf_putc(body, '&') != 0)
        return -1;
    if (sigv4_uri_encode(body, name, strlen(name), false) != 0 || buf_putc(body, '=') != 0)
        return -1;
    return sigv4_uri_encode(body, value, strlen(value), false);
}

int aws_query_init(struct aws_request *r, const struct service *svc, const char *action,
                   const char *version)
{
    aws_request_init(r, svc);
    r->operation = action;
    int rc = aws_form_add(&r->body, "Action", action);
    return rc | aws_form_add(&r->body, "Version", version ? version : svc->api_version);
}

static void s_call_finish(struct aws_call *call, struct aws_result *res)
{
    res->attempts = call->attempts;
    res->endpoint = call->endpoint;
    res->seconds = loop_now() - call->started;
    call->done(call->arg, res);
    aws_request_cleanup(&call->req);
    aws_client_unref(call->client);
    free(call);
}

static void s_call_fail(struct aws_call *call, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_call_fail(struct aws_call *call, const char *code, const char *fmt, ...)
{
    struct aws_result res;
    memset(&res, 0, sizeof res);
    snprintf(res.error.code, sizeof res.error.code, "%s", code);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(res.error.message, sizeof res.error.message, fmt, ap);
    va_end(ap);
    s_call_finish(call, &res);
}

void aws_send(struct aws_client *c, struct aws_request *req, aws_done_fn done, void *arg)
{
    struct aws_call *call = calloc(1, sizeof *call);
    if (!call) {
        struct aws_result res;
        memset(&res, 0, sizeof res);
        snprintf(res.error.code, sizeof res.error.code, "OutOfMemory");
        snprintf(res.error.message, sizeof res.error.message, "out of memory");
        aws_request_cleanup(req);
        done(arg, &res);
        return;
    }
    call->client = c;
    aws_client_ref(c);
    call->req = *req;
    call->req.ahead |= c->ahead;
    memset(req, 0, sizeof *req);
    if (call->req.operation) {
        snprintf(call->operation, sizeof call->operation, "%s", call->req.operation);
        call->req.operation = call->operation;
    }
    call->done = done;
    call->arg = arg;
    call->started = loop_now();
    const char *region = call->req.region && *call->req.region ? call->req.region : NULL;
    for (unsigned i = 0; !region && call->req.bucket && i < c->ctx->n_bucket_regions && i < S_BUCKET_REGIONS; i++)
        if (strcmp(c->ctx->bucket_regions[i].bucket, call->req.bucket) == 0)
            region = c->ctx->bucket_regions[i].region;
    snprintf(call->region, sizeof call->region, "%s", region ? region : c->ctx->settings.region);
    s_attempt(call);
}

/* ---- protocols ------------------------------------------------------------------- */

static bool s_json_protocol(enum aws_protocol p)
{
    return p == AWS_JSON_1_0 || p == AWS_JSON_1_1 || p == AWS_REST_JSON;
}

/* The Content-Type the protocol sends, or NULL (REST-XML: the caller's headers say). */
static const char *s_content_type(const struct aws_request *r)
{
    switch (r->service.protocol) {
    case AWS_QUERY:
        return "application/x-www-form-urlencoded; charset=utf-8";
    case AWS_JSON_1_0:
        return "application/x-amz-json-1.0";
    case AWS_JSON_1_1:
        return "application/x-amz-json-1.1";
    case AWS_REST_JSON:
        return r->body.len || r->body_ref_len ? "application/json" : NULL;
    case AWS_REST_XML:
        break;
    }
    return NULL;
}

/* ---- error decoding --------------------------------------------------------------- */

static void s_copy(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

const char *aws_request_id(const struct header_list *headers)
{
    const char *rid = headers ? headers_get(headers, "x-amzn-RequestId") : NULL;
    return rid || !headers ? rid : headers_get(headers, "x-amz-request-id");
}

void aws_decode_error(const struct aws_settings *s, struct xml_reader *xml, enum aws_protocol protocol,
                      long status, const struct header_list *headers, const char *body, size_t len,
                      struct aws_error *e)
{
    e->http_status = (int)status;
    s_copy(e->request_id, sizeof e->request_id, aws_request_id(headers));

    if (s_json_protocol(protocol)) {
        /* As the SDKs: the header's code first, the body's when there is none. */
        s_copy(e->code, sizeof e->code, headers_get(headers, "x-amzn-ErrorType"));
        if (len && s->json_error) {
            char header_code[sizeof e->code];
            s_copy(header_code, sizeof header_code, e->code);
            e->code[0] = '\0';
            s->json_error(s->json_error_arg, body, len, e);
            if (header_code[0])
                s_copy(e->code, sizeof e->code, header_code);
        }
        aws_error_clean_code(e);
    } else if (len) {
        char err[128];
        struct xml_node *root = xml_read(xml, body, len, err, sizeof err);
        const struct xml_node *errnode = root ? xml_find_deep(root, "Error") : NULL;
        if (errnode) {
            s_copy(e->code, sizeof e->code, xml_find_text(errnode, "Code"));
            s_copy(e->message, sizeof e->message, xml_find_text(errnode, "Message"));
            const struct xml_node *r = xml_find_deep(root, "RequestId");
            if (r && r->text[0])
                s_copy(e->request_id, sizeof e->request_id, r->text);
        }
        xml_free(root);
    }
    if (!e->code[0]) {
        /* No body (HEAD, some 5xx) or one we could not read: name the status. */
        const char *name = status == 403 ? "Forbidden" : status == 404 ? "NotFound"
                         : status == 429 ? "TooManyRequests" : NULL;
        if (name)
            s_copy(e->code, sizeof e->code, name);
        else
            snprintf(e->code, sizeof e->code, "HTTP%ld", status);
    }
    if (!e->message[0])
        snprintf(e->message, sizeof e->message, "HTTP status %ld", status);
}

/* A 2xx body that does not parse is as good as a dropped connection: retry it. An XML body
 * that parses is handed back in *xml (the caller frees it), so it is parsed once. */
static bool s_body_malformed(struct aws_ctx *ctx, const struct aws_call *call,
                             const struct http_response *resp, struct aws_error *e,
                             struct xml_node **xml)
{
    if (!resp->body.len || strcmp(call->req.method, "HEAD") == 0)
        return false;
    if (s_json_protocol(call->req.service.protocol)) {
        if (!ctx->settings.json_error)
            return false;
        struct aws_error probe;
        memset(&probe, 0, sizeof probe);
        if (ctx->settings.json_error(ctx->settings.json_error_arg, resp->body.data,
                                     resp->body.len, &probe) == 0)
            return false;
        snprintf(e->message, sizeof e->message, "malformed JSON in a %ld response", resp->status);
    } else {
        /* REST-XML successes carry XML only where a listing or a result is returned. */
        const char *ct = headers_get(&resp->headers, "Content-Type");
        if (call->req.service.protocol == AWS_REST_XML && !(ct && strstr(ct, "xml")))
            return false;
        char err[128];
        *xml = xml_read(ctx->xml, resp->body.data, resp->body.len, err, sizeof err);
        if (*xml)
            return false;
        snprintf(e->message, sizeof e->message, "malformed XML in a %ld response: %s", resp->status, err);
    }
    /* Classified like a broken connection: retried. */
    snprintf(e->code, sizeof e->code, "MalformedResponse");
    e->http_status = 0;
    e->transport = -1;
    return true;
}

/* ---- credentials from providers -------------------------------------------------- */

static void s_flush_waiters(struct aws_client *c, const struct aws_error *fail)
{
    struct aws_call *w = c->waiters;
    c->waiters = NULL;
    while (w) {
        struct aws_call *next = w->next_waiter;
        w->next_waiter = NULL;
        if (fail) {
            struct aws_result res;
            memset(&res, 0, sizeof res);
            res.error = *fail;
            /* Whether the credentials may come later (a 5xx from STS) or never. */
            res.retryable = retry_classify(fail) != RETRY_NONE;
            res.credentials = true;
            s_call_finish(w, &res);
        } else {
            s_attempt(w);
        }
        w = next;
    }
}

/* Whether requests may be signed with the client's credentials now. */
static bool s_creds_usable(const struct aws_client *c, time_t now)
{
    if (!c->have_creds)
        return false;
    if (!c->creds.expiration || c->creds.expiration - now > AWS_CREDS_MIN_LEFT)
        return true;
    return now - c->fetched_at < AWS_CREDS_FRESH_GRACE && c->creds.expiration > now;
}

void aws_client_creds_done(struct aws_client *c, struct aws_creds *fresh,
                           const struct aws_error *fail)
{
    struct aws_error oom;
    c->refreshing = false;
    if (fresh) {
        if (log_enabled(LOG_DEBUG)) {
            struct log_field f[] = {LOG_STR("source", fresh->source),
                                    LOG_NUM("expires_in", fresh->expiration ? fresh->expiration - s_wall_now(c->ctx) : 0)};
            log_event(LOG_DEBUG, c->have_creds ? "credentials renewed" : "credentials received", f, 2);
        }
        creds_free(&c->creds);
        OPENSSL_cleanse(c->keys, sizeof c->keys);
        c->creds = *fresh;
        memset(fresh, 0, sizeof *fresh);
        c->have_creds = true;
        c->fetched_at = s_wall_now(c->ctx);
        fail = NULL;
    } else if (!fail) {
        memset(&oom, 0, sizeof oom);
        snprintf(oom.code, sizeof oom.code, "CredentialsError");
        snprintf(oom.message, sizeof oom.message, "the credential provider gave nothing");
        fail = &oom;
    }
    /* A failed renewal while the old credentials still work is not fatal for waiters. */
    s_flush_waiters(c, fail && !s_creds_usable(c, s_wall_now(c->ctx)) ? fail : NULL);
    aws_client_unref(c); /* taken by s_refresh */
}

static void s_refresh(struct aws_client *c)
{
    if (c->refreshing)
        return;
    c->refreshing = true;
    aws_client_ref(c); /* held until aws_client_creds_done */
    c->provider->fetch(c->provider, c);
}

/* True when the call may proceed with the client's credentials now; otherwise the call has
 * been queued until they arrive. */
static bool s_creds_ready(struct aws_call *call)
{
    struct aws_client *c = call->client;
    if (!c->provider)
        return true;
    time_t now = s_wall_now(c->ctx);
    if (s_creds_usable(c, now)) {
        if (c->creds.expiration && c->creds.expiration - now < AWS_CREDS_REFRESH_BEFORE &&
            now - c->fetched_at >= AWS_CREDS_FRESH_GRACE)
            s_refresh(c);
        return true;
    }
    call->next_waiter = c->waiters;
    c->waiters = call;
    s_refresh(c);
    return false;
}

/* ---- plain HTTP for providers ----------------------------------------------------- */

static void s_ctx_http_unlink_free(struct ctx_http *h)
{
    if (h->prev)
        h->prev->next = h->next;
    else
        h->ctx->http = h->next;
    if (h->next)
        h->next->prev = h->prev;
    buf_free(&h->body);
    free(h);
}

static void s_ctx_http_done(void *arg, struct http_response *resp)
{
    struct ctx_http *h = arg;
    h->done(h->arg, resp);
    /* Bodies of credential endpoints are secrets: wipe before the loop frees them. */
    if (resp->body.data)
        OPENSSL_cleanse(resp->body.data, resp->body.len);
    s_ctx_http_unlink_free(h);
}

int aws_ctx_http(struct aws_ctx *ctx, const struct http_request *req, double timeout_s,
                 http_done_fn done, void *arg, char *err, size_t errlen)
{
    struct ctx_http *h = calloc(1, sizeof *h);
    if (!h || (req->body_len && buf_append(&h->body, req->body, req->body_len) != 0)) {
        free(h);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    h->ctx = ctx;
    h->done = done;
    h->arg = arg;
    struct http_request copy = *req;
    copy.body = h->body.data;
    copy.timeout_ms = (long)(timeout_s * 1000);
    if (!copy.max_body)
        copy.max_body = AWS_MAX_BODY_PROVIDER;
    if (loop_http(ctx->loop, &copy, s_ctx_http_done, h, err, errlen) != 0) {
        buf_free(&h->body);
        free(h);
        return -1;
    }
    h->next = ctx->http;
    if (ctx->http)
        ctx->http->prev = h;
    ctx->http = h;
    return 0;
}

const struct aws_settings *aws_ctx_settings(const struct aws_ctx *ctx)
{
    return &ctx->settings;
}

int aws_ctx_json_fields(struct aws_ctx *ctx, const char *body, size_t len,
                        const char *const *keys, char **values, size_t n_keys)
{
    for (size_t i = 0; i < n_keys; i++)
        values[i] = NULL;
    if (!ctx->settings.json_fields)
        return -1;
    return ctx->settings.json_fields(ctx->settings.json_error_arg, body, len, keys, values,
                                     n_keys);
}

/* ---- one attempt ------------------------------------------------------------------ */

static void s_on_http(void *arg, struct http_response *resp);

static int s_build_url(struct aws_call *call, const struct endpoint *ep, struct buf *url,
                       struct buf *path, char *host, size_t hostcap)
{
    if (call->req.service.protocol == AWS_REST_XML && call->req.bucket) {
        if (endpoint_s3_object_url(ep, call->req.bucket, call->req.key ? call->req.key : "", url) != 0)
            return -1;
    } else if (buf_printf(url, "%s%s", ep->url, call->req.path ? call->req.path : "/") != 0) {
        return -1;
    }
    const char *p = strstr(url->data, "://");
    p = p ? p + 3 : url->data;
    const char *slash = strchr(p, '/');
    size_t hlen = slash ? (size_t)(slash - p) : strlen(p);
    if (hlen >= hostcap)
        return -1;
    memcpy(host, p, hlen);
    host[hlen] = '\0';
    /* curl omits a default port from Host; the signature must see what is sent. */
    size_t hl = strlen(host);
    bool https = strncmp(url->data, "https:", 6) == 0;
    if (https && hl > 4 && strcmp(host + hl - 4, ":443") == 0)
        host[hl - 4] = '\0';
    else if (!https && hl > 3 && strcmp(host + hl - 3, ":80") == 0)
        host[hl - 3] = '\0';
    if (buf_puts(path, slash ? slash : "/") != 0)
        return -1;
    if (call->req.query && *call->req.query)
        return buf_printf(url, "?%s", call->req.query);
    return 0;
}

struct attempt {
    struct aws_call *call;
    struct header_list headers;
    struct buf url;
    struct buf path;
    struct loop_origin *origin; /* NULL: sent without a slot (memory ran out) */
    char signing_name[SERVICE_ID_MAX];
    char signing_region[AWSNAME_REGION_MAX];
};

static void s_attempt_free(struct attempt *at)
{
    headers_free(&at->headers);
    buf_free(&at->url);
    buf_free(&at->path);
    free(at);
}

static void s_take_slot(struct aws_call *call);
static void s_send(void *arg);

/* The limiter of the call's service in the client's identity. A client with limits of its own
 * (a member account) gets them when it is first throttled: until then it costs nothing,
 * which matters with thousands of accounts in flight. */
static struct rate_limiter *s_limiter(struct aws_call *call, bool throttled)
{
    struct aws_client *c = call->client;
    if (!call->limiter) {
        if (!c->limits && c->own_limits && throttled)
            c->limits = rate_limits_new();
        if (c->limits)
            call->limiter = rate_limits_get(c->limits, call->req.service.id, loop_now());
    }
    return call->limiter;
}

static void s_on_rate_wait(void *arg)
{
    struct aws_call *call = arg;
    call->client->ctx->pacing--;
    if (call->token_promised)
        s_take_slot(call);
    else
        s_attempt(call);
}

/* Every attempt: credentials, then a token from the rate limiter, then a connection slot,
 * then the signature (made as the request leaves, so waiting never ages it). */
static void s_attempt(struct aws_call *call)
{
    if (!s_creds_ready(call))
        return;
    struct rate_limiter *limiter = s_limiter(call, false);
    call->paced_at = loop_now();
    double wait = limiter ? rate_limiter_acquire(limiter, call->paced_at) : 0;
    if (wait != 0) {
        call->token_promised = wait > 0;
        if (loop_timer_add(call->client->ctx->loop, fabs(wait), s_on_rate_wait, call)) {
            call->client->ctx->pacing++;
            return;
        }
        /* Out of memory for a timer: send now rather than never. */
    }
    s_take_slot(call);
}

static void s_take_slot(struct aws_call *call)
{
    struct aws_ctx *ctx = call->client->ctx;
    struct endpoint ep;
    char err[256] = "", host[300];
    const char *fail_code = "InvalidEndpoint";
    struct attempt *at = NULL;

    call->token_promised = false;
    if (endpoint_resolve(&call->req.service, call->region, &ctx->settings.endpoints, &ep, err,
                         sizeof err) != 0)
        goto fail;
    fail_code = "OutOfMemory";
    snprintf(err, sizeof err, "out of memory");
    at = calloc(1, sizeof *at);
    if (!at)
        goto fail;
    at->call = call;
    if (s_build_url(call, &ep, &at->url, &at->path, host, sizeof host) != 0)
        goto fail;
    if (headers_copy(&at->headers, &call->req.headers) != 0 ||
        headers_set(&at->headers, "Host", host) != 0)
        goto fail;
    if (s_content_type(&call->req) && !headers_get(&at->headers, "Content-Type") &&
        headers_set(&at->headers, "Content-Type", s_content_type(&call->req)) != 0)
        goto fail;
    if (call->req.target && headers_set(&at->headers, "X-Amz-Target", call->req.target) != 0)
        goto fail;
    snprintf(at->signing_name, sizeof at->signing_name, "%s", ep.signing_name);
    snprintf(at->signing_region, sizeof at->signing_region, "%s", ep.signing_region);
    call->at = at;
    at->origin = loop_origin(ctx->loop, at->url.data);
    if (at->origin)
        call->endpoint = loop_origin_name(at->origin);
    if (!at->origin || loop_origin_acquire(at->origin, call->req.ahead, s_send, call) != 0) {
        at->origin = NULL;
        s_send(call);
    }
    return;
fail:
    if (at)
        s_attempt_free(at);
    s_call_fail(call, fail_code, "%s", err);
}

/* The client's key slot for a scope: the one derived for it, else the one used least lately. */
static struct sigv4_key *s_key_slot(struct aws_client *c, const char *region, const char *service)
{
    size_t rlen = strlen(region);
    for (unsigned i = 0; i < 2; i++) {
        const char *rest = strchr(c->keys[i].scope, '/');
        if (rest && strncmp(rest + 1, region, rlen) == 0 && rest[1 + rlen] == '/' &&
            strcmp(rest + 2 + rlen, service) == 0)
            return &c->keys[i];
    }
    return &c->keys[c->next_key++ % 2];
}

/* The largest response body the call accepts (see aws_request.max_body). */
static size_t s_max_body(const struct aws_request *r)
{
    if (r->max_body)
        return r->max_body;
    if (strcmp(r->service.id, "iam") == 0 && r->operation &&
        strcmp(r->operation, "GetCredentialReport") == 0)
        return AWS_MAX_BODY_REPORT;
    if (r->service.protocol == AWS_REST_XML && strcmp(r->method, "GET") == 0 && r->key && *r->key)
        return AWS_MAX_BODY_OBJECT;
    return HTTP_MAX_BODY_DEFAULT;
}

/* How long a call's request may go unanswered while the endpoint answers those sent after
 * it, before it is taken as lost and sent again (http_request.lost_after_ms). The services
 * credreport itself calls answer in well under a second, and an endpoint whose answers take
 * seconds lately is waited for longer (LOOP_LOST_SLOWEST). Every second of this wait is a
 * second a lost request holds its account and its connection: with 1 request in 100 never
 * answered, 5 s here made runs of 1,000 and 10,000 accounts take 29.5 s and 46.3 s, 2 s
 * 16.7 s and 23.5 s (about 7 s and 12 s with none lost). Others may hold a call open on
 * purpose (long polls, synchronous invocations): for those, only the stall limit applies.
 * The attempt after the first one taken as lost waits as long: where requests are lost at
 * random, the next is no more likely lost than any other (tripled, 1 hang in 100 put a
 * 15 s wait on about every other run of 1,000 accounts). From the second on, each makes the
 * next wait three times as long: an operation slower than the rest (one slow service behind
 * an endpoint shared with fast ones) costs its call two attempts, not every attempt. */
#define LOST_AFTER_MS 2000
/* A server may take a while to store a large body once it has all of it (an S3-compatible
 * store that syncs it to disk before it answers): a request waits a second more for each
 * this many bytes it sent, so that a findings file of hundreds of MiB is not sent again. */
#define LOST_BODY_BYTES_A_SECOND (32L << 20)

/* body_len: the bytes the request sends, from a file or memory. */
static long s_lost_after_ms(const struct aws_call *call, size_t body_len)
{
    static const char *const prompt[] = {"sts", "iam", "organizations", "s3", "sns"};
    for (size_t i = 0; i < sizeof prompt / sizeof *prompt; i++)
        if (strcmp(call->req.service.id, prompt[i]) == 0) {
            long ms = LOST_AFTER_MS + (long)(body_len / LOST_BODY_BYTES_A_SECOND) * 1000;
            for (int n = 1; n < call->lost && ms < 3600000; n++)
                ms *= 3;
            return ms;
        }
    return 0;
}

static const char *s_body(const struct aws_request *r, size_t *len)
{
    *len = r->body_ref ? r->body_ref_len : r->body.len;
    return r->body_ref ? r->body_ref : r->body.data;
}

/* An S3 upload's x-amz-checksum-sha256 is the body's SHA-256 in base64, and S3 checks the
 * body against it as it does against the signed payload hash: the signature takes its hex
 * instead of hashing the body again (a report was hashed once, for that header). Sets hex
 * and returns true when the header holds a SHA-256. */
static bool s_hash_from_checksum(const struct header_list *headers, char hex[65])
{
    const char *b64 = headers_get(headers, "x-amz-checksum-sha256");
    unsigned char raw[33];
    if (!b64 || strlen(b64) != 44 || b64[42] == '=' || b64[43] != '=' ||
        EVP_DecodeBlock(raw, (const unsigned char *)b64, 44) != 33)
        return false;
    sigv4_hex(raw, 32, hex);
    return true;
}

/* With a connection slot (or none to be had): signs and sends the call's attempt. */
static void s_send(void *arg)
{
    struct aws_call *call = arg;
    struct attempt *at = call->at;
    struct aws_ctx *ctx = call->client->ctx;
    struct sigv4_result sig;
    memset(&sig, 0, sizeof sig);
    char err[256] = "";
    const char *fail_code = "SigningError";

    call->at = NULL;
    size_t body_len;
    const char *body = s_body(&call->req, &body_len);
    const struct http_file_body *file = call->req.body_file;
    struct sigv4_params p;
    /* Region-less global services sign with the partition's fixed region. */
    sigv4_params_init(&p, at->signing_name, at->signing_region,
                      s_wall_now(ctx) + atomic_load(&ctx->shared->skew_offset));
    p.creds.access_key_id = call->client->creds.access_key_id;
    p.creds.secret_access_key = call->client->creds.secret_access_key;
    p.creds.session_token = call->client->creds.session_token;
    p.key_cache = s_key_slot(call->client, at->signing_region, at->signing_name);
    if (strcmp(at->signing_name, "s3") == 0) {
        p.s3_rules = true;
        p.normalize_path = false;
        p.sign_body = true;
        if (call->req.unsigned_payload)
            p.payload_hash = "UNSIGNED-PAYLOAD";
        else if (call->body_hash[0] || s_hash_from_checksum(&at->headers, call->body_hash))
            p.payload_hash = call->body_hash;
    }
    if (file) {
        body = NULL;
        body_len = file->len;
        if (!p.payload_hash) {
            /* Read once per call: a retry sends the same file. */
            fail_code = "ReadFailed";
            if (!call->body_hash[0] && sigv4_sha256_hex_file(file->fd, file->len, call->body_hash) != 0) {
                snprintf(err, sizeof err, "cannot read the body to send: %s", strerror(errno));
                goto fail;
            }
            fail_code = "SigningError";
            p.payload_hash = call->body_hash;
        }
    }
    if (!call->client->anonymous &&
        sigv4_sign(&p, call->req.method, at->path.data, call->req.query, &at->headers,
                   body, body_len, &sig, err, sizeof err) != 0)
        goto fail;
    call->attempts++;
    struct http_request hr = {
        .slot = at->origin,
        .method = call->req.method,
        .url = at->url.data,
        .headers = &at->headers,
        .body = body,
        .body_len = body_len,
        .body_file = file,
        .max_body = s_max_body(&call->req),
        .lost_after_ms = s_lost_after_ms(call, body_len),
    };
    fail_code = "HttpError";
    if (loop_http(ctx->loop, &hr, s_on_http, at, err, sizeof err) != 0)
        goto fail;
    sigv4_result_free(&sig);
    return;
fail:
    sigv4_result_free(&sig);
    if (at->origin)
        loop_origin_release(at->origin);
    s_attempt_free(at);
    s_call_fail(call, fail_code, "%s", err);
}

static void s_on_retry_timer(void *arg)
{
    struct aws_call *call = arg;
    s_attempt(call);
}

static void s_remember_bucket_region(struct aws_ctx *ctx, const char *bucket, const char *region)
{
    if (!bucket || strlen(bucket) >= sizeof ctx->bucket_regions[0].bucket)
        return;
    for (unsigned i = 0; i < ctx->n_bucket_regions && i < S_BUCKET_REGIONS; i++)
        if (strcmp(ctx->bucket_regions[i].bucket, bucket) == 0) {
            snprintf(ctx->bucket_regions[i].region, sizeof ctx->bucket_regions[i].region, "%s", region);
            return;
        }
    unsigned slot = ctx->n_bucket_regions++ % S_BUCKET_REGIONS;
    snprintf(ctx->bucket_regions[slot].bucket, sizeof ctx->bucket_regions[slot].bucket, "%s", bucket);
    snprintf(ctx->bucket_regions[slot].region, sizeof ctx->bucket_regions[slot].region, "%s", region);
}

/* The debug line of a failed attempt that goes again after delay seconds. */
static void s_log_retry(const struct aws_call *call, const struct aws_error *e, double delay)
{
    if (!log_enabled(LOG_DEBUG))
        return;
    struct log_field f[] = {LOG_STR("service", call->req.service.id),
                            LOG_STR("operation", call->req.operation ? call->req.operation : ""),
                            LOG_STR("code", e->code), LOG_STR("error", e->message),
                            LOG_NUM("attempt", call->attempts), LOG_NUM("delay", delay)};
    log_event(LOG_DEBUG, "retrying", f, 6);
}

/* Decides whether the failed attempt is tried again; true when it was rescheduled. */
static bool s_retry(struct aws_call *call, const struct http_response *resp,
                    const struct aws_error *e, enum retry_kind kind, bool overtaken)
{
    struct aws_ctx *ctx = call->client->ctx;

    /* Clock skew: learn the offset from the server's Date and try again at once. */
    const char *date = headers_get(&resp->headers, "Date");
    time_t server = date ? retry_parse_http_date(date) : (time_t)-1;
    if (server != (time_t)-1 && resp->status >= 400) {
        long off = retry_skew_offset(server, s_wall_now(ctx));
        if (off && (kind == RETRY_SKEW || resp->status == 403 || resp->status == 400 || resp->status == 401)) {
            if (atomic_exchange(&ctx->shared->skew_offset, off) != off) {
                struct log_field f[] = {LOG_NUM("offset_seconds", off), LOG_STR("service", call->req.service.id)};
                log_event(LOG_WARN, "the local clock is off: signing with the server's time", f, 2);
            }
            if (!call->skew_retried) {
                call->skew_retried = true;
                s_attempt(call);
                return true;
            }
        }
    }
    /* Three failures are not the request's, and spend no attempt (nor the retry quota) while
     * the call is younger than a request may take. A server at its connection limit did not
     * see it: the call waits for one of the fewer connections the process now keeps; the
     * limit may be held by connections it cannot give back (another client's), which free it
     * when they close, so after a few refusals in a row the call waits a moment before it
     * tries again, rather than fail or hammer the server. Nor did a server whose new
     * connection the loop gave up on before its handshake completed (unsent): as a
     * 30,000-account run started, a batch of 100-180 such connections drained the retry
     * quota (10 tokens each) and a few calls failed at once, their accounts waiting a minute
     * for a second try. A throttle of a request paced before the limiter's last cut answered
     * the burst it was part of: it goes again at the new rate, unless the call gave itself
     * fewer attempts (an optional check) and has had them. */
    if (overtaken && call->req.max_attempts > 0 && call->attempts >= call->req.max_attempts)
        overtaken = false;
    if ((resp->refused || resp->unsent || overtaken) &&
        loop_now() - call->started < loop_request_timeout(ctx->loop)) {
        call->attempts--;
        if (resp->unsent)
            s_log_retry(call, e, 0);
        int extra = resp->refused ? ++call->refusals - S_PROMPT_REFUSALS : 0;
        if (extra <= 0) {
            s_attempt(call);
            return true;
        }
        double wait = retry_delay(&s_refusal_backoff, RETRY_TRANSIENT, extra, s_random01(ctx));
        if (!loop_timer_add(ctx->loop, wait, s_on_retry_timer, call))
            s_attempt(call); /* out of memory for a timer: now rather than never */
        return true;
    }
    /* S3 tells where a bucket lives when asked in the wrong region. */
    const char *bucket_region = headers_get(&resp->headers, "x-amz-bucket-region");
    if (call->req.service.protocol == AWS_REST_XML && bucket_region && !call->region_retried &&
        strcmp(bucket_region, call->region) != 0 &&
        (resp->status == 301 || resp->status == 400 || resp->status == 307)) {
        call->region_retried = true;
        struct log_field f[] = {LOG_STR("bucket", call->req.bucket), LOG_STR("region", bucket_region),
                                LOG_STR("asked", call->region)};
        log_event(LOG_DEBUG, "S3 says the bucket is in another region", f, 3);
        snprintf(call->region, sizeof call->region, "%s", bucket_region);
        s_remember_bucket_region(ctx, call->req.bucket, bucket_region);
        s_attempt(call);
        return true;
    }
    /* Temporary credentials the service says have expired (revoked, or its clock and their
     * Expiration disagree): fetch new ones and try again, once. */
    if (call->client->provider && !call->creds_retried &&
        (strcmp(e->code, "ExpiredToken") == 0 || strcmp(e->code, "ExpiredTokenException") == 0)) {
        call->creds_retried = true;
        call->client->have_creds = false;
        struct log_field f[] = {LOG_STR("service", call->req.service.id), LOG_STR("code", e->code)};
        log_event(LOG_DEBUG, "the service says the credentials expired: fetching new ones", f, 2);
        s_attempt(call);
        return true;
    }
    if (kind == RETRY_NONE || kind == RETRY_SKEW)
        return false;
    /* A service that throttles at random, whatever the rate (its limiter undid a cut), is
     * not refusing this call: at 1 answer in 5 throttled, 1 call in 3,000 met 5 in a row, and
     * its account waited a minute for its second try. Such throttles get twice the attempts;
     * the retry quota still bounds them. Nor does waiting make the next answer less likely
     * throttled, so they wait as server errors do (s_noise_backoff): at 1 in 10 over 1,000
     * accounts, the throttles' waits (0.5 s doubling) of a few calls throttled in a row ended
     * the run 1-3 s later. A member account's identity (limiters of its own) makes a few
     * calls, too few for its limiter to learn that: until a streak of throttles there has cut
     * its rate, a throttle is taken as random too. At 1 answer in 10 throttled over 1,000
     * accounts, the throttles' waits held the last GenerateCredentialReport back until 3 s
     * instead of 1. */
    int attempts = ctx->settings.retry.max_attempts;
    bool noise = kind == RETRY_THROTTLE && call->limiter &&
                 (rate_limiter_noisy(call->limiter, loop_now()) ||
                  (call->client->own_limits && rate_limiter_rate(call->limiter) == 0));
    if (noise)
        attempts *= 2;
    if (call->req.max_attempts > 0 && call->req.max_attempts < attempts)
        attempts = call->req.max_attempts;
    if (call->attempts >= attempts)
        return false;
    if (e->timeout && call->timeouts >= S_MAX_TIMEOUTS)
        return false;
    int cost = retry_quota_acquire(&ctx->shared->quota, e->timeout);
    if (!cost)
        return false;
    call->retry_cost += cost;
    const struct retry_config *backoff = noise ? &s_noise_backoff : &ctx->settings.retry;
    double delay = retry_delay(backoff, noise ? RETRY_TRANSIENT : kind, call->attempts, s_random01(ctx));
    s_log_retry(call, e, delay);
    if (!loop_timer_add(ctx->loop, delay, s_on_retry_timer, call)) {
        retry_quota_release(&ctx->shared->quota, cost);
        call->retry_cost -= cost;
        return false;
    }
    return true;
}

static void s_on_http(void *arg, struct http_response *resp)
{
    struct attempt *at = arg;
    struct aws_call *call = at->call;
    struct aws_ctx *ctx = call->client->ctx;
    s_attempt_free(at);

    struct aws_result res;
    memset(&res, 0, sizeof res);
    res.status = resp->status;
    res.headers = &resp->headers;
    res.body = &resp->body;
    struct xml_node *xml = NULL;
    if (resp->status >= 200 && resp->status < 300 &&
        !s_body_malformed(ctx, call, resp, &res.error, &xml)) {
        res.ok = true;
        res.xml = xml;
        if (call->limiter)
            rate_limiter_update(call->limiter, false, call->paced_at, loop_now());
        retry_quota_release(&ctx->shared->quota, call->retry_cost);
        s_call_finish(call, &res);
        xml_free(xml);
        return;
    }
    if (resp->too_large) {
        /* Not a passing fault: the same answer would come again, as large. */
        snprintf(res.error.code, sizeof res.error.code, "ResponseTooLarge");
        snprintf(res.error.message, sizeof res.error.message, "%s %s: %.400s", call->req.service.id,
                 call->req.operation ? call->req.operation : call->req.method, resp->error);
    } else if (resp->status == 0 && resp->certificate_error) {
        /* Trying again would meet the same certificate: not a passing failure. */
        snprintf(res.error.code, sizeof res.error.code, "CertificateError");
        snprintf(res.error.message, sizeof res.error.message, "%s", resp->error);
    } else if (resp->status == 0) {
        call->lost += resp->lost;
        call->timeouts += resp->timed_out && !resp->unsent;
        res.error.transport = resp->transport_error ? resp->transport_error : -1;
        res.error.timeout = resp->timed_out;
        snprintf(res.error.code, sizeof res.error.code, resp->timed_out ? "RequestTimeout" : "NetworkError");
        snprintf(res.error.message, sizeof res.error.message, "%s", resp->error);
    } else if (!res.error.code[0]) {
        aws_decode_error(&ctx->settings, ctx->xml, call->req.service.protocol, resp->status,
                         &resp->headers, resp->body.data, resp->body.len, &res.error);
    }
    enum retry_kind kind = retry_classify(&res.error);
    bool throttled = kind == RETRY_THROTTLE;
    bool overtaken = s_limiter(call, throttled) &&
                     rate_limiter_update(call->limiter, throttled, call->paced_at, loop_now());
    if (s_retry(call, resp, &res.error, kind, overtaken))
        return;
    res.retryable = kind != RETRY_NONE;
    /* An error the service meant (ReportInProgress, AccessDenied) shows it healthy, as a
     * success does: the quota gets back what the call's retries took. The SDKs give back on
     * 2xx only, but most answers to credreport's polls are such errors; without this, 1 in 10
     * requests failing at random drained the quota in a few seconds of polling, and calls
     * then failed at their first error, each costing its account a second try. */
    if (kind == RETRY_NONE && resp->status != 0 && !resp->too_large)
        retry_quota_release(&ctx->shared->quota, call->retry_cost);
    s_call_finish(call, &res);
}
