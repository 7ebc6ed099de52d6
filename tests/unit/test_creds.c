/* Static credentials: the environment, the shared files (parsing, precedence, odd but legal
 * layouts, malformed files), source_profile chains, loops, unsupported sources, and that no
 * secret ever reaches an error message. */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <ini.h>

#include "aws/credentials/creds.h"
#include "unit.h"

/* Every secret and token in these tests contains one of these; no error may. */
#define SECRET_MARK "zzSECRETzz"
#define TOKEN_MARK "zzTOKENzz"

static char s_dir[64];

static void check_no_secret(const char *err)
{
    CHECK(strstr(err, SECRET_MARK) == NULL && strstr(err, TOKEN_MARK) == NULL,
          "a secret in an error message: %s", err);
}

static const char *write_file(const char *content)
{
    return unit_write_file("test_creds", content);
}

static void use_files(const char *credentials, const char *config)
{
    setenv("AWS_SHARED_CREDENTIALS_FILE", credentials ? write_file(credentials) : "/nonexistent/c", 1);
    setenv("AWS_CONFIG_FILE", config ? write_file(config) : "/nonexistent/config", 1);
}

static void clear_env(void)
{
    static const char *const vars[] = {
        "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN", "AWS_PROFILE", "AWS_SHARED_CREDENTIALS_FILE", "AWS_CONFIG_FILE",
    };
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
}

/* Runs creds_plan_resolve, checks the return code and that the error is clean. */
static int plan_for(const char *profile, struct creds_plan *p, char *err, size_t errlen)
{
    err[0] = '\0';
    memset(p, 0x5a, sizeof *p);
    int rc = creds_plan_resolve(profile, p, err, errlen);
    check_no_secret(err);
    if (rc != 1) {
        CHECK(p->base.access_key_id == NULL && p->steps == NULL && p->n_steps == 0,
              "nothing allocated unless found");
    }
    return rc;
}

static void expect_error(const char *profile, const char *needle, const char *needle2)
{
    struct creds_plan p;
    char err[512];
    int rc = plan_for(profile, &p, err, sizeof err);
    CHECK(rc == -1, "profile %s: want an error containing \"%s\", got rc %d", profile ? profile : "(null)",
          needle, rc);
    CHECK(strstr(err, needle) != NULL, "error \"%s\" should contain \"%s\"", err, needle);
    if (needle2)
        CHECK(strstr(err, needle2) != NULL, "error \"%s\" should contain \"%s\"", err, needle2);
    creds_plan_free(&p);
}

static void test_env(void)
{
    struct aws_creds c;
    char err[256];

    clear_env();
    memset(&c, 0x5a, sizeof c);
    CHECK(creds_from_env(&c, err, sizeof err) == 0, "nothing set");
    CHECK(c.access_key_id == NULL && c.secret_access_key == NULL, "zeroed");

    setenv("AWS_ACCESS_KEY_ID", "AKIAENV", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "env" SECRET_MARK, 1);
    CHECK(creds_from_env(&c, err, sizeof err) == 1, "both set: %s", err);
    CHECK_STR(c.access_key_id, "AKIAENV", "akid");
    CHECK_STR(c.secret_access_key, "env" SECRET_MARK, "secret");
    CHECK(c.session_token == NULL, "no token");
    CHECK(c.expiration == 0, "no expiration");
    CHECK_STR(c.source, "environment", "source");

    /* copy is deep */
    struct aws_creds d;
    CHECK(creds_copy(&d, &c) == 0, "copy");
    CHECK(d.access_key_id != c.access_key_id && d.secret_access_key != c.secret_access_key,
          "deep");
    CHECK_STR(d.access_key_id, "AKIAENV", "copy akid");
    CHECK_STR(d.secret_access_key, "env" SECRET_MARK, "copy secret");
    CHECK(d.session_token == NULL, "copy token NULL");
    CHECK_STR(d.source, "environment", "copy source");
    creds_free(&c);
    CHECK(c.access_key_id == NULL && c.secret_access_key == NULL && c.source[0] == '\0',
          "freed and zeroed");
    creds_free(&c); /* twice is fine */
    CHECK_STR(d.secret_access_key, "env" SECRET_MARK, "copy survives the original");
    creds_free(&d);
    creds_free(NULL);

    setenv("AWS_SESSION_TOKEN", "tok" TOKEN_MARK, 1);
    CHECK(creds_from_env(&c, err, sizeof err) == 1, "with token");
    CHECK_STR(c.session_token, "tok" TOKEN_MARK, "token");
    c.expiration = 1234;
    CHECK(creds_copy(&d, &c) == 0, "copy");
    CHECK_STR(d.session_token, "tok" TOKEN_MARK, "copy token");
    CHECK(d.session_token != c.session_token && d.expiration == 1234, "deep token, expiration");
    creds_free(&d);
    creds_free(&c);

    /* the legacy variable as a fallback */
    unsetenv("AWS_SESSION_TOKEN");
    setenv("AWS_SECURITY_TOKEN", "legacy" TOKEN_MARK, 1);
    CHECK(creds_from_env(&c, err, sizeof err) == 1, "legacy token");
    CHECK_STR(c.session_token, "legacy" TOKEN_MARK, "AWS_SECURITY_TOKEN");
    creds_free(&c);
    setenv("AWS_SESSION_TOKEN", "", 1);
    CHECK(creds_from_env(&c, err, sizeof err) == 1, "empty token");
    CHECK_STR(c.session_token, "legacy" TOKEN_MARK, "empty AWS_SESSION_TOKEN falls back");
    creds_free(&c);
    unsetenv("AWS_SECURITY_TOKEN");
    CHECK(creds_from_env(&c, err, sizeof err) == 1, "empty token");
    CHECK(c.session_token == NULL, "empty token is none");
    creds_free(&c);

    /* one of the two */
    unsetenv("AWS_SECRET_ACCESS_KEY");
    err[0] = '\0';
    memset(&c, 0x5a, sizeof c);
    CHECK(creds_from_env(&c, err, sizeof err) == -1, "only the key id");
    CHECK(strstr(err, "AWS_SECRET_ACCESS_KEY is not") != NULL, "says which: %s", err);
    CHECK(c.access_key_id == NULL, "zeroed on error");
    check_no_secret(err);
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    CHECK(creds_from_env(&c, err, sizeof err) == -1, "empty secret counts as unset");
    unsetenv("AWS_ACCESS_KEY_ID");
    setenv("AWS_SECRET_ACCESS_KEY", "only" SECRET_MARK, 1);
    err[0] = '\0';
    CHECK(creds_from_env(&c, err, sizeof err) == -1, "only the secret");
    CHECK(strstr(err, "AWS_ACCESS_KEY_ID is not") != NULL, "says which: %s", err);
    check_no_secret(err);
    CHECK(creds_from_env(&c, NULL, 0) == -1, "no error buffer");
    setenv("AWS_ACCESS_KEY_ID", "", 1);
    CHECK(creds_from_env(&c, err, sizeof err) == -1, "empty key id counts as unset");
    setenv("AWS_SECRET_ACCESS_KEY", "", 1);
    CHECK(creds_from_env(&c, err, sizeof err) == 0, "both empty: not set");
    clear_env();
}

