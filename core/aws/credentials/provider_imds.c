/* Credentials from EC2 instance metadata (IMDSv2). */
#include "aws/credentials/provider_internal.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <string.h>

/* The SDKs use 1-5 s; a host outside EC2 must fail fast. */
#define IMDS_TIMEOUT 2.0

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
        provider_fail(c, "NoCredentials", "no AWS credentials: %s; instance metadata: %s", ip->tried,
               why);
    else
        provider_fail(c, "CredentialsError", "instance metadata (%s): %s", ip->endpoint, why);
}

static void s_imds_done(void *arg, struct http_response *resp)
{
    struct imds_provider *ip = arg;
    char err[300];
    static const char *const what[] = {"the token PUT", "the role name GET",
                                       "the credentials GET"};
    if ((resp->status == 0 || resp->status >= 500) && ip->attempts < PROVIDER_HTTP_ATTEMPTS &&
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
    struct http_request req = {.method = method, .url = ip->url.data, .headers = &h, .direct = true};
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

