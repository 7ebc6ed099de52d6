/* The credential chain's pure parts: profile settings of the new sources, container URL rules,
 * times, credentials JSON (through the runtime's cjson hook), credential_process (exit status,
 * stderr, timeout, no leaked descriptor or zombie), and the provider mechanism of aws.c
 * (fetch once, reuse, short-lived credentials, failures given to the waiting calls). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "aws/credentials/creds.h"
#include "lua/lua_runtime.h"
#include "aws/credentials/provider.h"
#include "unit.h"

#define SECRET_MARK "zzSECRETzz"

static void check_no_secret(const char *err)
{
    CHECK(strstr(err, SECRET_MARK) == NULL, "a secret in an error message: %s", err);
}

/* ---- container URLs ---- */

static void url_ok(const char *rel, const char *full, const char *want)
{
    char *url = NULL, err[300] = "";
    int rc = provider_container_url(rel, full, &url, err, sizeof err);
    CHECK(rc == 1, "%s | %s: rc %d (%s)", rel ? rel : "-", full ? full : "-", rc, err);
    CHECK_STR(url, want, "container URL");
    free(url);
}

static void url_refused(const char *rel, const char *full, const char *needle)
{
    char *url = NULL, err[300] = "";
    int rc = provider_container_url(rel, full, &url, err, sizeof err);
    CHECK(rc == -1 && url == NULL, "%s | %s: want refused, rc %d", rel ? rel : "-", full ? full : "-", rc);
    CHECK(strstr(err, needle) != NULL, "error \"%s\" should contain \"%s\"", err, needle);
}

static void test_container_url(void)
{
    char *url = (char *)"x", err[100];
    CHECK(provider_container_url(NULL, NULL, &url, err, sizeof err) == 0 && url == NULL, "none");
    CHECK(provider_container_url("", "", &url, err, sizeof err) == 0, "empty is unset");
    url_ok("/v2/credentials/abc", NULL, "http://169.254.170.2/v2/credentials/abc");
    url_ok("/v2/credentials/abc", "http://10.0.0.1/x", "http://169.254.170.2/v2/credentials/abc");
    url_refused("v2/credentials", NULL, "must start with /");
    url_ok(NULL, "https://creds.example.com/path?x=1", "https://creds.example.com/path?x=1");
    url_ok(NULL, "http://127.0.0.1:8080/creds", "http://127.0.0.1:8080/creds");
    url_ok(NULL, "http://127.200.3.4/creds", "http://127.200.3.4/creds");
    url_ok(NULL, "http://localhost:9/c", "http://localhost:9/c");
    url_ok(NULL, "HTTP://LOCALHOST/c", "HTTP://LOCALHOST/c");
    url_ok(NULL, "http://[::1]:8080/c", "http://[::1]:8080/c");
    url_ok(NULL, "http://169.254.170.2/v1/credentials", "http://169.254.170.2/v1/credentials");
    url_ok(NULL, "http://169.254.170.23/v1/credentials", "http://169.254.170.23/v1/credentials");
    url_ok(NULL, "http://[fd00:ec2::23]/v1/credentials", "http://[fd00:ec2::23]/v1/credentials");
    url_ok(NULL, "http://[fd00:ec2:0::23]:80/c", "http://[fd00:ec2:0::23]:80/c");
    url_refused(NULL, "http://10.0.0.1/creds", "loopback");
    url_refused(NULL, "http://169.254.169.254/latest", "169.254.169.254");
    url_refused(NULL, "http://127.0.0.1.evil.example/c", "127.0.0.1.evil.example");
    url_refused(NULL, "http://127.1/c", "127.1");
    url_refused(NULL, "http://[fd00:ec2::24]/c", "fd00:ec2::24");
    url_refused(NULL, "http://user@127.0.0.1/c", "host");
    url_refused(NULL, "https://user:pw@creds.example.com/c", "user info");
    url_refused(NULL, "ftp://127.0.0.1/c", "http");
    url_refused(NULL, "http://", "host");
}

/* ---- times ---- */

