#include "aws/service.h"
#include "base/errmsg.h"

#include <stdio.h>
#include <string.h>

static const struct service_global s_iam_global[] = {
    {"aws", "iam.amazonaws.com", "us-east-1"},
    {"aws-cn", "iam.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"aws-us-gov", "iam.us-gov.amazonaws.com", "us-gov-west-1"},
    {NULL, NULL, NULL},
};

static const struct service_global s_organizations_global[] = {
    {"aws", "organizations.us-east-1.amazonaws.com", "us-east-1"},
    {"aws-cn", "organizations.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
    {"aws-us-gov", "organizations.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
    {NULL, NULL, NULL},
};

static const struct service_global s_account_global[] = {
    {"aws", "account.us-east-1.amazonaws.com", "us-east-1"},
    {"aws-cn", "account.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
    {NULL, NULL, NULL},
};

static const struct service s_table[] = {
    {.id = "iam", .signing_name = "iam", .endpoint_prefix = "iam", .protocol = AWS_QUERY,
     .api_version = "2010-05-08", .global = s_iam_global, .built_in = true},
    {.id = "sts", .signing_name = "sts", .endpoint_prefix = "sts", .protocol = AWS_QUERY,
     .api_version = "2011-06-15", .built_in = true},
    {.id = "sns", .signing_name = "sns", .endpoint_prefix = "sns", .protocol = AWS_QUERY,
     .api_version = "2010-03-31", .built_in = true},
    {.id = "organizations", .signing_name = "organizations", .endpoint_prefix = "organizations",
     .protocol = AWS_JSON_1_1, .target_prefix = "AWSOrganizationsV20161128",
     .global = s_organizations_global, .built_in = true},
    {.id = "s3", .signing_name = "s3", .endpoint_prefix = "s3", .protocol = AWS_REST_XML,
     .built_in = true},
    {.id = "account", .signing_name = "account", .endpoint_prefix = "account",
     .protocol = AWS_REST_JSON, .global = s_account_global, .built_in = true},
};

bool service_id_valid(const char *id)
{
    if (!id || !(id[0] >= 'a' && id[0] <= 'z'))
        return false;
    size_t n = 0;
    for (; id[n]; n++)
        if (!((id[n] >= 'a' && id[n] <= 'z') || (id[n] >= '0' && id[n] <= '9') || id[n] == '-'))
            return false;
    return n < SERVICE_ID_MAX;
}

const struct service *service_find(const char *id)
{
    for (size_t i = 0; id && i < sizeof s_table / sizeof s_table[0]; i++)
        if (strcmp(s_table[i].id, id) == 0)
            return &s_table[i];
    return NULL;
}

int service_describe(const char *id, struct service *out, char *err, size_t errlen)
{
    const struct service *known = service_find(id);
    if (known) {
        *out = *known;
        return 0;
    }
    if (!service_id_valid(id)) {
        errmsg_set(err, errlen, "not a service id: \"%.60s\" (lowercase letters, digits and '-', "
                   "such as securityhub)", id ? id : "");
        return -1;
    }
    memset(out, 0, sizeof *out);
    snprintf(out->id, sizeof out->id, "%s", id);
    snprintf(out->signing_name, sizeof out->signing_name, "%s", id);
    snprintf(out->endpoint_prefix, sizeof out->endpoint_prefix, "%s", id);
    out->protocol = AWS_REST_JSON;
    return 0;
}

const char *service_protocol_name(enum aws_protocol p)
{
    switch (p) {
    case AWS_QUERY:
        return "query";
    case AWS_JSON_1_0:
        return "json1.0";
    case AWS_JSON_1_1:
        return "json1.1";
    case AWS_REST_JSON:
        return "rest-json";
    case AWS_REST_XML:
        return "rest-xml";
    }
    return "?";
}

void service_env_suffix(const char *id, char *out, size_t cap)
{
    size_t i = 0;
    for (; cap && id[i] && i + 1 < cap; i++) {
        char c = id[i];
        out[i] = c == '-' || c == ' ' ? '_' : (c >= 'a' && c <= 'z') ? (char)(c - 32) : c;
    }
    if (cap)
        out[i] = '\0';
}
