/* AWS requests: endpoint, signature, transfer, error decoding, retries and credentials, in
 * the protocols of service.h (Query, JSON 1.0 and 1.1, REST-JSON, REST-XML). Everything completes
 * through callbacks on the thread's loop; nothing here knows about Lua.
 *
 * An aws_ctx holds one thread's loop and settings; an aws_client is one identity in that ctx:
 * fixed credentials, or temporary ones from a provider (a role assumed through another client,
 * web identity, container, instance metadata, credential_process: see provider.h), renewed
 * before they expire. */
#ifndef CREDREPORT_AWS_H
#define CREDREPORT_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "base/buf.h"
#include "aws/aws_creds.h"
#include "aws/endpoint.h"
#include "base/headers.h"
#include "http/loop.h"
#include "aws/ratelimit.h"
#include "aws/retry.h"
#include "aws/service.h"
#include "base/xml.h"

/* State shared by every thread's ctx: retry quota, clock offset, and the rate limiters of
 * the run's own identity (see ratelimit.h). */
struct aws_shared {
    struct retry_quota quota;
    _Atomic long skew_offset; /* seconds to add to local time when signing */
    struct rate_limits *limits;
    /* Bytes of credentials kept (aws_role_keep) across the run's threads, the roles they are
     * for, and the bytes at most: keeping is bounded whatever the organization's size. */
    _Atomic size_t kept_bytes;
    _Atomic size_t kept_roles;
    size_t kept_budget;
};

/* The default kept_budget: about 9,400 roles' credentials with session tokens of AWS's size
 * (1,100 characters of base64, kept as their 825 bytes), enough for the accounts a
 * 10,000-account run prepares (bench/run-org: no role assumed twice, against 700-1,200 with
 * 8 MiB), which then peaks at 56-61 MiB, within the 64 MiB a run of that size must stay in.
 * Every role not kept is assumed a second time in its account's turn. */
#define AWS_KEPT_BUDGET ((size_t)12 << 20)
/* What a kept role costs beyond its strings: allocation headers, and the Lua value and table
 * entry that hold it (measured: RSS grew 1.4 times the strings' bytes without it). */
#define AWS_KEPT_OVERHEAD 256

/* Decodes a JSON error body into e->code / e->message; 0 on success. Supplied by whoever
 * owns a JSON decoder (the Lua runtime uses lua-cjson). */
typedef int (*aws_json_error_fn)(void *arg, const char *body, size_t len, struct aws_error *e);

/* Extracts top-level fields of a JSON object: values[i] gets a malloc'd copy of keys[i]'s
 * value when it is a string or a number (as text), NULL otherwise. Returns 0, or -1 when the
 * body is not a JSON object (values are then all NULL) or memory runs out. The caller wipes
 * and frees the values (they may be secrets). Used for credentials JSON (container, instance
 * metadata, credential_process). */
typedef int (*aws_json_fields_fn)(void *arg, const char *body, size_t len,
                                  const char *const *keys, char **values, size_t n_keys);

/* The wall clock: seconds since the epoch. */
typedef time_t (*aws_wall_clock_fn)(void *arg);

struct aws_settings {
    char region[AWSNAME_REGION_MAX];
    struct endpoint_overrides endpoints;
    struct retry_config retry;
    aws_json_error_fn json_error;
    void *json_error_arg; /* the JSON decoder's owner: given to json_error and json_fields */
    aws_json_fields_fn json_fields;
    /* Every wall-clock reading of aws.c (but the jitter's seed) goes through this: the
     * signing time, the clock offset learnt from a response's Date, and when a provider's
     * credentials arrived and how long they have left. NULL (production) means time(NULL).
     * It exists so that tests can put the client's clock minutes away from the server's, or
     * move it past an expiry, without changing the system's time or waiting
     * (tests/unit/test_aws.c). Backoff and rate limiting run on the monotonic clock
     * (loop_now) and do not read it: tests shorten them through retry instead. */
    aws_wall_clock_fn wall_clock;
    void *wall_clock_arg;
};

struct aws_ctx;
struct aws_client;

struct aws_request {
    struct service service; /* the protocol among what it says */
    const char *operation; /* the action or operation (S3: the method), for the logs, errors
                            * and answer size limits; may be NULL */
    const char *method;
    const char *region;    /* NULL: the ctx's region */
    /* Query: the form body (Action=..&Version=..). JSON 1.0/1.1: the body; target is the
     * X-Amz-Target value. REST-JSON: path is the request path, already percent-encoded, and
     * the body JSON. REST-XML (S3): bucket and key name the object. REST protocols: query is
     * the wire query. */
    const char *target;
    const char *path;
    const char *bucket;
    const char *key;
    const char *query;
    struct header_list headers; /* extra headers; owned by the request */
    struct buf body;            /* owned by the request */
    const char *body_ref;       /* when set, sent instead of body: the caller keeps these
                                 * bytes alive until done runs (a large upload, not copied) */
    size_t body_ref_len;
    const struct http_file_body *body_file; /* when set, sent instead of either (an S3 PUT of
                                             * a large file): open and alive until done runs */
    bool unsigned_payload;      /* S3: send UNSIGNED-PAYLOAD instead of the body's hash */
    bool secret_body;           /* the body holds a secret (a web identity token, an external
                                 * id): wiped */
    bool ahead;                 /* waits for a connection ahead of the requests without it */
    size_t max_body;            /* the largest response body accepted; 0: by operation
                                 * (AWS_MAX_BODY_REPORT for IAM GetCredentialReport,
                                 * AWS_MAX_BODY_OBJECT for an S3 object GET, else
                                 * HTTP_MAX_BODY_DEFAULT). A larger response fails the call
                                 * with ResponseTooLarge, not retried */
    int max_attempts;           /* fewer attempts than [aws] max_attempts (a call that may as
                                 * well fail, as an optional check); 0: those */
};