static void test_times(void)
{
    CHECK(provider_parse_time("2026-05-01T12:00:00Z") == 1777636800, "Z");
    CHECK(provider_parse_time("2026-05-01T12:00:00.123Z") == 1777636800, "fraction");
    CHECK(provider_parse_time("2026-05-01T12:00:00") == 1777636800, "no zone: UTC");
    CHECK(provider_parse_time("2026-05-01T14:00:00+02:00") == 1777636800, "+02:00");
    CHECK(provider_parse_time("2026-05-01T10:30:00-0130") == 1777636800, "-0130");
    CHECK(provider_parse_time("2026-05-01T12:00:00.5+00:00") == 1777636800, "fraction and offset");
    CHECK(provider_parse_time("2026-05-01 12:00:00Z") == -1, "space");
    CHECK(provider_parse_time("2026-05-01T12:00:00Zjunk") == -1, "trailing junk");
    CHECK(provider_parse_time("2026-05-01T12:00:00+2") == -1, "short offset");
    CHECK(provider_parse_time("2026-05-01T12:00:00.Z") == -1, "empty fraction");
    CHECK(provider_parse_time("") == -1 && provider_parse_time(NULL) == -1, "empty, NULL");
}

/* ---- credentials JSON ---- */

static struct runtime *s_rt;

static int from_json(enum provider_json kind, const char *json, struct aws_creds *c, char *err,
                     size_t errlen)
{
    err[0] = '\0';
    int rc = provider_creds_from_json(s_rt->aws, kind, json, strlen(json), "test", c, err, errlen);
    check_no_secret(err);
    if (rc != 0)
        CHECK(c->access_key_id == NULL && c->secret_access_key == NULL, "nothing on failure");
    return rc;
}

static void json_fails(enum provider_json kind, const char *json, const char *needle)
{
    struct aws_creds c;
    char err[300];
    int rc = from_json(kind, json, &c, err, sizeof err);
    CHECK(rc == -1, "want a failure for %s", json);
    CHECK(strstr(err, needle) != NULL, "error \"%s\" should contain \"%s\"", err, needle);
    creds_free(&c);
}

