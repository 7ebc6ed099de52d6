/* SigV4 against the AWS test suite (tests/data/aws-sigv4-suite/v4, one case per folder),
 * plus checks of the S3 rules, the derived-key cache and session tokens. */
#include <dirent.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>

#include <lauxlib.h>
#include <lua-cjson.h>
#include <lua.h>
#include <lualib.h>

#include "base/buf.h"
#include "base/headers.h"
#include "aws/sigv4.h"
#include "unit.h"

#define SECRET "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

/* ---------------------------------------------------------------------------------------- */
/* reading the suite                                                                         */

static int read_file(const char *path, struct buf *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    char chunk[4096];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (buf_append(out, chunk, n) != 0) {
            rc = -1;
            break;
        }
    if (ferror(f))
        rc = -1;
    fclose(f);
    if (rc == 0 && buf_append(out, "", 0) != 0) /* NUL-terminated even when empty */
        rc = -1;
    return rc;
}

static int read_case_file(const char *dir, const char *file, struct buf *out)
{
    char path[2048];
    if (snprintf(path, sizeof path, "%s/%s", dir, file) >= (int)sizeof path)
        return -1;
    return read_file(path, out);
}

static bool is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* SIGV4_SUITE_DIR (the suite or its v4 folder) or tests/data/aws-sigv4-suite from the repo
 * root (where the Makefile runs tests), or from build/asan. */
static bool find_suite(char *out, size_t outlen)
{
    const char *env = getenv("SIGV4_SUITE_DIR");
    const char *candidates[] = {env, "tests/data/aws-sigv4-suite", "../tests/data/aws-sigv4-suite",
                                "../../tests/data/aws-sigv4-suite"};
    for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
        if (!candidates[i] || !*candidates[i])
            continue;
        snprintf(out, outlen, "%s/v4", candidates[i]);
        if (is_dir(out))
            return true;
        snprintf(out, outlen, "%s", candidates[i]);
        if (i == 0 && is_dir(out))
            return true;
    }
    return false;
}

struct suite_context {
    char *access_key_id, *secret_access_key, *token;
    char *region, *service;
    time_t when;
    bool normalize, sign_body, omit_session_token;
    long expires;
};

static void context_free(struct suite_context *c)
{
    free(c->access_key_id);
    free(c->secret_access_key);
    free(c->token);
    free(c->region);
    free(c->service);
    memset(c, 0, sizeof *c);
}

/* [-0, +0] reads string field k of the table at the top; NULL when absent. */
static char *ctx_dup_field(lua_State *L, const char *k)
{
    char *s = NULL;
    lua_getfield(L, -1, k);
    if (lua_type(L, -1) == LUA_TSTRING)
        s = strdup(lua_tostring(L, -1));
    lua_pop(L, 1);
    return s;
}

/* [-0, +0] */
static bool ctx_bool_field(lua_State *L, const char *k)
{
    lua_getfield(L, -1, k);
    bool b = lua_toboolean(L, -1);
    lua_pop(L, 1);
    return b;
}

