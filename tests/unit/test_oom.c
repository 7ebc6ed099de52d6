/* Every allocation of credreport's C code is checked: each scenario here runs again and again,
 * the Nth allocation of the core failing in its Nth run (tests/oom/failing_alloc.c), until a
 * run meets no failure. Every run must end cleanly, with an error or a result: never a
 * crash, a hang or an exit, and nothing left allocated (LeakSanitizer, at exit, fails the
 * binary for any block an error path lost). Where nothing can stand in for the memory, the
 * failure must be the result; where a request is retried after it, as after any failure
 * that may pass, a success is fine too. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdbool.h>
#include <sys/stat.h>

#include "aws/aws.h"
#include "aws/credentials/creds.h"
#include "aws/endpoint.h"
#include "aws/sigv4.h"
#include "base/buf.h"
#include "base/headers.h"
#include "base/xml.h"
#include "config/config.h"
#include "emulator.h"
#include "http/loop.h"
#include "lua/lua_runtime.h"
#include "lua/mq.h"
#include "../oom/failing_alloc.h"
#include "unit.h"

static char err[256]; /* the last run's error message */

/* Runs scenario with its 1st, 2nd, ... allocation failing until a run allocates no more than
 * that; it returns 0 for a success, nonzero for an error (its message in err). Unless
 * may_recover, a run whose allocation failed must fail. Returns how many allocations a whole
 * run makes. */
static long s_sweep(const char *name, int (*scenario)(void), bool may_recover)
{
    long runs = 0;
    for (long n = 1;; n++) {
        failing_alloc_arm(n);
        err[0] = 0;
        int rc = scenario();
        bool failed = failing_alloc_failed();
        failing_alloc_arm(0);
        runs++;
        if (!failed) {
            CHECK(rc == 0, "%s: the run with no failure failed: %s", name, err);
            break;
        }
        if (!may_recover)
            CHECK(rc != 0, "%s: allocation %ld failed, yet the scenario succeeded", name, n);
        if (runs > 100000) {
            CHECK(0, "%s: does not end", name);
            break;
        }
    }
    CHECK(runs > 1, "%s: allocates nothing through the wrapped functions", name);
    return runs - 1;
}

/* ---- scenarios ------------------------------------------------------------------------- */

enum sign_kind { SIGN_HEADERS, SIGN_PRESIGN, SIGN_S3 };

