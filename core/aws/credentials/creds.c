#include "aws/credentials/creds.h"
#include "aws/awsname.h"
#include "base/errmsg.h"
#include "base/trust.h"

#include <errno.h>
#include <ini.h>
#include <openssl/crypto.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"

static bool s_set(const char *s)
{
    return s && *s;
}


static void s_step_free(struct creds_role_step *s)
{
    free(s->role_arn);
    creds_free_string(&s->external_id);
    free(s->session_name);
    free(s->region);
    memset(s, 0, sizeof *s);
}

void creds_role_step_free(struct creds_role_step *s)
{
    s_step_free(s);
}

void creds_plan_free(struct creds_plan *p)
{
    if (!p)
        return;
    creds_free(&p->base);
    creds_free_string(&p->process);
    s_step_free(&p->web);
    free(p->web_token_file);
    for (size_t i = 0; i < p->n_steps; i++)
        s_step_free(&p->steps[i]);
    free(p->steps);
    memset(p, 0, sizeof *p);
}

int creds_from_env(struct aws_creds *out, char *err, size_t errlen)
{
    int result = -1;
    struct aws_creds c;
    const char *akid = getenv("AWS_ACCESS_KEY_ID");
    const char *secret = getenv("AWS_SECRET_ACCESS_KEY");
    const char *token = getenv("AWS_SESSION_TOKEN");

    memset(&c, 0, sizeof c);
    memset(out, 0, sizeof *out);
    if (!s_set(token))
        token = getenv("AWS_SECURITY_TOKEN");
    if (!s_set(akid) && !s_set(secret)) {
        result = 0;
        goto cleanup;
    }
    if (!s_set(secret)) {
        errmsg_set(err, errlen, "AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not");
        goto cleanup;
    }
    if (!s_set(akid)) {
        errmsg_set(err, errlen, "AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not");
        goto cleanup;
    }
    if (!(c.access_key_id = strdup(akid)) || !(c.secret_access_key = strdup(secret)) ||
        (s_set(token) && !(c.session_token = strdup(token)))) {
        errmsg_set(err, errlen, "out of memory reading credentials from the environment");
        goto cleanup;
    }
    snprintf(c.source, sizeof c.source, "environment");
    *out = c;
    memset(&c, 0, sizeof c);
    result = 1;

cleanup:
    creds_free(&c);
    return result;
}

/* ---- The shared files ---- */

enum s_key {
    K_ACCESS_KEY_ID,
    K_SECRET_ACCESS_KEY,
    K_SESSION_TOKEN,
    K_REGION,
    K_ROLE_ARN,
    K_SOURCE_PROFILE,
    K_CREDENTIAL_SOURCE,
    K_EXTERNAL_ID,
    K_ROLE_SESSION_NAME,
    K_DURATION_SECONDS,
    K_WEB_IDENTITY_TOKEN_FILE,
    K_CREDENTIAL_PROCESS,
    K_COUNT
};

static const char *const s_key_names[K_COUNT] = {
    "aws_access_key_id", "aws_secret_access_key", "aws_session_token",
    "region",            "role_arn",              "source_profile",
    "credential_source", "external_id",           "role_session_name",
    "duration_seconds",  "web_identity_token_file", "credential_process",
};

struct s_profile {
    char *name;
    char *cfg[K_COUNT];  /* from the config file */
    char *cred[K_COUNT]; /* from the credentials file: wins */
};

struct s_profiles {
    struct s_profile *items;
    size_t n, cap;
};

static void s_profiles_free(struct s_profiles *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->items[i].name);
        for (int k = 0; k < K_COUNT; k++) {
            creds_free_string(&ps->items[i].cfg[k]);
            creds_free_string(&ps->items[i].cred[k]);
        }
    }
    free(ps->items);
    memset(ps, 0, sizeof *ps);
}

static struct s_profile *s_profile_find(const struct s_profiles *ps, const char *name)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strcmp(ps->items[i].name, name) == 0)
            return &ps->items[i];
    return NULL;
}

