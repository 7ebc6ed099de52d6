/* config.ini: the sample file, every type and validator, file:line errors (all of them),
 * command-line overrides, quoting, inline comments, continuation lines, cross-field checks,
 * long values, missing files. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "config/config.h"
#include "unit.h"

static const char *write_file(const char *content)
{
    return unit_write_file("test_config", content);
}

/* The repository root, from this file's path as the compiler saw it. */
static void repo_path(char *out, size_t size, const char *rel)
{
    const char *me = __FILE__;
    const char *tail = strstr(me, "tests/unit/test_config.c");
    int n = tail ? (int)(tail - me) : 0;
    snprintf(out, size, "%.*s%s", n, me, rel);
}

/* Loads content into a fresh config; returns config_load's result, errors in *err. */
static int load_text(struct config *c, const char *content, struct buf *err, const char **path)
{
    const char *p = write_file(content);
    if (path)
        *path = p;
    buf_reset(err);
    CHECK(config_init(c) == 0, "config_init");
    return config_load(c, p, true, err);
}

/* The errors of loading content, with the temp path replaced by "F". */
static char *errors_of(const char *content)
{
    struct config c;
    struct buf err = BUF_INIT, out = BUF_INIT;
    const char *path;
    int rc = load_text(&c, content, &err, &path);
    CHECK(rc == -1, "want errors for:\n%s", content);
    size_t plen = strlen(path);
    for (const char *s = err.data ? err.data : ""; *s;) {
        if (strncmp(s, path, plen) == 0) {
            buf_putc(&out, 'F');
            s += plen;
        } else {
            buf_putc(&out, *s++);
        }
    }
    config_free(&c);
    buf_free(&err);
    char *r = buf_steal(&out);
    return r;
}

static void expect_file_errors(const char *content, const char *want)
{
    char *got = errors_of(content);
    CHECK_STR(got, want, content);
    free(got);
}

/* config_set on a fresh config must succeed with this normalized text. */
static void good(const char *sec, const char *key, const char *value, const char *want)
{
    struct config c;
    struct buf err = BUF_INIT;
    CHECK(config_init(&c) == 0, "config_init");
    int rc = config_set(&c, sec, key, value, "--x", &err);
    CHECK(rc == 0, "[%s] %s = '%.80s' should be accepted: %s", sec, key, value,
          err.data ? err.data : "");
    if (rc == 0) {
        const struct config_value *v = config_get(&c, sec, key);
        CHECK(v && v->set, "set");
        CHECK_STR(v ? v->text : NULL, want ? want : value, key);
        CHECK_STR(v ? v->origin : NULL, "--x", "origin");
    }
    config_free(&c);
    buf_free(&err);
}

/* config_set on a fresh config must fail with an error containing needle, and leave the
 * default in place. */
static void bad(const char *sec, const char *key, const char *value, const char *needle)
{
    struct config c;
    struct buf err = BUF_INIT;
    CHECK(config_init(&c) == 0, "config_init");
    const struct config_value *v = config_get(&c, sec, key);
    char *before = v ? strdup(v->text) : NULL;
    int rc = config_set(&c, sec, key, value, "--x", &err);
    CHECK(rc == -1, "[%s] %s = '%.80s' should be rejected", sec, key, value);
    CHECK(err.data && strstr(err.data, needle), "[%s] %s = '%.80s': error \"%s\" should contain "
          "\"%s\"", sec, key, value, err.data ? err.data : "", needle);
    if (v) {
        CHECK(!v->set && strcmp(v->origin, "default") == 0, "a bad value leaves it unset");
        CHECK_STR(v->text, before, "a bad value keeps the default");
    }
    free(before);
    config_free(&c);
    buf_free(&err);
}

/* ---- The sample ---- */

static void test_sample(void)
{
    char path[4096];
    struct config c, d;
    struct buf err = BUF_INIT;

    repo_path(path, sizeof path, "config.ini");
    CHECK(config_init(&d) == 0, "init");
    CHECK(config_init(&c) == 0, "init");
    int rc = config_load(&c, path, true, &err);
    CHECK(rc == 0, "the sample %s loads: %s", path, err.data ? err.data : "");
    CHECK(config_validate(&c, &err) == 0, "the sample validates: %s", err.data ? err.data : "");
    CHECK(c.n == d.n, "same size");
    for (size_t i = 0; i < c.n && i < d.n; i++) {
        CHECK_STR(c.values[i].text, d.values[i].text, c.values[i].key);
        CHECK(!c.values[i].set, "%s is left at its default in the sample", c.values[i].key);
    }
    CHECK(c.path && strcmp(c.path, path) == 0, "path kept");
    config_free(&c);

    /* With every ";key = value" line uncommented, the sample still gives exactly the
     * defaults: so each setting is listed once, in its section, with its true default. */
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "open sample");
    struct buf text = BUF_INIT;
    char line[1024];
    int uncommented = 0;
    while (f && fgets(line, sizeof line, f)) {
        const char *l = line;
        if (line[0] == ';' && line[1] >= 'a' && line[1] <= 'z' && strstr(line, " =")) {
            l = line + 1;
            uncommented++;
        }
        buf_puts(&text, l);
    }
    if (f)
        fclose(f);
    CHECK(uncommented == (int)d.n, "the sample lists %d settings, the schema has %zu",
          uncommented, d.n);
    rc = load_text(&c, text.data ? text.data : "", &err, NULL);
    CHECK(rc == 0, "the uncommented sample loads: %s", err.data ? err.data : "");
    for (size_t i = 0; i < c.n && i < d.n; i++) {
        CHECK(c.values[i].set, "[%s] %s is in the sample", c.values[i].section, c.values[i].key);
        CHECK_STR(c.values[i].text, d.values[i].text, c.values[i].key);
    }
    config_free(&c);
    config_free(&d);
    buf_free(&text);
    buf_free(&err);
}