static void test_basic_profiles(void)
{
    struct creds_plan p;
    char err[512];

    clear_env();
    use_files("[default]\n"
              "aws_access_key_id = AKIADEFAULT\n"
              "aws_secret_access_key = def" SECRET_MARK "\n"
              "\n"
              "[dev]\n"
              "aws_access_key_id=AKIADEVCRED\n"
              "aws_session_token=dev" TOKEN_MARK "\n",
              "[default]\n"
              "region = eu-west-1\n"
              "[profile dev]\n"
              "aws_access_key_id = AKIADEVCONFIG\n"
              "aws_secret_access_key = devcfg" SECRET_MARK "\n"
              "region = us-west-2\n"
              "[profile regiononly]\n"
              "region = ap-south-1\n"
              "output = json\n");

    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "default: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIADEFAULT", "default akid");
    CHECK_STR(p.base.secret_access_key, "def" SECRET_MARK, "default secret");
    CHECK(p.base.session_token == NULL, "no token");
    CHECK_STR(p.base.source, "profile default", "source");
    CHECK_STR(p.region, "eu-west-1", "region from the config file");
    CHECK(p.n_steps == 0 && p.steps == NULL, "no steps");
    creds_plan_free(&p);
    CHECK(p.base.access_key_id == NULL && p.region[0] == '\0', "freed and zeroed");
    creds_plan_free(&p);

    /* per key, the credentials file wins; the rest comes from the config file */
    CHECK(plan_for("dev", &p, err, sizeof err) == 1, "dev: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIADEVCRED", "credentials file wins");
    CHECK_STR(p.base.secret_access_key, "devcfg" SECRET_MARK, "secret from config");
    CHECK_STR(p.base.session_token, "dev" TOKEN_MARK, "token from credentials");
    CHECK_STR(p.region, "us-west-2", "dev region");
    CHECK_STR(p.base.source, "profile dev", "source");
    creds_plan_free(&p);

    /* AWS_PROFILE, and the argument over it */
    setenv("AWS_PROFILE", "dev", 1);
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "AWS_PROFILE: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIADEVCRED", "AWS_PROFILE=dev");
    creds_plan_free(&p);
    CHECK(plan_for("default", &p, err, sizeof err) == 1, "explicit: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIADEFAULT", "argument beats AWS_PROFILE");
    creds_plan_free(&p);
    CHECK(plan_for("", &p, err, sizeof err) == 1, "empty argument: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIADEVCRED", "empty argument: AWS_PROFILE");
    creds_plan_free(&p);
    setenv("AWS_PROFILE", "nosuch", 1);
    expect_error(NULL, "nosuch", "not found");
    setenv("AWS_PROFILE", "", 1);
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "empty AWS_PROFILE: default");
    creds_plan_free(&p);
    unsetenv("AWS_PROFILE");

    /* an explicit profile that does not exist is an error */
    expect_error("nosuch", "profile nosuch not found", NULL);

    /* a profile with no credential settings: 0, with its region */
    CHECK(plan_for("regiononly", &p, err, sizeof err) == 0, "region only: %s", err);
    CHECK_STR(p.region, "ap-south-1", "region kept");
    creds_plan_free(&p);

    /* no files at all: the default profile is simply not there */
    use_files(NULL, NULL);
    CHECK(plan_for(NULL, &p, err, sizeof err) == 0, "no files: %s", err);
    CHECK(p.region[0] == '\0', "no region");
    expect_error("dev", "profile dev not found", "/nonexistent/c");

    /* only a config file */
    use_files(NULL, "[default]\naws_access_key_id=AKIACFG\naws_secret_access_key=c" SECRET_MARK
                    "\n");
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "config only: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIACFG", "config-file keys");
    creds_plan_free(&p);
}

