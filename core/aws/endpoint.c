#include "aws/endpoint.h"
#include "base/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Per partition: the prefix of its region names and its DNS suffix. */
static const struct {
    const char *name;
    const char *region_prefix;
    const char *dns_suffix;
} s_partitions[] = {
    {"aws-cn", "cn-", "amazonaws.com.cn"},
    {"aws-us-gov", "us-gov-", "amazonaws.com"},
    {"aws", "", "amazonaws.com"}, /* every other region */
};

static size_t s_partition_of(const char *region)
{
    size_t i = 0;
    while (strncmp(region, s_partitions[i].region_prefix, strlen(s_partitions[i].region_prefix)) != 0)
        i++;
    return i;
}

/* Echo a bad URL in an error only when it is short and carries no user information (which
 * may hold a password). */
static const char *s_echo(const char *url)
{
    if (strchr(url, '@') || strlen(url) > 200)
        return "(not shown)";
    return url;
}

bool endpoint_has_dot_segment(const char *path)
{
    for (const char *seg = path; seg && *seg;) {
        seg += *seg == '/';
        size_t n = strcspn(seg, "/");
        if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.'))
            return true;
        seg += n;
    }
    return false;
}

/* The scheme of url ("http" or "https") and what follows "://", or why url is not one
 * an endpoint may have. */
static const char *s_url_scheme(const char *url, const char **scheme, const char **rest)
{
    for (const char *p = url; *p; p++)
        if ((unsigned char)*p <= 0x20 || *p == 0x7f)
            return "contains whitespace or control characters";
    if (strncasecmp(url, "https://", 8) == 0)
        *scheme = "https", *rest = url + 8;
    else if (strncasecmp(url, "http://", 7) == 0)
        *scheme = "http", *rest = url + 7;
    else
        return "the scheme must be http:// or https://";
    return strpbrk(*rest, "?#") ? "a query or fragment is not allowed" : NULL;
}

/* Why host[:port] (len bytes at auth, the host possibly an IPv6 literal in brackets) is no
 * endpoint's, or NULL. */
static const char *s_url_authority(const char *auth, size_t len)
{
    const char *end = auth + len, *host_end = auth;
    if (memchr(auth, '@', len))
        return "user information (user@) is not allowed";
    if (len > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', len);
        if (!close || close == auth + 1)
            return "malformed IPv6 host";
        for (const char *q = auth + 1; q < close; q++)
            if (!strchr("0123456789abcdefABCDEF:.", *q))
                return "malformed IPv6 host";
        host_end = close + 1;
    } else {
        for (; host_end < end && *host_end != ':'; host_end++) {
            char c = *host_end;
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '-' || c == '.' || c == '_'))
                return "bad character in the host name";
        }
        if (host_end == auth)
            return "no host";
    }
    if (host_end == end)
        return NULL;
    if (*host_end != ':')
        return "unexpected text after the host";
    const char *port = host_end + 1;
    size_t port_len = (size_t)(end - port);
    long value = 0;
    bool ok = port_len >= 1 && port_len <= 5;
    for (size_t i = 0; ok && i < port_len; i++) {
        ok = port[i] >= '0' && port[i] <= '9';
        value = value * 10 + (port[i] - '0');
    }
    return ok && value >= 1 && value <= 65535 ? NULL : "bad port";
}

/* Why the base path is no endpoint's, or NULL; *len is its length without one trailing '/'. */
static const char *s_url_path(const char *path, size_t *len)
{
    if (endpoint_has_dot_segment(path))
        return "a path segment \".\" or \"..\" is not allowed (HTTP clients remove it, so "
               "signatures would not match)";
    *len = strlen(path);
    if (*len > 0 && path[*len - 1] == '/')
        (*len)--;
    return *len > 0 && path[*len - 1] == '/' ? "the path ends with more than one slash" : NULL;
}

/* Validates an endpoint URL and writes its normalized form (lowercase scheme, one trailing
 * slash stripped) to out[outlen]. what names the variable or setting, for the error. */