static int s_sigv4(enum sign_kind kind)
{
    bool s3 = kind == SIGN_S3;
    struct sigv4_params p;
    sigv4_params_init(&p, s3 ? "s3" : "iam", s3 ? "eu-west-3" : "us-east-1", 1764590096);
    p.creds = (struct sigv4_credentials){"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         s3 ? NULL : "IQoJb3JpZ2luX2VjEXAMPLETOKEN"};
    p.presign_expires = kind == SIGN_PRESIGN ? 900 : 0;
    if (s3) {
        p.s3_rules = true;
        p.normalize_path = false;
        p.sign_body = true;
    }
    struct sigv4_key cache = {0};
    p.key_cache = &cache;
    struct header_list h = {0};
    struct sigv4_result r = {0};
    int rc = headers_add(&h, "Host", s3 ? "bucket.s3.eu-west-3.amazonaws.com" : "iam.amazonaws.com");
    if (rc == 0)
        rc = headers_add(&h, s3 ? "x-amz-acl" : "X-Amz-Meta-Owner", "  two   spaces  ");
    if (rc == 0 && s3)
        rc = sigv4_sign(&p, "PUT", "/bucket/2026-12-01/credentialReport_1.csv", NULL, &h, "a,b\n1,2",
                        7, &r, err, sizeof err);
    else if (rc == 0)
        rc = sigv4_sign(&p, kind == SIGN_PRESIGN ? "GET" : "POST", "/a/./b//c%20d",
                        "b=2&a=1&a=0&empty=", &h, "Action=ListUsers&Version=2010-05-08", 35, &r,
                        err, sizeof err);
    sigv4_result_free(&r);
    headers_free(&h);
    return rc;
}
static int s_sigv4_headers(void) { return s_sigv4(SIGN_HEADERS); }
static int s_sigv4_presign(void) { return s_sigv4(SIGN_PRESIGN); }
static int s_sigv4_s3(void) { return s_sigv4(SIGN_S3); }

/* buf.h's promise: a call that fails leaves the buffer as it was, so an empty one that a call
 * failed on has nothing to free (callers return without buf_free then). */
static int s_buffers(void)
{
    char piece[200];
    memset(piece, 'x', sizeof piece - 1);
    piece[sizeof piece - 1] = '\0';
    struct buf a = BUF_INIT, b = BUF_INIT;
    if (buf_printf(&a, "%s:%d", piece, 42) != 0) {
        CHECK(!a.data, "buf_printf failed, yet kept memory");
        buf_free(&a);
        return -1;
    }
    if (buf_cat(&b, piece, "/", piece, NULL) != 0) {
        CHECK(!b.data, "buf_cat failed, yet kept memory");
        buf_free(&a);
        buf_free(&b);
        return -1;
    }
    int rc = a.len == sizeof piece + 2 && b.len == 2 * sizeof piece - 1 ? 0 : 1;
    buf_free(&a);
    buf_free(&b);
    if (rc)
        snprintf(err, sizeof err, "wrong lengths");
    return rc;
}

static const char s_error_xml[] =
    "<ErrorResponse xmlns=\"https://iam.amazonaws.com/doc/2010-05-08/\"><Error><Type>Sender</Type>"
    "<Code>ReportInProgress</Code><Message>Report generation in progress.</Message></Error>"
    "<RequestId>0e7c3a52-6d35-4d3a-9f52-4a1c1d1e2f3a</RequestId></ErrorResponse>";

static int s_xml(void)
{
    struct xml_reader *r = xml_reader_new();
    if (!r)
        return -1;
    struct xml_node *doc = xml_read(r, s_error_xml, sizeof s_error_xml - 1, err, sizeof err);
    int rc = doc && xml_find_text(doc, "Error/Code") ? 0 : -1;
    xml_free(doc);
    xml_reader_free(r);
    struct xml_node *again = xml_parse(s_error_xml, sizeof s_error_xml - 1, err, sizeof err);
    if (!again || !xml_find_text(again, "RequestId"))
        rc = -1;
    xml_free(again);
    return rc;
}

static int s_decode_error(void)
{
    struct aws_settings s = {0};
    struct header_list h = {0};
    struct aws_error e = {0};
    if (headers_add(&h, "x-amzn-RequestId", "0e7c3a52") != 0) {
        headers_free(&h);
        return -1;
    }
    aws_decode_error(&s, NULL, AWS_QUERY, 404, &h, s_error_xml, sizeof s_error_xml - 1, &e);
    headers_free(&h);
    /* Decoding has no error result: a body it could not read leaves a code from the status. */
    return e.code[0] ? 0 : -1;
}

static const char *s_config_file;

static int s_config(void)
{
    struct config c;
    struct buf errors = BUF_INIT;
    int rc = config_init(&c);
    if (rc == 0) {
        rc = config_load(&c, s_config_file, true, &errors);
        if (rc == 0)
            rc = config_set(&c, "accounts", "exclude", "111111111111,222222222222",
                            "--exclude-account", &errors);
        long k, n;
        if (rc == 0)
            rc = config_shard("2/3", &k, &n, &errors);
        if (rc == 0)
            rc = config_check_key_template("{date}/{account}.csv", &errors);
        /* The file, the option, the shard and the template are right: a failure there is
         * memory, never a mistake in them (which main() would report with the status of a
         * mistake in the settings). */
        CHECK(rc != -1, "config: memory that ran out reported as a mistake in the settings: %s",
              errors.data ? errors.data : "");
    }
    if (rc == 0)
        rc = config_validate(&c, &errors);
    if (rc == 0 && strcmp(config_str(&c, "endpoints", "sts"), "http://127.0.0.1:4566") != 0)
        rc = -1;
    if (rc != 0)
        snprintf(err, sizeof err, "%s", errors.data ? errors.data : "out of memory");
    config_free(&c);
    buf_free(&errors);
    return rc;
}

static int s_creds_plan(void)
{
    struct creds_plan p = {0};
    int rc = creds_plan_resolve("audit", &p, err, sizeof err) == 1 ? 0 : -1;
    if (rc == 0 && p.n_steps != 2) {
        snprintf(err, sizeof err, "%zu roles to assume, not 2", p.n_steps);
        rc = -1;
    }
    creds_plan_free(&p);
    return rc;
}

static int s_endpoints(void)
{
    struct service svc;
    struct endpoint ep;
    struct buf url = BUF_INIT;
    struct endpoint_url urls[] = {{"s3", "http://127.0.0.1:9000/prefix"}};
    struct endpoint_overrides ov = {.service_urls = urls, .n_service_urls = 1};
    int rc = service_describe("s3", &svc, err, sizeof err);
    if (rc == 0)
        rc = endpoint_resolve(&svc, "eu-west-3", &ov, &ep, err, sizeof err);
    if (rc == 0)
        rc = endpoint_s3_object_url(&ep, "bucket", "2026-12-01/./a b/credentialReport.csv", &url);
    buf_free(&url);
    return rc;
}

static int s_aws_ctx(void)
{
    struct http_settings hs;
    http_settings_default(&hs);
    struct loop *loop = loop_new(&hs, err, sizeof err);
    if (!loop)
        return -1;
    struct aws_shared shared;
    int rc = -1;
    if (aws_shared_init(&shared) == 0) {
        struct aws_settings s = {0};
        snprintf(s.region, sizeof s.region, "us-east-1");
        struct aws_ctx *ctx = aws_ctx_new(loop, &shared, &s, err, sizeof err);
        if (ctx) {
            struct aws_creds cr = {.access_key_id = (char *)"AKIDEXAMPLE",
                                   .secret_access_key = (char *)"secret"};
            struct aws_client *c = aws_client_new_static(ctx, &cr);
            if (c) {
                rc = 0;
                aws_client_unref(c);
            }
            aws_ctx_free(ctx);
        }
    }
    aws_shared_cleanup(&shared);
    loop_free(loop);
    return rc;
}

static int s_queue(void)
{
    struct mq q;
    if (mq_init(&q) != 0)
        return -1;
    int rc = 0;
    for (int i = 0; i < 40 && rc == 0; i++)
        rc = mq_push(&q, "{\"id\": \"123456789012\"}", 22);
    mq_destroy(&q);
    return rc;
}

/* Lua primitives that allocate in C, each asked to succeed: a failure must come out as an
 * error (a raise, or nil, err turned into one by assert), never as a wrong result. */
static const char s_chunk[] =
    "local dir = ...\n"
    "local core = require 'credreport.core'\n"
    "local add, d = core.sign{method = 'POST', url = 'https://iam.amazonaws.com/a/./b?b=2&a=1',\n"
    "  headers = {{'X-Amz-Meta-A', ' x  y '}, {'Content-Type', 'text/plain'}}, body = 'Action=ListUsers',\n"
    "  service = 'iam', region = 'us-east-1', time = '2026-12-01T00:00:00Z',\n"
    "  access_key_id = 'AKIDEXAMPLE', secret_access_key = 'secret', session_token = 'token'}\n"
    "assert(add.Authorization and d.canonical_request)\n"
    "local _, p = core.sign{url = 'https://bucket.s3.amazonaws.com/k%20y?list-type=2', presign = 900,\n"
    "  service = 's3', region = 'eu-west-3', time = 1764547200,\n"
    "  access_key_id = 'AKIDEXAMPLE', secret_access_key = 'secret'}\n"
    "assert(p.query)\n"
    "local doc = assert(core.xml_decode('<L><Contents><Key>a</Key></Contents>'\n"
    "  .. '<Contents><Key>b</Key></Contents><T/></L>'))\n"
    "assert(#doc.L.Contents == 2)\n"
    "local rows, cols = assert(core.csv_decode('user,arn\\n<root_account>,\"a,b\"\\nbob,x\\n'))\n"
    "assert(#rows == 2 and #cols == 2)\n"
    "assert(core.csv_decode(core.csv_encode({cols, {'a', 'b\"c'}})))\n"
    "assert(core.base64_decode(core.base64_encode('bytes')) == 'bytes')\n"
    "assert(#core.digest('sha256', 'data') == 64)\n"
    "assert(core.uri_encode('a b/c') == 'a%20b%2Fc')\n"
    "assert(core.printable('a\\1b'))\n"
    "assert(core.check_key_template('{date}/credentialReport_{account}.csv'))\n"
    "assert(core.check_shard('2/3'))\n"
    "assert(core.mkdir_p(dir .. '/a/b', 448, dir))\n"
    "assert(core.write_file(dir .. '/a/b/f.csv', 'content', 384, dir))\n"
    "assert(core.read_file(dir .. '/a/b/f.csv', dir) == 'content')\n"
    "local f = assert(core.open_file(dir .. '/a/b/f.csv', dir))\n"
    "assert(#core.digest('md5', f, 'base64') == 24)\n"
    "assert(core.write_file(dir .. '/a/b/g.csv', f, 384, dir))\n"
    "f:close()\n"
    "assert(#assert(core.list_dir(dir .. '/a/b', dir)) == 2)\n"
    "local c = assert(core.client{access_key_id = 'AKIDEXAMPLE', secret_access_key = 'secret'})\n"
    "assert(c:assume_role{role_arn = 'arn:aws:iam::111111111111:role/Audit', external_id = 'x'})\n";

static struct runtime *s_rt;
static int s_chunk_ref = LUA_NOREF;
static char s_dir[64];

static int s_lua(void)
{
    lua_State *L = s_rt->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s_chunk_ref);
    lua_pushstring(L, s_dir);
    int rc = lua_pcall(L, 1, 0, 0);
    if (rc != LUA_OK)
        snprintf(err, sizeof err, "%s", lua_tostring(L, -1));
    lua_settop(L, 0);
    lua_gc(L, LUA_GCCOLLECT); /* runs the __gc of what the chunk left */
    return rc;
}

