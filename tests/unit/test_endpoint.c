/* Endpoint resolution: partitions, every service, override sources and their precedence, URL
 * validation, and S3 object URLs. */
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "aws/endpoint.h"
#include "unit.h"

/* The description of a service by id (from service.h's table, or its defaults). The eight
 * slots let one call's arguments hold several. */
static const struct service *svc(const char *id)
{
    static struct service slots[8];
    static unsigned next;
    struct service *s = &slots[next++ % 8];
    char err[160];
    CHECK(service_describe(id, s, err, sizeof err) == 0, "%s: %s", id, err);
    return s;
}

static const char *const s_env_vars[] = {
    "AWS_ENDPOINT_URL",       "AWS_ENDPOINT_URL_IAM", "AWS_ENDPOINT_URL_STS",
    "AWS_ENDPOINT_URL_ORGANIZATIONS", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_SNS",
    "AWS_ENDPOINT_URL_SECURITYHUB", "AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
};

static void clear_env(void)
{
    for (size_t i = 0; i < sizeof s_env_vars / sizeof s_env_vars[0]; i++)
        unsetenv(s_env_vars[i]);
}

struct default_case {
    const char *service, *region, *url, *signing_region;
};

static const struct default_case s_defaults[] = {
    /* IAM: global per partition */
    {"iam", "us-east-1", "https://iam.amazonaws.com", "us-east-1"},
    {"iam", "eu-west-1", "https://iam.amazonaws.com", "us-east-1"},
    {"iam", "cn-north-1", "https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"iam", "cn-northwest-1", "https://iam.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"iam", "us-gov-west-1", "https://iam.us-gov.amazonaws.com", "us-gov-west-1"},
    {"iam", "us-gov-east-1", "https://iam.us-gov.amazonaws.com", "us-gov-west-1"},
    /* Organizations: global per partition */
    {"organizations", "us-east-1", "https://organizations.us-east-1.amazonaws.com", "us-east-1"},
    {"organizations", "ap-south-1", "https://organizations.us-east-1.amazonaws.com", "us-east-1"},
    {"organizations", "cn-north-1", "https://organizations.cn-northwest-1.amazonaws.com.cn",
     "cn-northwest-1"},
    {"organizations", "us-gov-east-1", "https://organizations.us-gov-west-1.amazonaws.com",
     "us-gov-west-1"},
    /* regional services */
    {"sts", "us-east-1", "https://sts.us-east-1.amazonaws.com", "us-east-1"},
    {"sts", "eu-central-1", "https://sts.eu-central-1.amazonaws.com", "eu-central-1"},
    {"sts", "cn-north-1", "https://sts.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"sts", "us-gov-west-1", "https://sts.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
    {"iam", "us-govx", "https://iam.amazonaws.com", "us-east-1"}, /* not us-gov- */
    {"s3", "us-west-2", "https://s3.us-west-2.amazonaws.com", "us-west-2"},
    {"s3", "cn-northwest-1", "https://s3.cn-northwest-1.amazonaws.com.cn", "cn-northwest-1"},
    {"s3", "us-gov-east-1", "https://s3.us-gov-east-1.amazonaws.com", "us-gov-east-1"},
    {"sns", "ap-northeast-1", "https://sns.ap-northeast-1.amazonaws.com", "ap-northeast-1"},
    {"sns", "cn-north-1", "https://sns.cn-north-1.amazonaws.com.cn", "cn-north-1"},
    {"sns", "us-gov-west-1", "https://sns.us-gov-west-1.amazonaws.com", "us-gov-west-1"},
};

static void test_defaults(void)
{
    clear_env();
    for (size_t i = 0; i < sizeof s_defaults / sizeof s_defaults[0]; i++) {
        const struct default_case *c = &s_defaults[i];
        struct endpoint ep;
        char err[256] = "";
        int rc = endpoint_resolve(svc(c->service), c->region, NULL, &ep, err, sizeof err);
        CHECK(rc == 0, "%s %s: %s", c->service, c->region, err);
        if (rc != 0)
            continue;
        CHECK_STR(ep.url, c->url, c->service);
        CHECK_STR(ep.signing_region, c->signing_region, c->service);
        CHECK_STR(ep.signing_name, c->service, "signing name");
        CHECK(!ep.custom, "%s %s: not custom", c->service, c->region);
    }
}

static void test_bad_inputs(void)
{
    struct endpoint ep;
    char err[256];
    static const char *const bad_regions[] = {
        "", "US-EAST-1", "us east 1", "us_east_1", "us-east-1.", "us-east-1/x",
        "a-region-name-that-is-far-too-long-for-the-field",
    };

    clear_env();
    for (size_t i = 0; i < sizeof bad_regions / sizeof bad_regions[0]; i++) {
        err[0] = '\0';
        CHECK(endpoint_resolve(svc("sts"), bad_regions[i], NULL, &ep, err, sizeof err) == -1,
              "region \"%s\" refused", bad_regions[i]);
        CHECK(strstr(err, "region") != NULL, "error names the region: %s", err);
    }
    CHECK(endpoint_resolve(svc("iam"), NULL, NULL, &ep, err, sizeof err) == -1, "NULL region");
    CHECK(endpoint_resolve(NULL, "us-east-1", NULL, &ep, err, sizeof err) == -1, "NULL");
    /* a NULL or zero-length error buffer is fine */
    CHECK(endpoint_resolve(svc("sts"), "", NULL, &ep, NULL, 0) == -1, "no err buffer");
}

static int resolve(const char *service, const char *region, const struct endpoint_overrides *ov,
                   struct endpoint *ep, char *err, size_t errlen)
{
    memset(ep, 0, sizeof *ep);
    err[0] = '\0';
    return endpoint_resolve(svc(service), region, ov, ep, err, errlen);
}

static void test_overrides(void)
{
    struct endpoint ep;
    char err[256];
    struct endpoint_overrides ov;

    clear_env();
    memset(&ov, 0, sizeof ov);
    ov.allow_http = true; /* made-up hosts below: plain HTTP to them is tested apart */

    /* config global */
    ov.global = "http://localhost:4566";
    CHECK(resolve("iam", "eu-west-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://localhost:4566", "config global");
    CHECK_STR(ep.signing_region, "us-east-1", "global service keeps its signing region");
    CHECK_STR(ep.signing_name, "iam", "signing name");
    CHECK(ep.custom, "custom");
    CHECK(resolve("iam", "cn-north-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.signing_region, "cn-north-1", "cn IAM signing region with override");
    CHECK(resolve("organizations", "us-gov-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.signing_region, "us-gov-west-1", "gov Organizations signing region");
    CHECK(resolve("organizations", "cn-north-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.signing_region, "cn-northwest-1", "cn Organizations signing region");
    CHECK(resolve("sts", "eu-west-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.signing_region, "eu-west-1", "regional service keeps the region");
    CHECK_STR(ep.url, "http://localhost:4566", "sts uses config global");

    /* config per-service beats global, only for that service */
    const struct endpoint_url urls[] = {
        {"sns", "http://sns.local:1000"},
        {"S3", "https://s3.local/"},
        {"iam", ""}, /* empty: unset */
        {"securityhub", "http://hub.local:7"},
    };
    ov.service_urls = urls;
    ov.n_service_urls = 4;
    CHECK(resolve("sns", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://sns.local:1000", "config per-service");
    CHECK(resolve("s3", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://s3.local", "per-service, case-insensitive, slash stripped");
    CHECK(resolve("iam", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://localhost:4566", "empty per-service falls back to global");
    CHECK(resolve("sts", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://localhost:4566", "other service: global");

    /* env AWS_ENDPOINT_URL beats config */
    setenv("AWS_ENDPOINT_URL", "http://env-global:1", 1);
    CHECK(resolve("sns", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://env-global:1", "AWS_ENDPOINT_URL beats config per-service");
    CHECK(ep.custom, "custom");
    CHECK(resolve("organizations", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://env-global:1", "AWS_ENDPOINT_URL without config");
    CHECK_STR(ep.signing_region, "us-east-1", "signing region");

    /* env per-service beats env global, for each service */
    static const struct {
        const char *service, *var;
    } vars[] = {
        {"iam", "AWS_ENDPOINT_URL_IAM"},
        {"sts", "AWS_ENDPOINT_URL_STS"},
        {"organizations", "AWS_ENDPOINT_URL_ORGANIZATIONS"},
        {"s3", "AWS_ENDPOINT_URL_S3"},
        {"sns", "AWS_ENDPOINT_URL_SNS"},
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
        char url[64];
        snprintf(url, sizeof url, "https://%s.example:8443", vars[i].service);
        setenv(vars[i].var, url, 1);
        CHECK(resolve(vars[i].service, "eu-west-3", &ov, &ep, err, sizeof err) == 0, "%s", err);
        CHECK_STR(ep.url, url, vars[i].var);
        CHECK(ep.custom, "custom");
        /* the other services are not affected */
        for (size_t j = 0; j < sizeof vars / sizeof vars[0]; j++) {
            if (j == i)
                continue;
            CHECK(resolve(vars[j].service, "eu-west-3", &ov, &ep, err, sizeof err) == 0, "%s",
                  err);
            CHECK_STR(ep.url, "http://env-global:1", "other service");
        }
        unsetenv(vars[i].var);
    }

    /* an empty per-service variable counts as unset */
    setenv("AWS_ENDPOINT_URL_STS", "", 1);
    CHECK(resolve("sts", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://env-global:1", "empty AWS_ENDPOINT_URL_STS");
    setenv("AWS_ENDPOINT_URL", "", 1);
    CHECK(resolve("sts", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://localhost:4566", "empty AWS_ENDPOINT_URL: config");
    unsetenv("AWS_ENDPOINT_URL_STS");
    setenv("AWS_ENDPOINT_URL", "http://env-global:1", 1);

    /* AWS_IGNORE_CONFIGURED_ENDPOINT_URLS */
    setenv("AWS_ENDPOINT_URL_SNS", "http://env-sns:2", 1);
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "true", 1);
    CHECK(resolve("sns", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://sns.us-east-1.amazonaws.com", "ignored: default");
    CHECK(!ep.custom, "not custom when ignored");
    CHECK(resolve("iam", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://iam.amazonaws.com", "ignored: config too");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "TRUE", 1);
    CHECK(resolve("s3", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://s3.us-east-1.amazonaws.com", "TRUE");
    setenv("AWS_ENDPOINT_URL_S3", "not a url", 1);
    CHECK(resolve("s3", "us-east-1", &ov, &ep, err, sizeof err) == 0,
          "ignored overrides are not validated: %s", err);
    unsetenv("AWS_ENDPOINT_URL_S3");
    setenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS", "false", 1);
    CHECK(resolve("sns", "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://env-sns:2", "false: honoured");

    /* a service credreport does not list: its own setting, its own variable by the SDKs'
     * naming rule, and its endpoint by the partition's pattern */
    clear_env();
    CHECK(resolve("securityhub", "eu-west-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://hub.local:7", "[endpoints] securityhub");
    CHECK_STR(ep.signing_name, "securityhub", "signing name");
    setenv("AWS_ENDPOINT_URL_SECURITYHUB", "http://env-hub:3", 1);
    CHECK(resolve("securityhub", "eu-west-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://env-hub:3", "AWS_ENDPOINT_URL_SECURITYHUB");
    setenv("AWS_ENDPOINT_URL_RESOURCE_GROUPS_TAGGING_API", "http://env-tag:4", 1);
    struct service tagging;
    CHECK(service_describe("resource-groups-tagging-api", &tagging, err, sizeof err) == 0, "%s", err);
    snprintf(tagging.endpoint_prefix, sizeof tagging.endpoint_prefix, "tagging");
    CHECK(endpoint_resolve(&tagging, "eu-west-1", &ov, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "http://env-tag:4", "'-' becomes '_' in the variable's name");
    clear_env();
    CHECK(endpoint_resolve(&tagging, "eu-west-1", NULL, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://tagging.eu-west-1.amazonaws.com", "the endpoint prefix names the host");
    CHECK(endpoint_resolve(svc("securityhub"), "cn-north-1", NULL, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://securityhub.cn-north-1.amazonaws.com.cn", "partition's DNS suffix");
    CHECK_STR(ep.signing_region, "cn-north-1", "regional signing");
    CHECK(endpoint_resolve(svc("account"), "eu-west-1", NULL, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://account.us-east-1.amazonaws.com", "account: one endpoint");
    CHECK_STR(ep.signing_region, "us-east-1", "account signs for us-east-1");
    CHECK(endpoint_resolve(svc("account"), "us-gov-west-1", NULL, &ep, err, sizeof err) == 0, "%s", err);
    CHECK_STR(ep.url, "https://account.us-gov-west-1.amazonaws.com", "no global entry: regional");
}

/* Service ids: the table's entries, the defaults of others, and what is no id. */
static void test_services(void)
{
    struct service s;
    char err[160];
    CHECK(service_describe("organizations", &s, err, sizeof err) == 0 && s.built_in &&
          s.protocol == AWS_JSON_1_1 && strcmp(s.target_prefix, "AWSOrganizationsV20161128") == 0,
          "organizations from the table");
    CHECK(service_describe("iam", &s, err, sizeof err) == 0 && s.protocol == AWS_QUERY &&
          strcmp(s.api_version, "2010-05-08") == 0, "iam from the table");
    CHECK(service_describe("sqs", &s, err, sizeof err) == 0 && !s.built_in && !s.global &&
          strcmp(s.signing_name, "sqs") == 0 && strcmp(s.endpoint_prefix, "sqs") == 0,
          "an unlisted service gets the defaults");
    static const char *const bad[] = {"", "IAM", "9lives", "ec2 ", "a_b", "-x",
        "a-service-id-that-is-longer-than-forty-seven-bytes"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        CHECK(service_describe(bad[i], &s, err, sizeof err) == -1, "'%s' refused", bad[i]);
        CHECK(strstr(err, "service id") != NULL, "%s", err);
    }
    CHECK(service_describe(NULL, &s, err, sizeof err) == -1, "NULL refused");
    char suffix[SERVICE_ID_MAX];
    service_env_suffix("resource-groups-tagging-api", suffix, sizeof suffix);
    CHECK_STR(suffix, "RESOURCE_GROUPS_TAGGING_API", "env suffix");
    service_env_suffix("securityhub", suffix, 4);
    CHECK_STR(suffix, "SEC", "env suffix cut to fit");
    CHECK_STR(service_protocol_name(AWS_REST_JSON), "rest-json", "protocol name");
}

struct url_case {
    const char *in;
    const char *want; /* NULL: refused */
    const char *reason; /* a word the error must contain */
};

static const struct url_case s_urls[] = {
    {"http://localhost:4566", "http://localhost:4566", NULL},
    {"http://localhost:4566/", "http://localhost:4566", NULL},
    {"https://example.com", "https://example.com", NULL},
    {"HTTPS://Example.com:443/", "https://Example.com:443", NULL},
    {"http://127.0.0.1:9000", "http://127.0.0.1:9000", NULL},
    {"http://[::1]:4566/", "http://[::1]:4566", NULL},
    {"http://[fd00:ec2::23]", "http://[fd00:ec2::23]", NULL},
    {"http://host_name.internal:1", "http://host_name.internal:1", NULL},
    {"http://proxy/aws/", "http://proxy/aws", NULL},
    {"http://proxy/aws", "http://proxy/aws", NULL},
    {"http://h:65535", "http://h:65535", NULL},
    {"http://h:1", "http://h:1", NULL},
    /* dot segments: curl removes them, S3 signs the path as given */
    {"http://host/./", NULL, "path segment"},
    {"http://host/.", NULL, "path segment"},
    {"http://host/a/../b", NULL, "path segment"},
    {"http://host/..", NULL, "path segment"},
    {"http://host/a/./b/", NULL, "path segment"},
    {"http://host/.a/b.", "http://host/.a/b.", NULL},
    {"http://host/.../a..b", "http://host/.../a..b", NULL},
    {"http://host/%2E/", "http://host/%2E", NULL},
    {"ftp://example.com", NULL, "scheme"},
    {"localhost:4566", NULL, "scheme"},
    {"example.com", NULL, "scheme"},
    {"", NULL, NULL}, /* empty is unset, never refused: handled separately */
    {"http://", NULL, "host"},
    {"http:///path", NULL, "host"},
    {"http://:4566", NULL, "host"},
    {"http://h?x=1", NULL, "query"},
    {"http://h/#frag", NULL, "fragment"},
    {"http://h/p?", NULL, "query"},
    {"http://h:0", NULL, "port"},
    {"http://h:65536", NULL, "port"},
    {"http://h:123456", NULL, "port"},
    {"http://h:", NULL, "port"},
    {"http://h:ab", NULL, "port"},
    {"http://[::1", NULL, "IPv6"},
    {"http://[]:1", NULL, "IPv6"},
    {"http://[::1]x", NULL, "after the host"},
    {"http://h st", NULL, "whitespace"},
    {"http://h\n", NULL, "whitespace"},
    {" http://h", NULL, "whitespace"},
    {"http://ho$t", NULL, "host"},
    {"http://h//", NULL, "slash"},
};

static void test_url_validation(void)
{
    struct endpoint ep;
    char err[512];
    struct endpoint_overrides http_ok;
    memset(&http_ok, 0, sizeof http_ok);
    http_ok.allow_http = true; /* URL syntax here; plain HTTP has its own test */

    clear_env();
    for (size_t i = 0; i < sizeof s_urls / sizeof s_urls[0]; i++) {
        const struct url_case *c = &s_urls[i];
        if (!*c->in)
            continue;
        setenv("AWS_ENDPOINT_URL_SNS", c->in, 1);
        memset(&ep, 0x5a, sizeof ep);
        err[0] = '\0';
        int rc = endpoint_resolve(svc("sns"), "us-east-1", &http_ok, &ep, err, sizeof err);
        if (c->want) {
            CHECK(rc == 0, "\"%s\": %s", c->in, err);
            if (rc == 0)
                CHECK_STR(ep.url, c->want, c->in);
        } else {
            CHECK(rc == -1, "\"%s\" refused", c->in);
            CHECK(strstr(err, "AWS_ENDPOINT_URL_SNS") != NULL, "names the variable: %s", err);
            CHECK(strstr(err, c->reason) != NULL, "\"%s\": says %s: %s", c->in, c->reason,
                  err);
            CHECK(((unsigned char *)&ep)[0] == 0x5a, "out untouched on error");
        }
    }

    /* user information is refused and never echoed */
    setenv("AWS_ENDPOINT_URL_SNS", "https://user:hunter2secret@example.com", 1);
    CHECK(endpoint_resolve(svc("sns"), "us-east-1", NULL, &ep, err, sizeof err) == -1, "userinfo");
    CHECK(strstr(err, "hunter2secret") == NULL, "password not echoed: %s", err);
    CHECK(strstr(err, "user") != NULL, "says why: %s", err);
    setenv("AWS_ENDPOINT_URL_SNS", "ftp://user:hunter2secret@example.com", 1);
    CHECK(endpoint_resolve(svc("sns"), "us-east-1", NULL, &ep, err, sizeof err) == -1, "userinfo");
    CHECK(strstr(err, "hunter2secret") == NULL, "password not echoed: %s", err);

    /* too long for the struct */
    char longurl[700];
    strcpy(longurl, "https://");
    memset(longurl + 8, 'a', 600);
    strcpy(longurl + 608, ".com");
    setenv("AWS_ENDPOINT_URL_SNS", longurl, 1);
    CHECK(endpoint_resolve(svc("sns"), "us-east-1", NULL, &ep, err, sizeof err) == -1, "too long");
    CHECK(strstr(err, "too long") != NULL, "%s", err);
    unsetenv("AWS_ENDPOINT_URL_SNS");

    /* each source is named in its error */
    struct endpoint_overrides ov;
    memset(&ov, 0, sizeof ov);
    setenv("AWS_ENDPOINT_URL", "nope", 1);
    CHECK(endpoint_resolve(svc("sts"), "us-east-1", &ov, &ep, err, sizeof err) == -1, "env global");
    CHECK(strstr(err, "AWS_ENDPOINT_URL:") != NULL, "%s", err);
    unsetenv("AWS_ENDPOINT_URL");
    ov.global = "nope";
    CHECK(endpoint_resolve(svc("sts"), "us-east-1", &ov, &ep, err, sizeof err) == -1, "cfg global");
    CHECK(strstr(err, "[endpoints] url") != NULL, "%s", err);
    const struct endpoint_url bad_sts = {"sts", "http://h?q"};
    ov.service_urls = &bad_sts;
    ov.n_service_urls = 1;
    CHECK(endpoint_resolve(svc("sts"), "us-east-1", &ov, &ep, err, sizeof err) == -1, "cfg sts");
    CHECK(strstr(err, "[endpoints] sts") != NULL, "%s", err);
    CHECK(strstr(err, "query") != NULL, "%s", err);
}

static void check_s3(const struct endpoint *ep, const char *bucket, const char *key,
                     const char *want)
{
    struct buf b = BUF_INIT;
    int rc = endpoint_s3_object_url(ep, bucket, key, &b);
    CHECK(rc == 0, "s3 url %s/%s", bucket, key);
    CHECK_STR(b.data, want, key);
    buf_free(&b);
}

static void test_s3_urls(void)
{
    struct endpoint ep, cn, custom;
    char err[256];

    clear_env();
    CHECK(endpoint_resolve(svc("s3"), "us-west-2", NULL, &ep, err, sizeof err) == 0, "%s", err);
    CHECK(endpoint_resolve(svc("s3"), "cn-north-1", NULL, &cn, err, sizeof err) == 0, "%s", err);
    setenv("AWS_ENDPOINT_URL_S3", "http://localhost:4566/", 1);
    CHECK(endpoint_resolve(svc("s3"), "us-west-2", NULL, &custom, err, sizeof err) == 0, "%s", err);
    unsetenv("AWS_ENDPOINT_URL_S3");

    /* virtual-hosted */
    check_s3(&ep, "my-bucket", "report.csv",
             "https://my-bucket.s3.us-west-2.amazonaws.com/report.csv");
    check_s3(&ep, "abc", "k", "https://abc.s3.us-west-2.amazonaws.com/k");
    check_s3(&ep, "123", "k", "https://123.s3.us-west-2.amazonaws.com/k");
    check_s3(&cn, "reports", "k", "https://reports.s3.cn-north-1.amazonaws.com.cn/k");
    char b63[64];
    memset(b63, 'b', 63);
    b63[63] = '\0';
    {
        char want[256];
        snprintf(want, sizeof want, "https://%s.s3.us-west-2.amazonaws.com/k", b63);
        check_s3(&ep, b63, "k", want);
    }

    /* path-style */
    check_s3(&ep, "my.bucket", "k", "https://s3.us-west-2.amazonaws.com/my.bucket/k");
    check_s3(&ep, "192.168.1.1", "k", "https://s3.us-west-2.amazonaws.com/192.168.1.1/k");
    check_s3(&ep, "MyBucket", "k", "https://s3.us-west-2.amazonaws.com/MyBucket/k");
    check_s3(&ep, "ab", "k", "https://s3.us-west-2.amazonaws.com/ab/k");
    check_s3(&ep, "-abc", "k", "https://s3.us-west-2.amazonaws.com/-abc/k");
    check_s3(&ep, "abc-", "k", "https://s3.us-west-2.amazonaws.com/abc-/k");
    check_s3(&ep, "my_bucket", "k", "https://s3.us-west-2.amazonaws.com/my_bucket/k");
    check_s3(&ep, "a b", "k", "https://s3.us-west-2.amazonaws.com/a%20b/k");
    char b64[65];
    memset(b64, 'b', 64);
    b64[64] = '\0';
    {
        char want[256];
        snprintf(want, sizeof want, "https://s3.us-west-2.amazonaws.com/%s/k", b64);
        check_s3(&ep, b64, "k", want);
    }
    check_s3(&custom, "my-bucket", "a/b.csv", "http://localhost:4566/my-bucket/a/b.csv");
    check_s3(&custom, "my.bucket", "k", "http://localhost:4566/my.bucket/k");

    /* key encoding, per segment */
    check_s3(&ep, "bkt", "reports/2024-01-02/cred report.csv",
             "https://bkt.s3.us-west-2.amazonaws.com/reports/2024-01-02/cred%20report.csv");
    check_s3(&ep, "bkt", "a+b=c&d?e#f%g",
             "https://bkt.s3.us-west-2.amazonaws.com/a%2Bb%3Dc%26d%3Fe%23f%25g");
    check_s3(&ep, "bkt", "~user_x-y.z", "https://bkt.s3.us-west-2.amazonaws.com/~user_x-y.z");
    check_s3(&ep, "bkt", "caf\xc3\xa9/\xe2\x82\xac",
             "https://bkt.s3.us-west-2.amazonaws.com/caf%C3%A9/%E2%82%AC");
    check_s3(&ep, "bkt", "a//b/", "https://bkt.s3.us-west-2.amazonaws.com/a//b/");
    check_s3(&ep, "bkt", "/lead", "https://bkt.s3.us-west-2.amazonaws.com//lead");
    check_s3(&ep, "bkt", "./x/../y/...",
             "https://bkt.s3.us-west-2.amazonaws.com/%2E/x/%2E%2E/y/...");
    check_s3(&ep, "bkt", ".hidden/..a", "https://bkt.s3.us-west-2.amazonaws.com/.hidden/..a");
    check_s3(&ep, "bkt", "..", "https://bkt.s3.us-west-2.amazonaws.com/%2E%2E");
    check_s3(&ep, "bkt", "a:b;c,d@e!f'g(h)*[i]",
             "https://bkt.s3.us-west-2.amazonaws.com/a%3Ab%3Bc%2Cd%40e%21f%27g%28h%29%2A%5Bi%5D");
    check_s3(&ep, "bkt", "", "https://bkt.s3.us-west-2.amazonaws.com/");
    check_s3(&custom, "b.k", "x y/z", "http://localhost:4566/b.k/x%20y/z");

    /* appends; bad arguments leave the buffer alone */
    struct buf b = BUF_INIT;
    CHECK(buf_puts(&b, "PUT ") == 0, "buf");
    CHECK(endpoint_s3_object_url(&ep, "bkt", "k", &b) == 0, "append");
    CHECK_STR(b.data, "PUT https://bkt.s3.us-west-2.amazonaws.com/k", "appended");
    size_t len = b.len;
    CHECK(endpoint_s3_object_url(&ep, "", "k", &b) == -1, "empty bucket");
    CHECK(endpoint_s3_object_url(&ep, NULL, "k", &b) == -1, "NULL bucket");
    CHECK(endpoint_s3_object_url(&ep, "bkt", NULL, &b) == -1, "NULL key");
    CHECK(endpoint_s3_object_url(NULL, "bkt", "k", &b) == -1, "NULL endpoint");
    CHECK(b.len == len, "unchanged");
    CHECK_STR(b.data, "PUT https://bkt.s3.us-west-2.amazonaws.com/k", "unchanged");
    buf_free(&b);
}

/* Plain HTTP only to this machine, unless allowed: signed requests must not cross a network
 * in clear. */
static void test_plain_http_needs_loopback(void)
{
    struct endpoint ep;
    char err[256];
    struct endpoint_overrides ov;
    clear_env();
    memset(&ov, 0, sizeof ov);
    static const char *local[] = {"http://localhost:4566", "http://127.0.0.1:9000/", "http://127.1.2.3",
                                  "http://[::1]:8080", "http://emu.localhost:1", "https://example.com"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++) {
        ov.global = local[i];
        CHECK(endpoint_resolve(svc("sts"), "us-east-1", &ov, &ep, err, sizeof err) == 0, "%s: %s", local[i], err);
    }
    static const char *remote[] = {"http://example.com", "http://10.0.0.1:80", "http://127.0.0.1.nip.io",
                                   "http://localhost.example.com", "http://[::2]:1", "http://127.0.0.1a"};
    for (size_t i = 0; i < sizeof remote / sizeof *remote; i++) {
        ov.global = remote[i];
        CHECK(endpoint_resolve(svc("sts"), "us-east-1", &ov, &ep, err, sizeof err) == -1, "%s refused", remote[i]);
        CHECK(strstr(err, "plain HTTP") && strstr(err, "allow_http"), "%s", err);
    }
    setenv("AWS_ENDPOINT_URL_STS", "http://proxy.internal:3128", 1);
    CHECK(endpoint_resolve(svc("sts"), "us-east-1", &ov, &ep, err, sizeof err) == -1 &&
              strstr(err, "AWS_ENDPOINT_URL_STS"), "the variable is named: %s", err);
    ov.allow_http = true;
    CHECK(endpoint_resolve(svc("sts"), "us-east-1", &ov, &ep, err, sizeof err) == 0, "allowed: %s", err);
    unsetenv("AWS_ENDPOINT_URL_STS");
}

int main(void)
{
    test_defaults();
    test_bad_inputs();
    test_overrides();
    test_plain_http_needs_loopback();
    test_url_validation();
    test_s3_urls();
    test_services();
    clear_env();
    return unit_report("test_endpoint");
}