/* A credential report of IAM's 5,000 users with long paths is about 15 MB of CSV, a third
 * more in base64 inside XML. */
#define AWS_MAX_BODY_REPORT ((size_t)64 << 20)
/* Credential endpoints (container, instance metadata) answer with a few hundred bytes. */
#define AWS_MAX_BODY_PROVIDER ((size_t)64 << 10)
/* Objects credreport reads back: reports and run manifests. */
#define AWS_MAX_BODY_OBJECT ((size_t)256 << 20)

struct aws_result {
    bool ok;                    /* a 2xx response */
    long status;
    const struct header_list *headers;
    const struct buf *body;
    const struct xml_node *xml; /* the body parsed, when ok and it is XML; else NULL */
    struct aws_error error;     /* when !ok */
    bool retryable;             /* the error was worth retrying (attempts ran out) */
    bool credentials;           /* the call never went out: its credentials could not be had */
    const char *endpoint;       /* scheme://host[:port] of the last attempt, or NULL */
    int attempts;
    double seconds;             /* from first attempt to completion */
};

/* The result lives only during the call. */
typedef void (*aws_done_fn)(void *arg, const struct aws_result *res);

/* A role client's credentials, kept so that a later client of the same role starts with them
 * instead of assuming the role again (an account whose report was asked for ahead of its turn).
 * Its secrets are wiped by aws_kept_role_free. */
struct aws_kept_role {
    char *role_arn;
    struct aws_creds creds;
    /* The session token decoded, when it is canonical base64 (as STS's are): a quarter fewer
     * bytes for the largest part of a role's credentials. creds.session_token is then NULL. */
    unsigned char *token_raw;
    size_t token_raw_len;
    struct aws_shared *shared; /* whose kept_bytes counts these */
    size_t bytes;
};

struct aws_role {
    const char *role_arn;
    const char *session_name;
    const char *external_id;   /* may be NULL */
    int duration_seconds;      /* 0: AWS's default (1 hour) */
    bool own_rate_limits;      /* a role in another account, whose quotas are its own: the
                                * client's calls are rate-limited apart from its parent's */
    bool ahead;                /* every call of the client, the AssumeRole included, is a
                                * request `ahead` */
    struct aws_kept_role *kept; /* the role's credentials to start with, taken (emptied) by
                                 * aws_client_new_role; NULL: assumed at the first call */
};

struct aws_ctx *aws_ctx_new(struct loop *loop, struct aws_shared *shared,
                            const struct aws_settings *settings, char *err, size_t errlen);
void aws_ctx_free(struct aws_ctx *ctx);
struct loop *aws_ctx_loop(struct aws_ctx *ctx);
/* The ctx's calls waiting for a token of their rate limiter: a throttled service holds them
 * before they ask for a connection. */
size_t aws_ctx_pacing(const struct aws_ctx *ctx);

/* 0, or -1 when memory runs out. */
int aws_shared_init(struct aws_shared *s);
void aws_shared_cleanup(struct aws_shared *s);

/* A client with fixed credentials (copied). */
struct aws_client *aws_client_new_static(struct aws_ctx *ctx, const struct aws_creds *creds);
/* A client without credentials: its requests are sent unsigned (AssumeRoleWithWebIdentity). */
struct aws_client *aws_client_new_anonymous(struct aws_ctx *ctx);
/* A client whose credentials come from assuming a role with parent's, renewed before they
 * expire. The client keeps a reference on parent. (A provider client: see credentials/provider_role.c.) */
struct aws_client *aws_client_new_role(struct aws_client *parent, const struct aws_role *role);
/* The role a client assumes; NULL for a client that is no role's. */
const char *aws_client_role_arn(const struct aws_client *c);
/* 1 with *out (the role's ARN and a copy of the credentials c holds now) when c is a role
 * client that has assumed its role, 0 when not or when the run's kept_budget would be
 * exceeded, -1 when memory runs out. */
int aws_role_keep(struct aws_client *c, struct aws_kept_role *out);
/* Whether the run's kept_budget has room for `more` roles beyond those kept now, each the
 * size of those kept so far on average (room for any number before the first is kept). */
