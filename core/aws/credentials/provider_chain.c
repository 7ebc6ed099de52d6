/* The SDKs' credential chain: which source gives a profile its credentials. */
#include "aws/credentials/provider_internal.h"
#include "base/errmsg.h"

#include <openssl/crypto.h>
#include <string.h>

static const char *s_imds_endpoint(void)
{
    const char *e = getenv("AWS_EC2_METADATA_SERVICE_ENDPOINT");
    return provider_set(e) ? e : "http://169.254.169.254";
}

static bool s_imds_disabled(void)
{
    const char *v = getenv("AWS_EC2_METADATA_DISABLED");
    return v && strcasecmp(v, "true") == 0;
}

/* The base client of a profile's plan; NULL with err. */
static struct aws_client *s_plan_base(struct aws_ctx *ctx, const struct creds_plan *plan,
                                      char *err, size_t errlen)
{
    struct aws_client *c = NULL;
    struct aws_creds env;
    char e[300];
    char *url = NULL;
    int rc;

    memset(&env, 0, sizeof env);
    switch (plan->base_kind) {
    case CREDS_BASE_STATIC:
        c = aws_client_new_static(ctx, &plan->base);
        break;
    case CREDS_BASE_PROCESS:
        c = provider_process_client(ctx, plan->process, plan->base.source);
        break;
    case CREDS_BASE_WEB_IDENTITY:
        c = provider_web_identity_client(ctx, &plan->web, plan->web_token_file);
        break;
    case CREDS_BASE_ENVIRONMENT:
        rc = creds_from_env(&env, e, sizeof e);
        if (rc <= 0) {
            errmsg_set(err, errlen, "%s: credential_source Environment: %s", plan->base.source,
                     rc < 0 ? e : "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are not set");
            return NULL;
        }
        c = aws_client_new_static(ctx, &env);
        creds_free(&env);
        break;
    case CREDS_BASE_CONTAINER:
        rc = provider_container_url(getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
                                    getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), &url, e,
                                    sizeof e);
        if (rc <= 0) {
            errmsg_set(err, errlen, "%s: credential_source EcsContainer: %s", plan->base.source,
                     rc < 0 ? e : "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                                  "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set");
            return NULL;
        }
        c = provider_container_client(ctx, url);
        free(url);
        break;
    case CREDS_BASE_IMDS:
        if (s_imds_disabled()) {
            errmsg_set(err, errlen, "%s: credential_source Ec2InstanceMetadata, but "
                     "AWS_EC2_METADATA_DISABLED is true", plan->base.source);
            return NULL;
        }
        c = provider_imds_client(ctx, s_imds_endpoint(), NULL);
        break;
    }
    if (!c)
        errmsg_set(err, errlen, "out of memory");
    return c;
}

static struct aws_client *s_plan_client(struct aws_ctx *ctx, const struct creds_plan *plan,
                                        char *err, size_t errlen)
{
    struct aws_client *c = s_plan_base(ctx, plan, err, errlen);
    for (size_t i = 0; c && i < plan->n_steps; i++) {
        struct aws_role role = {
            .role_arn = plan->steps[i].role_arn,
            .session_name = plan->steps[i].session_name,
            .external_id = plan->steps[i].external_id,
            .duration_seconds = plan->steps[i].duration_seconds,
        };
        struct aws_client *next = aws_client_new_role(c, &role);
        aws_client_unref(c);
        c = next;
        if (!c)
            errmsg_set(err, errlen, "out of memory");
    }
    return c;
}

struct aws_client *provider_chain(struct aws_ctx *ctx, const char *profile, char *err,
                                  size_t errlen)
{
    struct aws_client *c = NULL;
    struct buf tried = BUF_INIT;
    struct aws_creds base;
    struct creds_plan plan;
    struct creds_role_step web;
    char *token_file = NULL, *url = NULL;
    char e[400];
    int rc = 0;
    bool explicit_profile = provider_set(profile);

    memset(&base, 0, sizeof base);
    memset(&plan, 0, sizeof plan);
    memset(&web, 0, sizeof web);
    if (!explicit_profile) {
        rc = creds_from_env(&base, e, sizeof e);
        if (rc < 0) {
            errmsg_set(err, errlen, "credentials from the environment: %s", e);
            goto cleanup;
        }
        if (rc == 1) {
            c = aws_client_new_static(ctx, &base);
            goto made;
        }
        rc = creds_web_identity_from_env(&web, &token_file, e, sizeof e);
        if (rc < 0) {
            errmsg_set(err, errlen, "web identity from the environment: %s", e);
            goto cleanup;
        }
        if (rc == 1) {
            c = provider_web_identity_client(ctx, &web, token_file);
            goto made;
        }
        if (buf_puts(&tried, "environment: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are "
                             "not set; web identity: AWS_WEB_IDENTITY_TOKEN_FILE is not set; ") != 0)
            goto oom;
    }
    rc = creds_plan_resolve(profile, &plan, e, sizeof e);
    if (rc < 0) {
        errmsg_set(err, errlen, "credentials from the shared files: %s", e);
        goto cleanup;
    }
    if (rc == 1) {
        c = s_plan_client(ctx, &plan, err, errlen);
        goto cleanup;
    }
    const char *name = explicit_profile ? profile : getenv("AWS_PROFILE");
    const char *cf = getenv("AWS_SHARED_CREDENTIALS_FILE");
    const char *kf = getenv("AWS_CONFIG_FILE");
    if (buf_printf(&tried, "shared files: no credentials for profile \"%s\" in %s or %s; ",
                   provider_set(name) ? name : "default", provider_set(cf) ? cf : "~/.aws/credentials",
                   provider_set(kf) ? kf : "~/.aws/config") != 0)
        goto oom;

    rc = provider_container_url(getenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"),
                                getenv("AWS_CONTAINER_CREDENTIALS_FULL_URI"), &url, e, sizeof e);
    if (rc < 0) {
        errmsg_set(err, errlen, "container credentials: %s", e);
        goto cleanup;
    }
    if (rc == 1) {
        c = provider_container_client(ctx, url);
        goto made;
    }
    if (buf_puts(&tried, "container: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and "
                         "AWS_CONTAINER_CREDENTIALS_FULL_URI are not set") != 0)
        goto oom;
    if (s_imds_disabled()) {
        errmsg_set(err, errlen, "no AWS credentials found: %s; instance metadata: disabled by "
                 "AWS_EC2_METADATA_DISABLED", tried.data);
        goto cleanup;
    }
    /* The last resort: known to fail only after asking, at the first call. */
    c = provider_imds_client(ctx, s_imds_endpoint(), tried.data);
made:
    if (!c)
        goto oom;
    goto cleanup;

oom:
    errmsg_set(err, errlen, "out of memory");
cleanup:
    creds_free(&base);
    creds_plan_free(&plan);
    creds_role_step_free(&web);
    free(token_file);
    free(url);
    buf_free(&tried);
    return c;
}