static void test_defaults(void)
{
    struct config c;
    CHECK(config_init(&c) == 0, "init");
    CHECK_STR(config_str(&c, "aws", "region"), "", "region");
    CHECK(config_num(&c, "aws", "connect_timeout") == 10, "connect_timeout");
    CHECK(config_num(&c, "aws", "request_timeout") == 120, "request_timeout");
    CHECK(config_int(&c, "aws", "max_attempts") == 5, "max_attempts");
    CHECK_STR(config_str(&c, "accounts", "states"), "ACTIVE", "states");
    CHECK_STR(config_str(&c, "accounts", "role_name"), "OrganizationAccountAccessRole", "role");
    CHECK_STR(config_str(&c, "accounts", "session_name"), "credreport", "session");
    CHECK(config_int(&c, "accounts", "role_duration") == 3600, "duration");
    CHECK_STR(config_str(&c, "accounts", "management_account"), "self", "mgmt");
    CHECK(config_int(&c, "report", "retry_limit") == 90, "retry_limit");
    CHECK(config_num(&c, "report", "wait_interval") == 1, "wait_interval");
    CHECK(config_num(&c, "report", "wait_growth") == 1.1, "wait_growth");
    CHECK_STR(config_str(&c, "report", "wait_growth"), "1.1", "wait_growth normalized");
    CHECK(config_num(&c, "report", "max_wait") == 30, "max_wait");
    CHECK_STR(config_str(&c, "report", "retry_on"),
              "LimitExceeded,ReportInProgress,ReportNotPresent,ReportExpired", "retry_on");
    CHECK(config_int(&c, "run", "concurrency") == 10000, "concurrency");
    CHECK(config_int(&c, "aws", "max_connections") == 144, "max_connections");
    CHECK(config_int(&c, "aws", "max_pages") == 10000, "max_pages");
    CHECK(!config_bool(&c, "endpoints", "allow_http"), "allow_http");
    CHECK(config_num(&c, "run", "discovery_timeout") == 600, "discovery_timeout");
    CHECK(config_int(&c, "run", "account_attempts") == 3, "account_attempts");
    CHECK(config_num(&c, "run", "account_retry_delay") == 60, "account_retry_delay");
    CHECK(config_int(&c, "run", "threads") == 0, "threads");
    CHECK(!config_bool(&c, "run", "dry_run"), "dry_run");
    CHECK_STR(config_str(&c, "output", "destination"), "./reports", "destination");
    CHECK_STR(config_str(&c, "output", "key_template"), "{date}/credentialReport_{account}.csv",
              "key_template");
    CHECK_STR(config_str(&c, "output", "sse"), "none", "sse");
    CHECK(!config_bool(&c, "output", "bucket_key"), "bucket_key");
    CHECK_STR(config_str(&c, "output", "acl"), "none", "acl");
    CHECK_STR(config_str(&c, "output", "checksum"), "sha256", "checksum");
    CHECK(config_bool(&c, "output", "summary_page"), "summary_page");
    CHECK(!config_bool(&c, "output", "consolidated_csv"), "consolidated_csv");
    CHECK_STR(config_str(&c, "output", "dataset"), "", "dataset");
    CHECK(config_bool(&c, "findings", "enabled"), "findings enabled");
    CHECK(config_int(&c, "findings", "root_used_days") == 30, "root_used_days");
    CHECK(config_int(&c, "findings", "unused_days") == 45, "unused_days");
    CHECK(config_int(&c, "findings", "rotation_days") == 90, "rotation_days");
    CHECK_STR(config_str(&c, "findings", "root_access_key"), "critical", "root_access_key");
    CHECK_STR(config_str(&c, "findings", "key_unused_since_creation"), "low", "unused key");
    CHECK_STR(config_str(&c, "findings", "notify"), "", "notify");
    CHECK_STR(config_str(&c, "notify", "subject"), "credreport: account {account} failed", "s");
    CHECK_STR(config_str(&c, "notify", "on"), "failure", "on");
    CHECK_STR(config_str(&c, "log", "level"), "info", "level");
    CHECK_STR(config_str(&c, "log", "format"), "text", "format");
    for (size_t i = 0; i < c.n; i++) {
        CHECK(!c.values[i].set && strcmp(c.values[i].origin, "default") == 0, "default origin");
        CHECK(c.values[i].text != NULL, "text never NULL");
    }
    const struct config_value *v = config_get(&c, "RUN", "Concurrency");
    CHECK(v && v->type == CFG_INT && strcmp(v->section, "run") == 0, "case-insensitive get");
    CHECK(config_get(&c, "run", "nope") == NULL, "unknown key");
    CHECK(config_get(&c, "nope", "concurrency") == NULL, "unknown section");
    CHECK_STR(config_str(&c, "run", "nope"), "", "unknown str");
    CHECK(config_int(&c, "run", "nope") == 0 && config_num(&c, "x", "y") == 0 &&
          !config_bool(&c, "x", "y"), "unknown typed");
    CHECK(config_validate(&c, NULL) == 0, "defaults validate");
    CHECK(c.path == NULL, "no path");
    config_free(&c);
    config_free(&c); /* twice is safe */
}

/* ---- Types ---- */

static void test_types(void)
{
    /* int */
    good("run", "concurrency", "1", "1");
    good("run", "concurrency", "100000", NULL);
    good("run", "concurrency", "+20", "20");
    good("run", "concurrency", "007", "7");
    bad("run", "concurrency", "many",
        "--x: [run] concurrency: expected a whole number from 1 to 100000, got 'many'");
    bad("run", "concurrency", "0", "got '0'");
    bad("run", "concurrency", "100001", "got '100001'");
    bad("run", "concurrency", "-1", "expected a whole number");
    bad("run", "concurrency", "5.0", "expected a whole number");
    bad("run", "concurrency", "", "got ''");
    bad("run", "concurrency", " 5", "expected a whole number");
    bad("run", "concurrency", "99999999999999999999999", "expected a whole number");
    bad("run", "concurrency", "0x10", "expected a whole number");

    /* number */
    good("aws", "connect_timeout", "2.50", "2.5");
    good("aws", "connect_timeout", "1e1", "10");
    good("aws", "connect_timeout", ".5", "0.5");
    good("aws", "connect_timeout", "0.1", "0.1");
    good("aws", "connect_timeout", "3600", "3600");
    /* seconds become milliseconds in a long: timeouts have maxima, 1e300 no longer overflows */
    bad("aws", "connect_timeout", "3601",
        "[aws] connect_timeout: expected a number of seconds above 0 and up to 3600, got '3601'");
    bad("aws", "request_timeout", "1e300", "above 0 and up to 86400, got '1e300'");
    good("aws", "request_timeout", "86400", "86400");
    bad("report", "max_wait", "1e19", "above 0 and up to 3600");
    bad("aws", "connect_timeout", "0",
        "[aws] connect_timeout: expected a number of seconds above 0 and up to 3600, got '0'");
    bad("aws", "connect_timeout", "-3", "above 0 and up to 3600");
    bad("aws", "connect_timeout", "nan", "got 'nan'");
    bad("aws", "connect_timeout", "inf", "got 'inf'");
    bad("aws", "connect_timeout", "1e999", "got '1e999'");
    bad("aws", "connect_timeout", "0x10", "got '0x10'");
    bad("aws", "connect_timeout", "10s", "got '10s'");
    bad("aws", "connect_timeout", "", "got ''");

    /* bool */
    static const char *const yes[] = {"true", "TRUE", "yes", "Yes", "on", "ON", "1"};
    static const char *const no[] = {"false", "False", "no", "NO", "off", "Off", "0"};
    for (size_t i = 0; i < 7; i++) {
        good("run", "dry_run", yes[i], "true");
        good("run", "dry_run", no[i], "false");
    }
    bad("run", "dry_run", "maybe",
        "[run] dry_run: expected true or false (or yes/no, on/off, 1/0), got 'maybe'");
    bad("run", "dry_run", "", "got ''");
    bad("run", "dry_run", "2", "got '2'");

    /* list */
    good("report", "retry_on", " Throttling , ,LimitExceeded,", "Throttling,LimitExceeded");
    good("report", "retry_on", "", "");
    good("report", "retry_on", " , ", "");
    good("accounts", "include", "111111111111,\n 222222222222", "111111111111,222222222222");
    bad("report", "retry_on", "Throttling, bad code", "got 'bad code'");

    /* enum */
    good("output", "sse", "aes256", "AES256");
    good("output", "sse", "AWS:KMS", "aws:kms");
    good("accounts", "states", "active, Suspended ,CLOSED", "ACTIVE,SUSPENDED,CLOSED");
    bad("output", "sse", "kms", "[output] sse: expected one of none, AES256, aws:kms, got 'kms'");
    bad("output", "sse", "", "got ''");

    /* every type rejects line breaks outside lists */
    bad("aws", "profile", "a\nb", "only lists may continue on indented lines");
    bad("aws", "profile", "a\tb", "control characters");
    bad("log", "file", "x\x01y", "got 'x\\x01y'");
}

