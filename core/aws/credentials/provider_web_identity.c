/* Credentials from a web identity token (AssumeRoleWithWebIdentity, unsigned), as EKS and
 * other OIDC providers give them. */
#include "aws/credentials/provider_internal.h"

#include <openssl/crypto.h>
#include <string.h>

struct web_provider {
    struct aws_provider base;
    struct aws_client *anon;
    struct aws_client *client;
    struct creds_role_step role;
    char *token_file;
};

static void s_web_done(void *arg, const struct aws_result *res)
{
    struct web_provider *wp = arg;
    struct aws_client *c = wp->client;
    wp->client = NULL;
    if (!res->ok) {
        struct aws_error e = res->error;
        snprintf(e.message, sizeof e.message, "web identity: assuming role %.160s: %.60s: %.220s",
                 wp->role.role_arn, res->error.code, res->error.message);
        aws_client_creds_done(c, NULL, &e);
        return;
    }
    struct aws_creds fresh;
    if (provider_sts_creds(res, "web identity", &fresh) != 0) {
        provider_fail(c, "MalformedResponse", "web identity: assuming role %s: the response has no "
               "usable credentials", wp->role.role_arn);
        return;
    }
    aws_client_creds_done(c, &fresh, NULL);
}

static void s_web_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct web_provider *wp = (struct web_provider *)p;
    struct buf token = BUF_INIT;
    char err[300];
    struct aws_request r;
    int rc = aws_query_init(&r, service_find("sts"), "AssumeRoleWithWebIdentity", NULL);
    r.secret_body = true;
    /* Read at every fetch: Kubernetes rotates the projected token. */
    if (provider_read_token_file(wp->token_file, &token, err, sizeof err) != 0) {
        aws_request_cleanup(&r);
        provider_fail(c, "CredentialsError", "web identity: token file: %s", err);
        return;
    }
    char dur[16];
    snprintf(dur, sizeof dur, "%d", wp->role.duration_seconds);
    /* Reserved before the token goes in, so no growth of the body leaves a copy of it. */
    rc |= buf_reserve(&r.body, 256 + 3 * (strlen(wp->role.role_arn) +
                                          strlen(wp->role.session_name) + token.len));
    rc |= aws_form_add(&r.body, "RoleArn", wp->role.role_arn);
    rc |= aws_form_add(&r.body, "RoleSessionName", wp->role.session_name);
    rc |= aws_form_add(&r.body, "WebIdentityToken", token.data);
    if (wp->role.duration_seconds > 0)
        rc |= aws_form_add(&r.body, "DurationSeconds", dur);
    buf_free_secret(&token);
    if (rc != 0) {
        aws_request_cleanup(&r);
        provider_fail(c, "OutOfMemory", "out of memory");
        return;
    }
    wp->client = c;
    aws_send(wp->anon, &r, s_web_done, wp);
}

static void s_web_free(struct aws_provider *p)
{
    struct web_provider *wp = (struct web_provider *)p;
    creds_role_step_free(&wp->role);
    free(wp->token_file);
    aws_client_unref(wp->anon);
    free(wp);
}

struct aws_client *provider_web_identity_client(struct aws_ctx *ctx,
                                                const struct creds_role_step *role,
                                                const char *token_file)
{
    struct web_provider *wp = calloc(1, sizeof *wp);
    if (!wp)
        return NULL;
    wp->base.fetch = s_web_fetch;
    wp->base.free = s_web_free;
    wp->anon = aws_client_new_anonymous(ctx);
    wp->role.role_arn = strdup(role->role_arn);
    wp->role.session_name = strdup(role->session_name ? role->session_name : "credreport");
    wp->role.duration_seconds = role->duration_seconds;
    wp->token_file = strdup(token_file);
    if (!wp->anon || !wp->role.role_arn || !wp->role.session_name || !wp->token_file) {
        s_web_free(&wp->base);
        return NULL;
    }
    return aws_client_new_provider(ctx, &wp->base);
}

