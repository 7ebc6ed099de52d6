/* The AWS SDKs' credential chain: environment, web identity, the shared files (static keys,
 * role chains, credential_process, credential_source), container endpoint, EC2 instance
 * metadata (IMDSv2). Each temporary source is an aws_provider (aws.h), so every client renews
 * its credentials the same way. Nothing here knows about Lua; JSON goes through the ctx's
 * json_fields hook. Secrets are wiped when freed and never appear in a message. */
#ifndef CREDREPORT_PROVIDER_H
#define CREDREPORT_PROVIDER_H

#include <stddef.h>
#include <time.h>

#include "aws/aws.h"
#include "base/buf.h"
#include "aws/credentials/creds.h"

/* credential_process gets this long to print its credentials before it is killed. */
#define PROVIDER_PROCESS_TIMEOUT 60

/* The client the chain gives for a profile (NULL or "": AWS_PROFILE, else "default"; an
 * explicit profile skips the environment and web identity from the environment). NULL when
 * no source yields credentials (err then names each source tried and why it gave nothing), or
 * when a configured source is broken (err says why: the SDKs do not fall through then), or
 * when memory runs out. When only instance metadata is left, the client is returned at once and
 * its first call fails with code "NoCredentials" and the same kind of message if the
 * instance metadata service does not answer. */
struct aws_client *provider_chain(struct aws_ctx *ctx, const char *profile, char *err,
                                  size_t errlen);

/* The sources, one client each. role and the strings are copied. */
struct aws_client *provider_web_identity_client(struct aws_ctx *ctx,
                                                const struct creds_role_step *role,
                                                const char *token_file);
struct aws_client *provider_process_client(struct aws_ctx *ctx, const char *command,
                                           const char *source);
/* url as given by provider_container_url(). */
struct aws_client *provider_container_client(struct aws_ctx *ctx, const char *url);
/* endpoint: "http://169.254.169.254" or AWS_EC2_METADATA_SERVICE_ENDPOINT. tried: what the
 * chain tried before (its failure is then "NoCredentials" naming them), or NULL. */
struct aws_client *provider_imds_client(struct aws_ctx *ctx, const char *endpoint,
                                        const char *tried);

/* ---- pure parts, exposed for tests ---- */

/* The container endpoint: relative (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI) wins and gives
 * http://169.254.170.2<relative>; full (AWS_CONTAINER_CREDENTIALS_FULL_URI) must be https (any
 * host) or http to a loopback host (127.0.0.0/8, [::1], localhost), 169.254.170.2,
 * 169.254.170.23 or [fd00:ec2::23]. Returns 1 (*url malloc'd), 0 when neither is given, -1
 * with the reason. */
int provider_container_url(const char *relative, const char *full, char **url, char *err,
                           size_t errlen);

/* ISO 8601 UTC times as the endpoints write them: 2024-05-01T12:00:00Z, with optional
 * fraction of a second and a Z, +HH:MM, +HHMM or no zone (UTC). -1 when unreadable. */
time_t provider_parse_time(const char *s);

enum provider_json { PROVIDER_JSON_CONTAINER, PROVIDER_JSON_IMDS, PROVIDER_JSON_PROCESS };

/* Credentials from a JSON document: container and instance metadata {AccessKeyId,
 * SecretAccessKey, Token, Expiration} (instance metadata: Code "Success" when present);
 * credential_process {Version: 1, AccessKeyId, SecretAccessKey, SessionToken, Expiration
 * (optional: never expires)}. out->source is set to source. Returns 0, or -1 with a reason
 * that never quotes the document. */
int provider_creds_from_json(struct aws_ctx *ctx, enum provider_json kind, const char *body,
                             size_t len, const char *source, struct aws_creds *out, char *err,
                             size_t errlen);

/* Runs command with /bin/sh -c on the loop, in a new session (no terminal), stdin from
 * /dev/null, stderr to /dev/null, no inherited descriptors, without blocking the loop's
 * thread. done(arg, 0, out, NULL) gets its stdout (a secret: wiped when done returns, unless
 * taken) when it exits with status 0; done(arg, -1, empty, why) when it exits otherwise, is
 * killed, prints more than 64 KB, or is still running after timeout_s seconds (then killed
 * with its process group). why gives the status, never what it printed. done runs once, from
 * the loop. Returns 0, or -1 with err (it did not start; done is not called). */
typedef void (*provider_process_fn)(void *arg, int rc, struct buf *out, const char *why);
int provider_process_start(struct loop *loop, const char *command, int timeout_s,
                           provider_process_fn done, void *arg, char *err, size_t errlen);

/* The same, waiting for it on a loop of its own: 0 with its stdout in out (a secret: wipe
 * it), or -1 with the reason in err. */
int provider_run_process(const char *command, int timeout_s, struct buf *out, char *err,
                         size_t errlen);

#endif