/* ---- Validators ---- */

static void test_validators(void)
{
    /* [aws] */
    good("aws", "region", "eu-west-1", NULL);
    good("aws", "region", "us-gov-west-1", NULL);
    good("aws", "region", "", NULL);
    bad("aws", "region", "EU-WEST-1", "expected an AWS region such as eu-west-1, got 'EU-WEST-1'");
    bad("aws", "region", "eu west 1", "expected an AWS region");
    bad("aws", "region", "eu_west_1", "expected an AWS region");
    good("aws", "profile", "prod-admin", NULL);
    bad("aws", "profile", "prod admin", "expected a profile name");
    bad("aws", "profile", "[prod]", "expected a profile name");
    good("aws", "ca_bundle", "", NULL);
    good("aws", "ca_bundle", write_file("-----BEGIN CERTIFICATE-----\n"), NULL);
    bad("aws", "ca_bundle", "/nonexistent/ca.pem",
        "[aws] ca_bundle: cannot read '/nonexistent/ca.pem': No such file or directory");
    bad("aws", "ca_bundle", "/tmp", "'/tmp' is not a file");
    if (geteuid() != 0) {
        const char *p = write_file("x");
        chmod(p, 0);
        bad("aws", "ca_bundle", p, "Permission denied");
    }
    good("aws", "request_timeout", "300", NULL);
    bad("aws", "request_timeout", "0", "above 0 and up to 86400");
    good("aws", "max_attempts", "1", NULL);
    good("aws", "max_attempts", "20", NULL);
    bad("aws", "max_attempts", "0", "from 1 to 20");
    bad("aws", "max_attempts", "21", "from 1 to 20");

    /* [endpoints] */
    static const char *const eps[] = {"url", "iam", "sts", "organizations", "s3", "sns"};
    for (size_t i = 0; i < 6; i++) {
        good("endpoints", eps[i], "https://localhost:4566", NULL);
        good("endpoints", eps[i], "", NULL);
        bad("endpoints", eps[i], "localhost:4566", "expected an http:// or https:// URL");
    }
    /* any other service a script calls has a key of its own */
    static const char *const others[] = {"securityhub", "account", "resource-groups-tagging-api"};
    for (size_t i = 0; i < 3; i++) {
        good("endpoints", others[i], "https://localhost:4566", NULL);
        bad("endpoints", others[i], "localhost:4566", "expected an http:// or https:// URL");
    }
    bad("endpoints", "not_a_service", "https://localhost:4566", "unknown setting");
    bad("endpoints", "9lives", "https://localhost:4566", "unknown setting");
    good("endpoints", "url", "http://127.0.0.1:8080/base/path", NULL);
    good("endpoints", "url", "HTTPS://iam.amazonaws.com", NULL);
    good("endpoints", "url", "http://[::1]:9000", NULL);
    good("endpoints", "url", "https://vpce-0a1b2c3d-x.sts.eu-west-1.vpce.amazonaws.com", NULL);
    bad("endpoints", "url", "http://host/./", "a path segment '.' or '..' is not allowed");
    bad("endpoints", "s3", "http://host/a/../", "a path segment '.' or '..' is not allowed");
    good("endpoints", "s3", "http://host/.a/b..", NULL);
    bad("endpoints", "url", "ftp://host", "expected an http");
    bad("endpoints", "url", "https://", "expected an http");
    bad("endpoints", "url", "https://host:0", "expected an http");
    bad("endpoints", "url", "https://host:99999", "expected an http");
    bad("endpoints", "url", "https://host:80x", "expected an http");
    bad("endpoints", "url", "https://ho st", "expected an http");
    bad("endpoints", "url", "https://host/a b", "expected an http");
    bad("endpoints", "url", "https://user:pw@host", "credentials in an endpoint URL");

    /* [accounts] */
    good("accounts", "ous", "ou-ab12-cdef3456, r-ab12", "ou-ab12-cdef3456,r-ab12");
    good("accounts", "ous", "ou-abcdefghijklmnopqrstuvwxyz012345-abcdefghijklmnopqrstuvwxyz012345",
         NULL);
    bad("accounts", "ous", "ou-ab1-cdef3456", "[accounts] ous: expected OU ids");
    bad("accounts", "ous", "ou-ab12-cdef345", "got 'ou-ab12-cdef345'");
    bad("accounts", "ous", "ou-AB12-cdef3456", "expected OU ids");
    bad("accounts", "ous", "r-ab1", "expected OU ids");
    bad("accounts", "ous", "r-ab12x-", "expected OU ids");
    bad("accounts", "ous", "ou-ab12-cdef3456-x", "expected OU ids");
    bad("accounts", "ous", "123456789012", "expected OU ids");
    good("accounts", "include", "123456789012", NULL);
    good("accounts", "exclude", "123456789012 , 000000000001", "123456789012,000000000001");
    bad("accounts", "include", "12345678901", "expected 12-digit account ids, got '12345678901'");
    bad("accounts", "exclude", "1234567890123", "expected 12-digit account ids");
    bad("accounts", "include", "12345678901a", "expected 12-digit account ids");
    good("accounts", "states", "PENDING_CLOSURE,pending_activation",
         "PENDING_CLOSURE,PENDING_ACTIVATION");
    bad("accounts", "states", "ACTIVE,GONE", "expected a list of ACTIVE, SUSPENDED, "
        "PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION, got 'GONE'");
    bad("accounts", "states", "", "expected at least one of ACTIVE");
    good("accounts", "tags", "env = prod, security-audit, cost:center=a/b+c@d.e, k=v=w",
         "env=prod,security-audit,cost:center=a/b+c@d.e,k=v=w");
    good("accounts", "tags", "owner=, Name=Team \xc3\xa9t\xc3\xa9", "owner=,Name=Team \xc3\xa9t\xc3\xa9");
    bad("accounts", "tags", "=prod", "expected tags as key=value");
    bad("accounts", "tags", "env=prod!", "got 'env=prod!'");
    char longkey[200];
    memset(longkey, 'k', 129);
    longkey[129] = '\0';
    bad("accounts", "tags", longkey, "a tag key has at most 128 characters");
    good("accounts", "role_name", "CredReportRole", NULL);
    good("accounts", "role_name", "security/audit/CredReport+Role=,.@-_1", NULL);
    good("accounts", "role_name", "/security/CredReport", "security/CredReport");
    bad("accounts", "role_name", "//security/CredReport", "role name");
    bad("accounts", "role_name", "", "got an empty value");
    bad("accounts", "role_name", "Cred Report", "expected an IAM role name");
    bad("accounts", "role_name", "security//CredReport", "expected an IAM role name");
    bad("accounts", "role_name", "security/", "expected an IAM role name");
    bad("accounts", "role_name", "arn:aws:iam::123456789012:role/x", "expected an IAM role name");
    char name65[70];
    memset(name65, 'r', 65);
    name65[65] = '\0';
    bad("accounts", "role_name", name65, "a role name has at most 64 characters, got 65");
    good("accounts", "external_id", "ab", NULL);
    good("accounts", "external_id", "Ext_id+=,.@:/-9", NULL);
    bad("accounts", "external_id", "a", "an external id has 2 to 1224 characters, got 1");
    bad("accounts", "external_id", "ext id", "expected 2 to 1224 characters");
    bad("accounts", "external_id", "ext#id", "expected 2 to 1224 characters");
    good("accounts", "session_name", "cr", NULL);
    good("accounts", "session_name", "credreport-nightly@ops.example", NULL);
    bad("accounts", "session_name", "c", "2 to 64 characters, got 1");
    bad("accounts", "session_name", "cred report", "expected 2 to 64 characters");
    bad("accounts", "session_name", "cred:report", "expected 2 to 64 characters");
    bad("accounts", "session_name", "", "got an empty value");
    good("accounts", "role_duration", "900", NULL);
    good("accounts", "role_duration", "43200", NULL);
    bad("accounts", "role_duration", "899", "from 900 to 43200");
    bad("accounts", "role_duration", "43201", "from 900 to 43200");
    good("accounts", "management_account", "Assume", "assume");
    good("accounts", "management_account", "skip", NULL);
    bad("accounts", "management_account", "ignore", "expected one of self, assume, skip");

    /* [report] */
    good("report", "retry_limit", "1000", NULL);
    bad("report", "retry_limit", "0", "from 1 to 1000");
    bad("report", "retry_limit", "1001", "from 1 to 1000");
    good("report", "wait_interval", "0", NULL);
    good("report", "wait_interval", "3600", NULL);
    good("report", "wait_interval", "0.25", NULL);
    bad("report", "wait_interval", "3601", "expected a number of seconds from 0 to 3600");
    bad("report", "wait_interval", "-1", "from 0 to 3600");
    good("report", "wait_growth", "1.0", "1");
    good("report", "wait_growth", "1.5", NULL);
    good("report", "wait_growth", "10", NULL);
    bad("report", "wait_growth", "0.9", "expected a number from 1.0 to 10.0, got '0.9'");
    bad("report", "wait_growth", "10.5", "from 1.0 to 10.0");
    good("report", "max_wait", "0.5", NULL);
    bad("report", "max_wait", "0", "above 0 and up to 3600");
    good("report", "retry_on", "Throttling,ServiceUnavailable,Foo.Bar_1", NULL);
    bad("report", "retry_on", "1Throttling", "expected AWS error codes");

    /* [run] */
    good("run", "threads", "0", NULL);
    good("run", "threads", "64", NULL);
    bad("run", "threads", "65", "from 0 to 64");
    bad("run", "threads", "-1", "from 0 to 64");

    /* [output] */
    good("output", "destination", "/var/lib/credreport/reports", NULL);
    good("output", "destination", "reports", NULL);
    good("output", "destination", "s3://my-audit-bucket", NULL);
    good("output", "destination", "s3://my-audit-bucket/", "s3://my-audit-bucket");
    good("output", "destination", "s3://my.audit-bucket1/credential-reports/org",
         NULL);
    good("output", "destination", "s3://abc/iam/reports//", "s3://abc/iam/reports");
    bad("output", "destination", "", "got an empty value");
    bad("output", "destination", "S3://bucket", "write the scheme in lowercase: s3://");
    bad("output", "destination", "https://bucket.s3.amazonaws.com/x", "no other URL scheme");
    bad("output", "destination", "s3://", "a bucket name has 3 to 63 characters, got 0");
    bad("output", "destination", "s3://ab", "3 to 63 characters, got 2");
    bad("output", "destination",
        "s3://a234567890123456789012345678901234567890123456789012345678901234",
        "3 to 63 characters, got 64");
    bad("output", "destination", "s3://My-Bucket", "only lowercase letters, digits");
    bad("output", "destination", "s3://my_bucket", "only lowercase letters, digits");
    bad("output", "destination", "s3://-bucket", "starts and ends with a letter or digit");
    bad("output", "destination", "s3://bucket-", "starts and ends with a letter or digit");
    bad("output", "destination", "s3://my..bucket", "no '..'");
    bad("output", "destination", "s3://my.-bucket", "no '..'");
    bad("output", "destination", "s3://192.168.5.4", "cannot look like an IP address");
    bad("output", "destination", "s3://xn--bucket", "cannot start with 'xn--'");
    bad("output", "destination", "s3://sthree-bucket", "cannot start with 'sthree-'");
    bad("output", "destination", "s3://bucket-s3alias", "cannot end with '-s3alias'");
    bad("output", "destination", "s3://bucket--ol-s3", "cannot end with '--ol-s3'");
    bad("output", "destination", "s3://bucket//x", "empty path segment");
    bad("output", "destination", "s3://bucket/a//x", "empty path segment");
    good("output", "key_template", "{account}.csv", NULL);
    good("output", "key_template",
         "{date}/{time}/{run_id}/{ou_path}/{account_name}-{account}.csv", NULL);
    bad("output", "key_template", "{date}/credentialReport.csv",
        "[output] key_template: must contain {account}, or the reports of different accounts "
        "would overwrite each other");
    bad("output", "key_template", "{date}/{acount}.csv", "unknown variable {acount} (known: ");
    bad("output", "key_template", "{account", "'{' without '}'");
    bad("output", "key_template", "{date{account}}", "'{' without '}'");
    bad("output", "key_template", "account}", "'}' without '{'");
    bad("output", "key_template", "/{account}.csv", "must be a relative path");
    bad("output", "key_template", "{account}/", "must be a relative path");
    bad("output", "key_template", "a//{account}", "must be a relative path");
    bad("output", "key_template", "../{account}.csv", "'.' or '..' segments");
    bad("output", "key_template", "a/./{account}.csv", "'.' or '..' segments");
    bad("output", "key_template", "a\\{account}.csv", "must not contain '\\'");
    bad("output", "key_template", "", "got an empty value");
    good("output", "dataset", "dataset", NULL);
    good("output", "dataset", "athena/credential_reports", NULL);
    good("output", "dataset", "", NULL);
    bad("output", "dataset", "data/{date}", "takes no {variables}");
    bad("output", "dataset", "/dataset", "must be a relative path");
    bad("output", "dataset", "../dataset", "'.' or '..' segments");
    good("output", "summary_page", "no", "false");
    good("output", "consolidated_csv", "yes", "true");
    good("findings", "enabled", "false", NULL);
    good("findings", "rotation_days", "30", NULL);
    bad("findings", "rotation_days", "0", "[findings] rotation_days: expected a whole number from 1 to "
        "3650");
    bad("findings", "unused_days", "45d", "expected a whole number");
    good("findings", "root_access_key", "HIGH", "high");
    good("findings", "key_not_rotated", "off", NULL);
    bad("findings", "root_no_mfa", "urgent", "[findings] root_no_mfa: expected one of critical, "
        "high, medium, low, info, off, got 'urgent'");
    good("findings", "notify", "critical, High", "critical,high");
    bad("findings", "notify", "critical, off", "off");
    good("output", "sse", "none", NULL);
    good("output", "sse", "AES256", NULL);
    good("output", "sse", "aws:kms", NULL);
    good("output", "kms_key_id", "1234abcd-12ab-34cd-56ef-1234567890ab", NULL);
    good("output", "kms_key_id", "mrk-1234abcd12ab34cd56ef1234567890ab", NULL);
    good("output", "kms_key_id", "alias/credreport", NULL);
    good("output", "kms_key_id",
         "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab", NULL);
    good("output", "kms_key_id", "arn:aws-us-gov:kms:us-gov-west-1:123456789012:alias/reports",
         NULL);
    bad("output", "kms_key_id", "1234abcd", "expected a KMS key id, key ARN, alias/name or alias "
        "ARN, got '1234abcd'");
    bad("output", "kms_key_id", "arn:aws:s3:::bucket", "expected a KMS key id");
    bad("output", "kms_key_id", "arn:aws:kms:eu-west-1:12345:key/x", "expected a KMS key id");
    bad("output", "kms_key_id", "alias/", "expected a KMS key id");
    good("output", "bucket_key", "yes", "true");
    good("output", "expected_bucket_owner", "123456789012", NULL);
    good("output", "expected_bucket_owner", "", NULL);
    bad("output", "expected_bucket_owner", "12345678901",
        "[output] expected_bucket_owner: expected a 12-digit account id, got '12345678901'");
    bad("output", "expected_bucket_owner", "abcdefghijkl", "expected a 12-digit account id");
    good("output", "acl", "bucket-owner-full-control", NULL);
    bad("output", "acl", "private", "expected one of none, bucket-owner-full-control");
    good("output", "region", "eu-central-1", NULL);
    bad("output", "region", "Frankfurt", "expected an AWS region");
    good("output", "checksum", "MD5", "md5");
    good("output", "checksum", "none", NULL);
    bad("output", "checksum", "crc32", "expected one of sha256, md5, none");

    /* [notify] */
    good("notify", "sns_topic_arn", "arn:aws:sns:eu-west-1:123456789012:credreport-alerts", NULL);
    good("notify", "sns_topic_arn", "arn:aws-cn:sns:cn-north-1:123456789012:t_1", NULL);
    bad("notify", "sns_topic_arn", "arn:aws:sns:eu-west-1:12345678901:t", "expected an SNS topic ARN");
    bad("notify", "sns_topic_arn", "arn:aws:sqs:eu-west-1:123456789012:t", "expected an SNS topic ARN");
    bad("notify", "sns_topic_arn", "arn:aws:sns::123456789012:t", "expected an SNS topic ARN");
    bad("notify", "sns_topic_arn", "arn:aws:sns:eu-west-1:123456789012:", "expected an SNS topic");
    bad("notify", "sns_topic_arn", "arn:aws:sns:eu-west-1:123456789012:a.b", "expected an SNS");
    bad("notify", "sns_topic_arn", "credreport-alerts", "expected an SNS topic ARN");
    good("notify", "subject", "[prod] credreport: {count} failed!", NULL);
    good("notify", "subject", "", NULL);
    char subj[120];
    memset(subj, 's', 99);
    subj[99] = '\0';
    good("notify", "subject", subj, NULL);
    subj[99] = 's';
    subj[100] = '\0';
    bad("notify", "subject", subj, "an SNS subject has at most 99 characters, got 100");
    bad("notify", "subject", "caf\xc3\xa9", "printable ASCII on one line");
    bad("notify", "subject", "two\nlines", "only lists may continue");
    bad("notify", "subject", " leading", "expected an SNS subject");
    good("notify", "on", "ALWAYS", "always");
    good("notify", "on", "never", NULL);
    bad("notify", "on", "sometimes", "expected one of failure, always, never");

    /* [log] */
    good("log", "level", "Debug", "debug");
    good("log", "level", "warn", NULL);
    good("log", "level", "error", NULL);
    bad("log", "level", "warning", "expected one of debug, info, warn, error");
    good("log", "format", "json", NULL);
    bad("log", "format", "yaml", "expected one of text, json");
    good("log", "file", "/var/log/credreport.log", NULL);
}

