/* One set of AWS credentials as a value: what signs requests, where it came from and when it
 * expires. Its secrets are wiped when freed. */
#ifndef CREDREPORT_AWS_CREDS_H
#define CREDREPORT_AWS_CREDS_H

#include <time.h>

struct aws_creds {
    char *access_key_id;
    char *secret_access_key;
    char *session_token; /* may be NULL */
    time_t expiration;   /* 0 = does not expire */
    char source[48];     /* e.g. "environment", "profile dev" */
};

/* Wipes the strings with OPENSSL_cleanse, frees them and zeroes the struct. Safe on a zeroed
 * or already freed struct. */
void creds_free(struct aws_creds *c);
/* Wipes a secret string, frees it and sets *s to NULL (safe on NULL). */
void creds_free_string(char **s);

/* Deep copy; dst is overwritten (free it first if it held anything). Returns 0, or -1 when
 * memory runs out (dst is then zeroed). */
int creds_copy(struct aws_creds *dst, const struct aws_creds *src);

#endif