static void test_sections(void)
{
    struct creds_plan p;
    char err[512];

    clear_env();
    /* In the config file only [default] and [profile X] are profiles; in the credentials file
     * every section is. */
    use_files("[profile odd]\naws_access_key_id=AKIAODD\naws_secret_access_key=o" SECRET_MARK
              "\n",
              "[plain]\naws_access_key_id=AKIAPLAIN\naws_secret_access_key=p" SECRET_MARK "\n"
              "[profile    spaced]\naws_access_key_id=AKIASPACED\naws_secret_access_key=s"
              SECRET_MARK "\n"
              "[profile two words]\naws_access_key_id=AKIATWO\naws_secret_access_key=t"
              SECRET_MARK "\n"
              "[sso-session corp]\nsso_region = us-east-1\naws_access_key_id = AKIASSO\n"
              "[services local]\ns3 =\n  endpoint_url = http://localhost\n"
              "[profiledefault]\naws_access_key_id=AKIAX\n"
              "[profile default]\naws_access_key_id=AKIAPD\naws_secret_access_key=pd"
              SECRET_MARK "\n");
    expect_error("plain", "profile plain not found", NULL);
    CHECK(plan_for("spaced", &p, err, sizeof err) == 1, "spaced: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIASPACED", "[profile    spaced]");
    creds_plan_free(&p);
    expect_error("two words", "not found", NULL);
    expect_error("two", "not found", NULL);
    expect_error("corp", "not found", NULL);
    expect_error("local", "not found", NULL);
    CHECK(plan_for("profile odd", &p, err, sizeof err) == 1, "credentials [profile odd]: %s",
          err);
    CHECK_STR(p.base.access_key_id, "AKIAODD", "a credentials section is the whole name");
    creds_plan_free(&p);
    expect_error("odd", "not found", NULL);
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "[profile default]: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIAPD", "[profile default] is the default profile");
    creds_plan_free(&p);

    /* A long profile name (inih cuts section names at 50 bytes) */
    char name[200], creds[600];
    memset(name, 'n', 150);
    name[150] = '\0';
    snprintf(creds, sizeof creds,
             "[%.140sx]\naws_access_key_id=AKIAWRONG\naws_secret_access_key=w" SECRET_MARK "\n"
             "[%s]\naws_access_key_id=AKIALONG\naws_secret_access_key=l" SECRET_MARK "\n",
             name, name);
    use_files(creds, NULL);
    CHECK(plan_for(name, &p, err, sizeof err) == 1, "long name: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIALONG", "long section name kept whole");
    CHECK(strncmp(p.base.source, "profile nnnn", 12) == 0 && strlen(p.base.source) == 47,
          "source truncated to fit: %s", p.base.source);
    creds_plan_free(&p);
}