/* ---- Files: errors with FILE:LINE ---- */

static void test_file_errors(void)
{
    expect_file_errors("[aws]\nregoin = eu-west-1\n",
                       "F:2: unknown key 'regoin' in [aws] (did you mean 'region'?)");
    expect_file_errors("# comment\n\n[run]\nconcurrency = many\n",
                       "F:4: [run] concurrency: expected a whole number from 1 to 100000, got "
                       "'many'");
    expect_file_errors("[awz]\nregion = x\nfoo = bar\n[run]\nthreads = 2\n",
                       "F:1: unknown section [awz] (did you mean [aws]?)");
    expect_file_errors("[general]\n",
                       "F:1: unknown section [general] (known sections: [aws] [endpoints] "
                       "[accounts] [report] [run] [output] [findings] [notify] [log])");
    expect_file_errors("[aws]\nconcurrency = 5\n",
                       "F:2: unknown key 'concurrency' in [aws] (it belongs in [run])");
    expect_file_errors("[run]\nfrobnicate = 5\n", "F:2: unknown key 'frobnicate' in [run]");
    expect_file_errors("region = eu-west-1\n[aws]\n",
                       "F:1: 'region' is outside any [section] (it belongs in [aws])");
    expect_file_errors("[run]\nthreads = 1\nthreads = 2\n",
                       "F:3: [run] threads is set twice (first on line 2)");
    expect_file_errors("[endpoints]\nsecurityhub = https://a\nSecurityHub = https://b\n"
                       "sqs = nope\n",
                       "F:3: [endpoints] securityhub is set twice (first on line 2)\n"
                       "F:4: [endpoints] sqs: expected an http:// or https:// URL such as "
                       "https://localhost:4566, got 'nope'");
    expect_file_errors("[run]\njust some words\n",
                       "F:2: expected 'key = value' or '[section]', got 'just some words'");
    expect_file_errors("[run]\n= 5\n", "F:2: missing the key name before '='");
    expect_file_errors("[run]\nthis line is far too long to be shown whole in an error message, "
                       "so it is cut\n",
                       "F:2: expected 'key = value' or '[section]', got 'this line is far too "
                       "long to be shown whole in an error mess...'");
    expect_file_errors("[run\nthreads = 1\n", "F:1: missing ']' in the section header");
    expect_file_errors("[run] threads = 1\n", "F:1: text after the section header");
    expect_file_errors("[notify]\nsubject = \"unterminated\n",
                       "F:2: subject: missing closing '\"'");
    expect_file_errors("[notify]\nsubject = \"a\" b\n",
                       "F:2: subject: text after the closing '\"' (quote the whole value)");
    /* a NUL byte */
    {
        static const char nul[] = "[run]\nthreads = 1\0x\nconcurrency = 0\n";
        char tmpl[] = "/tmp/test_config.XXXXXX";
        int fd = mkstemp(tmpl);
        CHECK(fd >= 0 && write(fd, nul, sizeof nul - 1) == sizeof nul - 1, "w");
        if (fd >= 0)
            close(fd);
        struct config c;
        struct buf err = BUF_INIT, want = BUF_INIT;
        CHECK(config_init(&c) == 0, "init");
        CHECK(config_load(&c, tmpl, true, &err) == -1, "NUL");
        buf_printf(&want, "%s:2: NUL byte in the line\n%s:3: [run] concurrency: expected a whole "
                   "number from 1 to 100000, got '0'", tmpl, tmpl);
        CHECK_STR(err.data, want.data, "NUL");
        unlink(tmpl);
        config_free(&c);
        buf_free(&err);
        buf_free(&want);
    }
    /* a non-list value continued on an indented line */
    expect_file_errors("[aws]\nregion = eu-west-1\n  profile = x\n",
                       "F:2: [aws] region: only lists may continue on indented lines");

    /* all errors, in file order, not just the first */
    expect_file_errors("[aws]\n"                          /* 1 */
                       "regoin = eu-west-1\n"             /* 2 */
                       "max_attempts = 0\n"               /* 3 */
                       "\n"                               /* 4 */
                       "[runn]\n"                         /* 5 */
                       "concurrency = 5\n"                /* 6: ignored, section unknown */
                       "[run]\n"                          /* 7 */
                       "concurrency = many\n"             /* 8 */
                       "dry_run = perhaps ; comment\n"    /* 9 */
                       "garbage\n"                        /* 10 */
                       "[output]\n"                       /* 11 */
                       "key_template = {date}.csv\n"      /* 12 */
                       "sse = aws:kms\n",                 /* 13 */
                       "F:2: unknown key 'regoin' in [aws] (did you mean 'region'?)\n"
                       "F:3: [aws] max_attempts: expected a whole number from 1 to 20, got '0'\n"
                       "F:5: unknown section [runn] (did you mean [run]?)\n"
                       "F:8: [run] concurrency: expected a whole number from 1 to 100000, got "
                       "'many'\n"
                       "F:9: [run] dry_run: expected true or false (or yes/no, on/off, 1/0), "
                       "got 'perhaps'\n"
                       "F:10: expected 'key = value' or '[section]', got 'garbage'\n"
                       "F:12: [output] key_template: must contain {account}, or the reports of "
                       "different accounts would overwrite each other");

    /* values with errors keep their previous value; good ones on other lines still load */
    struct config c;
    struct buf err = BUF_INIT;
    int rc = load_text(&c, "[run]\nconcurrency = 7\nthreads = 99\n", &err, NULL);
    CHECK(rc == -1, "errors");
    CHECK(config_int(&c, "run", "concurrency") == 7, "good value loaded");
    CHECK(config_int(&c, "run", "threads") == 0, "bad value not stored");
    config_free(&c);
    buf_free(&err);
}

