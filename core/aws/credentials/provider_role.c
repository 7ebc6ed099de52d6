/* Credentials from assuming a role with another client's (AssumeRole). */
#include "aws/credentials/provider_internal.h"

#include <openssl/crypto.h>
#include <string.h>

struct role_provider {
    struct aws_provider base;
    struct aws_client *parent;
    struct aws_client *client; /* during a fetch */
    char *role_arn, *session_name, *external_id;
    int duration_seconds;
    bool ahead;
};

static void s_role_done(void *arg, const struct aws_result *res)
{
    struct role_provider *rp = arg;
    struct aws_client *c = rp->client;
    rp->client = NULL;
    if (!res->ok) {
        struct aws_error e = res->error;
        snprintf(e.message, sizeof e.message, "assuming role %.160s: %.60s: %.220s",
                 rp->role_arn, res->error.code, res->error.message);
        aws_client_creds_done(c, NULL, &e);
        return;
    }
    struct aws_creds fresh;
    if (provider_sts_creds(res, "assumed role", &fresh) != 0) {
        provider_fail(c, "MalformedResponse", "assuming role %s: the response has no usable "
               "credentials", rp->role_arn);
        return;
    }
    aws_client_creds_done(c, &fresh, NULL);
}

static void s_role_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct role_provider *rp = (struct role_provider *)p;
    struct aws_request r;
    char dur[16];
    snprintf(dur, sizeof dur, "%d", rp->duration_seconds);
    int rc = aws_query_init(&r, service_find("sts"), "AssumeRole", NULL);
    /* The external id is a secret: the body is wiped when freed, and reserved before it goes
     * in so no growth leaves a copy behind (percent-encoding at most triples a value). */
    r.secret_body = true;
    rc |= buf_reserve(&r.body, 256 + 3 * (strlen(rp->role_arn) + strlen(rp->session_name) +
                                          (rp->external_id ? strlen(rp->external_id) : 0)));
    rc |= aws_form_add(&r.body, "RoleArn", rp->role_arn);
    rc |= aws_form_add(&r.body, "RoleSessionName", rp->session_name);
    if (rp->external_id)
        rc |= aws_form_add(&r.body, "ExternalId", rp->external_id);
    if (rp->duration_seconds > 0)
        rc |= aws_form_add(&r.body, "DurationSeconds", dur);
    if (rc != 0) {
        aws_request_cleanup(&r);
        provider_fail(c, "OutOfMemory", "out of memory");
        return;
    }
    r.ahead = rp->ahead;
    rp->client = c;
    aws_send(rp->parent, &r, s_role_done, rp);
}

static void s_role_free(struct aws_provider *p)
{
    struct role_provider *rp = (struct role_provider *)p;
    free(rp->role_arn);
    free(rp->session_name);
    creds_free_string(&rp->external_id);
    aws_client_unref(rp->parent);
    free(rp);
}

struct aws_client *aws_client_new_role(struct aws_client *parent, const struct aws_role *role)
{
    struct role_provider *rp = calloc(1, sizeof *rp);
    if (!rp)
        return NULL;
    rp->base.fetch = s_role_fetch;
    rp->base.free = s_role_free;
    rp->role_arn = strdup(role->role_arn);
    rp->session_name = strdup(role->session_name ? role->session_name : "credreport");
    rp->external_id = role->external_id ? strdup(role->external_id) : NULL;
    rp->duration_seconds = role->duration_seconds;
    rp->ahead = role->ahead;
    rp->parent = parent;
    aws_client_ref(parent);
    if (!rp->role_arn || !rp->session_name || (role->external_id && !rp->external_id)) {
        s_role_free(&rp->base);
        return NULL;
    }
    struct aws_client *c = aws_client_new_provider(aws_client_ctx(parent), &rp->base);
    if (c && role->own_rate_limits)
        aws_client_separate_rate_limits(c);
    if (c && role->ahead)
        aws_client_send_ahead(c);
    struct aws_creds kept;
    if (c && role->kept && role->kept->role_arn && strcmp(role->kept->role_arn, role->role_arn) == 0 &&
        aws_kept_role_take(role->kept, &kept) == 0)
        aws_client_start_with(c, &kept);
    if (role->kept)
        aws_kept_role_free(role->kept);
    return c;
}

const char *aws_client_role_arn(const struct aws_client *c)
{
    struct aws_provider *p = aws_client_provider(c);
    return p && p->fetch == s_role_fetch ? ((struct role_provider *)p)->role_arn : NULL;
}