static void test_syntax(void)
{
    struct creds_plan p;
    char err[512];

    clear_env();
    /* BOM, CRLF, comments, inline comments, ':' delimiter, key case, blank lines, spaces */
    use_files("\xEF\xBB\xBF# a comment\r\n"
              "; another\r\n"
              "\r\n"
              "[default]   \r\n"
              "  # indented comment\r\n"
              "AWS_Access_Key_Id : AKIASYNTAX   ; inline comment\r\n"
              "aws_secret_access_key=   syn" SECRET_MARK "#not-a-comment   \r\n"
              "unknown_key = whatever\r\n",
              "[default]\nregion=eu-north-1 ; comment\n");
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "syntax: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIASYNTAX", "':' delimiter, key case, inline comment");
    CHECK_STR(p.base.secret_access_key, "syn" SECRET_MARK "#not-a-comment", "'#' inside");
    CHECK_STR(p.region, "eu-north-1", "region");
    creds_plan_free(&p);

    /* Indentation as the AWS CLI reads it: nested settings (deeper-indented lines after an
     * option) are ignored; options indented alike are options. */
    use_files("[default]\n"
              "  aws_access_key_id = AKIAINDENT\n"
              "  aws_secret_access_key = ind" SECRET_MARK "\n"
              "  aws_session_token = ind" TOKEN_MARK "\n",
              "[default]\n"
              "s3 =\n"
              "    max_concurrent_requests = 20\n"
              "    region = xx-nested-1\n"
              "region = ca-central-1\n"
              "api_versions =\n"
              "\tec2 = 2015-03-01\n");
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "indented: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIAINDENT", "indented key id");
    CHECK_STR(p.base.secret_access_key, "ind" SECRET_MARK, "indented secret");
    CHECK_STR(p.base.session_token, "ind" TOKEN_MARK, "indented token");
    CHECK_STR(p.region, "ca-central-1", "nested region ignored");
    creds_plan_free(&p);

    /* Values longer than inih's line buffer: session tokens are. */
    static char token[3000], secret[400], creds[8000], config[4000];
    memcpy(token, TOKEN_MARK, strlen(TOKEN_MARK));
    for (size_t i = strlen(TOKEN_MARK); i < 2500; i++)
        token[i] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/="[i % 65];
    token[2500] = '\0';
    memcpy(secret, SECRET_MARK, strlen(SECRET_MARK));
    memset(secret + strlen(SECRET_MARK), 's', 300);
    secret[strlen(SECRET_MARK) + 300] = '\0';
    snprintf(creds, sizeof creds,
             "[default]\n"
             "aws_access_key_id = AKIALONG\n"
             "aws_secret_access_key = %s\n"
             "aws_session_token=%s   ; a comment after a long value\n"
             "[next]\n"
             "aws_access_key_id = AKIANEXT\n"
             "aws_secret_access_key : %s\n",
             secret, token, secret);
    snprintf(config, sizeof config, "[profile next]\naws_session_token   =   %s\nregion=sa-east-1\n",
             token);
    use_files(creds, config);
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "long values: %s", err);
    CHECK_STR(p.base.secret_access_key, secret, "long secret");
    CHECK_STR(p.base.session_token, token, "long token, comment stripped");
    creds_plan_free(&p);
    CHECK(plan_for("next", &p, err, sizeof err) == 1, "long values: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIANEXT", "line after long lines");
    CHECK_STR(p.base.secret_access_key, secret, "long secret with ':'");
    CHECK_STR(p.base.session_token, token, "long token from the config file");
    CHECK_STR(p.region, "sa-east-1", "region after a long line");
    creds_plan_free(&p);

    /* an empty value is no value */
    use_files("[default]\naws_access_key_id=AKIAE\naws_secret_access_key=e" SECRET_MARK
              "\naws_session_token=\n",
              "[default]\nregion =\n");
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "empty values: %s", err);
    CHECK(p.base.session_token == NULL, "empty token is none");
    CHECK(p.region[0] == '\0', "empty region is none");
    creds_plan_free(&p);

    /* an empty file, a file of comments */
    use_files("", "# nothing\n\n");
    CHECK(plan_for(NULL, &p, err, sizeof err) == 0, "empty files");
}

static void test_malformed(void)
{
    char err[512];
    struct creds_plan p;
    const char *path;

    clear_env();
    /* the line number, the file, never the content */
    path = write_file("[default]\n"
                      "aws_secret_access_key = bad" SECRET_MARK "\n"
                      "this line has no equals " SECRET_MARK "\n");
    setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
    setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    expect_error(NULL, "line 3", path);
    expect_error(NULL, "credentials file", NULL);

    use_files("[default\naws_access_key_id = x\n", NULL);
    expect_error(NULL, "line 1", "credentials file");

    use_files(NULL, "[default]\nregion = us-east-1\n[profile x\n");
    expect_error(NULL, "line 3", "config file");

    use_files("aws_access_key_id = AKIA\naws_secret_access_key = x" SECRET_MARK "\n", NULL);
    expect_error(NULL, "line 1", "outside");

    /* a long malformed line */
    static char big[2000];
    strcpy(big, "[default]\n\n");
    size_t n = strlen(big);
    memset(big + n, 'x', 1000);
    strcpy(big + n + 1000, SECRET_MARK "\n");
    use_files(big, NULL);
    expect_error(NULL, "line 3", "malformed");

    /* a long line whose name is cut by an inline comment */
    strcpy(big, "[default]\nname ; comment = ");
    n = strlen(big);
    memset(big + n, 'v', 500);
    strcpy(big + n + 500, "\n");
    use_files(big, NULL);
    expect_error(NULL, "line 2", "malformed");

    /* a long line whose name alone is too long */
    strcpy(big, "[default]\n");
    n = strlen(big);
    memset(big + n, 'k', 500);
    strcpy(big + n + 500, "=v\n");
    use_files(big, NULL);
    expect_error(NULL, "line 2", "too long");

    /* the first error wins: ours (line 2) before inih's (line 3) and the other way round */
    strcpy(big, "[default]\n");
    n = strlen(big);
    memset(big + n, 'x', 500);
    strcpy(big + n + 500, "\n[broken\n");
    use_files(big, NULL);
    expect_error(NULL, "line 2", NULL);
    strcpy(big, "[default]\n[broken\n");
    n = strlen(big);
    memset(big + n, 'x', 500);
    strcpy(big + n + 500, "\n");
    use_files(big, NULL);
    expect_error(NULL, "line 2", NULL);

    /* a NUL byte */
    {
        char tmpl[] = "/tmp/test_creds.XXXXXX";
        int fd = mkstemp(tmpl);
        static const char data[] = "[default]\nregion = us\0east-1\n";
        CHECK(write(fd, data, sizeof data - 1) == (ssize_t)(sizeof data - 1), "write");
        close(fd);
        setenv("AWS_SHARED_CREDENTIALS_FILE", tmpl, 1);
        expect_error(NULL, "line 2", "NUL");
        unlink(tmpl);
    }

    /* a directory is not a file */
    setenv("AWS_SHARED_CREDENTIALS_FILE", s_dir, 1);
    expect_error(NULL, s_dir, NULL);

    /* a malformed file is an error even if the profile is elsewhere */
    use_files("[default]\naws_access_key_id=a\naws_secret_access_key=b" SECRET_MARK "\n",
              "[profile x]\nbroken\n");
    CHECK(plan_for(NULL, &p, err, sizeof err) == -1, "malformed config");
    CHECK(strstr(err, "line 2") != NULL, "%s", err);
}