/* ---- Files: syntax ---- */

static void test_file_syntax(void)
{
    struct config c;
    struct buf err = BUF_INIT;
    const char *path;
    char origin[300];

    int rc = load_text(&c,
                       "\xEF\xBB\xBF# BOM, CRLF, comments, quotes, case\r\n"
                       "[AWS]\r\n"
                       "Region = eu-west-1 ; Ireland\r\n"
                       "profile: audit   # inline '#' comment\r\n"
                       "\t; an indented comment\r\n"
                       "[notify]\n"
                       "subject = \"credreport ; {count} # failed\"  # the '#' and ';' stay\n"
                       "sns_topic_arn = \"arn:aws:sns:eu-west-1:123456789012:t\";comment\n"
                       "on=always\n"
                       "[accounts]\n"
                       "  role_name = Audit#Role\n" /* '#' not after a blank: not a comment */
                       "external_id = \"\"\n"
                       "include = 111111111111,  # first\n"
                       "          222222222222,\n"
                       "   ; a comment inside the list\n"
                       "          333333333333   ; third\n"
                       "\n"
                       "exclude = ;nothing\n"
                       "[log]\n"
                       "file = #not-a-comment\n",
                       &err, &path);
    /* role_name with '#' is invalid: exactly one error, on line 11 */
    CHECK(rc == -1, "one error expected");
    snprintf(origin, sizeof origin, "%s:11: [accounts] role_name: expected an IAM role name", path);
    CHECK(err.data && strncmp(err.data, origin, strlen(origin)) == 0 && !strchr(err.data, '\n'),
          "errors: %s", err.data ? err.data : "");
    CHECK_STR(config_str(&c, "aws", "region"), "eu-west-1", "inline ';' comment");
    CHECK_STR(config_str(&c, "aws", "profile"), "audit", "inline '#' comment, ':' delimiter");
    CHECK_STR(config_str(&c, "notify", "subject"), "credreport ; {count} # failed", "quoted");
    CHECK_STR(config_str(&c, "notify", "sns_topic_arn"), "arn:aws:sns:eu-west-1:123456789012:t",
              "quoted then comment");
    CHECK_STR(config_str(&c, "notify", "on"), "always", "no spaces");
    CHECK_STR(config_str(&c, "accounts", "include"), "111111111111,222222222222,333333333333",
              "continuation lines");
    CHECK(config_get(&c, "accounts", "external_id")->set, "\"\" sets an empty value");
    CHECK_STR(config_str(&c, "accounts", "external_id"), "", "empty quoted");
    CHECK_STR(config_str(&c, "accounts", "exclude"), "", "';' right after '= '");
    CHECK_STR(config_str(&c, "log", "file"), "", "'#' right after '= ' is a comment");
    snprintf(origin, sizeof origin, "%s:3", path);
    CHECK_STR(config_get(&c, "aws", "region")->origin, origin, "origin has the line");
    snprintf(origin, sizeof origin, "%s:13", path);
    CHECK_STR(config_get(&c, "accounts", "include")->origin, origin, "origin of a continued list");
    config_free(&c);

    /* Line numbers stay right after continuations and long lines. */
    struct buf big = BUF_INIT;
    buf_puts(&big, "[accounts]\ninclude = 111111111111,\n  222222222222\n");
    buf_puts(&big, "external_id = ");
    for (int i = 0; i < 300; i++)
        buf_putc(&big, 'x');
    buf_puts(&big, "\nrole_duration = 5\n");
    char *e = errors_of(big.data);
    CHECK_STR(e, "F:5: [accounts] role_duration: expected a whole number from 900 to 43200, got "
              "'5'", "line numbers");
    free(e);
    buf_free(&big);

    /* Empty file, only comments, a section with no keys. */
    rc = load_text(&c, "", &err, NULL);
    CHECK(rc == 0, "empty file: %s", err.data ? err.data : "");
    config_free(&c);
    rc = load_text(&c, "; nothing\n# here\n[aws]\n[log]\n", &err, NULL);
    CHECK(rc == 0, "comments only: %s", err.data ? err.data : "");
    config_free(&c);
    /* No final newline. */
    rc = load_text(&c, "[run]\nthreads = 3", &err, NULL);
    CHECK(rc == 0 && config_int(&c, "run", "threads") == 3, "no final newline");
    config_free(&c);
    /* A section may appear twice; its keys still only once. */
    rc = load_text(&c, "[run]\nthreads = 3\n[aws]\nregion = x\n[run]\nconcurrency = 4\n", &err,
                   NULL);
    CHECK(rc == 0 && config_int(&c, "run", "concurrency") == 4, "section twice");
    config_free(&c);
    buf_free(&err);
}