/* Index of the profile of that name, created if needed; -1 when memory runs out. */
static long s_profile_get(struct s_profiles *ps, const char *name, size_t len)
{
    for (size_t i = 0; i < ps->n; i++)
        if (strlen(ps->items[i].name) == len && strncmp(ps->items[i].name, name, len) == 0)
            return (long)i;
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 8;
        struct s_profile *p = realloc(ps->items, cap * sizeof *p);
        if (!p)
            return -1;
        ps->items = p;
        ps->cap = cap;
    }
    struct s_profile *p = &ps->items[ps->n];
    memset(p, 0, sizeof *p);
    if (!(p->name = strndup(name, len)))
        return -1;
    return (long)ps->n++;
}

static const char *s_get(const struct s_profile *p, enum s_key k)
{
    return p->cred[k] ? p->cred[k] : p->cfg[k];
}

/* Parsing. inih drives the parse and reports malformed lines, but its line buffer is small
 * (200 bytes by default, session tokens are longer) and its section names are cut at 50
 * bytes, and it reads indented lines differently from the AWS CLI's configparser. So a reader
 * between the file and inih hands it one logical line per physical line (line numbers stay
 * right): sections become "[s]" with the full name kept here, options are unindented, lines
 * that continue an option (indented deeper than it) stay indented and are ignored, and an
 * option too long for inih's buffer is handed over without its value, which is kept here. */
struct s_parse {
    struct s_profiles *profiles;
    bool creds_file;
    const char *data;
    size_t len, pos;
    int lineno;
    /* reader state */
    bool in_section;
    long profile;          /* index of the current section's profile, -1 if ignored */
    bool have_option;      /* an option was seen in this section */
    size_t option_indent;  /* its indentation */
    bool continuation;     /* the line being parsed continues an option */
    char *long_value;      /* the value of the line being parsed, when too long for inih */
    /* outcome */
    int err_line;
    const char *err_what;
    bool oom;
};

/* inih's find_chars_or_comment(): the first of chars, or an inline ';' after whitespace. */
static const char *s_find_chars_or_comment(const char *s, const char *end, const char *chars)
{
    bool was_space = false;
    while (s < end && !(chars && strchr(chars, *s)) && !(was_space && *s == ';')) {
        was_space = *s == ' ' || *s == '\t' || *s == '\r' || *s == '\f' || *s == '\v';
        s++;
    }
    return s;
}