/* Keys that fill inih's 200-byte line buffer exactly, on lines too long for it (the value is
 * kept apart): "key=\n" and its NUL must fit. Debian's inih can take its line buffer from the
 * heap, where AddressSanitizer sees a write past it (on its stack it would go unseen). */
static void test_line_buffer_edges(void)
{
    bool use_stack = ini_use_stack;
    ini_use_stack = false;
    for (size_t klen = 190; klen <= 200; klen++) {
        char big[1200];
        strcpy(big, "[default]\n");
        size_t n = strlen(big);
        memset(big + n, 'k', klen);
        n += klen;
        big[n++] = '=';
        memset(big + n, 'v', 400);
        strcpy(big + n + 400, "\nregion = eu-west-1\n");
        use_files(big, NULL);
        struct creds_plan p;
        char err[512];
        int rc = plan_for(NULL, &p, err, sizeof err);
        if (klen <= 197)
            CHECK(rc == 0 && strcmp(p.region, "eu-west-1") == 0,
                  "key of %zu bytes: rc %d, %s", klen, rc, err);
        else
            CHECK(rc == -1 && strstr(err, "line 2") && strstr(err, "too long"),
                  "key of %zu bytes: rc %d, %s", klen, rc, err);
        creds_plan_free(&p);
    }
    ini_use_stack = use_stack;
}

static void test_file_paths(void)
{
    struct creds_plan p;
    char err[512];
    char path[128];

    clear_env();
    setenv("HOME", s_dir, 1);
    snprintf(path, sizeof path, "%s/.aws", s_dir);
    CHECK(mkdir(path, 0700) == 0, "mkdir");
    snprintf(path, sizeof path, "%s/.aws/credentials", s_dir);
    FILE *f = fopen(path, "w");
    CHECK(f != NULL, "fopen");
    if (!f)
        return;
    fputs("[default]\naws_access_key_id=AKIAHOME\naws_secret_access_key=h" SECRET_MARK "\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/.aws/config", s_dir);
    f = fopen(path, "w");
    CHECK(f != NULL, "fopen");
    if (!f)
        return;
    fputs("[default]\nregion=af-south-1\n", f);
    fclose(f);

    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "defaults under HOME: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIAHOME", "~/.aws/credentials");
    CHECK_STR(p.region, "af-south-1", "~/.aws/config");
    creds_plan_free(&p);

    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", 1);
    setenv("AWS_CONFIG_FILE", "~/.aws/nonexistent", 1);
    CHECK(plan_for(NULL, &p, err, sizeof err) == 1, "~ expanded: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIAHOME", "~ expanded");
    CHECK(p.region[0] == '\0', "other config file");
    creds_plan_free(&p);

    /* A shared file others can change is refused: it names the keys and roles used. */
    snprintf(path, sizeof path, "%s/.aws/credentials", s_dir);
    chmod(path, 0666);
    setenv("AWS_SHARED_CREDENTIALS_FILE", "~/.aws/credentials", 1);
    CHECK(plan_for(NULL, &p, err, sizeof err) == -1, "a world-writable credentials file");
    CHECK(strstr(err, "credentials file") && strstr(err, "can be changed by other users"), "%s", err);
    creds_plan_free(&p);
    chmod(path, 0600);

    unsetenv("HOME");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    unsetenv("AWS_CONFIG_FILE");
    CHECK(plan_for(NULL, &p, err, sizeof err) == 0, "no HOME, no files: %s", err);

    snprintf(path, sizeof path, "%s/.aws/credentials", s_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/.aws/config", s_dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/.aws", s_dir);
    rmdir(path);
}