/* ---- Command-line overrides ---- */

static void test_overrides(void)
{
    struct config c;
    struct buf err = BUF_INIT;
    const char *path;
    char origin[300];

    int rc = load_text(&c, "[run]\nconcurrency = 20\nthreads = 2\n", &err, &path);
    CHECK(rc == 0, "load: %s", err.data ? err.data : "");
    CHECK(config_set(&c, "run", "concurrency", "200", "--concurrency", &err) == 0, "override");
    const struct config_value *v = config_get(&c, "run", "concurrency");
    CHECK_STR(v->text, "200", "overridden");
    CHECK_STR(v->origin, "--concurrency", "origin");
    CHECK(v->set, "set");
    v = config_get(&c, "run", "threads");
    snprintf(origin, sizeof origin, "%s:3", path);
    CHECK_STR(v->origin, origin, "file origin kept");
    CHECK_STR(config_get(&c, "run", "dry_run")->origin, "default", "default origin");

    buf_reset(&err);
    CHECK(config_set(&c, "run", "concurrency", "lots", "--concurrency", &err) == -1, "bad");
    CHECK_STR(err.data, "--concurrency: [run] concurrency: expected a whole number from 1 to "
              "100000, got 'lots'", "override error");
    CHECK_STR(config_str(&c, "run", "concurrency"), "200", "kept");

    buf_reset(&err);
    CHECK(config_set(&c, "run", "dry_run", "yes", NULL, &err) == 0, "no origin");
    CHECK_STR(config_get(&c, "run", "dry_run")->origin, "command line", "default origin name");

    /* errors accumulate across calls, one per line */
    buf_reset(&err);
    CHECK(config_set(&c, "run", "concurency", "5", "--set run.concurency=5", &err) == -1, "typo");
    CHECK(config_set(&c, "rnu", "threads", "5", "--set", &err) == -1, "section typo");
    CHECK(config_set(&c, "aws", "threads", "5", "--set", &err) == -1, "wrong section");
    CHECK_STR(err.data,
              "--set run.concurency=5: unknown setting [run] concurency (did you mean "
              "'concurrency'?)\n"
              "--set: unknown setting [rnu] threads (did you mean [run]?)\n"
              "--set: unknown setting [aws] threads (it belongs in [run])", "unknown settings");

    buf_reset(&err);
    CHECK(config_set(&c, NULL, "threads", "5", "--x", &err) == -1 && err.len > 0, "NULL section");

    /* overrides normalize like the file does */
    buf_reset(&err);
    CHECK(config_set(&c, "accounts", "states", " active ,suspended", "--states", &err) == 0, "ok");
    CHECK_STR(config_str(&c, "accounts", "states"), "ACTIVE,SUSPENDED", "normalized");
    CHECK(config_set(&c, "RUN", "THREADS", "4", "--threads", &err) == 0, "case-insensitive");
    CHECK(config_int(&c, "run", "threads") == 4, "threads");
    CHECK(config_set(&c, "aws", "region", NULL, "--region", &err) == 0, "NULL value is empty");

    /* a long origin is cut, not overflowed */
    char longo[600];
    memset(longo, 'o', sizeof longo - 1);
    longo[sizeof longo - 1] = '\0';
    CHECK(config_set(&c, "run", "threads", "5", longo, &err) == 0, "long origin");
    v = config_get(&c, "run", "threads");
    CHECK(strlen(v->origin) == sizeof v->origin - 1 &&
          strcmp(v->origin + sizeof v->origin - 4, "...") == 0, "origin cut: %s", v->origin);
    config_free(&c);
    buf_free(&err);
}

