#include "config/config.h"
#include "aws/awsname.h"
#include "base/suggest.h"
#include "base/trust.h"

#include <ctype.h>
#include <errno.h>
#include <pwd.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/buf.h"
#include "aws/endpoint.h"

#define S_MAX_FILE (1024 * 1024)
#define S_DEFAULT_PATH "config.ini"

/* ---- Small helpers ---- */

static bool s_blank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static bool s_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool s_lower_alnum(char c)
{
    return (c >= 'a' && c <= 'z') || s_digit(c);
}

/* \w in the AWS patterns: ASCII letters, digits and '_'. */
static bool s_word(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || s_digit(c) || c == '_';
}

/* Every byte is \w or one of extra. */
static bool s_all_word_or(const char *s, size_t n, const char *extra)
{
    for (size_t i = 0; i < n; i++)
        if (!s_word(s[i]) && !strchr(extra, s[i]))
            return false;
    return true;
}

static bool s_all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!s_digit(s[i]))
            return false;
    return n > 0;
}

static bool s_has_control(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    return false;
}

/* Appends 'v' for an error message: control characters escaped, long values cut. */
static void s_quote(struct buf *b, const char *v)
{
    size_t n = strlen(v);
    size_t show = n > 64 ? 40 : n;

    buf_putc(b, '\'');
    for (size_t i = 0; i < show; i++) {
        unsigned char ch = (unsigned char)v[i];
        if (ch == '\n')
            buf_puts(b, "\\n");
        else if (ch == '\t')
            buf_puts(b, "\\t");
        else if (ch < 0x20 || ch == 0x7f)
            buf_printf(b, "\\x%02x", ch);
        else
            buf_putc(b, (char)ch);
    }
    if (show < n)
        buf_printf(b, "...' (%zu characters)", n);
    else
        buf_putc(b, '\'');
}

/* Appends one error line to errors (NULL = only counted). */
static void s_err(struct buf *errors, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void s_err(struct buf *errors, const char *fmt, ...)
{
    if (!errors)
        return;
    if (errors->len > 0)
        buf_putc(errors, '\n');
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(errors, fmt, ap);
    va_end(ap);
}

/* "path:line" for config_value.origin; the start of a long path gives way to "...". */
static void s_origin_line(char *out, size_t size, const char *path, int line)
{
    int n = snprintf(out, size, "%s:%d", path, line);
    if (n >= 0 && (size_t)n < size)
        return;
    char tail[16];
    int t = snprintf(tail, sizeof tail, ":%d", line);
    size_t plen = strlen(path);
    size_t keep = size - 4 - (size_t)t; /* "..." + tail + NUL */
    if (t < 0 || (size_t)t >= sizeof tail || keep > plen) {
        snprintf(out, size, "(config file)");
        return;
    }
    n = snprintf(out, size, "...%s%s", path + plen - keep, tail);
    if (n < 0 || (size_t)n >= size)
        snprintf(out, size, "(config file)");
}

static void s_origin_copy(char *out, size_t size, const char *origin)
{
    size_t n = strlen(origin);
    if (n < size) {
        memcpy(out, origin, n + 1);
    } else {
        memcpy(out, origin, size - 4);
        memcpy(out + size - 4, "...", 4);
    }
}

/* Shortest text that reads back as d. */
static void s_fmt_num(char *out, size_t size, double d)
{
    if (d == 0) /* also -0 */
        d = 0;
    if (d == trunc(d) && fabs(d) < 1e15) { /* whole numbers without an exponent */
        int n = snprintf(out, size, "%lld", (long long)d);
        if (n >= 0 && (size_t)n < size)
            return;
    }
    for (int prec = 1; prec <= 17; prec++) {
        int n = snprintf(out, size, "%.*g", prec, d);
        if (n < 0 || (size_t)n >= size)
            break;
        if (strtod(out, NULL) == d)
            return;
    }
    snprintf(out, size, "%.17g", d);
}

/* ---- Validators of strings and list items ---- */

/* Each gets a mutable copy of the value (it may shorten it to normalize it) and returns true
 * when it is valid; on false it may explain in why (otherwise the spec's wording is used). */
typedef bool (*s_check_fn)(char *v, struct buf *why);

static bool s_check_region(char *v, struct buf *why)
{
    (void)why;
    return !*v || awsname_region(v);
}

static bool s_check_profile(char *v, struct buf *why)
{
    (void)why;
    for (; *v; v++)
        if (s_blank(*v) || *v == '[' || *v == ']')
            return false;
    return true;
}

int config_check_ca_file(const char *path, struct buf *why)
{
    struct stat st;
    if (stat(path, &st) != 0 || access(path, R_OK) != 0) {
        int e = errno;
        buf_puts(why, "cannot read ");
        s_quote(why, path);
        buf_printf(why, ": %s", strerror(e));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        s_quote(why, path);
        buf_puts(why, " is not a file");
        return -1;
    }
    /* PEM: at least one certificate, or curl fails every request with a vague error. */
    FILE *f = fopen(path, "r");
    char line[256];
    bool cert = false;
    while (f && !cert && fgets(line, sizeof line, f))
        cert = strncmp(line, "-----BEGIN CERTIFICATE-----", 27) == 0;
    if (f)
        fclose(f);
    if (!cert) {
        s_quote(why, path);
        buf_puts(why, " holds no PEM certificate (-----BEGIN CERTIFICATE-----)");
        return -1;
    }
    return 0;
}

static bool s_check_ca_file(char *v, struct buf *why)
{
    return !*v || config_check_ca_file(v, why) == 0;
}

/* A copy of path with a leading ~ (the user's home) or ~user (theirs) expanded; NULL with why
 * set when it cannot be, NULL with why empty when memory runs out. */
static char *s_expand_home(const char *path, struct buf *why)
{
    if (path[0] != '~')
        return strdup(path);
    size_t n = strcspn(path + 1, "/");
    const char *home = NULL;
    char user[256];
    if (n == 0) {
        home = getenv("HOME");
        if (!home || !*home) {
            struct passwd *pw = getpwuid(geteuid());
            home = pw ? pw->pw_dir : NULL;
        }
    } else if (n < sizeof user) {
        memcpy(user, path + 1, n);
        user[n] = '\0';
        struct passwd *pw = getpwnam(user);
        home = pw ? pw->pw_dir : NULL;
    }
    if (!home || !*home) {
        buf_printf(why, "cannot expand '%.*s': %s", (int)(n + 1 > 64 ? 64 : n + 1), path,
                   n ? "no such user" : "no home directory (HOME is not set)");
        return NULL;
    }
    struct buf out = BUF_INIT;
    if (buf_puts(&out, home) != 0 || buf_puts(&out, path + 1 + n) != 0) {
        buf_free(&out);
        return NULL;
    }
    return buf_steal(&out);
}

/* http:// or https://, a host (name, IPv4 or [IPv6]), an optional port, an optional path; no
 * user:password@ (it would end up in logs). */
static bool s_check_url(char *v, struct buf *why)
{
    const char *p;
    if (!*v)
        return true;
    if (strncasecmp(v, "https://", 8) == 0)
        p = v + 8;
    else if (strncasecmp(v, "http://", 7) == 0)
        p = v + 7;
    else
        return false;
    size_t auth = strcspn(p, "/?#");
    if (memchr(p, '@', auth)) {
        buf_puts(why, "credentials in an endpoint URL are not supported (they would be logged)");
        return false;
    }
    const char *host = p, *hend;
    if (*host == '[') {
        hend = memchr(host, ']', auth);
        if (!hend || hend == host + 1)
            return false;
        for (const char *h = host + 1; h < hend; h++)
            if (!isxdigit((unsigned char)*h) && *h != ':' && *h != '.')
                return false;
        hend++;
    } else {
        hend = host;
        while (hend < p + auth && *hend != ':') {
            if (!isalnum((unsigned char)*hend) && *hend != '-' && *hend != '.' && *hend != '_')
                return false;
            hend++;
        }
        if (hend == host)
            return false;
    }
    if (hend < p + auth) {
        if (*hend != ':')
            return false;
        const char *port = hend + 1;
        size_t plen = (size_t)(p + auth - port);
        if (plen == 0 || plen > 5 || !s_all_digits(port, plen) || atol(port) < 1 ||
            atol(port) > 65535)
            return false;
    }
    for (const char *r = p + auth; *r; r++)
        if ((unsigned char)*r <= 0x20 || *r == 0x7f)
            return false;
    if (endpoint_has_dot_segment(p + auth)) {
        buf_puts(why, "a path segment '.' or '..' is not allowed (HTTP clients remove it, so "
                      "signatures would not match)");
        return false;
    }
    return true;
}

/* ou-[a-z0-9]{4,32}-[a-z0-9]{8,32} or r-[a-z0-9]{4,32} */
static bool s_check_ou(char *v, struct buf *why)
{
    (void)why;
    size_t n;
    if (strncmp(v, "r-", 2) == 0) {
        for (n = 0; s_lower_alnum(v[2 + n]); n++)
            ;
        return n >= 4 && n <= 32 && v[2 + n] == '\0';
    }
    if (strncmp(v, "ou-", 3) != 0)
        return false;
    v += 3;
    for (n = 0; s_lower_alnum(v[n]); n++)
        ;
    if (n < 4 || n > 32 || v[n] != '-')
        return false;
    v += n + 1;
    for (n = 0; s_lower_alnum(v[n]); n++)
        ;
    return n >= 8 && n <= 32 && v[n] == '\0';
}

static bool s_check_account(char *v, struct buf *why)
{
    (void)why;
    size_t n = strlen(v);
    return n == 0 || (n == 12 && s_all_digits(v, n));
}

/* "K/N" with 1 <= K <= N <= 10000, or "auto/N" (K from JOB_COMPLETION_INDEX + 1). */
static bool s_check_shard(char *v, struct buf *why)
{
    (void)why;
    if (!*v)
        return true;
    char *slash = strchr(v, '/');
    if (!slash || slash == v || !slash[1])
        return false;
    char *end;
    long n = strtol(slash + 1, &end, 10);
    if (*end || n < 1 || n > 10000 || !s_all_digits(slash + 1, strlen(slash + 1)))
        return false;
    if ((size_t)(slash - v) == 4 && strncmp(v, "auto", 4) == 0)
        return true;
    if (!s_all_digits(v, (size_t)(slash - v)))
        return false;
    long k = strtol(v, NULL, 10);
    return k >= 1 && k <= n;
}

static bool s_check_account_item(char *v, struct buf *why)
{
    return *v && s_check_account(v, why);
}

/* Letters (any UTF-8), digits, spaces and _.:/=+-@ ; the key 1-128 without '=', the value up to
 * 256. "key = value" is normalized to "key=value". */
static bool s_tag_chars(const char *s, size_t n, bool allow_eq)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch >= 0x80 || s_word((char)ch) || ch == ' ' || strchr("_.:/+-@", ch) ||
            (allow_eq && ch == '='))
            continue;
        return false;
    }
    return true;
}

