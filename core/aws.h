/* AWS requests: endpoint, signature, transfer, error decoding, retries and credentials, for
 * the three protocols credreport speaks (Query, JSON 1.1, REST-XML). Everything completes
 * through callbacks on the thread's loop; nothing here knows about Lua.
 *
 * An aws_ctx holds one thread's loop and settings; an aws_client is one identity (a set of
 * credentials, static or obtained by assuming a role through another client) in that ctx. */
#ifndef CREDREPORT_AWS_H
#define CREDREPORT_AWS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "buf.h"
#include "creds.h"
#include "endpoint.h"
#include "headers.h"
#include "loop.h"
#include "retry.h"

enum aws_protocol { AWS_QUERY, AWS_JSON, AWS_REST_XML };

/* State shared by every thread's ctx: retry quota and clock offset. */
struct aws_shared {
    struct retry_quota quota;
    _Atomic long skew_offset; /* seconds to add to local time when signing */
};

/* Decodes a JSON error body into e->code / e->message; 0 on success. Supplied by whoever
 * owns a JSON decoder (the Lua runtime uses lua-cjson). */
typedef int (*aws_json_error_fn)(void *arg, const char *body, size_t len, struct aws_error *e);

struct aws_settings {
    char region[32];
    struct endpoint_overrides endpoints;
    struct retry_config retry;
    aws_json_error_fn json_error;
    void *json_error_arg;
};

struct aws_ctx;
struct aws_client;

struct aws_request {
    const char *service;   /* "iam", "sts", "organizations", "s3", "sns" */
    enum aws_protocol protocol;
    const char *method;
    const char *region;    /* NULL: the ctx's region */
    /* Query: the form body (Action=..&Version=..). JSON: the body; target is the X-Amz-Target
     * value. REST-XML (S3): bucket and key name the object; query is the wire query. */
    const char *target;
    const char *bucket;
    const char *key;
    const char *query;
    struct header_list headers; /* extra headers; owned by the request */
    struct buf body;            /* owned by the request */
    bool unsigned_payload;      /* S3: send UNSIGNED-PAYLOAD instead of the body's hash */
};

struct aws_result {
    bool ok;                    /* a 2xx response */
    long status;
    const struct header_list *headers;
    const struct buf *body;
    struct aws_error error;     /* when !ok */
    bool retryable;             /* the error was worth retrying (attempts ran out) */
    int attempts;
    double seconds;             /* from first attempt to completion */
};

/* The result lives only during the call. */
typedef void (*aws_done_fn)(void *arg, const struct aws_result *res);

struct aws_role {
    const char *role_arn;
    const char *session_name;
    const char *external_id;   /* may be NULL */
    int duration_seconds;      /* 0: AWS's default (1 hour) */
};

struct aws_ctx *aws_ctx_new(struct loop *loop, struct aws_shared *shared,
                            const struct aws_settings *settings, char *err, size_t errlen);
void aws_ctx_free(struct aws_ctx *ctx);
struct loop *aws_ctx_loop(struct aws_ctx *ctx);
const char *aws_ctx_region(const struct aws_ctx *ctx);

void aws_shared_init(struct aws_shared *s);

/* A client with fixed credentials (copied). */
struct aws_client *aws_client_new_static(struct aws_ctx *ctx, const struct aws_creds *creds);
/* A client whose credentials come from assuming a role with parent's, renewed before they
 * expire. The client keeps a reference on parent. */
struct aws_client *aws_client_new_role(struct aws_client *parent, const struct aws_role *role);
/* Reference counting: clients live while a request or a child client uses them. */
void aws_client_ref(struct aws_client *c);
void aws_client_unref(struct aws_client *c);
/* A copy of the client's current credentials, or 0 when it has none yet (a role client
 * before its first request). */
int aws_client_creds(struct aws_client *c, struct aws_creds *out);

/* Sends req (taking ownership of it: it is freed by aws_send, on every path). done runs once,
 * from the loop, or before aws_send returns if the request cannot start. */
void aws_send(struct aws_client *c, struct aws_request *req, aws_done_fn done, void *arg);

void aws_request_init(struct aws_request *r, const char *service, enum aws_protocol protocol);
void aws_request_cleanup(struct aws_request *r);
/* Appends "&name=value" (form-encoded) to a Query body. */
int aws_form_add(struct buf *body, const char *name, const char *value);

/* Decodes an error response of the given protocol into e (code, message, request id). Used by
 * aws_send; exposed for tests. */
void aws_decode_error(const struct aws_settings *s, enum aws_protocol protocol, long status,
                      const struct header_list *headers, const char *body, size_t len,
                      struct aws_error *e);

#endif