/* ---- Cross-field checks ---- */

static void test_validate(void)
{
    struct config c;
    struct buf err = BUF_INIT;
    const char *path;
    char want[1024];

    int rc = load_text(&c,
                       "[output]\n"
                       "destination = s3://audit-bucket/iam\n"
                       "kms_key_id = alias/reports\n"
                       "bucket_key = true\n"
                       "[accounts]\n"
                       "include = 111111111111, 222222222222\n"
                       "exclude = 333333333333, 222222222222\n"
                       "[report]\n"
                       "wait_interval = 900\n"
                       "[aws]\n"
                       "connect_timeout = 30\n"
                       "request_timeout = 20\n",
                       &err, &path);
    CHECK(rc == 0, "load: %s", err.data ? err.data : "");
    CHECK(config_validate(&c, &err) == -1, "cross-field errors");
    snprintf(want, sizeof want,
             "%s:3: [output] kms_key_id needs sse = aws:kms (sse is 'none')\n"
             "%s:4: [output] bucket_key needs sse = aws:kms (sse is 'none')\n"
             "%s:7: [accounts] account 222222222222 is both in include and in exclude\n"
             "%s:9: [report] wait_interval (900) is above max_wait (30)\n"
             "%s:12: [aws] request_timeout (20) is below connect_timeout (30)",
             path, path, path, path, path);
    CHECK_STR(err.data, want, "cross-field");

    /* fixed on the command line */
    buf_reset(&err);
    CHECK(config_set(&c, "output", "sse", "aws:kms", "--sse", &err) == 0, "sse");
    CHECK(config_set(&c, "accounts", "exclude", "333333333333", "--exclude", &err) == 0, "ex");
    CHECK(config_set(&c, "report", "max_wait", "900", "--max-wait", &err) == 0, "mw");
    CHECK(config_set(&c, "aws", "request_timeout", "30", "--request-timeout", &err) == 0, "rt");
    CHECK(config_validate(&c, &err) == 0, "valid now: %s", err.data ? err.data : "");

    /* the command line is blamed when it broke a rule */
    CHECK(config_set(&c, "report", "max_wait", "10", "--max-wait", &err) == 0, "mw");
    CHECK(config_validate(&c, &err) == -1, "invalid");
    CHECK_STR(err.data, "--max-wait: [report] wait_interval (900) is above max_wait (10)", "blame");
    config_free(&c);

    buf_free(&err);
}

/* ---- Long values ---- */

static void test_long_values(void)
{
    struct config c;
    struct buf err = BUF_INIT, text = BUF_INIT;
    const char *path;

    /* a 1500-character external id: rejected by its length, message cut */
    buf_puts(&text, "[accounts]\nexternal_id = ");
    for (int i = 0; i < 1500; i++)
        buf_putc(&text, 'e');
    buf_puts(&text, "\n");
    char *e = errors_of(text.data);
    CHECK_STR(e, "F:2: [accounts] external_id: an external id has 2 to 1224 characters, got 1500",
              "1500");
    free(e);
    /* 1224 is fine */
    buf_reset(&text);
    buf_puts(&text, "[accounts]\nexternal_id = ");
    for (int i = 0; i < 1224; i++)
        buf_putc(&text, 'e');
    buf_puts(&text, "\n");
    int rc = load_text(&c, text.data, &err, NULL);
    CHECK(rc == 0 && strlen(config_str(&c, "accounts", "external_id")) == 1224, "1224: %s",
          err.data ? err.data : "");
    config_free(&c);

    /* a long bad value is shown cut in errors */
    buf_reset(&text);
    buf_puts(&text, "[run]\nconcurrency = ");
    for (int i = 0; i < 500; i++)
        buf_putc(&text, 'n');
    buf_puts(&text, "\n");
    e = errors_of(text.data);
    CHECK(e && strstr(e, "got 'nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn...' (500 characters)") &&
          strlen(e) < 200, "cut: %s", e ? e : "");
    free(e);

    /* 900-character paths are accepted: destination, log file, and a real ca_bundle */
    char dir[1024];
    snprintf(dir, sizeof dir, "/tmp/test_config_long.XXXXXX");
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    size_t len = strlen(dir);
    char seg[201];
    memset(seg, 'd', 200);
    seg[200] = '\0';
    for (int i = 0; i < 4; i++) {
        len += (size_t)snprintf(dir + len, sizeof dir - len, "/%s", seg);
        CHECK(mkdir(dir, 0700) == 0, "mkdir");
    }
    char file[1100];
    snprintf(file, sizeof file, "%s/%.*s", dir, (int)(899 - len), seg);
    CHECK(strlen(file) == 900, "900: %zu", strlen(file));
    FILE *f = fopen(file, "w");
    CHECK(f != NULL, "create");
    if (f) {
        fputs("-----BEGIN CERTIFICATE-----\n", f); /* a CA bundle must hold a certificate */
        fclose(f);
    }
    buf_reset(&text);
    buf_printf(&text, "[aws]\nca_bundle = %s\n[output]\ndestination = %s\n[log]\nfile = \"%s\"\n",
               file, file, file);
    rc = load_text(&c, text.data, &err, &path);
    CHECK(rc == 0, "900-character paths: %s", err.data ? err.data : "");
    CHECK_STR(config_str(&c, "aws", "ca_bundle"), file, "ca_bundle");
    CHECK_STR(config_str(&c, "output", "destination"), file, "destination");
    CHECK_STR(config_str(&c, "log", "file"), file, "log file");
    config_free(&c);
    unlink(file);
    for (int i = 0; i < 4; i++) {
        rmdir(dir);
        *strrchr(dir, '/') = '\0';
    }
    rmdir(dir);

    /* a long unknown key and a long section name */
    buf_reset(&text);
    buf_puts(&text, "[run]\n");
    for (int i = 0; i < 300; i++)
        buf_putc(&text, 'k');
    buf_puts(&text, " = 1\n[");
    for (int i = 0; i < 100; i++)
        buf_putc(&text, 's');
    buf_puts(&text, "]\n");
    e = errors_of(text.data);
    CHECK(e && strstr(e, "F:2: unknown key 'kkkk") && strstr(e, "(300 characters)") &&
          strstr(e, "F:3: unknown section [ssss"), "long names: %s", e ? e : "");
    free(e);

    /* a config file in a deep folder: the origin keeps the end of its path */
    char deep[1024];
    snprintf(deep, sizeof deep, "/tmp/test_config_deep.XXXXXX");
    CHECK(mkdtemp(deep) != NULL, "mkdtemp");
    len = strlen(deep);
    for (int i = 0; i < 2; i++) {
        len += (size_t)snprintf(deep + len, sizeof deep - len, "/%s", seg);
        CHECK(mkdir(deep, 0700) == 0, "mkdir");
    }
    snprintf(deep + len, sizeof deep - len, "/config.ini");
    f = fopen(deep, "w");
    if (f) {
        fputs("[run]\nthreads = 2\nconcurrency = x\n", f);
        fclose(f);
    }
    buf_reset(&err);
    CHECK(config_init(&c) == 0, "init");
    CHECK(config_load(&c, deep, true, &err) == -1, "load");
    const struct config_value *v = config_get(&c, "run", "threads");
    size_t olen = strlen(v->origin);
    CHECK(strncmp(v->origin, "...", 3) == 0 && olen == sizeof v->origin - 1 &&
          strcmp(v->origin + olen - 13, "/config.ini:2") == 0, "origin: %s", v->origin);
    CHECK(err.data && strncmp(err.data, deep, strlen(deep)) == 0, "errors carry the full path");
    config_free(&c);
    unlink(deep);
    for (int i = 0; i < 3; i++) {
        *strrchr(deep, '/') = '\0';
        rmdir(deep);
    }
    buf_free(&text);
    buf_free(&err);
}

