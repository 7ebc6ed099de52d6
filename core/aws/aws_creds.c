#include "aws/aws_creds.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void creds_free_string(char **s)
{
    if (*s) {
        OPENSSL_cleanse(*s, strlen(*s));
        free(*s);
        *s = NULL;
    }
}

void creds_free(struct aws_creds *c)
{
    if (!c)
        return;
    creds_free_string(&c->access_key_id);
    creds_free_string(&c->secret_access_key);
    creds_free_string(&c->session_token);
    memset(c, 0, sizeof *c);
}

int creds_copy(struct aws_creds *dst, const struct aws_creds *src)
{
    int result = -1;
    struct aws_creds c;

    memset(&c, 0, sizeof c);
    if (src->access_key_id && !(c.access_key_id = strdup(src->access_key_id)))
        goto cleanup;
    if (src->secret_access_key && !(c.secret_access_key = strdup(src->secret_access_key)))
        goto cleanup;
    if (src->session_token && !(c.session_token = strdup(src->session_token)))
        goto cleanup;
    c.expiration = src->expiration;
    memcpy(c.source, src->source, sizeof c.source);
    c.source[sizeof c.source - 1] = '\0';
    *dst = c;
    memset(&c, 0, sizeof c);
    result = 0;

cleanup:
    if (result != 0) {
        creds_free(&c);
        memset(dst, 0, sizeof *dst);
    }
    return result;
}