static bool s_check_tag(char *v, struct buf *why)
{
    char *eq = strchr(v, '=');
    size_t klen = eq ? (size_t)(eq - v) : strlen(v);
    while (klen && s_blank(v[klen - 1]))
        klen--;
    if (klen == 0 || klen > 128 || !s_tag_chars(v, klen, false)) {
        if (klen > 128)
            buf_puts(why, "a tag key has at most 128 characters");
        return false;
    }
    if (!eq) {
        v[klen] = '\0';
        return true;
    }
    const char *val = eq + 1;
    while (s_blank(*val))
        val++;
    size_t vlen = strlen(val);
    while (vlen && s_blank(val[vlen - 1]))
        vlen--;
    if (vlen > 256 || !s_tag_chars(val, vlen, true)) {
        if (vlen > 256)
            buf_puts(why, "a tag value has at most 256 characters");
        return false;
    }
    v[klen] = '=';
    memmove(v + klen + 1, val, vlen);
    v[klen + 1 + vlen] = '\0';
    return true;
}

/* An IAM role name ([\w+=,.@-]{1,64}), optionally after a path: "path/to/name".
 * IAM prints paths with a leading '/' ("/audit/"), and the ARN has none after
 * "role/", so a leading '/' is dropped rather than refused. */
static bool s_check_role_name(char *v, struct buf *why)
{
    if (v[0] == '/')
        memmove(v, v + 1, strlen(v));
    const char *name = strrchr(v, '/');
    name = name ? name + 1 : v;
    size_t nlen = strlen(name);
    if (nlen == 0 || nlen > 64 || !s_all_word_or(name, nlen, "+=,.@-")) {
        if (nlen > 64)
            buf_printf(why, "a role name has at most 64 characters, got %zu", nlen);
        return false;
    }
    if (name == v)
        return true;
    size_t plen = (size_t)(name - v); /* with the trailing '/' */
    if (plen + 1 > 512) {
        buf_puts(why, "a role path has at most 512 characters");
        return false;
    }
    const char *p = v;
    /* segments separated by single '/' */
    for (size_t i = 0; i < plen; i++) {
        if (p[i] == '/' && (i == 0 || p[i - 1] == '/'))
            return false;
        if (p[i] != '/' && !s_word(p[i]) && !strchr("+=,.@-", p[i]))
            return false;
    }
    return true;
}

static bool s_check_external_id(char *v, struct buf *why)
{
    size_t n = strlen(v);
    if (n == 0)
        return true;
    if (n < 2 || n > 1224) {
        buf_printf(why, "an external id has 2 to 1224 characters, got %zu", n);
        return false;
    }
    return s_all_word_or(v, n, "+=,.@:/-");
}

static bool s_check_session_name(char *v, struct buf *why)
{
    size_t n = strlen(v);
    if (n < 2 || n > 64)
        buf_printf(why, "a session name has 2 to 64 characters, got %zu", n);
    return awsname_session_name(v);
}

static bool s_check_error_code(char *v, struct buf *why)
{
    (void)why;
    size_t n = strlen(v);
    return n >= 1 && n <= 128 && ((v[0] >= 'A' && v[0] <= 'Z') || (v[0] >= 'a' && v[0] <= 'z')) &&
           s_all_word_or(v, n, ".");
}

/* S3 general purpose bucket naming rules. */
static bool s_bucket_valid(const char *b, size_t n, struct buf *why)
{
    if (n < 3 || n > 63) {
        buf_printf(why, "a bucket name has 3 to 63 characters, got %zu", n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (!s_lower_alnum(b[i]) && b[i] != '.' && b[i] != '-') {
            buf_puts(why, "a bucket name has only lowercase letters, digits, '.' and '-'");
            return false;
        }
    }
    if (!s_lower_alnum(b[0]) || !s_lower_alnum(b[n - 1])) {
        buf_puts(why, "a bucket name starts and ends with a letter or digit");
        return false;
    }
    for (size_t i = 1; i < n; i++) {
        if (b[i] == '.' && (b[i - 1] == '.' || b[i - 1] == '-' || (i + 1 < n && b[i + 1] == '-'))) {
            buf_puts(why, "a bucket name has no '..', '.-' or '-.'");
            return false;
        }
    }
    int dots = 0;
    bool digits_dots = true;
    for (size_t i = 0; i < n; i++) {
        dots += b[i] == '.';
        digits_dots = digits_dots && (s_digit(b[i]) || b[i] == '.');
    }
    if (digits_dots && dots == 3) {
        buf_puts(why, "a bucket name cannot look like an IP address");
        return false;
    }
    static const char *const prefixes[] = {"xn--", "sthree-"};
    static const char *const suffixes[] = {"-s3alias", "--ol-s3", ".mrap"};
    for (size_t i = 0; i < sizeof prefixes / sizeof prefixes[0]; i++) {
        if (strncmp(b, prefixes[i], strlen(prefixes[i])) == 0) {
            buf_printf(why, "a bucket name cannot start with '%s'", prefixes[i]);
            return false;
        }
    }
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t sl = strlen(suffixes[i]);
        if (n >= sl && memcmp(b + n - sl, suffixes[i], sl) == 0) {
            buf_printf(why, "a bucket name cannot end with '%s'", suffixes[i]);
            return false;
        }
    }
    return true;
}

/* A folder, or s3://bucket[/prefix] (normalized without a trailing '/'). */
static bool s_check_destination(char *v, struct buf *why)
{
    char *scheme = strstr(v, "://");
    if (!scheme)
        return true;
    if (strncmp(v, "s3://", 5) != 0) {
        if (strncasecmp(v, "s3://", 5) == 0)
            buf_puts(why, "write the scheme in lowercase: s3://");
        else
            buf_puts(why, "expected a folder path or s3://bucket/prefix (no other URL scheme)");
        return false;
    }
    char *b = v + 5;
    size_t n = strcspn(b, "/");
    if (!s_bucket_valid(b, n, why))
        return false;
    size_t len = strlen(v);
    while (len > 5 + n && v[len - 1] == '/')
        v[--len] = '\0';
    char *pfx = b + n;
    if (*pfx == '/') {
        pfx++;
        if (*pfx == '/' || strstr(pfx, "//")) {
            buf_puts(why, "the prefix has an empty path segment ('//')");
            return false;
        }
        if (strlen(pfx) > 512) {
            buf_puts(why, "the prefix has at most 512 characters");
            return false;
        }
    }
    return true;
}