static bool s_isblank(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

static void s_fail_line(struct s_parse *ps, const char *what)
{
    if (!ps->err_line) {
        ps->err_line = ps->lineno;
        ps->err_what = what;
    }
}

/* The profile a section header names, or NULL (len 0) when the section is not a profile. */
static const char *s_section_profile(const struct s_parse *ps, const char *s, size_t n,
                                     size_t *len)
{
    while (n && s_isblank(*s))
        s++, n--;
    while (n && s_isblank(s[n - 1]))
        n--;
    *len = 0;
    if (ps->creds_file) {
        *len = n;
        return n ? s : NULL;
    }
    if (n == 7 && strncmp(s, "default", 7) == 0) {
        *len = n;
        return s;
    }
    if (n > 8 && strncmp(s, "profile", 7) == 0 && s_isblank(s[7])) {
        s += 8, n -= 8;
        while (n && s_isblank(*s))
            s++, n--;
        for (size_t i = 0; i < n; i++)
            if (s_isblank(s[i]))
                return NULL; /* "profile a b" names nothing, as in botocore */
        *len = n;
        return s;
    }
    return NULL;
}

static char *s_reader(char *str, int num, void *stream)
{
    struct s_parse *ps = stream;

    creds_free_string(&ps->long_value);
    ps->continuation = false;
    if (ps->oom || ps->pos >= ps->len || num < 8)
        return NULL;

    const char *line = ps->data + ps->pos;
    const char *nl = memchr(line, '\n', ps->len - ps->pos);
    size_t n = nl ? (size_t)(nl - line) : ps->len - ps->pos;
    ps->pos += n + (nl ? 1 : 0);
    ps->lineno++;
    if (ps->lineno == 1 && n >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
        line += 3, n -= 3;
    while (n && (line[n - 1] == '\r' || s_isblank(line[n - 1])))
        n--;
    size_t room = (size_t)num - 2; /* for '\n' and NUL */

    if (memchr(line, '\0', n)) {
        s_fail_line(ps, "NUL byte");
        snprintf(str, (size_t)num, "\n");
        return str;
    }
    size_t indent = 0;
    while (indent < n && s_isblank(line[indent]))
        indent++;
    const char *s = line + indent;
    size_t sn = n - indent;

    if (sn == 0 || *s == '#' || *s == ';') {
        snprintf(str, (size_t)num, "\n");
    } else if (indent > 0 && ps->have_option && indent > ps->option_indent) {
        ps->continuation = true;
        snprintf(str, (size_t)num, " c\n");
    } else if (*s == '[') {
        const char *close = memchr(s, ']', sn);
        if (!close) {
            snprintf(str, (size_t)num, "[\n"); /* inih reports it */
            return str;
        }
        size_t plen;
        const char *pname = s_section_profile(ps, s + 1, (size_t)(close - s - 1), &plen);
        ps->in_section = true;
        ps->have_option = false;
        ps->profile = -1;
        if (pname && (ps->profile = s_profile_get(ps->profiles, pname, plen)) < 0) {
            ps->oom = true;
            return NULL;
        }
        snprintf(str, (size_t)num, "[s]\n");
    } else {
        ps->have_option = true;
        ps->option_indent = indent;
        if (sn <= room) {
            memcpy(str, s, sn);
            str[sn] = '\n';
            str[sn + 1] = '\0';
        } else {
            /* Too long for inih: hand it the name alone and keep the value. */
            const char *end = s + sn;
            const char *delim = s_find_chars_or_comment(s, end, "=:");
            bool has_delim = delim < end && (*delim == '=' || *delim == ':');
            /* inih gets the name, '=', '\n' and a NUL: room counts the last two. */
            if (!has_delim || (size_t)(delim - s) + 1 > room) {
                s_fail_line(ps, has_delim ? "line too long" : "malformed line");
                snprintf(str, (size_t)num, "\n");
                return str;
            }
            const char *v = delim + 1;
            const char *vend = s_find_chars_or_comment(v, end, NULL);
            while (v < vend && s_isblank(*v))
                v++;
            while (vend > v && s_isblank(vend[-1]))
                vend--;
            if (!(ps->long_value = strndup(v, (size_t)(vend - v)))) {
                ps->oom = true;
                return NULL;
            }
            memcpy(str, s, (size_t)(delim - s) + 1);
            str[delim - s + 1] = '\n';
            str[delim - s + 2] = '\0';
        }
    }
    return str;
}

static int s_handler(void *user, const char *section, const char *name, const char *value)
{
    struct s_parse *ps = user;
    (void)section; /* the reader keeps the real one */

    if (ps->oom)
        return 0;
    if (ps->continuation)
        return 1;
    if (!ps->in_section) {
        s_fail_line(ps, "setting outside of any [section]");
        return 1;
    }
    if (ps->profile < 0)
        return 1;
    if (ps->long_value)
        value = ps->long_value;
    for (int k = 0; k < K_COUNT; k++) {
        if (strcasecmp(name, s_key_names[k]) != 0)
            continue;
        struct s_profile *p = &ps->profiles->items[ps->profile];
        char **slot = ps->creds_file ? &p->cred[k] : &p->cfg[k];
        creds_free_string(slot);
        if (*value && !(*slot = strdup(value))) {
            ps->oom = true;
            return 0;
        }
        break;
    }
    return 1;
}

/* The path of a shared file: the variable if set ("~/" expanded), else ~/.aws/<base>. Returns
 * 0 with *path NULL when there is none (no HOME), -1 when memory runs out. */
static int s_file_path(const char *var, const char *base, char **path)
{
    const char *v = getenv(var);
    const char *home = getenv("HOME");
    struct buf b = BUF_INIT;

    *path = NULL;
    if (s_set(v)) {
        if ((v[0] == '~' && (v[1] == '/' || v[1] == '\0')) && s_set(home)) {
            if (buf_puts(&b, home) != 0 || buf_puts(&b, v + 1) != 0)
                goto oom;
        } else if (buf_puts(&b, v) != 0) {
            goto oom;
        }
    } else if (s_set(home)) {
        if (buf_printf(&b, "%s/.aws/%s", home, base) != 0)
            goto oom;
    } else {
        return 0;
    }
    *path = buf_steal(&b);
    return *path ? 0 : -1;

oom:
    buf_free(&b);
    return -1;
}

/* Reads and parses one shared file into profiles. A missing file adds nothing. */
static int s_parse_file(const char *path, bool creds_file, struct s_profiles *profiles,
                        char *err, size_t errlen)
{
    int result = -1;
    const char *kind = creds_file ? "credentials file" : "config file";
    struct buf data = BUF_INIT;
    struct s_parse ps;
    FILE *f = NULL;

    memset(&ps, 0, sizeof ps);
    if (!path)
        return 0;
    f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT || errno == ENOTDIR) {
            result = 0;
        } else {
            errmsg_set(err, errlen, "%s %s: %s", kind, path, ERRNO_TEXT(errno));
        }
        goto cleanup;
    }
    char why[512];
    if (trust_file(fileno(f), path, why, sizeof why) != 0) {
        errmsg_set(err, errlen, "%s: %s", kind, why);
        goto cleanup;
    }
    for (;;) {
        if (buf_reserve(&data, 4096) != 0) {
            errmsg_set(err, errlen, "out of memory reading %s %s", kind, path);
            goto cleanup;
        }
        size_t got = fread(data.data + data.len, 1, data.cap - data.len - 1, f);
        data.len += got;
        data.data[data.len] = '\0';
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        errmsg_set(err, errlen, "%s %s: read error", kind, path);
        goto cleanup;
    }

    ps.profiles = profiles;
    ps.creds_file = creds_file;
    ps.data = data.data ? data.data : "";
    ps.len = data.len;
    ps.profile = -1;
    int rc = ini_parse_stream(s_reader, &ps, s_handler, &ps);
    if (ps.oom || rc == -2) {
        errmsg_set(err, errlen, "out of memory parsing %s %s", kind, path);
        goto cleanup;
    }
    if (ps.err_line && (rc <= 0 || ps.err_line <= rc)) {
        errmsg_set(err, errlen, "%s %s line %d: %s", kind, path, ps.err_line, ps.err_what);
        goto cleanup;
    }
    if (rc != 0) {
        errmsg_set(err, errlen, "%s %s line %d: malformed line (expected [section] or "
                 "name = value)", kind, path, rc);
        goto cleanup;
    }
    result = 0;

cleanup:
    if (f)
        fclose(f);
    creds_free_string(&ps.long_value);
    buf_free_secret(&data);
    return result;
}