static time_t parse_timestamp(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!s || sscanf(s, "%d-%d-%dT%d:%d:%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec) != 6)
        return (time_t)-1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return timegm(&tm);
}

/* Decodes context.json with lua-cjson. [-0, +0] */
static int load_context(lua_State *L, const char *json, size_t len, struct suite_context *c,
                        char *err, size_t errlen)
{
    int result = -1;
    int top = lua_gettop(L);
    char *ts = NULL;

    lua_getglobal(L, "cjson");
    lua_getfield(L, -1, "decode");
    lua_pushlstring(L, json, len);
    if (lua_pcall(L, 1, 1, 0) != LUA_OK) {
        snprintf(err, errlen, "cjson.decode: %s", lua_tostring(L, -1));
        goto cleanup;
    }
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "context.json is not an object");
        goto cleanup;
    }
    lua_getfield(L, -1, "credentials");
    if (!lua_istable(L, -1)) {
        snprintf(err, errlen, "no credentials");
        goto cleanup;
    }
    c->access_key_id = ctx_dup_field(L, "access_key_id");
    c->secret_access_key = ctx_dup_field(L, "secret_access_key");
    c->token = ctx_dup_field(L, "token");
    lua_pop(L, 1);
    c->region = ctx_dup_field(L, "region");
    c->service = ctx_dup_field(L, "service");
    ts = ctx_dup_field(L, "timestamp");
    c->when = parse_timestamp(ts);
    c->normalize = ctx_bool_field(L, "normalize");
    c->sign_body = ctx_bool_field(L, "sign_body");
    c->omit_session_token = ctx_bool_field(L, "omit_session_token");
    lua_getfield(L, -1, "expiration_in_seconds");
    c->expires = (long)lua_tointeger(L, -1);
    lua_pop(L, 1);
    if (!c->access_key_id || !c->secret_access_key || !c->region || !c->service ||
        c->when == (time_t)-1 || c->expires <= 0) {
        snprintf(err, errlen, "context.json lacks a field");
        goto cleanup;
    }
    result = 0;
cleanup:
    free(ts);
    lua_settop(L, top);
    return result;
}

struct suite_request {
    char *method, *path, *query;
    struct header_list headers;
    struct buf body;
};

static void request_free(struct suite_request *r)
{
    free(r->method);
    free(r->path);
    free(r->query);
    headers_free(&r->headers);
    buf_free(&r->body);
    memset(r, 0, sizeof *r);
}

/* "METHOD target HTTP/1.1", then "Name:value" lines (a line starting with whitespace
 * continues the previous value, kept with its newline), a blank line, the body. The target
 * may contain spaces ("/example space/"): it runs to the last space. */
static int parse_request(const char *text, size_t len, struct suite_request *r)
{
    const char *end = text + len;
    const char *eol = memchr(text, '\n', len);
    const char *line_end = eol ? eol : end;
    if (line_end > text && line_end[-1] == '\r')
        line_end--;
    const char *sp1 = memchr(text, ' ', (size_t)(line_end - text));
    const char *sp2 = line_end;
    while (sp2 > text && sp2[-1] != ' ')
        sp2--;
    if (!sp1 || sp2 <= sp1 + 1)
        return -1;
    sp2--; /* the last space */
    r->method = strndup(text, (size_t)(sp1 - text));
    const char *target = sp1 + 1;
    const char *q = memchr(target, '?', (size_t)(sp2 - target));
    r->path = strndup(target, (size_t)((q ? q : sp2) - target));
    r->query = q ? strndup(q + 1, (size_t)(sp2 - q - 1)) : strdup("");
    if (!r->method || !r->path || !r->query)
        return -1;

    const char *p = eol ? eol + 1 : end;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        const char *le = nl ? nl : end;
        const char *next = nl ? nl + 1 : end;
        if (le > p && le[-1] == '\r')
            le--;
        if (le == p) { /* blank line: the body follows */
            if (buf_append(&r->body, next, (size_t)(end - next)) != 0)
                return -1;
            break;
        }
        if (*p == ' ' || *p == '\t') {
            if (r->headers.n == 0)
                return -1;
            /* A folded line continues the last header's value: the header is added again,
             * longer, in its place. */
            struct header *h = &r->headers.items[r->headers.n - 1];
            struct buf name = BUF_INIT, value = BUF_INIT;
            int rc = buf_puts(&name, h->name) | buf_puts(&value, h->value) | buf_putc(&value, '\n') |
                     buf_append(&value, p, (size_t)(le - p));
            if (rc == 0) {
                free(h->name); /* the header's one block, value included */
                r->headers.n--;
                rc = headers_add(&r->headers, name.data, value.data);
            }
            buf_free(&name);
            buf_free(&value);
            if (rc != 0)
                return -1;
        } else {
            const char *colon = memchr(p, ':', (size_t)(le - p));
            if (!colon)
                return -1;
            char *name = strndup(p, (size_t)(colon - p));
            char *value = strndup(colon + 1, (size_t)(le - colon - 1));
            int rc = name && value ? headers_add(&r->headers, name, value) : -1;
            free(name);
            free(value);
            if (rc != 0)
                return -1;
        }
        p = next;
    }
    return buf_append(&r->body, "", 0);
}

