/* What the credential providers share: failing a fetch, token files, the times and JSON
 * documents the endpoints answer with, STS credentials. */
#include "aws/credentials/provider_internal.h"
#include "base/errmsg.h"

#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <string.h>

#include "base/xml.h"

#define TOKEN_FILE_MAX (64 * 1024)

bool provider_set(const char *s)
{
    return s && *s;
}

void provider_fail(struct aws_client *c, const char *code, const char *fmt, ...)
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
int provider_read_token_file(const char *path, struct buf *out, char *err, size_t errlen)
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
    if (!provider_set(v[F_AK]) || !provider_set(v[F_SK])) {
        errmsg_set(err, errlen, "the response has no %s", !provider_set(v[F_AK]) ? "AccessKeyId"
                                                                        : "SecretAccessKey");
        goto cleanup;
    }
    if (kind != PROVIDER_JSON_PROCESS && (!provider_set(v[F_TOKEN]) || !provider_set(v[F_EXP]))) {
        errmsg_set(err, errlen, "the response has no %s", !provider_set(v[F_TOKEN]) ? "Token"
                                                                           : "Expiration");
        goto cleanup;
    }
    if (provider_set(v[F_EXP])) {
        c.expiration = provider_parse_time(v[F_EXP]);
        if (c.expiration == (time_t)-1 || c.expiration == 0) {
            errmsg_set(err, errlen, "the Expiration is not an ISO 8601 time");
            goto cleanup;
        }
    }
    c.access_key_id = v[F_AK];
    c.secret_access_key = v[F_SK];
    c.session_token = provider_set(v[F_TOKEN]) ? v[F_TOKEN] : NULL;
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
int provider_sts_creds(const struct aws_result *res, const char *source, struct aws_creds *out)
{
    int result = -1;
    memset(out, 0, sizeof *out);
    const struct xml_node *root = res->xml;
    const struct xml_node *cr = root ? xml_find_deep(root, "Credentials") : NULL;
    const char *ak = cr ? xml_find_text(cr, "AccessKeyId") : NULL;
    const char *sk = cr ? xml_find_text(cr, "SecretAccessKey") : NULL;
    const char *tok = cr ? xml_find_text(cr, "SessionToken") : NULL;
    time_t exp = provider_parse_time(cr ? xml_find_text(cr, "Expiration") : NULL);
    if (provider_set(ak) && provider_set(sk) && provider_set(tok) && exp != (time_t)-1) {
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
    /* The body holds the secrets too (the tree is wiped as aws.c frees it). */
    OPENSSL_cleanse(res->body->data, res->body->len);
    return result;
}