static struct runtime_options s_runtime_options(void)
{
    struct runtime_options ro;
    memset(&ro, 0, sizeof ro);
    http_settings_default(&ro.http);
    retry_config_default(&ro.retry);
    ro.region = "us-east-1";
    ro.lua_dir = "lua";
    return ro;
}

static int s_runtime(void)
{
    struct runtime_options ro = s_runtime_options();
    struct runtime *rt = runtime_new(&ro, err, sizeof err);
    runtime_free(rt);
    return rt ? 0 : -1;
}

/* The data path of one account against the emulator, each run in a runtime of its own (so
 * that connections are made again): the caller's identity, a page of the organization, a
 * member role, its credential report, and the report stored in S3 and read back. The report
 * was generated before the sweep (IAM allows a few generations a second), so a run asks
 * for it and generates it only if it is missing. */
static const char s_account_script[] =
    "local core = require 'credreport.core'\n"
    "local c = assert(core.client{access_key_id = 'AKIAIOSFODNN7EXAMPLE',\n"
    "  secret_access_key = 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY'})\n"
    "assert(assert(c:query('sts', 'GetCallerIdentity')).Account == '111111111111')\n"
    "local page = assert(c:json('organizations', 'ListAccountsForParent', {ParentId = 'r-ex12'}))\n"
    "assert(#page.Accounts > 0)\n"
    "local member = assert(c:assume_role{\n"
    "  role_arn = 'arn:aws:iam::222222222222:role/OrganizationAccountAccessRole'})\n"
    "local report = member:query('iam', 'GetCredentialReport')\n"
    "if not report then\n"
    "  assert(member:query('iam', 'GenerateCredentialReport'))\n"
    "  for _ = 1, 50 do\n"
    "    report = member:query('iam', 'GetCredentialReport')\n"
    "    if report then break end\n"
    "    core.sleep(0.05)\n"
    "  end\n"
    "end\n"
    "local csv = assert(core.base64_decode(assert(report).Content))\n"
    "local object = {bucket = 'credreport-reports', key = 'oom/credentialReport_222222222222.csv'}\n"
    "assert(c:s3('PUT', {bucket = object.bucket, key = object.key, body = csv,\n"
    "  headers = {['x-amz-acl'] = 'bucket-owner-full-control'}}))\n"
    "assert(assert(c:s3('GET', object)).body == csv)\n";

