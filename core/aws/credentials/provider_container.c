/* Credentials from a container endpoint (ECS, EKS Pod Identity). */
#include "aws/credentials/provider_internal.h"
#include "base/errmsg.h"

#include <arpa/inet.h>
#include <openssl/crypto.h>
#include <string.h>

/* The SDKs use 1-5 s; a host without the service must fail fast. */
#define CONTAINER_TIMEOUT 5.0

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
    if (provider_set(relative)) {
        if (relative[0] != '/') {
            errmsg_set(err, errlen, "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must start with /");
            return -1;
        }
        if (buf_printf(&b, "http://169.254.170.2%s", relative) != 0 || !(*url = buf_steal(&b)))
            goto oom;
        return 1;
    }
    if (!provider_set(full))
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
    if ((resp->status == 0 || resp->status >= 500) && cp->attempts < PROVIDER_HTTP_ATTEMPTS &&
        !resp->too_large &&
        !(resp->timed_out && resp->transport_error == -1)) {
        s_container_get(cp);
        return;
    }
    cp->client = NULL;
    if (resp->status == 0) {
        provider_fail(c, "CredentialsError", "container credentials from %s: %s", cp->url, resp->error);
        return;
    }
    if (resp->status != 200) {
        provider_fail(c, "CredentialsError", "container credentials from %s: HTTP status %ld",
               cp->url, resp->status);
        return;
    }
    struct aws_creds fresh;
    if (provider_creds_from_json(aws_client_ctx(c), PROVIDER_JSON_CONTAINER, resp->body.data,
                                 resp->body.len, "container", &fresh, err, sizeof err) != 0) {
        provider_fail(c, "CredentialsError", "container credentials from %s: %s", cp->url, err);
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
    if (provider_set(file)) {
        if (provider_read_token_file(file, &token, err, sizeof err) != 0) {
            cp->client = NULL;
            provider_fail(c, "CredentialsError", "container credentials: authorization token file: %s",
                   err);
            return;
        }
    } else if (provider_set(literal) && buf_puts(&token, literal) != 0) {
        goto oom;
    }
    if (token.len && strpbrk(token.data, "\r\n")) {
        buf_free_secret(&token);
        cp->client = NULL;
        provider_fail(c, "CredentialsError", "container credentials: the authorization token holds a "
               "line break");
        return;
    }
    if (token.len && headers_set(&h, "Authorization", token.data) != 0)
        goto oom;
    buf_free_secret(&token);
    /* Plain http goes only to this host or its link (provider_container_url), never to a
     * proxy; https may go anywhere, through the proxy like any call. */
    struct http_request req = {.method = "GET", .url = cp->url, .headers = &h,
                               .direct = strncasecmp(cp->url, "http://", 7) == 0};
    if (aws_ctx_http(aws_client_ctx(c), &req, CONTAINER_TIMEOUT, s_container_done, cp, err,
                     sizeof err) != 0) {
        headers_free(&h);
        cp->client = NULL;
        provider_fail(c, "CredentialsError", "container credentials from %s: %s", cp->url, err);
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
    provider_fail(c, "OutOfMemory", "out of memory");
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