static void test_json(void)
{
    struct aws_creds c;
    char err[300];

    CHECK(from_json(PROVIDER_JSON_CONTAINER,
                    "{\"AccessKeyId\":\"ASIAX\",\"SecretAccessKey\":\"s-" SECRET_MARK "\","
                    "\"Token\":\"t\",\"Expiration\":\"2026-05-01T12:00:00Z\",\"RoleArn\":\"r\"}",
                    &c, err, sizeof err) == 0, "container: %s", err);
    CHECK_STR(c.access_key_id, "ASIAX", "akid");
    CHECK_STR(c.secret_access_key, "s-" SECRET_MARK, "secret");
    CHECK_STR(c.session_token, "t", "token");
    CHECK(c.expiration == 1777636800, "expiration");
    CHECK_STR(c.source, "test", "source");
    creds_free(&c);

    CHECK(from_json(PROVIDER_JSON_IMDS,
                    "{\"Code\":\"Success\",\"Type\":\"AWS-HMAC\",\"AccessKeyId\":\"ASIAY\","
                    "\"SecretAccessKey\":\"" SECRET_MARK "\",\"Token\":\"t\","
                    "\"Expiration\":\"2026-05-01T12:00:00Z\"}", &c, err, sizeof err) == 0,
          "imds: %s", err);
    creds_free(&c);
    json_fails(PROVIDER_JSON_IMDS,
               "{\"Code\":\"AssumeRoleUnauthorizedAccess\",\"AccessKeyId\":\"A\","
               "\"SecretAccessKey\":\"" SECRET_MARK "\",\"Token\":\"t\",\"Expiration\":\"2026-05-01T12:00:00Z\"}",
               "AssumeRoleUnauthorizedAccess");
    json_fails(PROVIDER_JSON_CONTAINER,
               "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET_MARK "\",\"Expiration\":\"2026-05-01T12:00:00Z\"}",
               "Token");
    json_fails(PROVIDER_JSON_CONTAINER,
               "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET_MARK "\",\"Token\":\"t\"}",
               "Expiration");
    json_fails(PROVIDER_JSON_CONTAINER,
               "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET_MARK "\",\"Token\":\"t\",\"Expiration\":\"soon\"}",
               "ISO 8601");
    json_fails(PROVIDER_JSON_CONTAINER, "{\"SecretAccessKey\":\"" SECRET_MARK "\"}", "AccessKeyId");
    json_fails(PROVIDER_JSON_CONTAINER, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":{}}",
               "SecretAccessKey");
    json_fails(PROVIDER_JSON_CONTAINER, "[1,2]", "not a JSON object");
    json_fails(PROVIDER_JSON_CONTAINER, "{\"AccessKeyId\":\"" SECRET_MARK, "not a JSON object");
    json_fails(PROVIDER_JSON_CONTAINER, "", "not a JSON object");

    /* credential_process: Version 1 (a number), SessionToken and Expiration optional. */
    CHECK(from_json(PROVIDER_JSON_PROCESS,
                    "{\"Version\":1,\"AccessKeyId\":\"AKIAP\",\"SecretAccessKey\":\"" SECRET_MARK "\"}",
                    &c, err, sizeof err) == 0, "process: %s", err);
    CHECK(c.expiration == 0 && c.session_token == NULL, "long-term");
    creds_free(&c);
    CHECK(from_json(PROVIDER_JSON_PROCESS,
                    "{\"Version\":1,\"AccessKeyId\":\"ASIAP\",\"SecretAccessKey\":\"s\","
                    "\"SessionToken\":\"tok\",\"Expiration\":\"2026-05-01T12:00:00+00:00\"}",
                    &c, err, sizeof err) == 0, "process temporary: %s", err);
    CHECK_STR(c.session_token, "tok", "session token");
    CHECK(c.expiration == 1777636800, "expiration");
    creds_free(&c);
    json_fails(PROVIDER_JSON_PROCESS, "{\"Version\":2,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET_MARK "\"}",
               "Version");
    json_fails(PROVIDER_JSON_PROCESS, "{\"Version\":1.5,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}",
               "Version");
    json_fails(PROVIDER_JSON_PROCESS, "{\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"" SECRET_MARK "\"}",
               "Version");
    /* Numbers no long long holds (cjson reads Infinity and NaN too) were cast to one:
     * undefined behaviour, which UBSan in this build stops at. */
    static const char *const huge[] = {"1e19", "-1e19", "9223372036854775808", "1e300",
                                       "-1e300", "Infinity", "-Infinity", "NaN", "1e-300"};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        char json[200];
        snprintf(json, sizeof json,
                 "{\"Version\":%s,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}", huge[i]);
        json_fails(PROVIDER_JSON_PROCESS, json, "Version is not 1");
        snprintf(json, sizeof json,
                 "{\"Version\":1,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\","
                 "\"Expiration\":%s}", huge[i]);
        json_fails(PROVIDER_JSON_PROCESS, json, "ISO 8601");
        snprintf(json, sizeof json,
                 "{\"Code\":%s,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\",\"Token\":\"t\","
                 "\"Expiration\":\"2026-05-01T12:00:00Z\"}", huge[i]);
        json_fails(PROVIDER_JSON_IMDS, json, "Code is");
    }
    CHECK(from_json(PROVIDER_JSON_PROCESS,
                    "{\"Version\":1.0,\"AccessKeyId\":\"A\",\"SecretAccessKey\":\"s\"}",
                    &c, err, sizeof err) == 0, "Version 1.0 is 1: %s", err);
    creds_free(&c);
}

/* ---- credential_process ---- */