/* The role settings of profile p into *out (zeroed first). */
static int s_step_from_profile(const struct s_profile *p, struct creds_role_step *out,
                               char *err, size_t errlen)
{
    int result = -1;
    struct creds_role_step st;
    const char *arn = s_get(p, K_ROLE_ARN);
    const char *ext = s_get(p, K_EXTERNAL_ID);
    const char *sess = s_get(p, K_ROLE_SESSION_NAME);
    const char *dur = s_get(p, K_DURATION_SECONDS);
    const char *region = s_get(p, K_REGION);

    memset(&st, 0, sizeof st);
    if (!awsname_role_arn(arn)) {
        errmsg_set(err, errlen, "profile %s: role_arn is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)",
                   p->name);
        goto cleanup;
    }
    if (sess && !awsname_session_name(sess)) {
        errmsg_set(err, errlen, "profile %s: role_session_name must be 2-64 characters of "
                 "letters, digits and _+=,.@-", p->name);
        goto cleanup;
    }
    if (dur) {
        char *end;
        errno = 0;
        long v = strtol(dur, &end, 10);
        if (errno || end == dur || *end || v < 900 || v > 43200) {
            errmsg_set(err, errlen, "profile %s: duration_seconds must be a number of seconds "
                     "from 900 to 43200", p->name);
            goto cleanup;
        }
        st.duration_seconds = (int)v;
    }
    if (region && !awsname_region(region)) {
        errmsg_set(err, errlen, "profile %s: invalid region (expected e.g. us-east-1)", p->name);
        goto cleanup;
    }
    if (!(st.role_arn = strdup(arn)) || (ext && !(st.external_id = strdup(ext))) ||
        (region && !(st.region = strdup(region))))
        goto oom;
    if (sess) {
        if (!(st.session_name = strdup(sess)))
            goto oom;
    } else {
        char def[64];
        snprintf(def, sizeof def, "credreport-%lld", (long long)time(NULL));
        if (!(st.session_name = strdup(def)))
            goto oom;
    }
    *out = st;
    memset(&st, 0, sizeof st);
    result = 0;
    goto cleanup;

oom:
    errmsg_set(err, errlen, "out of memory");
cleanup:
    s_step_free(&st);
    return result;
}