static const char s_chain_config[] =
    "[profile base]\n"
    "region = us-east-2\n"
    "[profile admin]\n"
    "role_arn = arn:aws:iam::111111111111:role/Admin\n"
    "source_profile = base\n"
    "external_id = ext-123\n"
    "role_session_name = my.session@x\n"
    "duration_seconds = 3600\n"
    "region = eu-west-1\n"
    "[profile audit]\n"
    "role_arn = arn:aws:iam::222222222222:role/Audit\n"
    "source_profile = admin\n"
    "region = us-gov-west-1\n"
    "[profile self]\n"
    "role_arn = arn:aws:iam::333333333333:role/Self\n"
    "source_profile = self\n"
    "[profile both]\n"
    "role_arn = arn:aws:iam::444444444444:role/Both\n"
    "source_profile = base\n"
    "[profile mid]\n"
    "role_arn = arn:aws:iam::555555555555:role/Ignored\n"
    "source_profile = nowhere\n"
    "[profile viamid]\n"
    "role_arn = arn:aws:iam::666666666666:role/ViaMid\n"
    "source_profile = mid\n"
    "[profile loopa]\n"
    "role_arn = arn:aws:iam::111111111111:role/A\n"
    "source_profile = loopb\n"
    "[profile loopb]\n"
    "role_arn = arn:aws:iam::111111111111:role/B\n"
    "source_profile = loopa\n"
    "[profile intoloop]\n"
    "role_arn = arn:aws:iam::111111111111:role/X\n"
    "source_profile = loopa\n"
    "[profile selfloop]\n"
    "role_arn = arn:aws:iam::111111111111:role/S\n"
    "source_profile = selfloop\n"
    "[profile dangling]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\n"
    "source_profile = ghost\n"
    "[profile nosource]\n"
    "role_arn = arn:aws:iam::111111111111:role/N\n"
    "[profile emptysource]\n"
    "role_arn = arn:aws:iam::111111111111:role/E\n"
    "source_profile = regiononly\n"
    "[profile regiononly]\n"
    "region = us-west-1\n"
    "[profile credsource]\n"
    "role_arn = arn:aws:iam::111111111111:role/C\n"
    "credential_source = Ec2InstanceMetadata\n"
    "[profile credsourcekeys]\n"
    "role_arn = arn:aws:iam::111111111111:role/C\n"
    "credential_source = Environment\n"
    "[profile twosources]\n"
    "role_arn = arn:aws:iam::111111111111:role/T\n"
    "source_profile = base\n"
    "credential_source = Environment\n"
    "[profile webid]\n"
    "role_arn = arn:aws:iam::111111111111:role/W\n"
    "web_identity_token_file = /var/run/token\n"
    "[profile webidonly]\n"
    "web_identity_token_file = /var/run/token\n"
    "[profile webidkeys]\n"
    "web_identity_token_file = /var/run/token\n"
    "[profile process]\n"
    "credential_process = /usr/bin/get-creds --json\n"
    "[profile processkeys]\n"
    "credential_process = /usr/bin/get-creds --json\n"
    "[profile lonesource]\n"
    "credential_source = EcsContainer\n"
    "[profile badarn]\n"
    "role_arn = role/Admin\n"
    "source_profile = base\n"
    "[profile baddur1]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nduration_seconds = abc\n"
    "[profile baddur2]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nduration_seconds = 899\n"
    "[profile baddur3]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nduration_seconds = 43201\n"
    "[profile baddur4]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nduration_seconds = 3600s\n"
    "[profile okdur]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nduration_seconds = 43200\n"
    "[profile badsess1]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nrole_session_name = a\n"
    "[profile badsess2]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nrole_session_name = has space\n"
    "[profile badsess3]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\n"
    "role_session_name = 12345678901234567890123456789012345678901234567890123456789012345\n"
    "[profile badregion]\n"
    "region = US-EAST-1\n"
    "[profile badsteregion]\n"
    "role_arn = arn:aws:iam::111111111111:role/D\nsource_profile = base\nregion = eu west\n"
    "[profile partial]\n"
    "aws_access_key_id = AKIAPARTIAL\n"
    "[profile partial2]\n"
    "aws_secret_access_key = p2" SECRET_MARK "\n"
    "[profile viapartial]\n"
    "role_arn = arn:aws:iam::111111111111:role/V\nsource_profile = partial\n";

static const char s_chain_creds[] =
    "[base]\n"
    "aws_access_key_id = AKIABASE\n"
    "aws_secret_access_key = base" SECRET_MARK "\n"
    "aws_session_token = base" TOKEN_MARK "\n"
    "[self]\n"
    "aws_access_key_id = AKIASELF\n"
    "aws_secret_access_key = self" SECRET_MARK "\n"
    "[both]\n"
    "aws_access_key_id = AKIABOTH\n"
    "aws_secret_access_key = both" SECRET_MARK "\n"
    "[mid]\n"
    "aws_access_key_id = AKIAMID\n"
    "aws_secret_access_key = mid" SECRET_MARK "\n"
    "[credsourcekeys]\n"
    "aws_access_key_id = AKIACSK\n"
    "aws_secret_access_key = csk" SECRET_MARK "\n"
    "[webidkeys]\n"
    "aws_access_key_id = AKIAWEBID\n"
    "aws_secret_access_key = webid" SECRET_MARK "\n"
    "[processkeys]\n"
    "aws_access_key_id = AKIAPROC\n"
    "aws_secret_access_key = proc" SECRET_MARK "\n";