/* A non-empty path relative to the destination: no leading, trailing or double '/', no '.' or
 * '..' segment, no '\\'. */
static bool s_check_relative_path(const char *v, struct buf *why)
{
    size_t n = strlen(v);
    if (v[0] == '/' || v[n - 1] == '/' || strstr(v, "//")) {
        buf_puts(why, "must be a relative path with no empty segment (no leading, trailing or "
                 "double '/')");
        return false;
    }
    for (const char *seg = v; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL) {
        size_t sl = strcspn(seg, "/");
        if ((sl == 1 && seg[0] == '.') || (sl == 2 && seg[0] == '.' && seg[1] == '.')) {
            buf_puts(why, "must not contain '.' or '..' segments (reports stay under "
                     "destination)");
            return false;
        }
    }
    if (strchr(v, '\\')) {
        buf_puts(why, "must not contain '\\'");
        return false;
    }
    return true;
}

static const char *const s_template_vars[] = {"date", "time", "run_id", "account",
                                              "account_name", "ou_path"};

static bool s_check_key_template(char *v, struct buf *why)
{
    bool account = false;
    size_t nvars = sizeof s_template_vars / sizeof s_template_vars[0];

    for (const char *p = v; *p; p++) {
        if (*p == '}') {
            buf_puts(why, "'}' without '{'");
            return false;
        }
        if (*p != '{')
            continue;
        const char *close = strchr(p + 1, '}');
        const char *open = strchr(p + 1, '{');
        if (!close || (open && open < close)) {
            buf_puts(why, "'{' without '}'");
            return false;
        }
        size_t n = (size_t)(close - p - 1);
        size_t i;
        for (i = 0; i < nvars; i++)
            if (strlen(s_template_vars[i]) == n && strncmp(p + 1, s_template_vars[i], n) == 0)
                break;
        if (i == nvars) {
            buf_printf(why, "unknown variable {%.*s} (known: {date} {time} {run_id} {account} "
                       "{account_name} {ou_path})", (int)(n > 40 ? 40 : n), p + 1);
            return false;
        }
        account = account || strcmp(s_template_vars[i], "account") == 0;
        p = close;
    }
    if (!account) {
        buf_puts(why, "must contain {account}, or the reports of different accounts would "
                 "overwrite each other");
        return false;
    }
    return s_check_relative_path(v, why);
}

/* A folder under the destination for the dataset: a relative path, no variables; empty: off. */
static bool s_check_dataset(char *v, struct buf *why)
{
    if (!*v)
        return true;
    if (strpbrk(v, "{}")) {
        buf_puts(why, "takes no {variables}: the dataset's partitions are its own");
        return false;
    }
    return s_check_relative_path(v, why);
}

int config_check_key_template(const char *template, struct buf *why)
{
    char *copy = strdup(template);
    if (!copy) {
        buf_puts(why, "out of memory");
        return CONFIG_NO_MEMORY;
    }
    bool ok = *copy && s_check_key_template(copy, why);
    if (!*copy)
        buf_puts(why, "the key template is empty");
    free(copy);
    return ok ? 0 : -1;
}

int config_shard(const char *spec, long *k, long *n, struct buf *why)
{
    char *copy = strdup(spec);
    if (!copy) {
        buf_puts(why, "out of memory");
        return CONFIG_NO_MEMORY;
    }
    bool ok = *copy && s_check_shard(copy, why);
    free(copy);
    if (!ok) {
        buf_puts(why, "must be K/N with 1 <= K <= N <= 10000, or auto/N");
        return -1;
    }
    *n = strtol(strchr(spec, '/') + 1, NULL, 10);
    if (strncmp(spec, "auto/", 5) != 0) {
        *k = strtol(spec, NULL, 10);
        return 0;
    }
    const char *idx = getenv("JOB_COMPLETION_INDEX");
    char *end = NULL;
    long i = idx && *idx ? strtol(idx, &end, 10) : -1;
    if (i < 0 || (end && *end) || i >= *n) {
        buf_printf(why, "needs JOB_COMPLETION_INDEX between 0 and %ld (it is %s)", *n - 1,
                   idx && *idx ? idx : "not set");
        return -1;
    }
    *k = i + 1;
    return 0;
}

/* A key id (UUID or mrk-...), alias/name, or a key or alias ARN. */
static bool s_check_kms_key(char *v, struct buf *why)
{
    (void)why;
    size_t n = strlen(v);
    if (n == 0)
        return true;
    if (n > 2048)
        return false;
    if (strncmp(v, "alias/", 6) == 0)
        return n > 6 && s_all_word_or(v + 6, n - 6, "/-");
    if (strncmp(v, "mrk-", 4) == 0) {
        for (size_t i = 4; i < n; i++)
            if (!isxdigit((unsigned char)v[i]))
                return false;
        return n == 36;
    }
    if (strncmp(v, "arn:aws", 7) == 0) {
        const char *p = awsname_arn_resource(v, "kms");
        if (!p)
            return false;
        if (strncmp(p, "key/", 4) == 0)
            return p[4] && s_all_word_or(p + 4, strlen(p + 4), "-");
        if (strncmp(p, "alias/", 6) == 0)
            return p[6] && s_all_word_or(p + 6, strlen(p + 6), "/-");
        return false;
    }
    /* 8-4-4-4-12 hex */
    if (n != 36)
        return false;
    for (size_t i = 0; i < n; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? v[i] != '-' : !isxdigit((unsigned char)v[i]))
            return false;
    }
    return true;
}

/* arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[\w-]{1,256} */
static bool s_check_sns_arn(char *v, struct buf *why)
{
    (void)why;
    if (!*v)
        return true;
    const char *p = awsname_arn_resource(v, "sns");
    if (!p)
        return false;
    size_t n = strlen(p);
    return n >= 1 && n <= 256 && s_all_word_or(p, n, "-");
}

/* SNS subjects: printable ASCII, under 100 characters, not starting with a space. */
static bool s_check_subject(char *v, struct buf *why)
{
    size_t n = strlen(v);
    if (n > 99) {
        buf_printf(why, "an SNS subject has at most 99 characters, got %zu", n);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        if (v[i] < 0x20 || v[i] > 0x7e) {
            buf_puts(why, "an SNS subject is printable ASCII on one line");
            return false;
        }
    }
    return n == 0 || v[0] != ' ';
}

/* ---- The schema ---- */

enum {
    F_NONEMPTY = 1,    /* a string or list must not be empty */
    F_PATH = 4,        /* a file or folder: a leading ~ or ~user is a home directory */
    F_MIN_EXCL = 2,    /* a number must be above min, not equal */
};

struct s_spec {
    const char *section, *key;
    enum config_type type;
    const char *def;
    double min, max;       /* CFG_INT, CFG_NUMBER */
    const char *choices;   /* CFG_ENUM, or CFG_LIST of an enum: "a|b|c" */
    s_check_fn check;      /* CFG_STRING, or each item of a CFG_LIST */
    const char *expect;    /* "expected <this>, got '...'"; for numbers the noun */
    unsigned flags;
};

#define S_SECONDS "a number of seconds"
#define S_URL "an http:// or https:// URL such as https://localhost:4566"
#define S_SEVERITY "critical|high|medium|low|info"
#define S_SEVERITY_OFF S_SEVERITY "|off"