/* The value of "Authorization:" in a signed request. */
static char *find_authorization(const char *signed_request)
{
    const char *p = signed_request;
    while (p && *p) {
        if (strncasecmp(p, "Authorization:", 14) == 0) {
            const char *e = strchr(p, '\n');
            return strndup(p + 14, e ? (size_t)(e - p - 14) : strlen(p + 14));
        }
        p = strchr(p, '\n');
        if (p)
            p++;
    }
    return NULL;
}

/* The query of the request line of a presigned request. */
static char *find_query(const char *signed_request)
{
    const char *eol = strchr(signed_request, '\n');
    size_t n = eol ? (size_t)(eol - signed_request) : strlen(signed_request);
    const char *q = memchr(signed_request, '?', n);
    const char *sp = signed_request + n;
    while (sp > signed_request && *sp != ' ')
        sp--;
    if (!q || sp <= q)
        return NULL;
    return strndup(q + 1, (size_t)(sp - q - 1));
}

static void trim(struct buf *b)
{
    while (b->len && (b->data[b->len - 1] == '\n' || b->data[b->len - 1] == '\r' ||
                      b->data[b->len - 1] == ' '))
        b->data[--b->len] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* one suite case                                                                            */

static void run_case(lua_State *L, const char *suite, const char *name)
{
    char dir[2048], what[512], err[256];
    struct suite_context ctx;
    struct suite_request req;
    struct buf text = BUF_INIT, want_creq = BUF_INIT, want_sts = BUF_INIT, want_sig = BUF_INIT,
               want_signed = BUF_INIT, want_qcreq = BUF_INIT, want_qsts = BUF_INIT,
               want_qsig = BUF_INIT, want_qsigned = BUF_INIT;
    struct header_list hdrs = HEADER_LIST_INIT;
    struct sigv4_params p;
    struct sigv4_result res;
    char *want_auth = NULL, *want_query = NULL;

    memset(&ctx, 0, sizeof ctx);
    memset(&req, 0, sizeof req);
    memset(&res, 0, sizeof res);
    memset(err, 0, sizeof err);
    if (snprintf(dir, sizeof dir, "%s/%s", suite, name) >= (int)sizeof dir)
        dir[0] = '\0';

    bool loaded = read_case_file(dir, "context.json", &text) == 0 &&
                  load_context(L, text.data, text.len, &ctx, err, sizeof err) == 0;
    CHECK(loaded, "%s: context.json: %s", name, err[0] ? err : "unreadable");
    if (!loaded)
        goto cleanup;
    buf_reset(&text);
    bool parsed = read_case_file(dir, "request.txt", &text) == 0 &&
                  parse_request(text.data, text.len, &req) == 0;
    CHECK(parsed, "%s: request.txt does not parse", name);
    bool files = read_case_file(dir, "header-canonical-request.txt", &want_creq) == 0 &&
                 read_case_file(dir, "header-string-to-sign.txt", &want_sts) == 0 &&
                 read_case_file(dir, "header-signature.txt", &want_sig) == 0 &&
                 read_case_file(dir, "header-signed-request.txt", &want_signed) == 0 &&
                 read_case_file(dir, "query-canonical-request.txt", &want_qcreq) == 0 &&
                 read_case_file(dir, "query-string-to-sign.txt", &want_qsts) == 0 &&
                 read_case_file(dir, "query-signature.txt", &want_qsig) == 0 &&
                 read_case_file(dir, "query-signed-request.txt", &want_qsigned) == 0;
    CHECK(files, "%s: an expected-result file is missing", name);
    if (!parsed || !files)
        goto cleanup;
    trim(&want_sig);
    trim(&want_qsig);
    want_auth = find_authorization(want_signed.data);
    want_query = find_query(want_qsigned.data);

    sigv4_params_init(&p, ctx.service, ctx.region, ctx.when);
    p.creds.access_key_id = ctx.access_key_id;
    p.creds.secret_access_key = ctx.secret_access_key;
    p.creds.session_token = ctx.token;
    p.normalize_path = ctx.normalize;
    p.sign_body = ctx.sign_body;
    p.token_after_signing = ctx.omit_session_token;

    /* header signing */
    int rc = headers_copy(&hdrs, &req.headers);
    if (rc == 0)
        rc = sigv4_sign(&p, req.method, req.path, req.query, &hdrs, req.body.data, req.body.len,
                        &res, err, sizeof err);
    CHECK(rc == 0, "%s: header signing failed: %s", name, err);
    if (rc == 0) {
        snprintf(what, sizeof what, "%s: header canonical request", name);
        CHECK_STR(res.canonical_request.data, want_creq.data, what);
        snprintf(what, sizeof what, "%s: header string to sign", name);
        CHECK_STR(res.string_to_sign.data, want_sts.data, what);
        snprintf(what, sizeof what, "%s: header signature", name);
        CHECK_STR(res.signature, want_sig.data, what);
        snprintf(what, sizeof what, "%s: Authorization header", name);
        CHECK_STR(headers_get(&hdrs, "Authorization"), want_auth, what);
        if (ctx.token) {
            snprintf(what, sizeof what, "%s: X-Amz-Security-Token header", name);
            CHECK_STR(headers_get(&hdrs, "X-Amz-Security-Token"), ctx.token, what);
        }
    }
    sigv4_result_free(&res);
    headers_free(&hdrs);

    /* query signing (presigning) */
    p.presign_expires = ctx.expires;
    rc = headers_copy(&hdrs, &req.headers);
    if (rc == 0)
        rc = sigv4_sign(&p, req.method, req.path, req.query, &hdrs, req.body.data, req.body.len,
                        &res, err, sizeof err);
    CHECK(rc == 0, "%s: presigning failed: %s", name, err);
    if (rc == 0) {
        snprintf(what, sizeof what, "%s: query canonical request", name);
        CHECK_STR(res.canonical_request.data, want_qcreq.data, what);
        snprintf(what, sizeof what, "%s: query string to sign", name);
        CHECK_STR(res.string_to_sign.data, want_qsts.data, what);
        snprintf(what, sizeof what, "%s: query signature", name);
        CHECK_STR(res.signature, want_qsig.data, what);
        snprintf(what, sizeof what, "%s: presigned query", name);
        CHECK_STR(res.query.data, want_query, what);
        CHECK(!headers_get(&hdrs, "Authorization") && !headers_get(&hdrs, "X-Amz-Date"),
              "%s: presigning added headers", name);
    }

cleanup:
    sigv4_result_free(&res);
    headers_free(&hdrs);
    free(want_auth);
    free(want_query);
    context_free(&ctx);
    request_free(&req);
    buf_free(&text);
    buf_free(&want_creq);
    buf_free(&want_sts);
    buf_free(&want_sig);
    buf_free(&want_signed);
    buf_free(&want_qcreq);
    buf_free(&want_qsts);
    buf_free(&want_qsig);
    buf_free(&want_qsigned);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_suite(void)
{
    char suite[1024];
    bool found = find_suite(suite, sizeof suite);
    CHECK(found, "AWS SigV4 suite not found (run from the repo root or set SIGV4_SUITE_DIR)");
    if (!found)
        return;

    lua_State *L = luaL_newstate();
    CHECK(L != NULL, "luaL_newstate failed");
    if (!L)
        return;
    luaL_openlibs(L);
    luaL_requiref(L, "cjson", luaopen_cjson, 1);
    lua_pop(L, 1);

    char **names = NULL;
    size_t n = 0, cap = 0;
    DIR *d = opendir(suite);
    CHECK(d != NULL, "cannot open %s", suite);
    for (struct dirent *e; d && (e = readdir(d));) {
        char path[2048];
        if (e->d_name[0] == '.')
            continue;
        if (snprintf(path, sizeof path, "%s/%s", suite, e->d_name) >= (int)sizeof path ||
            !is_dir(path))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            char **nn = realloc(names, cap * sizeof *nn);
            if (!nn)
                break;
            names = nn;
        }
        names[n] = strdup(e->d_name);
        if (names[n])
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof *names, name_cmp);
    /* The suite ships 38 cases; fewer means cases were silently lost. */
    CHECK(n >= 38, "only %zu suite cases found in %s", n, suite);
    for (size_t i = 0; i < n; i++) {
        run_case(L, suite, names[i]);
        free(names[i]);
    }
    free(names);
    lua_close(L);
}

/* ---------------------------------------------------------------------------------------- */
/* extra checks                                                                              */

static const time_t WHEN = 1440938160; /* 2015-08-30T12:36:00Z */

static void base_params(struct sigv4_params *p, const char *service)
{
    sigv4_params_init(p, service, "us-east-1", WHEN);
    p->creds.access_key_id = "AKIDEXAMPLE";
    p->creds.secret_access_key = SECRET;
}

static bool has_signed(const struct sigv4_result *r, const char *name)
{
    const char *s = r->signed_headers.data;
    size_t n = strlen(name);
    while (s && *s) {
        const char *e = strchr(s, ';');
        size_t len = e ? (size_t)(e - s) : strlen(s);
        if (len == n && strncmp(s, name, n) == 0)
            return true;
        s = e ? e + 1 : NULL;
    }
    return false;
}

static void test_helpers(void)
{
    char hex[65], date[17];
    struct buf b = BUF_INIT;
    sigv4_sha256_hex("", 0, hex);
    CHECK_STR(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
              "sha256 of empty");
    sigv4_amz_date(WHEN, date);
    CHECK_STR(date, "20150830T123600Z", "amz date");
    CHECK(sigv4_uri_encode(&b, "a b/c~+", 7, true) == 0, "uri_encode failed");
    CHECK_STR(b.data, "a%20b/c~%2B", "uri_encode keep slash");
    buf_reset(&b);
    CHECK(sigv4_uri_encode(&b, "a b/c", 5, false) == 0, "uri_encode failed");
    CHECK_STR(b.data, "a%20b%2Fc", "uri_encode");
    buf_free(&b);
}

static void test_s3_rules(void)
{
    struct sigv4_params p;
    struct sigv4_result r;
    struct header_list h = HEADER_LIST_INIT;
    char err[256] = "";

    memset(&r, 0, sizeof r);
    base_params(&p, "s3");
    CHECK(p.s3_rules && !p.normalize_path, "s3 defaults: s3_rules on, normalize off");
    headers_add(&h, "Host", "bucket.s3.amazonaws.com");
    int rc = sigv4_sign(&p, "GET", "/my%20dir//./key%2Bx", "prefix=a%2Fb&list-type=2", &h, "",
                        0, &r, err, sizeof err);
    CHECK(rc == 0, "s3 sign failed: %s", err);
    if (rc == 0) {
        CHECK(strncmp(r.canonical_request.data, "GET\n/my%20dir//./key%2Bx\n", 25) == 0,
              "s3 path must be signed as sent:\n%s", r.canonical_request.data);
        CHECK(strstr(r.canonical_request.data, "\nlist-type=2&prefix=a%2Fb\n") != NULL,
              "s3 canonical query:\n%s", r.canonical_request.data);
        CHECK_STR(headers_get(&h, "X-Amz-Content-Sha256"),
                  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                  "s3 x-amz-content-sha256 header");
        CHECK(has_signed(&r, "x-amz-content-sha256"), "s3: x-amz-content-sha256 not signed: %s",
              r.signed_headers.data);
    }
    sigv4_result_free(&r);
    headers_free(&h);

    /* UNSIGNED-PAYLOAD */
    p.payload_hash = "UNSIGNED-PAYLOAD";
    headers_add(&h, "Host", "bucket.s3.amazonaws.com");
    rc = sigv4_sign(&p, "PUT", "/key", NULL, &h, NULL, 12345, &r, err, sizeof err);
    CHECK(rc == 0, "s3 unsigned payload sign failed: %s", err);
    if (rc == 0) {
        const char *cr = r.canonical_request.data;
        size_t n = strlen(cr);
        CHECK(n > 17 && strcmp(cr + n - 17, "\nUNSIGNED-PAYLOAD") == 0,
              "canonical request must end with UNSIGNED-PAYLOAD:\n%s", cr);
        CHECK_STR(headers_get(&h, "X-Amz-Content-Sha256"), "UNSIGNED-PAYLOAD",
                  "s3 unsigned payload header");
        CHECK(has_signed(&r, "x-amz-content-sha256"), "unsigned payload hash must be signed");
    }
    sigv4_result_free(&r);
    headers_free(&h);

    /* Other services encode the path once more and normalize it. */
    base_params(&p, "iam");
    headers_add(&h, "Host", "iam.amazonaws.com");
    rc = sigv4_sign(&p, "GET", "/my%20dir//./key", NULL, &h, "", 0, &r, err, sizeof err);
    CHECK(rc == 0, "iam sign failed: %s", err);
    if (rc == 0) {
        CHECK(strncmp(r.canonical_request.data, "GET\n/my%2520dir/key\n", 20) == 0,
              "non-S3 path must be normalized and encoded twice:\n%s", r.canonical_request.data);
        CHECK(!headers_get(&h, "X-Amz-Content-Sha256") && !has_signed(&r, "x-amz-content-sha256"),
              "non-S3 without sign_body must not add x-amz-content-sha256");
    }
    sigv4_result_free(&r);
    headers_free(&h);
}

static void test_session_token(void)
{
    struct sigv4_params p;
    struct sigv4_result r;
    struct header_list h = HEADER_LIST_INIT;
    char err[256] = "";

    memset(&r, 0, sizeof r);
    base_params(&p, "sts");
    p.creds.session_token = "TOKEN/with+chars";
    headers_add(&h, "Host", "sts.amazonaws.com");
    headers_add(&h, "User-Agent", "credreport");
    headers_add(&h, "Authorization", "stale");
    int rc = sigv4_sign(&p, "POST", "/", NULL, &h, "Action=GetCallerIdentity", 24, &r, err,
                        sizeof err);
    CHECK(rc == 0, "token sign failed: %s", err);
    if (rc == 0) {
        CHECK(has_signed(&r, "x-amz-security-token"), "session token must be signed: %s",
              r.signed_headers.data);
        CHECK_STR(headers_get(&h, "X-Amz-Security-Token"), "TOKEN/with+chars", "token header");
        CHECK(!has_signed(&r, "user-agent"), "user-agent must not be signed");
        CHECK_STR(r.signed_headers.data, "host;x-amz-date;x-amz-security-token",
                  "signed headers with token");
        CHECK(strstr(headers_get(&h, "Authorization"), "stale") == NULL,
              "stale Authorization replaced");
    }
    sigv4_result_free(&r);

    /* token_after_signing: sent, not signed. */
    p.token_after_signing = true;
    rc = sigv4_sign(&p, "POST", "/", NULL, &h, "Action=GetCallerIdentity", 24, &r, err,
                    sizeof err);
    CHECK(rc == 0, "token-after sign failed: %s", err);
    if (rc == 0) {
        CHECK(!has_signed(&r, "x-amz-security-token"), "token after signing must not be signed");
        CHECK_STR(headers_get(&h, "X-Amz-Security-Token"), "TOKEN/with+chars",
                  "token header after signing");
    }
    sigv4_result_free(&r);
    headers_free(&h);

    /* Errors name no secret and leave the headers alone. */
    headers_add(&h, "X-Other", "1");
    p.token_after_signing = false;
    rc = sigv4_sign(&p, "GET", "/", NULL, &h, NULL, 0, &r, err, sizeof err);
    CHECK(rc == -1 && strstr(err, "Host") != NULL, "missing Host must fail: %s", err);
    CHECK(strstr(err, SECRET) == NULL && strstr(err, "TOKEN") == NULL, "secret in error: %s",
          err);
    CHECK(h.n == 1, "headers changed on failure");
    sigv4_result_free(&r);
    headers_free(&h);
}

static int sign_once(const char *region, char sig[65])
{
    struct sigv4_params p;
    struct sigv4_result r;
    struct header_list h = HEADER_LIST_INIT;
    char err[256] = "";
    memset(&r, 0, sizeof r);
    base_params(&p, "service");
    p.region = region;
    int rc = headers_add(&h, "Host", "example.amazonaws.com");
    if (rc == 0)
        rc = sigv4_sign(&p, "GET", "/", NULL, &h, "", 0, &r, err, sizeof err);
    if (rc == 0)
        memcpy(sig, r.signature, 65);
    sigv4_result_free(&r);
    headers_free(&h);
    return rc;
}

#define N_REGIONS 24 /* more than the cache holds, so threads evict each other */
static char s_regions[N_REGIONS][32];
static char s_expected[N_REGIONS][65];

static void *cache_thread(void *arg)
{
    size_t offset = (size_t)arg;
    size_t bad = 0;
    for (size_t i = 0; i < 120; i++) {
        size_t k = (i * 7 + offset) % N_REGIONS;
        char sig[65] = "";
        if (sign_once(s_regions[k], sig) != 0 || strcmp(sig, s_expected[k]) != 0)
            bad++;
    }
    return (void *)bad;
}

static void test_cache(void)
{
    char a[65] = "", b[65] = "", c[65] = "";
    sigv4_cache_clear();
    CHECK(sign_once("us-east-1", a) == 0, "cache: first sign failed");
    CHECK(sign_once("us-east-1", b) == 0, "cache: second sign failed");
    CHECK_STR(b, a, "same signature from the cached key");
    CHECK_STR(a, "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
              "cached signature equals get-vanilla");
    sigv4_cache_clear();
    CHECK(sign_once("us-east-1", c) == 0, "cache: sign after clear failed");
    CHECK_STR(c, a, "same signature after cache clear");

    /* Expected values from a cold cache, then threads hammer a cache too small for them. */
    for (size_t i = 0; i < N_REGIONS; i++) {
        snprintf(s_regions[i], sizeof s_regions[i], "region-%zu", i);
        sigv4_cache_clear();
        CHECK(sign_once(s_regions[i], s_expected[i]) == 0, "cache: sign %zu failed", i);
    }
    pthread_t t[4];
    size_t bad = 0;
    int started = 0;
    for (size_t i = 0; i < 4; i++)
        if (pthread_create(&t[i], NULL, cache_thread, (void *)i) == 0)
            started++;
    for (int i = 0; i < started; i++) {
        void *rv = NULL;
        pthread_join(t[i], &rv);
        bad += (size_t)rv;
    }
    CHECK(started == 4, "could not start threads");
    CHECK(bad == 0, "%zu signatures differ under concurrent cache use", bad);
    sigv4_cache_clear();
}

int main(void)
{
    test_helpers();
    test_suite();
    test_s3_rules();
    test_session_token();
    test_cache();
    return unit_report("test_sigv4");
}