static int count_fds(void)
{
    int n = 0;
    for (int fd = 0; fd < 1024; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
}

static void test_process(void)
{
    struct buf out = BUF_INIT;
    char err[300];
    int fds = count_fds();

    CHECK(provider_run_process("printf '{\"Version\":1}'; echo noise >&2", 5, &out, err,
                               sizeof err) == 0, "success: %s", err);
    CHECK_STR(out.data, "{\"Version\":1}", "stdout captured, stderr not");
    buf_free_secret(&out);

    err[0] = '\0';
    CHECK(provider_run_process("echo " SECRET_MARK "; echo 'first problem' >&2; echo second >&2; "
                               "exit 7", 5, &out, err, sizeof err) == -1, "non-zero exit");
    /* What it printed may be a token: only its status is told. */
    CHECK(strstr(err, "status 7") && strstr(err, "not shown") && !strstr(err, "problem") &&
              !strstr(err, "second"), "exit status, nothing it printed: %s", err);
    check_no_secret(err);
    CHECK(out.data == NULL, "stdout dropped on failure");

    CHECK(provider_run_process("kill -9 $$", 5, &out, err, sizeof err) == -1 &&
              strstr(err, "signal 9"), "killed: %s", err);

    /* No terminal, nothing inherited: stdin is /dev/null, an open descriptor is not passed. */
    int leak = open("/dev/null", O_RDONLY); /* without O_CLOEXEC */
    char cmd[200];
    snprintf(cmd, sizeof cmd, "if [ -e /proc/$$/fd/%d ]; then echo leaked; else echo clean; fi; "
             "read x || echo eof; tty >/dev/null 2>&1 || echo notty", leak);
    CHECK(provider_run_process(cmd, 5, &out, err, sizeof err) == 0, "fds: %s", err);
    CHECK_STR(out.data, "clean\neof\nnotty\n", "no inherited descriptor, no stdin, no tty");
    buf_free_secret(&out);
    close(leak);

    /* Timeout: the whole process group is killed (the sleep too, which holds the pipes). */
    double t0 = loop_now();
    CHECK(provider_run_process("sleep 30 & sleep 30", 1, &out, err, sizeof err) == -1,
          "timeout");
    CHECK(strstr(err, "still running after 1 s") != NULL, "timeout message: %s", err);
    CHECK(loop_now() - t0 < 5, "killed in time (%.1f s)", loop_now() - t0);
    CHECK(provider_run_process("exit 0", 5, &out, err, sizeof err) == 0, "empty output ok");
    buf_free_secret(&out);

    /* More than 64 KB is refused, not kept. */
    CHECK(provider_run_process("head -c 70000 /dev/zero | tr '\\0' x", 5, &out, err,
                               sizeof err) == -1 && strstr(err, "more than 65536 bytes"),
          "too long: %s", err);
    CHECK(out.data == NULL, "nothing kept");

    /* A helper that closes its output and lives on is still waited for, and killed in time. */
    CHECK(provider_run_process("exec >&-; sleep 30", 1, &out, err, sizeof err) == -1 &&
              strstr(err, "still running after 1 s"), "closed stdout: %s", err);

    CHECK(waitpid(-1, NULL, WNOHANG) == -1 && errno == ECHILD, "no zombie left");
    CHECK(count_fds() == fds, "no descriptor leaked (%d -> %d)", fds, count_fds());
}

/* The loop goes on while the process runs: here the process waits for a file that only a
 * timer of the same loop creates, so a run that blocked the thread would never see it. */
struct async_run {
    bool done;
    int rc;
    char out[64];
    char flag[64];
};

static void on_flag_timer(void *arg)
{
    struct async_run *r = arg;
    FILE *f = fopen(r->flag, "w");
    if (f)
        fclose(f);
}

static void on_async_done(void *arg, int rc, struct buf *out, const char *why)
{
    struct async_run *r = arg;
    r->done = true;
    r->rc = rc;
    snprintf(r->out, sizeof r->out, "%s", rc == 0 ? (out->data ? out->data : "") : why);
}

static void test_process_async(void)
{
    struct http_settings hs;
    http_settings_default(&hs);
    char err[300];
    struct loop *l = loop_new(&hs, err, sizeof err);
    CHECK(l != NULL, "loop: %s", err);
    if (!l)
        return;
    struct async_run r = {false, -1, "", ""};
    snprintf(r.flag, sizeof r.flag, "/tmp/test_provider_flag.%d", (int)getpid());
    unlink(r.flag);
    char cmd[200];
    snprintf(cmd, sizeof cmd, "while [ ! -e %s ]; do sleep 0.01; done; printf ok", r.flag);
    CHECK(provider_process_start(l, cmd, 20, on_async_done, &r, err, sizeof err) == 0, "%s", err);
    CHECK(!r.done, "not done before returning");
    CHECK(loop_timer_add(l, 0.05, on_flag_timer, &r) != NULL, "timer");
    while (!r.done && loop_pending(l) > 0)
        loop_run_once(l, 1000);
    CHECK(r.done && r.rc == 0 && strcmp(r.out, "ok") == 0, "ran beside the loop: %d %s", r.rc,
          r.out);
    unlink(r.flag);
    loop_free(l);
}

/* ---- profiles ---- */

static void use_config(const char *config)
{
    setenv("AWS_CONFIG_FILE", unit_write_file("test_provider", config), 1);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials", 1);
}

static const char s_config[] =
    "[profile webid]\n"
    "role_arn = arn:aws:iam::111111111111:role/W\n"
    "web_identity_token_file = /var/run/token\n"
    "role_session_name = pod\n"
    "duration_seconds = 900\n"
    "[profile webid-with-source]\n"
    "role_arn = arn:aws:iam::111111111111:role/W\n"
    "web_identity_token_file = /var/run/token\n"
    "source_profile = nowhere\n"
    "[profile on-webid]\n"
    "role_arn = arn:aws:iam::222222222222:role/X\n"
    "source_profile = webid\n"
    "external_id = ext-1\n"
    "[profile webidonly]\n"
    "web_identity_token_file = /var/run/token\n"
    "[profile env]\n"
    "role_arn = arn:aws:iam::111111111111:role/E\n"
    "credential_source = Environment\n"
    "[profile ecs]\n"
    "role_arn = arn:aws:iam::111111111111:role/C\n"
    "credential_source = EcsContainer\n"
    "[profile ec2]\n"
    "role_arn = arn:aws:iam::111111111111:role/I\n"
    "credential_source = Ec2InstanceMetadata\n"
    "[profile badsource]\n"
    "role_arn = arn:aws:iam::111111111111:role/B\n"
    "credential_source = Ec2Metadata\n"
    "[profile lonesource]\n"
    "credential_source = EcsContainer\n"
    "[profile process]\n"
    "credential_process = /usr/bin/get-creds --secret " SECRET_MARK "\n"
    "[profile on-process]\n"
    "role_arn = arn:aws:iam::333333333333:role/P\n"
    "source_profile = process\n"
    "[profile processkeys]\n"
    "credential_process = /usr/bin/get-creds\n"
    "aws_access_key_id = AKIAKEYS\n"
    "aws_secret_access_key = " SECRET_MARK "\n";

static int plan(const char *profile, struct creds_plan *p, char *err, size_t errlen)
{
    err[0] = '\0';
    int rc = creds_plan_resolve(profile, p, err, errlen);
    check_no_secret(err);
    return rc;
}

static void test_profiles(void)
{
    struct creds_plan p;
    char err[400];
    use_config(s_config);

    CHECK(plan("webid", &p, err, sizeof err) == 1, "webid: %s", err);
    CHECK(p.base_kind == CREDS_BASE_WEB_IDENTITY && p.n_steps == 0, "web identity base");
    CHECK_STR(p.web.role_arn, "arn:aws:iam::111111111111:role/W", "role");
    CHECK_STR(p.web.session_name, "pod", "session");
    CHECK(p.web.duration_seconds == 900, "duration");
    CHECK_STR(p.web_token_file, "/var/run/token", "token file");
    CHECK_STR(p.base.source, "profile webid", "source");
    creds_plan_free(&p);

    CHECK(plan("webid-with-source", &p, err, sizeof err) == 1, "token file wins over source_profile: %s", err);
    CHECK(p.base_kind == CREDS_BASE_WEB_IDENTITY, "web identity base");
    creds_plan_free(&p);

    CHECK(plan("on-webid", &p, err, sizeof err) == 1, "on-webid: %s", err);
    CHECK(p.base_kind == CREDS_BASE_WEB_IDENTITY && p.n_steps == 1, "a role on web identity");
    CHECK(p.n_steps == 1 && strcmp(p.steps[0].external_id, "ext-1") == 0, "external id");
    creds_plan_free(&p);

    CHECK(plan("webidonly", &p, err, sizeof err) == -1 && strstr(err, "needs role_arn"), "%s", err);

    static const struct {
        const char *profile;
        enum creds_base_kind kind;
    } sources[] = {{"env", CREDS_BASE_ENVIRONMENT}, {"ecs", CREDS_BASE_CONTAINER}, {"ec2", CREDS_BASE_IMDS}};
    for (size_t i = 0; i < 3; i++) {
        CHECK(plan(sources[i].profile, &p, err, sizeof err) == 1, "%s: %s", sources[i].profile, err);
        CHECK(p.base_kind == sources[i].kind && p.n_steps == 1, "%s: kind and one step", sources[i].profile);
        creds_plan_free(&p);
    }
    CHECK(plan("badsource", &p, err, sizeof err) == -1 && strstr(err, "Ec2InstanceMetadata"), "%s", err);
    CHECK(plan("lonesource", &p, err, sizeof err) == -1 && strstr(err, "needs role_arn"), "%s", err);

    CHECK(plan("process", &p, err, sizeof err) == 1, "process: %s", err);
    CHECK(p.base_kind == CREDS_BASE_PROCESS && p.process && strstr(p.process, "get-creds"), "command");
    creds_plan_free(&p);
    CHECK(plan("on-process", &p, err, sizeof err) == 1, "on-process: %s", err);
    CHECK(p.base_kind == CREDS_BASE_PROCESS && p.n_steps == 1, "a role on a process");
    creds_plan_free(&p);
    CHECK(plan("processkeys", &p, err, sizeof err) == 1, "processkeys: %s", err);
    CHECK(p.base_kind == CREDS_BASE_STATIC && strcmp(p.base.access_key_id, "AKIAKEYS") == 0,
          "static keys win");
    creds_plan_free(&p);

    /* Web identity from the environment. */
    struct creds_role_step role;
    char *file = NULL;
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_ROLE_SESSION_NAME");
    CHECK(creds_web_identity_from_env(&role, &file, err, sizeof err) == 0, "unset");
    setenv("AWS_WEB_IDENTITY_TOKEN_FILE", "/t", 1);
    CHECK(creds_web_identity_from_env(&role, &file, err, sizeof err) == -1 &&
              strstr(err, "AWS_ROLE_ARN"), "no role: %s", err);
    setenv("AWS_ROLE_ARN", "arn:aws:iam::111111111111:role/R", 1);
    CHECK(creds_web_identity_from_env(&role, &file, err, sizeof err) == 1, "%s", err);
    CHECK(role.session_name && strncmp(role.session_name, "credreport-", 11) == 0, "default session");
    CHECK_STR(file, "/t", "file");
    creds_role_step_free(&role);
    free(file);
    setenv("AWS_ROLE_SESSION_NAME", "a b", 1);
    CHECK(creds_web_identity_from_env(&role, &file, err, sizeof err) == -1, "bad session name");
    unsetenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    unsetenv("AWS_ROLE_ARN");
    unsetenv("AWS_ROLE_SESSION_NAME");
}

/* ---- the provider mechanism ---- */

struct fake {
    struct aws_provider base;
    int fetches;
    time_t lifetime; /* 0: fail */
};

static void fake_fetch(struct aws_provider *p, struct aws_client *c)
{
    struct fake *f = (struct fake *)p;
    f->fetches++;
    if (!f->lifetime) {
        struct aws_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.code, sizeof e.code, "CredentialsError");
        snprintf(e.message, sizeof e.message, "fake: nothing here");
        aws_client_creds_done(c, NULL, &e);
        return;
    }
    struct aws_creds cr;
    memset(&cr, 0, sizeof cr);
    cr.access_key_id = strdup("ASIAFAKE");
    cr.secret_access_key = strdup(SECRET_MARK);
    cr.session_token = strdup("tok");
    cr.expiration = time(NULL) + f->lifetime;
    snprintf(cr.source, sizeof cr.source, "fake");
    aws_client_creds_done(c, &cr, NULL);
}