static const struct s_spec s_schema[] = {
    {"aws", "region", CFG_STRING, "", 0, 0, NULL, s_check_region,
     "an AWS region such as eu-west-1", 0},
    {"aws", "profile", CFG_STRING, "", 0, 0, NULL, s_check_profile,
     "a profile name (no spaces or brackets)", 0},
    {"aws", "ca_bundle", CFG_STRING, "", 0, 0, NULL, s_check_ca_file,
     "a readable PEM file of CA certificates", F_PATH},
    {"aws", "connect_timeout", CFG_NUMBER, "10", 0, 3600, NULL, NULL, S_SECONDS, F_MIN_EXCL},
    {"aws", "request_timeout", CFG_NUMBER, "120", 0, 86400, NULL, NULL, S_SECONDS, F_MIN_EXCL},
    {"aws", "max_attempts", CFG_INT, "5", 1, 20, NULL, NULL, NULL, 0},
    {"aws", "max_connections", CFG_INT, "144", 1, 4096, NULL, NULL, NULL, 0},
    {"aws", "max_pages", CFG_INT, "10000", 1, 10000000, NULL, NULL, NULL, 0},

    {"endpoints", "url", CFG_STRING, "", 0, 0, NULL, s_check_url, S_URL, 0},
    /* The services credreport itself calls; any other service id is a key too (S_SERVICE_URL). */
    {"endpoints", "iam", CFG_STRING, "", 0, 0, NULL, s_check_url, S_URL, 0},
    {"endpoints", "sts", CFG_STRING, "", 0, 0, NULL, s_check_url, S_URL, 0},
    {"endpoints", "organizations", CFG_STRING, "", 0, 0, NULL, s_check_url, S_URL, 0},
    {"endpoints", "s3", CFG_STRING, "", 0, 0, NULL, s_check_url, S_URL, 0},
    {"endpoints", "sns", CFG_STRING, "", 0, 0, NULL, s_check_url, S_URL, 0},
    {"endpoints", "allow_http", CFG_BOOL, "false", 0, 0, NULL, NULL, NULL, 0},

    {"accounts", "ous", CFG_LIST, "", 0, 0, NULL, s_check_ou,
     "OU ids (ou-xxxx-xxxxxxxx) or root ids (r-xxxx)", 0},
    {"accounts", "include", CFG_LIST, "", 0, 0, NULL, s_check_account_item,
     "12-digit account ids", 0},
    {"accounts", "exclude", CFG_LIST, "", 0, 0, NULL, s_check_account_item,
     "12-digit account ids", 0},
    {"accounts", "states", CFG_LIST, "ACTIVE", 0, 0,
     "ACTIVE|SUSPENDED|PENDING_CLOSURE|CLOSED|PENDING_ACTIVATION", NULL, NULL, F_NONEMPTY},
    {"accounts", "tags", CFG_LIST, "", 0, 0, NULL, s_check_tag,
     "tags as key=value or key (letters, digits, spaces and _.:/=+-@)", 0},
    {"accounts", "role_name", CFG_STRING, "OrganizationAccountAccessRole", 0, 0, NULL,
     s_check_role_name, "an IAM role name (letters, digits and _+=,.@-), optionally after a "
     "path (path/name)", F_NONEMPTY},
    {"accounts", "external_id", CFG_STRING, "", 0, 0, NULL, s_check_external_id,
     "2 to 1224 characters of letters, digits and _+=,.@:/-", 0},
    {"accounts", "session_name", CFG_STRING, "credreport", 0, 0, NULL, s_check_session_name,
     "2 to 64 characters of letters, digits and _+=,.@-", F_NONEMPTY},
    {"accounts", "role_duration", CFG_INT, "3600", 900, 43200, NULL, NULL, NULL, 0},
    {"accounts", "management_account", CFG_ENUM, "self", 0, 0, "self|assume|skip", NULL, NULL, 0},

    {"report", "retry_limit", CFG_INT, "90", 1, 1000, NULL, NULL, NULL, 0},
    {"report", "wait_interval", CFG_NUMBER, "1", 0, 3600, NULL, NULL, S_SECONDS, 0},
    {"report", "wait_growth", CFG_NUMBER, "1.1", 1, 10, NULL, NULL, "a number", 0},
    {"report", "max_wait", CFG_NUMBER, "30", 0, 3600, NULL, NULL, S_SECONDS, F_MIN_EXCL},
    {"report", "retry_on", CFG_LIST, "LimitExceeded,ReportInProgress,ReportNotPresent,ReportExpired", 0, 0,
     NULL, s_check_error_code, "AWS error codes such as LimitExceeded", 0},

    {"run", "concurrency", CFG_INT, "10000", 1, 100000, NULL, NULL, NULL, 0},
    {"run", "threads", CFG_INT, "0", 0, 64, NULL, NULL, NULL, 0},
    {"run", "dry_run", CFG_BOOL, "false", 0, 0, NULL, NULL, NULL, 0},
    {"run", "core_dumps", CFG_BOOL, "false", 0, 0, NULL, NULL, NULL, 0},
    {"run", "resume", CFG_BOOL, "false", 0, 0, NULL, NULL, NULL, 0},
    {"run", "shard", CFG_STRING, "", 0, 0, NULL, s_check_shard,
     "K/N (this host's share K of N, 1 <= K <= N) or auto/N (K from JOB_COMPLETION_INDEX)", 0},
    {"run", "lock_file", CFG_STRING, "", 0, 0, NULL, NULL, NULL, F_PATH},
    {"run", "grace_period", CFG_NUMBER, "60", 0, 3600, NULL, NULL, S_SECONDS, 0},
    {"run", "discovery_timeout", CFG_NUMBER, "600", 0, 86400, NULL, NULL, S_SECONDS, F_MIN_EXCL},
    {"run", "account_attempts", CFG_INT, "3", 1, 10, NULL, NULL, NULL, 0},
    {"run", "account_retry_delay", CFG_NUMBER, "60", 0, 3600, NULL, NULL, S_SECONDS, 0},

    {"output", "destination", CFG_STRING, "./reports", 0, 0, NULL, s_check_destination,
     "a folder path or s3://bucket/prefix", F_NONEMPTY | F_PATH},
    {"output", "key_template", CFG_STRING, "{date}/credentialReport_{account}.csv", 0, 0, NULL,
     s_check_key_template, "a relative path with {account}", F_NONEMPTY},
    {"output", "sse", CFG_ENUM, "none", 0, 0, "none|AES256|aws:kms", NULL, NULL, 0},
    {"output", "kms_key_id", CFG_STRING, "", 0, 0, NULL, s_check_kms_key,
     "a KMS key id, key ARN, alias/name or alias ARN", 0},
    {"output", "bucket_key", CFG_BOOL, "false", 0, 0, NULL, NULL, NULL, 0},
    {"output", "expected_bucket_owner", CFG_STRING, "", 0, 0, NULL, s_check_account,
     "a 12-digit account id", 0},
    {"output", "acl", CFG_ENUM, "none", 0, 0, "none|bucket-owner-full-control", NULL, NULL, 0},
    {"output", "region", CFG_STRING, "", 0, 0, NULL, s_check_region,
     "an AWS region such as eu-west-1", 0},
    {"output", "checksum", CFG_ENUM, "sha256", 0, 0, "sha256|md5|none", NULL, NULL, 0},
    {"output", "summary_page", CFG_BOOL, "true", 0, 0, NULL, NULL, NULL, 0},
    {"output", "consolidated_csv", CFG_BOOL, "false", 0, 0, NULL, NULL, NULL, 0},
    {"output", "dataset", CFG_STRING, "", 0, 0, NULL, s_check_dataset,
     "a folder under the destination such as dataset (no {variables})", 0},

    {"findings", "enabled", CFG_BOOL, "true", 0, 0, NULL, NULL, NULL, 0},
    {"findings", "root_used_days", CFG_INT, "30", 1, 3650, NULL, NULL, NULL, 0},
    {"findings", "unused_days", CFG_INT, "45", 1, 3650, NULL, NULL, NULL, 0},
    {"findings", "rotation_days", CFG_INT, "90", 1, 3650, NULL, NULL, NULL, 0},
    {"findings", "root_access_key", CFG_ENUM, "critical", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "root_no_mfa", CFG_ENUM, "critical", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "root_used_recently", CFG_ENUM, "high", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "console_user_no_mfa", CFG_ENUM, "high", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "credentials_unused", CFG_ENUM, "medium", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "key_not_rotated", CFG_ENUM, "medium", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "multiple_active_keys", CFG_ENUM, "medium", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "key_unused_since_creation", CFG_ENUM, "low", 0, 0, S_SEVERITY_OFF, NULL, NULL, 0},
    {"findings", "notify", CFG_LIST, "", 0, 0, S_SEVERITY, NULL, NULL, 0},

    {"notify", "sns_topic_arn", CFG_STRING, "", 0, 0, NULL, s_check_sns_arn,
     "an SNS topic ARN such as arn:aws:sns:eu-west-1:123456789012:credreport", 0},
    {"notify", "subject", CFG_STRING, "credreport: account {account} failed", 0, 0, NULL,
     s_check_subject, "an SNS subject (printable ASCII, not starting with a space)", 0},
    {"notify", "on", CFG_ENUM, "failure", 0, 0, "failure|always|never", NULL, NULL, 0},

    {"log", "level", CFG_ENUM, "info", 0, 0, "debug|info|warn|error", NULL, NULL, 0},
    {"log", "format", CFG_ENUM, "text", 0, 0, "text|json", NULL, NULL, 0},
    {"log", "file", CFG_STRING, "", 0, 0, NULL, NULL, NULL, F_PATH},
};