bool aws_keep_has_room(const struct aws_ctx *ctx, size_t more);
/* Moves k's credentials into *out (its session token as text again). 0, or -1 when memory
 * runs out (*out is then empty). */
int aws_kept_role_take(struct aws_kept_role *k, struct aws_creds *out);
/* Wipes and frees what k holds and gives its bytes back to the budget. */
void aws_kept_role_free(struct aws_kept_role *k);

/* Credential providers: where a client's temporary credentials come from (a role assumed
 * through another client, web identity, a container endpoint, instance metadata, a
 * credential_process command). The client asks its provider for credentials when it has
 * none, when they are about to expire (calls wait meanwhile) and, in the background, when they
 * expire within AWS_CREDS_REFRESH_BEFORE; one fetch at a time. */
struct aws_provider {
    /* Starts fetching credentials for c; it must end exactly once, maybe before returning,
     * with aws_client_creds_done(c, ...). The client is referenced until then. */
    void (*fetch)(struct aws_provider *p, struct aws_client *c);
    /* Releases the provider (with its client). */
    void (*free)(struct aws_provider *p);
};

/* A client whose credentials come from p (taken: freed with the client, or here on failure). */
struct aws_client *aws_client_new_provider(struct aws_ctx *ctx, struct aws_provider *p);
/* The client's calls get rate limiters of their own instead of the ctx's shared ones. */
void aws_client_separate_rate_limits(struct aws_client *c);
/* Every later call of the client is a request `ahead`. */
void aws_client_send_ahead(struct aws_client *c);
/* A provider client that has fetched nothing yet starts with creds (taken: zeroed) as if its
 * provider had just fetched them, when they stay valid long enough not to be renewed at once.
 * Returns whether it did; creds are wiped either way. */
bool aws_client_start_with(struct aws_client *c, struct aws_creds *creds);
/* The client's credential provider; NULL for fixed credentials or none. */
struct aws_provider *aws_client_provider(const struct aws_client *c);
/* Ends a fetch: fresh credentials (taken: zeroed here) or, when fresh is NULL, the failure,
 * given to the calls that waited unless the previous credentials are still usable. */
void aws_client_creds_done(struct aws_client *c, struct aws_creds *fresh,
                           const struct aws_error *fail);
struct aws_ctx *aws_client_ctx(const struct aws_client *c);

/* A plain HTTP request on the ctx's loop for credential providers (container, instance
 * metadata): no signature, no AWS retries, given up after timeout_s seconds, connecting
 * included (done then gets status 0 and timed_out); a body over req->max_body (0:
 * AWS_MAX_BODY_PROVIDER) is not read (status 0, too_large). done runs exactly once, from the
 * loop, unless the ctx is freed first; the response body is wiped after done returns. The request
 * is copied, its body too. Returns 0, or -1 with err (done not called). */
int aws_ctx_http(struct aws_ctx *ctx, const struct http_request *req, double timeout_s,
                 http_done_fn done, void *arg, char *err, size_t errlen);
/* The ctx's settings (its JSON hooks among them), for aws_decode_error() in tests. */
const struct aws_settings *aws_ctx_settings(const struct aws_ctx *ctx);
/* The settings' json_fields hook; -1 when there is none. */
int aws_ctx_json_fields(struct aws_ctx *ctx, const char *body, size_t len,
                        const char *const *keys, char **values, size_t n_keys);
/* Reference counting: clients live while a request or a child client uses them. */
void aws_client_ref(struct aws_client *c);
void aws_client_unref(struct aws_client *c);
/* A copy of the client's current credentials, or 0 when it has none yet (a role client
 * before its first request). */
int aws_client_creds(struct aws_client *c, struct aws_creds *out);

/* Sends req (taking ownership of it: it is freed by aws_send, on every path). done runs once,
 * from the loop, or before aws_send returns if the request cannot start. */
void aws_send(struct aws_client *c, struct aws_request *req, aws_done_fn done, void *arg);

/* A request to svc, in its protocol, with that protocol's default method. */
void aws_request_init(struct aws_request *r, const struct service *svc);
void aws_request_cleanup(struct aws_request *r);
/* A Query request to svc: Action=action&Version=version (NULL: the service's API version).
 * 0, or -1 when memory runs out (the request still needs aws_request_cleanup). */
int aws_query_init(struct aws_request *r, const struct service *svc, const char *action,
                   const char *version);
/* Appends "&name=value" (form-encoded) to a Query body. */
int aws_form_add(struct buf *body, const char *name, const char *value);

/* The response's request id (x-amzn-RequestId, or S3's x-amz-request-id), or NULL. */
const char *aws_request_id(const struct header_list *headers);

/* Decodes an error response of the given protocol into e (code, message, request id). Used by
 * aws_send. An XML body is read with xml (the thread's reader), or with a parser of its own when
 * xml is NULL. */
void aws_decode_error(const struct aws_settings *s, struct xml_reader *xml, enum aws_protocol protocol,
                      long status, const struct header_list *headers, const char *body, size_t len,
                      struct aws_error *e);

#endif