/* ---- Missing files ---- */

static void test_missing(void)
{
    struct config c;
    struct buf err = BUF_INIT;

    CHECK(config_init(&c) == 0, "init");
    CHECK(config_load(&c, "/nonexistent/config.ini", false, &err) == 0, "implicit: fine");
    CHECK(err.len == 0 && c.path == NULL, "no error, no path");
    CHECK(config_load(&c, "/nonexistent/config.ini", true, &err) == -1, "explicit: error");
    CHECK_STR(err.data, "/nonexistent/config.ini: cannot open the config file: No such file or "
              "directory", "message");
    buf_reset(&err);
    CHECK(config_load(&c, "/tmp", false, &err) == -1, "a folder is an error even if implicit");
    CHECK(err.data && strstr(err.data, "/tmp is not a regular file"), "%s",
          err.data ? err.data : "");

    /* A file others can change is refused: they would steer the run (its endpoints get every
     * signed request). */
    char loose[] = "/tmp/test_config_loose.XXXXXX";
    int lfd = mkstemp(loose);
    CHECK(lfd >= 0 && write(lfd, "[aws]\n", 6) == 6, "write");
    close(lfd);
    chmod(loose, 0666);
    buf_reset(&err);
    CHECK(config_load(&c, loose, true, &err) == -1, "world-writable: refused");
    CHECK(err.data && strstr(err.data, "can be changed by other users (mode 666)"), "%s",
          err.data ? err.data : "");
    chmod(loose, 0664);
    buf_reset(&err);
    CHECK(config_load(&c, loose, true, &err) == -1, "group-writable: refused");
    if (geteuid() == 0) {
        chmod(loose, 0644);
        CHECK(chown(loose, 65534, 65534) == 0, "chown");
        buf_reset(&err);
        CHECK(config_load(&c, loose, true, &err) == -1, "someone else's file: refused");
        CHECK(err.data && strstr(err.data, "belongs to uid 65534"), "%s", err.data ? err.data : "");
    }
    chmod(loose, 0644);
    CHECK(chown(loose, geteuid(), getegid()) == 0, "chown back");
    buf_reset(&err);
    CHECK(config_load(&c, loose, true, &err) == 0, "the owner's 0644 file loads: %s", err.data ? err.data : "");
    unlink(loose);
    config_free(&c);
    CHECK(config_init(&c) == 0, "init again");

    /* NULL = ./config.ini, never required */
    char cwd[4096];
    char dir[] = "/tmp/test_config_cwd.XXXXXX";
    CHECK(getcwd(cwd, sizeof cwd) != NULL && mkdtemp(dir) != NULL && chdir(dir) == 0, "cd");
    buf_reset(&err);
    CHECK(config_load(&c, NULL, true, &err) == 0 && c.path == NULL, "no ./config.ini: fine");
    FILE *f = fopen("config.ini", "w");
    if (f) {
        fputs("[run]\nthreads = 9\n", f);
        fclose(f);
    }
    CHECK(config_load(&c, NULL, false, &err) == 0, "./config.ini: %s", err.data ? err.data : "");
    CHECK(config_int(&c, "run", "threads") == 9, "loaded");
    CHECK_STR(c.path, "config.ini", "path");
    CHECK_STR(config_get(&c, "run", "threads")->origin, "config.ini:2", "origin");
    unlink("config.ini");
    CHECK(chdir(cwd) == 0 && rmdir(dir) == 0, "cd back");

    /* errors may be NULL */
    CHECK(config_load(&c, "/nonexistent/x.ini", true, NULL) == -1, "NULL errors");
    config_free(&c);
    buf_free(&err);
}

/* Keys around inih's 200-byte line buffer, with long values (kept apart from inih): "key=\n"
 * and its NUL must fit. Debian's inih can take the buffer from the heap, where
 * AddressSanitizer sees a write past it. Such keys are unknown, with a clear error. */
static void test_line_buffer_edges(void)
{
    bool use_stack = ini_use_stack;
    ini_use_stack = false;
    for (int klen = 190; klen <= 200; klen++) {
        struct buf text = BUF_INIT;
        buf_puts(&text, "[run]\n");
        for (int i = 0; i < klen; i++)
            buf_putc(&text, 'k');
        buf_puts(&text, " = ");
        for (int i = 0; i < 400; i++)
            buf_putc(&text, 'v');
        buf_puts(&text, "\n");
        char *e = errors_of(text.data);
        CHECK(e && strstr(e, "F:2: ") && strstr(e, "unknown"), "key of %d bytes: %s", klen,
              e ? e : "");
        free(e);
        buf_free(&text);
    }
    ini_use_stack = use_stack;
}

int main(void)
{
    test_sample();
    test_defaults();
    test_types();
    test_validators();
    test_file_errors();
    test_file_syntax();
    test_overrides();
    test_validate();
    test_long_values();
    test_line_buffer_edges();
    test_missing();
    unit_remove_files();
    return unit_report("test_config");
}