static char s_emu_url[64];
static const char *s_account_script_path;

static void s_on_alarm(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL test_oom: a run did not end within 60 s\n";
    (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
    _exit(1);
}

/* Runs the script at path as the main task of a runtime of its own, against the emulator. */
static int s_run_script(const char *path)
{
    struct runtime_options ro = s_runtime_options();
    ro.endpoints.global = s_emu_url;
    ro.retry.base_delay = ro.retry.throttle_base_delay = 0.001;
    ro.retry.max_backoff = 0.01;
    alarm(60);
    /* What a run logs of its failure (the script's error, a request given up) is expected. */
    fflush(stderr);
    int saved = dup(STDERR_FILENO), null = open("/dev/null", O_WRONLY);
    dup2(null, STDERR_FILENO);
    struct runtime *rt = runtime_new(&ro, err, sizeof err);
    int rc = -1, results = LUA_NOREF;
    if (rt) {
        rc = runtime_run_main(rt, path, 0, NULL, &results);
        if (rc != RUN_OK)
            snprintf(err, sizeof err, "the script failed (%d)", rc);
        runtime_free(rt);
    }
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(null);
    alarm(0);
    return rc;
}

static int s_account(void) { return s_run_script(s_account_script_path); }

/* Credentials from the sources of the shared config file: a credential_process, web identity
 * (a token file), and a role whose source is the process. */
static const char s_sources_script[] =
    "local core = require 'credreport.core'\n"
    "for _, profile in ipairs{'process', 'web', 'member'} do\n"
    "  local c = assert(core.client{profile = profile})\n"
    "  assert(c:query('sts', 'GetCallerIdentity'))\n"
    "end\n";

static const char *s_sources_script_path;

static int s_sources(void) { return s_run_script(s_sources_script_path); }

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0); /* LeakSanitizer ends the process without flushing */
    s_config_file = unit_write_file(
        "credreport-oom-config",
        "[aws]\nregion = eu-west-3\nmax_attempts = 5\n"
        "[accounts]\nous = ou-abcd-11111111, ou-abcd-22222222\nstates = ACTIVE, SUSPENDED\n"
        "[endpoints]\nsts = http://127.0.0.1:4566\niam = http://127.0.0.1:4566\n"
        "[output]\ndestination = s3://bucket/prefix\n");
    const char *process = unit_write_file(
        "credreport-oom-process",
        "#!/bin/sh\necho '{\"Version\": 1, \"AccessKeyId\": \"AKIAIOSFODNN7EXAMPLE\", "
        "\"SecretAccessKey\": \"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\"}'\n");
    const char *token = unit_write_file("credreport-oom-token",
                                        "eyJhbGciOiJSUzI1NiJ9.emulator-test-token.sig");
    char aws_config[2048];
    snprintf(aws_config, sizeof aws_config,
             "[profile base]\nregion = eu-west-3\n"
             "[profile middle]\nrole_arn = arn:aws:iam::111111111111:role/Middle\n"
             "source_profile = base\n"
             "[profile audit]\nrole_arn = arn:aws:iam::222222222222:role/Audit\n"
             "source_profile = middle\nexternal_id = ext-1\nrole_session_name = oom-test\n"
             "[profile process]\ncredential_process = %s\n"
             "[profile web]\nrole_arn = arn:aws:iam::111111111111:role/credreport-runner\n"
             "web_identity_token_file = %s\n"
             "[profile member]\n"
             "role_arn = arn:aws:iam::222222222222:role/OrganizationAccountAccessRole\n"
             "source_profile = process\n",
             process, token);
    if (chmod(process, 0700) != 0) {
        fprintf(stderr, "ERROR test_oom: chmod %s: %s\n", process, strerror(errno));
        return 1;
    }
    setenv("AWS_CONFIG_FILE", unit_write_file("credreport-oom-aws-config", aws_config), 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE",
           unit_write_file("credreport-oom-aws-credentials",
                           "[base]\naws_access_key_id = AKIDEXAMPLE\n"
                           "aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY\n"),
           1);

    snprintf(s_dir, sizeof s_dir, "/tmp/credreport-oom.XXXXXX");
    if (!mkdtemp(s_dir) || loop_global_init() != 0) {
        fprintf(stderr, "ERROR test_oom: cannot set up\n");
        return 1;
    }
    struct runtime_options ro = s_runtime_options();
    s_rt = runtime_new(&ro, err, sizeof err);
    if (!s_rt || luaL_loadstring(s_rt->L, s_chunk) != LUA_OK) {
        fprintf(stderr, "ERROR test_oom: %s\n", s_rt ? lua_tostring(s_rt->L, -1) : err);
        return 1;
    }
    s_chunk_ref = luaL_ref(s_rt->L, LUA_REGISTRYINDEX);

    signal(SIGALRM, s_on_alarm);
    if (!unit_emulator_start("test_oom", s_emu_url, sizeof s_emu_url)) {
        unit_emulator_stop();
        return 1;
    }
    atexit(unit_emulator_stop);
    s_account_script_path = unit_write_file("credreport-oom-account.lua", s_account_script);
    s_sources_script_path = unit_write_file("credreport-oom-sources.lua", s_sources_script);
    if (s_account() != 0) {
        fprintf(stderr, "ERROR test_oom: the account's data path fails with no failure: %s\n", err);
        return 1;
    }

    const struct { const char *name; int (*fn)(void); bool may_recover; } scenarios[] = {
        {"sigv4 header signing", s_sigv4_headers, false},
        {"sigv4 presigning", s_sigv4_presign, false},
        {"sigv4 S3", s_sigv4_s3, false},
        {"buffers", s_buffers, false},
        {"xml", s_xml, false},
        {"error decoding", s_decode_error, true},
        {"config", s_config, false},
        {"credentials plan", s_creds_plan, false},
        {"endpoints", s_endpoints, false},
        {"aws ctx and client", s_aws_ctx, false},
        {"queue", s_queue, false},
        {"Lua runtime", s_runtime, false},
        {"Lua primitives", s_lua, false},
        {"one account's data path", s_account, true},
        {"credential sources", s_sources, true},
    };
    for (size_t i = 0; i < sizeof scenarios / sizeof scenarios[0]; i++) {
        long n = s_sweep(scenarios[i].name, scenarios[i].fn, scenarios[i].may_recover);
        printf("%s: %ld allocations, each failed once\n", scenarios[i].name, n);
    }
    runtime_free(s_rt);
    char cmd[96];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", s_dir);
    CHECK(system(cmd) == 0, "%s", cmd);
    unit_remove_files();
    return unit_report("oom");
}