static int s_url_normalize(const char *url, const char *what, char *out, size_t outlen,
                           char *err, size_t errlen)
{
    const char *scheme = NULL, *auth = NULL;
    size_t auth_len = 0, path_len = 0;
    const char *problem = s_url_scheme(url, &scheme, &auth);
    if (!problem) {
        auth_len = strcspn(auth, "/");
        problem = s_url_authority(auth, auth_len);
    }
    if (!problem)
        problem = s_url_path(auth + auth_len, &path_len);
    if (problem) {
        errmsg_set(err, errlen, "%s: invalid endpoint URL \"%s\": %s", what, s_echo(url), problem);
        return -1;
    }
    int n = snprintf(out, outlen, "%s://%.*s%.*s", scheme, (int)auth_len, auth, (int)path_len,
                     auth + auth_len);
    if (n < 0 || (size_t)n >= outlen) {
        errmsg_set(err, errlen, "%s: endpoint URL is too long (at most %zu characters)", what,
                   outlen - 1);
        return -1;
    }
    return 0;
}

static bool s_nonempty(const char *s)
{
    return s && *s;
}

/* Whether the host of "host[:port]/..." is this machine: localhost, 127.0.0.0/8 or ::1. */
static bool s_loopback(const char *auth)
{
    if (strncmp(auth, "[::1]", 5) == 0)
        return true;
    size_t n = strcspn(auth, ":/");
    if ((n == 9 && strncasecmp(auth, "localhost", 9) == 0) ||
        (n > 10 && strncasecmp(auth + n - 10, ".localhost", 10) == 0))
        return true;
    if (n < 7 || strncmp(auth, "127.", 4) != 0)
        return false;
    int dots = 0;
    for (size_t i = 0; i < n; i++) {
        if (auth[i] == '.')
            dots++;
        else if (auth[i] < '0' || auth[i] > '9')
            return false;
    }
    return dots == 3;
}

int endpoint_resolve(const struct service *svc, const char *region,
                     const struct endpoint_overrides *ov, struct endpoint *out, char *err,
                     size_t errlen)
{
    int result = -1;
    struct endpoint ep;

    memset(&ep, 0, sizeof ep);
    if (err && errlen)
        err[0] = '\0';
    if (!svc || !out) {
        errmsg_set(err, errlen, "endpoint: no service given");
        goto cleanup;
    }
    if (!awsname_region(region)) {
        errmsg_set(err, errlen, "invalid region \"%.40s\": expected lowercase letters, digits and "
                 "'-', e.g. us-east-1", region ? region : "");
        goto cleanup;
    }

    size_t part = s_partition_of(region);
    const char *signing_region = region;
    const struct service_global *g = svc->global;
    while (g && g->partition && strcmp(g->partition, s_partitions[part].name) != 0)
        g++;
    int n;
    if (g && g->partition) {
        signing_region = g->region;
        n = snprintf(ep.url, sizeof ep.url, "https://%s", g->host);
    } else {
        n = snprintf(ep.url, sizeof ep.url, "https://%s.%s.%s", svc->endpoint_prefix, region,
                     s_partitions[part].dns_suffix);
    }
    if (n < 0 || (size_t)n >= sizeof ep.url) {
        errmsg_set(err, errlen, "endpoint: URL for %s too long", svc->id);
        goto cleanup;
    }
    snprintf(ep.signing_region, sizeof ep.signing_region, "%s", signing_region);
    snprintf(ep.signing_name, sizeof ep.signing_name, "%s", svc->signing_name);

    /* Overrides, most specific first. */
    const char *ignore = getenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    if (!(ignore && strcasecmp(ignore, "true") == 0)) {
        char suffix[SERVICE_ID_MAX];
        char env_name[sizeof "AWS_ENDPOINT_URL_" + SERVICE_ID_MAX];
        char cfg_name[sizeof "config.ini [endpoints] " + SERVICE_ID_MAX];
        const char *url = NULL;
        const char *what = NULL;

        service_env_suffix(svc->id, suffix, sizeof suffix);
        snprintf(env_name, sizeof env_name, "AWS_ENDPOINT_URL_%s", suffix);
        if (s_nonempty(getenv(env_name))) {
            url = getenv(env_name);
            what = env_name;
        } else if (s_nonempty(getenv("AWS_ENDPOINT_URL"))) {
            url = getenv("AWS_ENDPOINT_URL");
            what = "AWS_ENDPOINT_URL";
        } else if (ov) {
            for (size_t i = 0; i < ov->n_service_urls; i++) {
                if (strcasecmp(ov->service_urls[i].service, svc->id) == 0 &&
                    s_nonempty(ov->service_urls[i].url)) {
                    url = ov->service_urls[i].url;
                    snprintf(cfg_name, sizeof cfg_name, "config.ini [endpoints] %s", svc->id);
                    what = cfg_name;
                    break;
                }
            }
            if (!url && s_nonempty(ov->global)) {
                url = ov->global;
                what = "config.ini [endpoints] url";
            }
        }
        if (url) {
            if (s_url_normalize(url, what, ep.url, sizeof ep.url, err, errlen) != 0)
                goto cleanup;
            if (strncmp(ep.url, "http://", 7) == 0 && !s_loopback(ep.url + 7) &&
                !(ov && ov->allow_http)) {
                errmsg_set(err, errlen, "%s: %s is plain HTTP to another machine: requests, their "
                           "signatures and the reports would cross the network unencrypted; use "
                           "https://, or set [endpoints] allow_http = true", what, s_echo(url));
                goto cleanup;
            }
            ep.custom = true;
        }
    }

    *out = ep;
    result = 0;

cleanup:
    return result;
}

