/* SigV4 canonicalisation (sigv4.c): the input is method, path, query and header lines
 * ("Name: value"), separated by newlines; signed for S3, for another service, and presigned.
 * Invariants:
 * signing is deterministic (twice, the same signature); the canonical query string is stable
 * under re-encoding: signing again with it as the query gives it back; S3 signs the path as
 * given. */
#include "fuzz.h"
#include "aws/sigv4.h"

/* Line n (0-based) of the canonical request, copied into a new string. */
static char *s_line(const struct buf *canonical, int n)
{
    const char *p = canonical->data;
    for (int i = 0; i < n && p; i++) {
        p = strchr(p, '\n');
        p = p ? p + 1 : NULL;
    }
    if (!p)
        return NULL;
    return strndup(p, strcspn(p, "\n"));
}

static int s_sign(int mode, const char *method, const char *path, const char *query,
                  const struct header_list *in, struct sigv4_result *out)
{
    bool s3 = mode == 1;
    struct sigv4_params p;
    sigv4_params_init(&p, s3 ? "s3" : "sns", "us-east-1", 1440938160);
    p.creds.access_key_id = "AKIDEXAMPLE";
    p.creds.secret_access_key = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    p.creds.session_token = "token";
    p.s3_rules = s3;
    p.normalize_path = !s3;
    p.sign_body = s3;
    if (mode == 2) /* presigned, the token added after signing */
        p.presign_expires = 300, p.token_after_signing = true;
    struct header_list h = {0};
    char err[256];
    int rc = -1;
    if (headers_copy(&h, in) == 0)
        rc = sigv4_sign(&p, method, path, query, &h, "body", 4, out, err, sizeof err);
    headers_free(&h);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *method = fuzz_take(&data, &size, '\n');
    char *path = fuzz_take(&data, &size, '\n');
    char *query = fuzz_take(&data, &size, '\n');
    struct header_list h = {0};
    int ok = headers_add(&h, "Host", "example.amazonaws.com");
    for (int i = 0; size > 0 && i < 16 && ok == 0; i++) {
        char *line = fuzz_take(&data, &size, '\n');
        char *colon = strchr(line, ':');
        if (colon) {
            *colon = '\0';
            ok = headers_add(&h, line, colon + 1);
        }
        free(line);
    }
    for (int s3 = 0; s3 <= 2 && ok == 0; s3++) {
        struct sigv4_result a, b, c;
        memset(&a, 0, sizeof a);
        memset(&b, 0, sizeof b);
        memset(&c, 0, sizeof c);
        if (s_sign(s3, method, path, query, &h, &a) == 0) {
            FUZZ_ASSERT(s_sign(s3, method, path, query, &h, &b) == 0 &&
                            strcmp(a.signature, b.signature) == 0, "deterministic");
            char *cpath = s_line(&a.canonical_request, 1);
            char *cquery = s_line(&a.canonical_request, 2);
            FUZZ_ASSERT(cpath && cquery, "a canonical request has a path and a query line");
            if (s3 == 1)
                FUZZ_ASSERT(strcmp(cpath, *path ? path : "/") == 0, "S3 signs the path as given: "
                            "'%s' for '%s'", cpath, path);
            /* (Presigning adds its X-Amz-* parameters to the query: checked without it.) */
            if (s3 != 2 && s_sign(s3, method, path, cquery, &h, &c) == 0) {
                char *again = s_line(&c.canonical_request, 2);
                FUZZ_ASSERT(again && strcmp(again, cquery) == 0,
                            "canonical query stable: '%s' -> '%s'", cquery, again ? again : "");
                free(again);
            }
            free(cpath);
            free(cquery);
        }
        sigv4_result_free(&a);
        sigv4_result_free(&b);
        sigv4_result_free(&c);
    }
    headers_free(&h);
    free(method);
    free(path);
    free(query);
    return 0;
}