#define S_N (sizeof s_schema / sizeof s_schema[0])

/* The spec of any other service's URL in [endpoints]: scripts may call any AWS service. */
static const struct s_spec s_service_url = {"endpoints", "", CFG_STRING, "", 0, 0, NULL,
                                             s_check_url, S_URL, 0};

/* The spec of c->values[i]: the schema's, or for a value past it, a service's URL. */
static const struct s_spec *s_spec_of(size_t i)
{
    return i < S_N ? &s_schema[i] : &s_service_url;
}

static long s_find(const struct config *c, const char *section, size_t seclen, const char *key)
{
    for (size_t i = 0; i < c->n; i++)
        if (strlen(c->values[i].section) == seclen &&
            strncasecmp(c->values[i].section, section, seclen) == 0 &&
            strcasecmp(c->values[i].key, key) == 0)
            return (long)i;
    return -1;
}

/* A service id as [endpoints] takes it: what service.h calls valid, in any case. */
static bool s_service_key(const char *key, size_t len)
{
    if (len == 0 || len >= 48 || !isalpha((unsigned char)key[0]))
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)key[i]) && key[i] != '-')
            return false;
    return true;
}

/* Adds an unset [endpoints] value for a service the schema does not name. Returns its index,
 * -1 when key is no service id, -2 when memory runs out. */
static long s_add_service_url(struct config *c, const char *section, size_t seclen,
                              const char *key)
{
    size_t klen = strlen(key);
    if (seclen != 9 || strncasecmp(section, "endpoints", 9) != 0 || !s_service_key(key, klen))
        return -1;
    struct config_value *grown = realloc(c->values, (c->n + 1) * sizeof *grown);
    if (!grown)
        return -2;
    c->values = grown;
    struct config_value *v = &c->values[c->n];
    memset(v, 0, sizeof *v);
    v->own_key = strdup(key);
    v->text = strdup("");
    if (!v->own_key || !v->text) {
        free(v->own_key);
        free(v->text);
        return -2;
    }
    for (char *p = v->own_key; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    v->section = "endpoints";
    v->key = v->own_key;
    v->type = CFG_STRING;
    snprintf(v->origin, sizeof v->origin, "default");
    return (long)c->n++;
}

static bool s_section_known(const char *section, size_t len)
{
    for (size_t i = 0; i < S_N; i++)
        if (strlen(s_schema[i].section) == len && strncasecmp(s_schema[i].section, section, len) == 0)
            return true;
    return false;
}

/* " (did you mean 'x'?)" or " (it belongs in [s])" for an unknown key, or nothing. */
static void s_suggest_key(struct buf *b, const char *section, size_t seclen, const char *key)
{
    for (size_t i = 0; i < S_N; i++) {
        if (strcasecmp(s_schema[i].key, key) == 0) {
            buf_printf(b, " (it belongs in [%s])", s_schema[i].section);
            return;
        }
    }
    struct suggestion sg;
    suggest_init(&sg, key);
    for (size_t i = 0; i < S_N; i++) {
        if (!section || (strlen(s_schema[i].section) == seclen &&
                         strncasecmp(s_schema[i].section, section, seclen) == 0))
            suggest_consider(&sg, s_schema[i].key);
    }
    if (sg.best)
        buf_printf(b, " (did you mean '%s'?)", sg.best);
}

static void s_suggest_section(struct buf *b, const char *section)
{
    struct suggestion sg;
    suggest_init(&sg, section);
    for (size_t i = 0; i < S_N; i++)
        suggest_consider(&sg, s_schema[i].section);
    if (sg.best) {
        buf_printf(b, " (did you mean [%s]?)", sg.best);
        return;
    }
    buf_puts(b, " (known sections:");
    for (size_t i = 0; i < S_N; i++)
        if (i == 0 || strcmp(s_schema[i].section, s_schema[i - 1].section) != 0)
            buf_printf(b, " [%s]", s_schema[i].section);
    buf_putc(b, ')');
}

/* ---- Typed parsing and normalization ---- */

static bool s_parse_long(const char *s, long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!s_all_digits(p, strlen(p)))
        return false;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end)
        return false;
    *out = v;
    return true;
}

static bool s_parse_double(const char *s, double *out)
{
    if (!*s || strspn(s, "0123456789.eE+-") != strlen(s))
        return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v))
        return false;
    *out = v;
    return true;
}

static bool s_parse_bool(const char *s, bool *out)
{
    static const char *const yes[] = {"true", "yes", "on", "1"};
    static const char *const no[] = {"false", "no", "off", "0"};
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return true;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return true;
        }
    }
    return false;
}

/* Appends the canonical spelling of s among "a|b|c" to out: 1, or 0 when s is none of them,
 * -1 when memory runs out. */
static int s_choice(const char *choices, const char *s, struct buf *out)
{
    size_t n = strlen(s);
    for (const char *c = choices; *c;) {
        size_t len = strcspn(c, "|");
        if (len == n && strncasecmp(c, s, n) == 0)
            return buf_append(out, c, len) == 0 ? 1 : -1;
        c += len + (c[len] == '|');
    }
    return 0;
}

static void s_choices_text(struct buf *b, const char *choices)
{
    for (const char *c = choices; *c;) {
        size_t len = strcspn(c, "|");
        buf_printf(b, "%s%.*s", c == choices ? "" : ", ", (int)len, c);
        c += len + (c[len] == '|');
    }
}

static void s_range_text(struct buf *b, const struct s_spec *sp)
{
    char lo[32], hi[32];
    s_fmt_num(lo, sizeof lo, sp->min);
    s_fmt_num(hi, sizeof hi, sp->max);
    if (sp->type == CFG_INT) {
        buf_printf(b, "a whole number from %s to %s", lo, hi);
    } else if (sp->flags & F_MIN_EXCL) {
        if (isinf(sp->max))
            buf_printf(b, "%s greater than %s", sp->expect, lo);
        else
            buf_printf(b, "%s above %s and up to %s", sp->expect, lo, hi);
    } else {
        /* keep "1.0" looking like a decimal when the spec's default does */
        if (sp->min == floor(sp->min) && strchr(sp->def, '.'))
            buf_printf(b, "%s from %.1f to %.1f", sp->expect, sp->min, sp->max);
        else
            buf_printf(b, "%s from %s to %s", sp->expect, lo, hi);
    }
}

/* Per type: value normalized into out. Each returns 0, 1 when invalid (msg says why,
 * without the "[section] key: " prefix), -1 when memory runs out. */
typedef int (*s_norm_fn)(const struct s_spec *sp, const char *value, struct buf *out,
                         struct buf *msg);

/* "expected <range>, got 'value'": 1. */
static int s_out_of_range(const struct s_spec *sp, const char *value, struct buf *msg)
{
    buf_puts(msg, "expected ");
    s_range_text(msg, sp);
    buf_puts(msg, ", got ");
    s_quote(msg, value);
    return 1;
}

static int s_norm_int(const struct s_spec *sp, const char *value, struct buf *out,
                      struct buf *msg)
{
    long v;
    if (!s_parse_long(value, &v) || v < (long)sp->min || v > (long)sp->max)
        return s_out_of_range(sp, value, msg);
    return buf_printf(out, "%ld", v) != 0 ? -1 : 0;
}

static int s_norm_number(const struct s_spec *sp, const char *value, struct buf *out,
                         struct buf *msg)
{
    double v;
    bool low_ok = !(sp->flags & F_MIN_EXCL);
    if (!s_parse_double(value, &v) || (low_ok ? v < sp->min : v <= sp->min) || v > sp->max)
        return s_out_of_range(sp, value, msg);
    char num[40];
    s_fmt_num(num, sizeof num, v);
    return buf_puts(out, num) != 0 ? -1 : 0;
}

static int s_norm_bool(const struct s_spec *sp, const char *value, struct buf *out,
                       struct buf *msg)
{
    (void)sp;
    bool v;
    if (!s_parse_bool(value, &v)) {
        buf_puts(msg, "expected true or false (or yes/no, on/off, 1/0), got ");
        s_quote(msg, value);
        return 1;
    }
    return buf_puts(out, v ? "true" : "false") != 0 ? -1 : 0;
}