/* A bucket name that can be a DNS label: 3-63 of [a-z0-9-], starting and ending with a
 * letter or digit. Without dots a name cannot look like an IP address. */
static bool s_bucket_dns_compatible(const char *bucket)
{
    size_t n = strlen(bucket);
    if (n < 3 || n > 63)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = bucket[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && c != '-')
            return false;
        if (!alnum && (i == 0 || i == n - 1))
            return false;
    }
    return true;
}

static int s_encode(struct buf *out, const char *s, size_t len, bool keep_slash)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t seg_start = 0;

    for (size_t i = 0; i <= len; i++) {
        if (i < len && !(keep_slash && s[i] == '/'))
            continue;
        /* s[seg_start, i) is one segment */
        size_t seg_len = i - seg_start;
        const char *seg = s + seg_start;
        bool dots = (seg_len == 1 && seg[0] == '.') ||
                    (seg_len == 2 && seg[0] == '.' && seg[1] == '.');
        for (size_t j = 0; j < seg_len; j++) {
            unsigned char c = (unsigned char)seg[j];
            bool plain = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                         (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '~' ||
                         (c == '.' && !dots);
            if (plain) {
                if (buf_putc(out, (char)c) != 0)
                    return -1;
            } else {
                char esc[3] = {'%', hex[c >> 4], hex[c & 15]};
                if (buf_append(out, esc, 3) != 0)
                    return -1;
            }
        }
        if (i < len && buf_putc(out, '/') != 0)
            return -1;
        seg_start = i + 1;
    }
    return 0;
}

int endpoint_s3_object_url(const struct endpoint *ep, const char *bucket, const char *key,
                           struct buf *out)
{
    int result = -1;
    size_t old_len = out ? out->len : 0;

    if (!ep || !bucket || !*bucket || !key || !out)
        goto cleanup;
    const char *sep = strstr(ep->url, "://");
    if (!sep)
        goto cleanup;
    if (!ep->custom && s_bucket_dns_compatible(bucket)) {
        if (buf_printf(out, "%.*s://%s.%s/", (int)(sep - ep->url), ep->url, bucket, sep + 3) != 0)
            goto cleanup;
    } else {
        if (buf_printf(out, "%s/", ep->url) != 0)
            goto cleanup;
        if (s_encode(out, bucket, strlen(bucket), false) != 0 || buf_putc(out, '/') != 0)
            goto cleanup;
    }
    if (s_encode(out, key, strlen(key), true) != 0)
        goto cleanup;
    result = 0;

cleanup:
    if (result != 0 && out && out->data) {
        out->len = old_len;
        out->data[old_len] = '\0';
    }
    return result;
}