static int s_add_step(struct creds_plan *plan, const struct s_profile *p, char *err,
                      size_t errlen)
{
    struct creds_role_step st;
    if (s_step_from_profile(p, &st, err, errlen) != 0)
        return -1;
    struct creds_role_step *steps = realloc(plan->steps, (plan->n_steps + 1) * sizeof *steps);
    if (!steps) {
        s_step_free(&st);
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    plan->steps = steps;
    plan->steps[plan->n_steps++] = st;
    return 0;
}

/* credential_source: the base of a role profile that has no source_profile. */
static int s_credential_source(struct creds_plan *plan, const struct s_profile *p, char *err,
                               size_t errlen)
{
    const char *v = s_get(p, K_CREDENTIAL_SOURCE);
    if (strcmp(v, "Environment") == 0) {
        plan->base_kind = CREDS_BASE_ENVIRONMENT;
    } else if (strcmp(v, "EcsContainer") == 0) {
        plan->base_kind = CREDS_BASE_CONTAINER;
    } else if (strcmp(v, "Ec2InstanceMetadata") == 0) {
        plan->base_kind = CREDS_BASE_IMDS;
    } else {
        errmsg_set(err, errlen, "profile %s: credential_source must be Environment, EcsContainer "
                 "or Ec2InstanceMetadata", p->name);
        return -1;
    }
    snprintf(plan->base.source, sizeof plan->base.source, "profile %s", p->name);
    return 0;
}

/* role_arn + web_identity_token_file: the base is AssumeRoleWithWebIdentity. */
static int s_web_identity_base(struct creds_plan *plan, const struct s_profile *p, char *err,
                               size_t errlen)
{
    if (s_step_from_profile(p, &plan->web, err, errlen) != 0)
        return -1;
    if (!(plan->web_token_file = strdup(s_get(p, K_WEB_IDENTITY_TOKEN_FILE)))) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    plan->base_kind = CREDS_BASE_WEB_IDENTITY;
    snprintf(plan->base.source, sizeof plan->base.source, "profile %s", p->name);
    return 0;
}

static int s_static_base(struct creds_plan *plan, const struct s_profile *p, char *err,
                         size_t errlen)
{
    const char *akid = s_get(p, K_ACCESS_KEY_ID);
    const char *secret = s_get(p, K_SECRET_ACCESS_KEY);
    const char *token = s_get(p, K_SESSION_TOKEN);

    if (!akid || !secret) {
        errmsg_set(err, errlen, "profile %s: %s is set but %s is not", p->name,
                 akid ? "aws_access_key_id" : "aws_secret_access_key",
                 akid ? "aws_secret_access_key" : "aws_access_key_id");
        return -1;
    }
    if (!(plan->base.access_key_id = strdup(akid)) ||
        !(plan->base.secret_access_key = strdup(secret)) ||
        (token && !(plan->base.session_token = strdup(token)))) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    plan->base.expiration = 0;
    snprintf(plan->base.source, sizeof plan->base.source, "profile %s", p->name);
    return 0;
}

static void s_loop_error(const struct s_profile *const *visited, size_t n, const char *again,
                         char *err, size_t errlen)
{
    struct buf b = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        if (buf_printf(&b, "%s -> ", visited[i]->name) != 0)
            break;
    if (buf_puts(&b, again) == 0)
        errmsg_set(err, errlen, "source_profile loop: %s", b.data);
    else
        errmsg_set(err, errlen, "source_profile loop involving profile %s", again);
    buf_free(&b);
}

/* Walks the source_profile chain from the requested profile. Returns 1, 0, -1 as
 * creds_plan_resolve(). */
/* The base credentials of profile p, which assumes no role: static keys or a
 * credential_process. 1 when it has them, 0 when it has none and is the requested profile
 * (top: a profile with only a region), -1 with err otherwise. */
static int s_base(const struct s_profile *p, bool top, struct creds_plan *plan, char *err,
                  size_t errlen)
{
    if (s_get(p, K_ACCESS_KEY_ID) || s_get(p, K_SECRET_ACCESS_KEY))
        return s_static_base(plan, p, err, errlen) == 0 ? 1 : -1;
    if (s_get(p, K_CREDENTIAL_PROCESS)) {
        if (!(plan->process = strdup(s_get(p, K_CREDENTIAL_PROCESS)))) {
            errmsg_set(err, errlen, "out of memory");
            return -1;
        }
        plan->base_kind = CREDS_BASE_PROCESS;
        snprintf(plan->base.source, sizeof plan->base.source, "profile %s", p->name);
        return 1;
    }
    if (s_get(p, K_WEB_IDENTITY_TOKEN_FILE))
        errmsg_set(err, errlen, "profile %s: web_identity_token_file needs role_arn", p->name);
    else if (s_get(p, K_CREDENTIAL_SOURCE))
        errmsg_set(err, errlen, "profile %s: credential_source needs role_arn", p->name);
    else if (top)
        return 0;
    else
        errmsg_set(err, errlen, "profile %s (a source_profile) has no credentials", p->name);
    return -1;
}

/* Profile p assumes a role: adds its step to plan. Returns 1 when the chain ends here (a web
 * identity token or a credential_source is the base), 0 with *next the source_profile to
 * follow, -1 with err. */
static int s_role_link(const struct s_profiles *ps, const struct s_profile *p,
                       struct creds_plan *plan, const struct s_profile **next, char *err,
                       size_t errlen)
{
    const char *src = s_get(p, K_SOURCE_PROFILE);
    if (src && s_get(p, K_CREDENTIAL_SOURCE)) {
        errmsg_set(err, errlen, "profile %s has both source_profile and credential_source: "
                   "use one", p->name);
        return -1;
    }
    if (s_get(p, K_WEB_IDENTITY_TOKEN_FILE)) /* as in botocore: the role is its own base */
        return s_web_identity_base(plan, p, err, errlen) == 0 ? 1 : -1;
    if (s_get(p, K_CREDENTIAL_SOURCE))
        return s_credential_source(plan, p, err, errlen) == 0 &&
                       s_add_step(plan, p, err, errlen) == 0
                   ? 1
                   : -1;
    if (!src) {
        errmsg_set(err, errlen, "profile %s has role_arn but no source_profile", p->name);
        return -1;
    }
    if (s_add_step(plan, p, err, errlen) != 0)
        return -1;
    if (!(*next = s_profile_find(ps, src))) {
        errmsg_set(err, errlen, "profile %s: its source_profile %s does not exist", p->name, src);
        return -1;
    }
    return 0;
}

/* Follows profile name's chain of roles down to its base credentials into plan. Returns 1,
 * 0 when there are none to be had (the profile is absent and was not asked for, or has only
 * a region), -1 with err. */
static int s_resolve(const struct s_profiles *ps, const char *name, bool explicit,
                     const char *files, struct creds_plan *plan, char *err,
                     size_t errlen)
{
    const struct s_profile *p = s_profile_find(ps, name);
    if (!p) {
        if (!explicit)
            return 0;
        errmsg_set(err, errlen, "profile %s not found (looked in %s)", name, files);
        return -1;
    }
    const char *region = s_get(p, K_REGION);
    if (region) {
        if (!awsname_region(region)) {
            errmsg_set(err, errlen, "profile %s: invalid region (expected e.g. us-east-1)",
                       p->name);
            return -1;
        }
        snprintf(plan->region, sizeof plan->region, "%s", region);
    }
    const struct s_profile **visited = calloc(ps->n + 1, sizeof *visited);
    if (!visited) {
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    size_t n_visited = 0;
    int rc = 0;
    for (bool top = true; rc == 0; top = false) {
        bool has_static = s_get(p, K_ACCESS_KEY_ID) || s_get(p, K_SECRET_ACCESS_KEY);
        /* A source profile's keys win over its own role_arn, as in the SDKs. */
        if (!s_get(p, K_ROLE_ARN) || (!top && has_static)) {
            rc = s_base(p, top, plan, err, errlen);
            if (rc == 0) /* region only, nothing allocated */
                break;
            continue;
        }
        for (size_t i = 0; i < n_visited; i++) {
            if (visited[i] == p) {
                s_loop_error(visited, n_visited, p->name, err, errlen);
                rc = -1;
            }
        }
        if (rc == 0) {
            visited[n_visited++] = p;
            rc = s_role_link(ps, p, plan, &p, err, errlen);
        }
    }
    free(visited);
    if (rc != 1)
        return rc;
    /* Steps were added from the requested profile down; assume them from the base up. */
    for (size_t i = 0, j = plan->n_steps ? plan->n_steps - 1 : 0; i < j; i++, j--) {
        struct creds_role_step t = plan->steps[i];
        plan->steps[i] = plan->steps[j];
        plan->steps[j] = t;
    }
    return 1;
}

static int s_plan(const char *profile, struct creds_plan *out, char *err,
                  size_t errlen)
{
    int result = -1;
    struct s_profiles profiles = {NULL, 0, 0};
    struct creds_plan plan;
    char *creds_path = NULL;
    char *config_path = NULL;
    struct buf files = BUF_INIT;
    bool explicit = true;

    memset(&plan, 0, sizeof plan);
    memset(out, 0, sizeof *out);
    if (err && errlen)
        err[0] = '\0';
    if (!s_set(profile))
        profile = getenv("AWS_PROFILE");
    if (!s_set(profile)) {
        profile = "default";
        explicit = false;
    }
    if (s_file_path("AWS_SHARED_CREDENTIALS_FILE", "credentials", &creds_path) != 0 ||
        s_file_path("AWS_CONFIG_FILE", "config", &config_path) != 0) {
        errmsg_set(err, errlen, "out of memory");
        goto cleanup;
    }
    if (s_parse_file(config_path, false, &profiles, err, errlen) != 0 ||
        s_parse_file(creds_path, true, &profiles, err, errlen) != 0)
        goto cleanup;
    if (buf_printf(&files, "%s and %s", creds_path ? creds_path : "(no credentials file)",
                   config_path ? config_path : "(no config file)") != 0) {
        errmsg_set(err, errlen, "out of memory");
        goto cleanup;
    }
    result = s_resolve(&profiles, profile, explicit, files.data, &plan, err,
                       errlen);
    if (result >= 0) {
        *out = plan;
        memset(&plan, 0, sizeof plan);
    }

cleanup:
    creds_plan_free(&plan);
    s_profiles_free(&profiles);
    free(creds_path);
    free(config_path);
    buf_free(&files);
    return result;
}

int creds_plan_resolve(const char *profile, struct creds_plan *out, char *err, size_t errlen)
{
    return s_plan(profile, out, err, errlen);
}

int creds_web_identity_from_env(struct creds_role_step *role, char **token_file, char *err,
                                size_t errlen)
{
    const char *file = getenv("AWS_WEB_IDENTITY_TOKEN_FILE");
    const char *arn = getenv("AWS_ROLE_ARN");
    const char *sess = getenv("AWS_ROLE_SESSION_NAME");

    memset(role, 0, sizeof *role);
    *token_file = NULL;
    if (!s_set(file))
        return 0;
    if (!s_set(arn)) {
        errmsg_set(err, errlen, "AWS_WEB_IDENTITY_TOKEN_FILE is set but AWS_ROLE_ARN is not");
        return -1;
    }
    if (!awsname_role_arn(arn)) {
        errmsg_set(err, errlen, "AWS_ROLE_ARN is not a role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
        return -1;
    }
    if (s_set(sess) && !awsname_session_name(sess)) {
        errmsg_set(err, errlen, "AWS_ROLE_SESSION_NAME must be 2-64 characters of letters, "
                 "digits and _+=,.@-");
        return -1;
    }
    char def[64];
    snprintf(def, sizeof def, "credreport-%lld", (long long)time(NULL));
    if (!(role->role_arn = strdup(arn)) || !(role->session_name = strdup(s_set(sess) ? sess : def)) ||
        !(*token_file = strdup(file))) {
        s_step_free(role);
        free(*token_file);
        *token_file = NULL;
        errmsg_set(err, errlen, "out of memory");
        return -1;
    }
    return 1;
}