static void fake_free(struct aws_provider *p)
{
    (void)p; /* static in the test */
}

struct outcome {
    bool done;
    char code[96];
    char message[512];
};

static void on_done(void *arg, const struct aws_result *res)
{
    struct outcome *o = arg;
    o->done = true;
    snprintf(o->code, sizeof o->code, "%s", res->error.code);
    snprintf(o->message, sizeof o->message, "%s", res->error.message);
}

static void send_one(struct aws_client *c, struct outcome *o)
{
    struct aws_request r;
    aws_query_init(&r, service_find("sts"), "GetCallerIdentity", NULL);
    memset(o, 0, sizeof *o);
    aws_send(c, &r, on_done, o);
    for (int i = 0; i < 500 && !o->done; i++)
        loop_run_once(s_rt->loop, 20);
}

static void test_mechanism(void)
{
    struct outcome o;
    struct fake f = {{fake_fetch, fake_free}, 0, 3600};
    struct aws_client *c = aws_client_new_provider(s_rt->aws, &f.base);
    struct aws_creds cr;
    CHECK(aws_client_creds(c, &cr) == 0, "no credentials before the first call");
    send_one(c, &o);
    /* Port 9 refuses: the call got as far as the network with the fetched credentials. */
    CHECK(o.done && strcmp(o.code, "NetworkError") == 0, "first call: %s %s", o.code, o.message);
    CHECK(f.fetches == 1, "fetched once (%d)", f.fetches);
    send_one(c, &o);
    CHECK(f.fetches == 1, "reused (%d)", f.fetches);
    CHECK(aws_client_creds(c, &cr) == 1 && strcmp(cr.source, "fake") == 0, "credentials kept");
    creds_free(&cr);
    aws_client_unref(c);

    /* Credentials that expire within the minimum are still used right after they arrive. */
    struct fake s = {{fake_fetch, fake_free}, 0, 30};
    c = aws_client_new_provider(s_rt->aws, &s.base);
    send_one(c, &o);
    send_one(c, &o);
    CHECK(strcmp(o.code, "NetworkError") == 0 && s.fetches == 1, "short-lived: %d fetches, %s",
          s.fetches, o.code);
    aws_client_unref(c);

    /* A failed fetch fails the waiting call with the provider's error; the next call tries
     * again. */
    struct fake z = {{fake_fetch, fake_free}, 0, 0};
    c = aws_client_new_provider(s_rt->aws, &z.base);
    send_one(c, &o);
    CHECK(o.done && strcmp(o.code, "CredentialsError") == 0 && strstr(o.message, "fake"),
          "failure: %s %s", o.code, o.message);
    send_one(c, &o);
    CHECK(z.fetches == 2, "fetched again (%d)", z.fetches);
    aws_client_unref(c);
}

int main(void)
{
    /* The mechanism's calls must go to the refusing port, whatever the caller's setup. */
    unsetenv("AWS_ENDPOINT_URL");
    unsetenv("AWS_ENDPOINT_URL_STS");
    test_container_url();
    test_times();
    test_process();
    test_process_async();
    test_profiles();

    struct runtime_options ro;
    memset(&ro, 0, sizeof ro);
    http_settings_default(&ro.http);
    retry_config_default(&ro.retry);
    ro.retry.max_attempts = 1;
    ro.region = "us-east-1";
    ro.endpoints.global = "http://127.0.0.1:9";
    char err[256];
    CHECK(loop_global_init() == 0, "curl");
    s_rt = runtime_new(&ro, err, sizeof err);
    CHECK(s_rt != NULL, "runtime: %s", err);
    if (s_rt) {
        test_json();
        test_mechanism();
        runtime_free(s_rt);
    }
    loop_global_cleanup();
    unit_remove_files();
    return unit_report("test_provider");
}
