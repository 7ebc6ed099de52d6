/* AWS Signature Version 4, in stages whose intermediates are kept (for tests and for the
 * Lua signing primitive). Time and credentials are inputs: signing is deterministic. */
#ifndef CREDREPORT_SIGV4_H
#define CREDREPORT_SIGV4_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/buf.h"
#include "base/headers.h"

struct sigv4_credentials {
    const char *access_key_id;
    const char *secret_access_key;
    const char *session_token; /* NULL for long-term keys */
};

/* A derived signing key kept by the owner of one set of credentials, so that signing again
 * with them for the same day, region and service skips the derivation. Wipe it when the
 * credentials change or go. */
struct sigv4_key {
    char scope[96];            /* "date/region/service" it was derived for; "" when none */
    unsigned char key[32];
};

struct sigv4_params {
    struct sigv4_credentials creds;
    struct sigv4_key *key_cache; /* NULL: the process-wide cache (see sigv4_cache_clear) */
    const char *region;
    const char *service;
    time_t when;            /* UTC seconds */
    /* S3 rules: the path is used as sent (no normalization, no second encoding). Other
     * services normalize the path (`.`, `..`, `//`) and percent-encode it once more. */
    bool s3_rules;
    /* Whether to normalize the path. Defaults to !s3_rules via sigv4_params_init(); the
     * AWS test suite sets it per case. */
    bool normalize_path;
    /* Add and sign x-amz-content-sha256 (S3 always does). */
    bool sign_body;
    /* Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD"; NULL: computed from the body (outside
     * S3, the value of an x-amz-content-sha256 header the request has, as the SDKs do). */
    const char *payload_hash;
    /* Add the session token after signing instead of signing it (the test suite's
     * "omit_session_token"; some services want this with presigning). */
    bool token_after_signing;
    /* > 0: presign (query-string signing) valid for that many seconds. */
    long presign_expires;
};

/* Everything signing produced. Owned by the caller: release with sigv4_result_free(). */
struct sigv4_result {
    struct buf canonical_request;
    struct buf string_to_sign;
    struct buf signed_headers;   /* "host;x-amz-date" */
    struct buf scope;            /* "20150830/us-east-1/service/aws4_request" */
    struct buf authorization;    /* the Authorization header value (header signing) */
    struct buf query;            /* the final query string to send (presigning), no '?' */
    char amz_date[17];           /* "20150830T123600Z" */
    char signature[65];          /* lowercase hex */
};

void sigv4_params_init(struct sigv4_params *p, const char *service, const char *region,
                       time_t when);

/* Signs a request.
 *   method  - "GET", "POST"...
 *   path    - the path as sent on the wire (already percent-encoded), "" or "/" for root
 *   query   - the query string as sent on the wire, without '?', may be NULL or ""
 *   headers - in/out: must contain Host; on return carries what must be sent in addition:
 *             X-Amz-Date, X-Amz-Security-Token, X-Amz-Content-Sha256 (if sign_body or S3) and
 *             Authorization (header signing). With presigning only headers that must still
 *             be sent are added (none but Host is needed) and the signed query is in
 *             result->query.
 *   body    - the payload (may be NULL when len is 0 or payload_hash is given)
 *   out     - overwritten (not freed first); left empty on failure. With header signing
 *             out->query is the query as given.
 * Returns 0, or -1 with a message in err (never containing a secret); headers are then
 * unchanged. */
int sigv4_sign(const struct sigv4_params *p, const char *method, const char *path,
               const char *query, struct header_list *headers, const void *body,
               size_t body_len, struct sigv4_result *out, char *err, size_t errlen);

void sigv4_result_free(struct sigv4_result *r);

/* Derived signing keys are cached per (secret, date, region, service). The cache is shared
 * by all threads and locked; keys are wiped when evicted and at exit. */
void sigv4_cache_clear(void);

/* Helpers the rest of the core uses. */
/* Lowercase hex of in[0, n) into out[2n + 1]. */
void sigv4_hex(const unsigned char *in, size_t n, char *out);
/* Lowercase hex SHA-256 of data into out[65]. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);
/* The same of fd's bytes [0, len), read in pieces (pieces_digest): 0, or -1 with errno. */
int sigv4_sha256_hex_file(int fd, size_t len, char out[65]);
/* Percent-encodes every byte except A-Za-z0-9-_.~ (and '/' when keep_slash). */
int sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash);
/* Formats t as "YYYYMMDDTHHMMSSZ" into out[17]. */
void sigv4_amz_date(time_t t, char out[17]);

#endif