static int s_norm_enum(const struct s_spec *sp, const char *value, struct buf *out,
                       struct buf *msg)
{
    int found = s_choice(sp->choices, value, out);
    if (found != 0)
        return found == 1 ? 0 : -1;
    buf_puts(msg, "expected one of ");
    s_choices_text(msg, sp->choices);
    buf_puts(msg, ", got ");
    s_quote(msg, value);
    return 1;
}

static int s_norm_string(const struct s_spec *sp, const char *value, struct buf *out,
                         struct buf *msg)
{
    int result = 1;
    char *copy = NULL;
    struct buf why = BUF_INIT;
    if (s_has_control(value)) {
        buf_puts(msg, "control characters (such as line breaks) are not allowed, got ");
        s_quote(msg, value);
        goto cleanup;
    }
    copy = (sp->flags & F_PATH) ? s_expand_home(value, &why) : strdup(value);
    if (!copy && why.len) {
        buf_puts(msg, why.data);
        goto cleanup;
    }
    if (!copy) {
        result = -1;
    } else if ((sp->flags & F_NONEMPTY) && !*copy) {
        buf_printf(msg, "expected %s, got an empty value", sp->expect);
    } else if (sp->check && !sp->check(copy, &why)) {
        if (why.len) {
            buf_puts(msg, why.data);
        } else {
            buf_printf(msg, "expected %s, got ", sp->expect);
            s_quote(msg, value);
        }
    } else {
        result = buf_puts(out, copy) != 0 ? -1 : 0;
    }
cleanup:
    free(copy);
    buf_free(&why);
    return result;
}

/* One item of a list, appended to out; 1 with msg when it is not valid, -1 when memory runs out. */
static int s_norm_list_item(const struct s_spec *sp, char *item, struct buf *out,
                            struct buf *msg)
{
    struct buf why = BUF_INIT;
    bool ok;
    if (sp->choices) {
        int found = s_choice(sp->choices, item, out);
        if (found == -1)
            return -1;
        ok = found == 1;
    } else {
        ok = !s_has_control(item) && (!sp->check || sp->check(item, &why));
        if (ok && buf_puts(out, item) != 0) {
            buf_free(&why);
            return -1;
        }
    }
    if (!ok) {
        if (why.len) {
            buf_puts(msg, why.data);
            buf_puts(msg, ", got ");
        } else if (sp->choices) {
            buf_puts(msg, "expected a list of ");
            s_choices_text(msg, sp->choices);
            buf_puts(msg, ", got ");
        } else {
            buf_printf(msg, "expected %s, got ", sp->expect);
        }
        s_quote(msg, item);
    }
    buf_free(&why);
    return ok ? 0 : 1;
}

/* Items separated by ',' or line breaks, trimmed, empty ones dropped, joined with ','. */
static int s_norm_list(const struct s_spec *sp, const char *value, struct buf *out,
                       struct buf *msg)
{
    char *copy = strdup(value);
    if (!copy)
        return -1;
    int rc = 0;
    bool any = false;
    for (char *item = copy; item && rc == 0;) {
        char *end = item + strcspn(item, ",\n");
        char *next = *end ? end + 1 : NULL;
        *end = '\0';
        while (s_blank(*item))
            item++;
        while (end > item && s_blank(end[-1]))
            *--end = '\0';
        if (*item) {
            size_t mark = out->len;
            rc = any && buf_putc(out, ',') != 0 ? -1 : s_norm_list_item(sp, item, out, msg);
            if (rc == 1)
                out->len = mark;
            any = true;
        }
        item = next;
    }
    free(copy);
    if (rc == 0 && (sp->flags & F_NONEMPTY) && !any) {
        buf_puts(msg, "expected at least one of ");
        s_choices_text(msg, sp->choices ? sp->choices : "");
        rc = 1;
    }
    return rc;
}

/* Normalizes value for spec sp into out: 0, 1 when invalid (msg says why), -1 when memory
 * runs out. */
static int s_normalize(const struct s_spec *sp, const char *value, struct buf *out,
                       struct buf *msg)
{
    static const s_norm_fn by_type[] = {
        [CFG_STRING] = s_norm_string, [CFG_INT] = s_norm_int, [CFG_NUMBER] = s_norm_number,
        [CFG_BOOL] = s_norm_bool,     [CFG_LIST] = s_norm_list, [CFG_ENUM] = s_norm_enum,
    };
    buf_reset(out);
    if (sp->type != CFG_LIST && strchr(value, '\n')) {
        buf_puts(msg, "only lists may continue on indented lines");
        return 1;
    }
    int rc = by_type[sp->type](sp, value, out, msg);
    if (rc == 0 && !out->data && buf_puts(out, "") != 0)
        rc = -1;
    return rc;
}

/* Validates and stores value into c->values[i]. where prefixes errors ("config.ini:12",
 * "--concurrency"). Returns 0, 1 when invalid, -1 when memory runs out (error appended). */
static int s_assign(struct config *c, size_t i, const char *value, const char *where,
                    const char *origin, struct buf *errors)
{
    const struct s_spec *sp = s_spec_of(i);
    struct buf out = BUF_INIT, msg = BUF_INIT;
    int rc = s_normalize(sp, value, &out, &msg);

    if (rc == 0) {
        char *text = buf_steal(&out);
        if (!text) {
            rc = -1;
        } else {
            free(c->values[i].text);
            c->values[i].text = text;
            c->values[i].set = true;
            s_origin_copy(c->values[i].origin, sizeof c->values[i].origin, origin);
        }
    }
    if (rc == 1)
        s_err(errors, "%s: [%s] %s: %s", where, c->values[i].section, c->values[i].key,
              msg.data ? msg.data : "invalid value");
    else if (rc == -1)
        s_err(errors, "%s: out of memory", where);
    buf_free(&out);
    buf_free(&msg);
    return rc;
}

/* ---- The public API ---- */

void config_free(struct config *c)
{
    if (!c)
        return;
    if (c->values)
        for (size_t i = 0; i < c->n; i++) {
            free(c->values[i].text);
            free(c->values[i].own_key);
        }
    free(c->values);
    free(c->path);
    memset(c, 0, sizeof *c);
}

int config_init(struct config *c)
{
    memset(c, 0, sizeof *c);
    if (!(c->values = calloc(S_N, sizeof *c->values)))
        return -1;
    c->n = S_N;
    for (size_t i = 0; i < S_N; i++) {
        struct config_value *v = &c->values[i];
        struct buf out = BUF_INIT, msg = BUF_INIT;
        v->section = s_schema[i].section;
        v->key = s_schema[i].key;
        v->type = s_schema[i].type;
        snprintf(v->origin, sizeof v->origin, "default");
        /* Defaults go through the same normalization ("1.0" -> "1"). */
        int rc = s_normalize(&s_schema[i], s_schema[i].def, &out, &msg);
        buf_free(&msg);
        if (rc != 0 || !(v->text = buf_steal(&out))) {
            buf_free(&out);
            config_free(c);
            return -1;
        }
    }
    return 0;
}

const struct config_value *config_get(const struct config *c, const char *section,
                                      const char *key)
{
    if (!c || !c->values || !section || !key)
        return NULL;
    long i = s_find(c, section, strlen(section), key);
    return i < 0 ? NULL : &c->values[i];
}

const char *config_str(const struct config *c, const char *section, const char *key)
{
    const struct config_value *v = config_get(c, section, key);
    return v && v->text ? v->text : "";
}

long config_int(const struct config *c, const char *section, const char *key)
{
    long v = 0;
    if (!s_parse_long(config_str(c, section, key), &v))
        return 0;
    return v;
}

double config_num(const struct config *c, const char *section, const char *key)
{
    double v = 0;
    if (!s_parse_double(config_str(c, section, key), &v))
        return 0;
    return v;
}

bool config_bool(const struct config *c, const char *section, const char *key)
{
    return strcmp(config_str(c, section, key), "true") == 0;
}

int config_set(struct config *c, const char *section, const char *key, const char *value,
               const char *origin, struct buf *errors)
{
    if (!origin || !*origin)
        origin = "command line";
    if (!c->values || !section || !key) {
        s_err(errors, "%s: no setting named", origin);
        return -1;
    }
    long i = s_find(c, section, strlen(section), key);
    if (i < 0)
        i = s_add_service_url(c, section, strlen(section), key);
    if (i == -2) {
        s_err(errors, "%s: out of memory", origin);
        return CONFIG_NO_MEMORY;
    }
    if (i < 0) {
        struct buf b = BUF_INIT;
        if (!s_section_known(section, strlen(section)))
            s_suggest_section(&b, section);
        else
            s_suggest_key(&b, section, strlen(section), key);
        s_err(errors, "%s: unknown setting [%s] %s%s", origin, section, key,
              b.data ? b.data : "");
        buf_free(&b);
        return -1;
    }
    int rc = s_assign(c, (size_t)i, value ? value : "", origin, origin, errors);
    return rc == 0 ? 0 : rc == -1 ? CONFIG_NO_MEMORY : -1;
}