static bool session_name_ok(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    if (n < 2 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_+=,.@-",
                    s[i]))
            return false;
    return true;
}

static void test_chains(void)
{
    struct creds_plan p;
    char err[512];

    clear_env();
    use_files(s_chain_creds, s_chain_config);

    /* one role on static keys */
    CHECK(plan_for("admin", &p, err, sizeof err) == 1, "admin: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIABASE", "base keys");
    CHECK_STR(p.base.session_token, "base" TOKEN_MARK, "base token");
    CHECK_STR(p.base.source, "profile base", "base source");
    CHECK_STR(p.region, "eu-west-1", "the requested profile's region");
    CHECK(p.n_steps == 1, "one step: %zu", p.n_steps);
    if (p.n_steps == 1) {
        CHECK_STR(p.steps[0].role_arn, "arn:aws:iam::111111111111:role/Admin", "role");
        CHECK_STR(p.steps[0].external_id, "ext-123", "external id");
        CHECK_STR(p.steps[0].session_name, "my.session@x", "session name");
        CHECK(p.steps[0].duration_seconds == 3600, "duration");
        CHECK_STR(p.steps[0].region, "eu-west-1", "step region");
    }
    creds_plan_free(&p);

    /* two roles: assumed from the base up */
    CHECK(plan_for("audit", &p, err, sizeof err) == 1, "audit: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIABASE", "base keys");
    CHECK_STR(p.region, "us-gov-west-1", "audit region");
    CHECK(p.n_steps == 2, "two steps: %zu", p.n_steps);
    if (p.n_steps == 2) {
        CHECK_STR(p.steps[0].role_arn, "arn:aws:iam::111111111111:role/Admin", "first Admin");
        CHECK_STR(p.steps[1].role_arn, "arn:aws:iam::222222222222:role/Audit", "then Audit");
        CHECK(p.steps[1].external_id == NULL, "no external id");
        CHECK(p.steps[1].duration_seconds == 0, "default duration");
        CHECK(session_name_ok(p.steps[1].session_name), "default session name valid: %s",
              p.steps[1].session_name);
        CHECK(strncmp(p.steps[1].session_name, "credreport-", 11) == 0, "default: %s",
              p.steps[1].session_name);
        CHECK_STR(p.steps[1].region, "us-gov-west-1", "step region");
    }
    creds_plan_free(&p);

    /* a profile that is its own source, with keys */
    CHECK(plan_for("self", &p, err, sizeof err) == 1, "self: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIASELF", "own keys as base");
    CHECK(p.n_steps == 1 && strcmp(p.steps[0].role_arn, "arn:aws:iam::333333333333:role/Self") == 0,
          "own role");
    CHECK(p.steps[0].region == NULL, "no region");
    CHECK(p.region[0] == '\0', "no plan region");
    creds_plan_free(&p);

    /* the requested profile: role_arn wins over its own keys */
    CHECK(plan_for("both", &p, err, sizeof err) == 1, "both: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIABASE", "source_profile's keys, not its own");
    CHECK(p.n_steps == 1, "role step");
    creds_plan_free(&p);

    /* a source profile: its keys win over its role_arn (the chain stops there) */
    CHECK(plan_for("viamid", &p, err, sizeof err) == 1, "viamid: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIAMID", "mid's keys");
    CHECK_STR(p.base.source, "profile mid", "source");
    CHECK(p.n_steps == 1 && strstr(p.steps[0].role_arn, "ViaMid"), "only viamid's role");
    creds_plan_free(&p);
    expect_error("mid", "nowhere", "does not exist"); /* requested directly, the role counts */

    /* loops */
    expect_error("loopa", "loopa -> loopb -> loopa", "loop");
    expect_error("loopb", "loopb -> loopa -> loopb", NULL);
    expect_error("intoloop", "intoloop -> loopa -> loopb -> loopa", NULL);
    expect_error("selfloop", "selfloop -> selfloop", NULL);

    /* broken chains */
    expect_error("dangling", "ghost", "does not exist");
    expect_error("nosource", "nosource", "source_profile");
    expect_error("emptysource", "regiononly", "no credentials");
    expect_error("viapartial", "aws_secret_access_key is not", "partial");

    /* the other sources (fetched by the providers, core/aws/credentials/provider_*.c; see test_provider.c) */
    CHECK(plan_for("credsource", &p, err, sizeof err) == 1 && p.base_kind == CREDS_BASE_IMDS &&
              p.n_steps == 1, "credential_source = Ec2InstanceMetadata: %s", err);
    creds_plan_free(&p);
    CHECK(plan_for("credsourcekeys", &p, err, sizeof err) == 1 &&
              p.base_kind == CREDS_BASE_ENVIRONMENT, "credential_source = Environment: %s", err);
    creds_plan_free(&p);
    expect_error("twosources", "both source_profile and credential_source", NULL);
    CHECK(plan_for("webid", &p, err, sizeof err) == 1 && p.base_kind == CREDS_BASE_WEB_IDENTITY,
          "role_arn + web_identity_token_file: %s", err);
    creds_plan_free(&p);
    expect_error("webidonly", "web_identity_token_file", "needs role_arn");
    CHECK(plan_for("process", &p, err, sizeof err) == 1 && p.base_kind == CREDS_BASE_PROCESS,
          "credential_process: %s", err);
    creds_plan_free(&p);
    expect_error("lonesource", "credential_source", "needs role_arn");
    CHECK(plan_for("webidkeys", &p, err, sizeof err) == 1, "webid with keys: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIAWEBID", "static keys win");
    creds_plan_free(&p);
    CHECK(plan_for("processkeys", &p, err, sizeof err) == 1, "process with keys: %s", err);
    CHECK_STR(p.base.access_key_id, "AKIAPROC", "static keys win");
    CHECK(p.n_steps == 0, "no steps");
    creds_plan_free(&p);

    /* settings checked */
    expect_error("badarn", "badarn", "role_arn");
    expect_error("baddur1", "duration_seconds", "baddur1");
    expect_error("baddur2", "duration_seconds", NULL);
    expect_error("baddur3", "duration_seconds", NULL);
    expect_error("baddur4", "duration_seconds", NULL);
    CHECK(plan_for("okdur", &p, err, sizeof err) == 1, "43200: %s", err);
    CHECK(p.n_steps == 1 && p.steps[0].duration_seconds == 43200, "43200");
    creds_plan_free(&p);
    expect_error("badsess1", "role_session_name", NULL);
    expect_error("badsess2", "role_session_name", NULL);
    expect_error("badsess3", "role_session_name", NULL);
    expect_error("badregion", "region", "badregion");
    expect_error("badsteregion", "region", "badsteregion");
    expect_error("partial", "aws_secret_access_key is not", "partial");
    expect_error("partial2", "aws_access_key_id is not", "partial2");

    /* keys from the credentials file, role from the config file, for the same profile */
    use_files("[hybrid]\nrole_arn = arn:aws:iam::777777777777:role/FromCreds\n"
              "[src]\naws_access_key_id=AKIASRC\naws_secret_access_key=src" SECRET_MARK "\n",
              "[profile hybrid]\nrole_arn = arn:aws:iam::777777777777:role/FromConfig\n"
              "source_profile = src\n");
    CHECK(plan_for("hybrid", &p, err, sizeof err) == 1, "hybrid: %s", err);
    CHECK(p.n_steps == 1 && strcmp(p.steps[0].role_arn, "arn:aws:iam::777777777777:role/FromCreds") == 0,
          "credentials file's role_arn wins");
    CHECK_STR(p.base.access_key_id, "AKIASRC", "source from the config file");
    creds_plan_free(&p);

    /* a long chain */
    static char cfg[20000];
    size_t off = 0;
    off += (size_t)snprintf(cfg + off, sizeof cfg - off,
                            "[profile p0]\naws_access_key_id=AKIA0\naws_secret_access_key=s"
                            SECRET_MARK "\n");
    for (int i = 1; i <= 30; i++)
        off += (size_t)snprintf(cfg + off, sizeof cfg - off,
                                "[profile p%d]\nrole_arn=arn:aws:iam::111111111111:role/R%d\n"
                                "source_profile=p%d\n",
                                i, i, i - 1);
    use_files(NULL, cfg);
    CHECK(plan_for("p30", &p, err, sizeof err) == 1, "long chain: %s", err);
    CHECK(p.n_steps == 30, "30 steps");
    bool ordered = true;
    for (size_t i = 0; i < p.n_steps; i++) {
        char want[64];
        snprintf(want, sizeof want, "arn:aws:iam::111111111111:role/R%zu", i + 1);
        if (strcmp(p.steps[i].role_arn, want) != 0)
            ordered = false;
    }
    CHECK(ordered, "steps from the base up");
    creds_plan_free(&p);
}

int main(void)
{
    snprintf(s_dir, sizeof s_dir, "/tmp/test_creds_home.XXXXXX");
    if (!mkdtemp(s_dir)) {
        perror("mkdtemp");
        return 1;
    }
    /* never read the real ~/.aws */
    setenv("HOME", s_dir, 1);

    test_env();
    test_basic_profiles();
    test_sections();
    test_syntax();
    test_malformed();
    test_line_buffer_edges();
    test_file_paths();
    test_chains();

    unit_remove_files();
    rmdir(s_dir);
    clear_env();
    return unit_report("test_creds");
}