/* ---- The file ---- */

/* inih parses; a reader between the file and inih hands it one logical line per physical line
 * (so line numbers stay right). Debian's libinih only knows inline ';' comments, cuts lines at
 * 200 bytes and section names at 50, and knows nothing of quotes; so the reader takes each
 * value off its line (quotes, inline ';' and '#' comments, continuation lines of lists) and
 * hands inih "[s]" or "key=", keeping the real section name and the value here. Lines it
 * cannot make sense of are reported here, so that every error is collected, not only the
 * first inih would return. */
struct s_parse {
    struct config *c;
    const char *path;
    struct buf *errors;
    int n_errors;
    const char *data;
    size_t len, pos;
    int lineno;
    int skip;               /* lines already consumed as continuations */
    bool in_section;
    bool section_ok;        /* a known section */
    const char *sec;        /* its name in data */
    size_t sec_len;
    struct buf value;       /* the value of the option line being parsed */
    bool line_done;         /* the reader dealt with this line: the handler ignores it */
    int *set_on;            /* per value: the line that set it in this file, 0 if none */
    size_t n_set_on;
    bool oom;
};

static void s_file_err(struct s_parse *ps, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void s_file_err(struct s_parse *ps, int line, const char *fmt, ...)
{
    ps->n_errors++;
    if (!ps->errors)
        return;
    if (ps->errors->len > 0)
        buf_putc(ps->errors, '\n');
    buf_printf(ps->errors, "%s:%d: ", ps->path, line);
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(ps->errors, fmt, ap);
    va_end(ap);
}

/* The next physical line from pos: start and length without the line break and trailing
 * blanks; advances *pos. */
static const char *s_next_line(const struct s_parse *ps, size_t *pos, size_t *n)
{
    const char *line = ps->data + *pos;
    const char *nl = memchr(line, '\n', ps->len - *pos);
    size_t len = nl ? (size_t)(nl - line) : ps->len - *pos;
    *pos += len + (nl ? 1 : 0);
    while (len && s_blank(line[len - 1]))
        len--;
    *n = len;
    return line;
}

/* Where an inline comment starts in s..end: ';' or '#' after a blank (or at s when
 * blank_before). */
static const char *s_comment(const char *s, const char *end, bool blank_before)
{
    for (const char *p = s; p < end; p++) {
        if ((*p == ';' || *p == '#') && (p == s ? blank_before : s_blank(p[-1])))
            return p;
    }
    return end;
}

/* The value in s..end (after the '=' or on a continuation line): "quoted" verbatim, else up
 * to an inline comment, trimmed. Appends it to out; returns NULL or what is wrong. */
static const char *s_take_value(const char *s, const char *end, struct buf *out, bool *oom)
{
    bool blank = false;
    while (s < end && s_blank(*s))
        s++, blank = true;
    if (s < end && *s == '"') {
        const char *q = memchr(s + 1, '"', (size_t)(end - s - 1));
        if (!q)
            return "missing closing '\"'";
        const char *r = q + 1;
        while (r < end && s_blank(*r))
            r++;
        if (r < end && *r != ';' && *r != '#')
            return "text after the closing '\"' (quote the whole value)";
        if (buf_append(out, s + 1, (size_t)(q - s - 1)) != 0)
            *oom = true;
        return NULL;
    }
    const char *e = s_comment(s, end, blank);
    while (e > s && s_blank(e[-1]))
        e--;
    if (buf_append(out, s, (size_t)(e - s)) != 0)
        *oom = true;
    return NULL;
}

/* A "[name]" line (s to end, s at the '['): the section that follows. Returns what inih is
 * handed for it. */
static char *s_read_section(struct s_parse *ps, const char *s, const char *end, char *str,
                            int num)
{
    const char *close = memchr(s, ']', (size_t)(end - s));
    if (!close) {
        s_file_err(ps, ps->lineno, "missing ']' in the section header");
        ps->in_section = true;
        ps->section_ok = false;
        return str;
    }
    const char *after = close + 1;
    while (after < end && s_blank(*after))
        after++;
    const char *name = s + 1, *nend = close;
    while (name < nend && s_blank(*name))
        name++;
    while (nend > name && s_blank(nend[-1]))
        nend--;
    ps->in_section = true;
    ps->sec = name;
    ps->sec_len = (size_t)(nend - name);
    ps->section_ok = s_section_known(name, ps->sec_len);
    int shown = (int)(ps->sec_len > 64 ? 64 : ps->sec_len);
    if (after < end && *after != ';' && *after != '#') {
        s_file_err(ps, ps->lineno, "text after the section header");
    } else if (!ps->section_ok) {
        struct buf b = BUF_INIT;
        char *sname = strndup(name, (size_t)shown);
        if (sname)
            s_suggest_section(&b, sname);
        s_file_err(ps, ps->lineno, "unknown section [%.*s]%s", shown, name, b.data ? b.data : "");
        free(sname);
        buf_free(&b);
    }
    snprintf(str, (size_t)num, "[s]\n");
    return str;
}

/* The continuation lines of the value of key (klen bytes, on a line indented by indent):
 * lines indented deeper, until a blank line or one that is not (whole-line comments in
 * between are skipped), appended to ps->value. problem: the first line's problem, if any. */
static void s_read_continuations(struct s_parse *ps, const char *key, size_t klen, size_t indent,
                                 const char *problem)
{
    size_t pos = ps->pos;
    int lines = 0;
    while (pos < ps->len) {
        size_t cn;
        const char *cl = s_next_line(ps, &pos, &cn);
        size_t ci = 0;
        while (ci < cn && s_blank(cl[ci]))
            ci++;
        if (ci == cn || ci <= indent)
            break;
        lines++;
        if (cl[ci] == '#' || cl[ci] == ';')
            continue;
        ps->skip = lines;
        if (buf_putc(&ps->value, '\n') != 0)
            ps->oom = true;
        const char *cp = s_take_value(cl + ci, cl + cn, &ps->value, &ps->oom);
        if (cp && !problem) {
            s_file_err(ps, ps->lineno + lines, "%.*s: %s", (int)(klen > 64 ? 64 : klen), key, cp);
            ps->line_done = true;
            problem = cp;
        }
    }
}

/* A "key = value" (or "key: value") line indented by indent, s at the key: the value goes to
 * ps->value, "key=" to inih. */
static char *s_read_option(struct s_parse *ps, const char *s, const char *end, size_t indent,
                           char *str, int num)
{
    const char *cmt = s_comment(s, end, false);
    const char *delim = s;
    while (delim < cmt && *delim != '=' && *delim != ':')
        delim++;
    if (delim == cmt) {
        int shown = (int)(cmt - s > 60 ? 60 : cmt - s);
        s_file_err(ps, ps->lineno, "expected 'key = value' or '[section]', got '%.*s%s'", shown,
                   s, cmt - s > shown ? "..." : "");
        ps->line_done = true;
        return str;
    }
    const char *kend = delim;
    while (kend > s && s_blank(kend[-1]))
        kend--;
    size_t klen = (size_t)(kend - s);
    if (klen == 0) {
        s_file_err(ps, ps->lineno, "missing the key name before '%c'", *delim);
        return str;
    }
    const char *problem = s_take_value(delim + 1, end, &ps->value, &ps->oom);
    if (problem) {
        s_file_err(ps, ps->lineno, "%.*s: %s", (int)(klen > 64 ? 64 : klen), s, problem);
        ps->line_done = true;
    }
    s_read_continuations(ps, s, klen, indent, problem);
    if (ps->oom)
        return NULL;
    if (klen + 3 > (size_t)num) {
        s_file_err(ps, ps->lineno, "unknown key '%.40s...' (%zu characters)", s, klen);
        ps->line_done = true;
        return str;
    }
    memcpy(str, s, klen);
    memcpy(str + klen, "=\n", 3);
    return str;
}

/* inih's reader: one logical line per physical line, so line numbers stay right. A comment
 * or a line taken as a continuation reaches inih as an empty line. */
static char *s_reader(char *str, int num, void *stream)
{
    struct s_parse *ps = stream;

    ps->line_done = false;
    buf_reset(&ps->value);
    if (ps->oom || ps->pos >= ps->len || num < 8)
        return NULL;

    size_t n;
    const char *line = s_next_line(ps, &ps->pos, &n);
    ps->lineno++;
    snprintf(str, (size_t)num, "\n");
    if (ps->skip > 0) {
        ps->skip--;
        return str;
    }
    if (ps->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3, n -= 3;
    if (memchr(line, '\0', n)) {
        s_file_err(ps, ps->lineno, "NUL byte in the line");
        return str;
    }
    size_t indent = 0;
    while (indent < n && s_blank(line[indent]))
        indent++;
    const char *s = line + indent, *end = line + n;
    if (s == end || *s == '#' || *s == ';')
        return str;
    if (*s == '[')
        return s_read_section(ps, s, end, str, num);
    return s_read_option(ps, s, end, indent, str, num);
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    struct s_parse *ps = user;
    int line = ps->lineno;
    (void)section; /* the reader keeps the real one */
    (void)value;   /* and the value */

    if (ps->oom)
        return 0;
    if (ps->line_done)
        return 1;
    if (!ps->in_section) {
        struct buf b = BUF_INIT;
        s_suggest_key(&b, NULL, 0, name);
        s_file_err(ps, line, "'%s' is outside any [section]%s", name, b.data ? b.data : "");
        buf_free(&b);
        return 1;
    }
    if (!ps->section_ok)
        return 1; /* the section was reported */
    long i = s_find(ps->c, ps->sec, ps->sec_len, name);
    if (i < 0)
        i = s_add_service_url(ps->c, ps->sec, ps->sec_len, name);
    if (i >= 0 && (size_t)i >= ps->n_set_on) {
        int *grown = realloc(ps->set_on, ps->c->n * sizeof *grown);
        if (!grown)
            i = -2;
        else {
            memset(grown + ps->n_set_on, 0, (ps->c->n - ps->n_set_on) * sizeof *grown);
            ps->set_on = grown;
            ps->n_set_on = ps->c->n;
        }
    }
    if (i == -2) {
        ps->oom = true;
        return 0;
    }
    if (i < 0) {
        struct buf b = BUF_INIT;
        s_suggest_key(&b, ps->sec, ps->sec_len, name);
        s_file_err(ps, line, "unknown key '%s' in [%.*s]%s", name, (int)ps->sec_len, ps->sec,
                   b.data ? b.data : "");
        buf_free(&b);
        return 1;
    }
    if (ps->set_on[i]) {
        s_file_err(ps, line, "[%s] %s is set twice (first on line %d)", ps->c->values[i].section,
                   ps->c->values[i].key, ps->set_on[i]);
        return 1;
    }
    ps->set_on[i] = line;

    char origin[sizeof ps->c->values[0].origin];
    s_origin_line(origin, sizeof origin, ps->path, line);
    /* errors carry the full path */
    struct buf full = BUF_INIT;
    if (buf_printf(&full, "%s:%d", ps->path, line) != 0) {
        ps->oom = true;
        return 0;
    }
    int rc = s_assign(ps->c, (size_t)i, ps->value.data ? ps->value.data : "", full.data, origin,
                      ps->errors);
    buf_free(&full);
    if (rc == -1) {
        ps->oom = true;
        return 0;
    }
    if (rc == 1)
        ps->n_errors++;
    return 1;
}

int config_load(struct config *c, const char *path, bool must_exist, struct buf *errors)
{
    int result = -1;
    struct buf data = BUF_INIT;
    struct s_parse ps;
    FILE *f = NULL;

    memset(&ps, 0, sizeof ps);
    if (!path) {
        path = S_DEFAULT_PATH;
        must_exist = false;
    }
    f = fopen(path, "rb");
    if (!f) {
        if ((errno == ENOENT || errno == ENOTDIR) && !must_exist) {
            result = 0;
        } else {
            s_err(errors, "%s: cannot open the config file: %s", path, strerror(errno));
        }
        goto cleanup;
    }
    char why[512];
    if (trust_file(fileno(f), path, why, sizeof why) != 0) {
        s_err(errors, "%s", why);
        goto cleanup;
    }
    for (;;) {
        if (buf_reserve(&data, 4096) != 0)
            goto no_memory;
        size_t got = fread(data.data + data.len, 1, data.cap - data.len - 1, f);
        data.len += got;
        data.data[data.len] = '\0';
        if (data.len > S_MAX_FILE) {
            s_err(errors, "%s: too large for a config file (over %d bytes)", path, S_MAX_FILE);
            goto cleanup;
        }
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        s_err(errors, "%s: cannot read the config file: %s", path, strerror(errno));
        goto cleanup;
    }

    ps.c = c;
    ps.path = path;
    ps.errors = errors;
    ps.data = data.data ? data.data : "";
    ps.len = data.len;
    ps.n_set_on = c->n;
    if (!(ps.set_on = calloc(c->n, sizeof *ps.set_on)))
        goto no_memory;
    int rc = ini_parse_stream(s_reader, &ps, s_handler, &ps);
    if (ps.oom || rc == -2)
        goto no_memory;
    if (rc > 0 && ps.n_errors == 0)
        s_file_err(&ps, rc, "malformed line (expected [section] or key = value)");
    if (rc != 0 || ps.n_errors > 0)
        goto cleanup;
    free(c->path);
    if (!(c->path = strdup(path)))
        goto no_memory;
    result = 0;
    goto cleanup;

no_memory:
    s_err(errors, "%s: out of memory", path);
    result = CONFIG_NO_MEMORY;
cleanup:
    if (f)
        fclose(f);
    free(ps.set_on);
    buf_free(&ps.value);
    buf_free(&data);
    return result;
}

/* ---- Cross-field checks ---- */

static const struct config_value *s_val(const struct config *c, const char *section,
                                        const char *key)
{
    static const struct config_value none = {.section = "", .key = "", .type = CFG_STRING,
                                             .text = "", .origin = "default"};
    const struct config_value *v = config_get(c, section, key);
    return v ? v : &none;
}

/* The origin to name for a rule broken between a and b: b if the user set it, unless only a
 * came from the command line (the override broke the rule). */
static const char *s_blame(const struct config_value *a, const struct config_value *b)
{
    bool a_cli = a->set && strncmp(a->origin, "--", 2) == 0;
    bool b_cli = b->set && strncmp(b->origin, "--", 2) == 0;
    if (b->set && (!a->set || !a_cli || b_cli))
        return b->origin;
    return a->origin;
}

int config_validate(struct config *c, struct buf *errors)
{
    int n = 0;
    const struct config_value *sse = s_val(c, "output", "sse");
    const struct config_value *kms = s_val(c, "output", "kms_key_id");
    const struct config_value *bk = s_val(c, "output", "bucket_key");

    if (*kms->text && strcmp(sse->text, "aws:kms") != 0) {
        s_err(errors, "%s: [output] kms_key_id needs sse = aws:kms (sse is '%s')", kms->origin,
              sse->text);
        n++;
    }
    if (strcmp(bk->text, "true") == 0 && strcmp(sse->text, "aws:kms") != 0) {
        s_err(errors, "%s: [output] bucket_key needs sse = aws:kms (sse is '%s')", bk->origin,
              sse->text);
        n++;
    }

    const struct config_value *inc = s_val(c, "accounts", "include");
    const struct config_value *exc = s_val(c, "accounts", "exclude");
    for (const char *p = exc->text; *p;) {
        size_t len = strcspn(p, ",");
        for (const char *q = inc->text; *q;) {
            size_t qlen = strcspn(q, ",");
            if (qlen == len && strncmp(p, q, len) == 0) {
                s_err(errors, "%s: [accounts] account %.*s is both in include and in exclude",
                      s_blame(inc, exc), (int)len, p);
                n++;
                break;
            }
            q += qlen + (q[qlen] == ',');
        }
        p += len + (p[len] == ',');
    }

    const struct config_value *wi = s_val(c, "report", "wait_interval");
    const struct config_value *mw = s_val(c, "report", "max_wait");
    if (config_num(c, "report", "wait_interval") > config_num(c, "report", "max_wait")) {
        s_err(errors, "%s: [report] wait_interval (%s) is above max_wait (%s)",
              s_blame(wi, mw), wi->text, mw->text);
        n++;
    }
    const struct config_value *ct = s_val(c, "aws", "connect_timeout");
    const struct config_value *rt = s_val(c, "aws", "request_timeout");
    if (config_num(c, "aws", "request_timeout") < config_num(c, "aws", "connect_timeout")) {
        s_err(errors, "%s: [aws] request_timeout (%s) is below connect_timeout (%s)",
              s_blame(ct, rt), rt->text, ct->text);
        n++;
    }
    return n ? -1 : 0;
}
