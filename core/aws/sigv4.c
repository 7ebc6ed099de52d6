/* AWS Signature Version 4. Every stage writes into struct sigv4_result so tests can compare
 * the intermediates with the AWS test suite. Crypto is OpenSSL EVP only. */
#include "aws/sigv4.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/pieces.h"

#define SIGV4_ALGORITHM "AWS4-HMAC-SHA256"
#define SIGV4_KEY_LEN 32

/* ---------------------------------------------------------------------------------------- */
/* small helpers                                                                             */

static void s_set_err(char *err, size_t errlen, const char *msg)
{
    if (err && errlen)
        snprintf(err, errlen, "%s", msg);
}

void sigv4_hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

/* Algorithms are fetched once: OpenSSL 3 looks them up by name at every implicit use. They
 * stay for the life of the process. */
static EVP_MD *s_md_sha256;
static EVP_MAC *s_mac_hmac;
static pthread_once_t s_fetch_once = PTHREAD_ONCE_INIT;

/* Each thread keeps a digest and an HMAC context from one signature to the next: making one
 * allocates, and an HMAC context looks its digest up by name, which costs more than the
 * hashing a request needs. They go with the thread. */
struct thread_ctx {
    EVP_MD_CTX *md;
    EVP_MAC_CTX *mac; /* HMAC-SHA256; keeps the last key until the next or the thread's end */
};
static pthread_key_t s_ctx_key;
static bool s_ctx_key_made;

static void s_thread_ctx_free(void *arg)
{
    struct thread_ctx *c = arg;
    EVP_MD_CTX_free(c->md);
    EVP_MAC_CTX_free(c->mac); /* wipes the key */
    free(c);
}

static void s_fetch(void)
{
    s_md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
    s_mac_hmac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    s_ctx_key_made = pthread_key_create(&s_ctx_key, s_thread_ctx_free) == 0;
}

static const EVP_MD *s_sha256_md(void)
{
    pthread_once(&s_fetch_once, s_fetch);
    return s_md_sha256;
}

/* The calling thread's contexts, or NULL when they cannot be made. */
static struct thread_ctx *s_thread_ctx(void)
{
    pthread_once(&s_fetch_once, s_fetch);
    if (!s_ctx_key_made || !s_md_sha256 || !s_mac_hmac)
        return NULL;
    struct thread_ctx *c = pthread_getspecific(s_ctx_key);
    if (c)
        return c;
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
                           OSSL_PARAM_construct_end()};
    if (!(c = calloc(1, sizeof *c)) || !(c->md = EVP_MD_CTX_new()) ||
        !(c->mac = EVP_MAC_CTX_new(s_mac_hmac)) || EVP_MAC_CTX_set_params(c->mac, params) != 1 ||
        pthread_setspecific(s_ctx_key, c) != 0) {
        if (c)
            s_thread_ctx_free(c);
        return NULL;
    }
    return c;
}

static int s_sha256(const void *data, size_t len, unsigned char out[32])
{
    unsigned int outlen = 0;
    static const char empty = 0;
    struct thread_ctx *c = s_thread_ctx();
    if (!data)
        data = &empty;
    if (!c || EVP_DigestInit_ex2(c->md, s_md_sha256, NULL) != 1 ||
        EVP_DigestUpdate(c->md, data, len) != 1 || EVP_DigestFinal_ex(c->md, out, &outlen) != 1 ||
        outlen != 32)
        return -1;
    return 0;
}

void sigv4_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char md[32];
    if (s_sha256(data, len, md) != 0) {
        out[0] = '\0';
        return;
    }
    sigv4_hex(md, sizeof md, out);
}

int sigv4_sha256_hex_file(int fd, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned mdlen = 0;
    const EVP_MD *md_sha256 = s_sha256_md();
    if (!md_sha256 || pieces_digest(fd, len, md_sha256, md, &mdlen) != 0 || mdlen != 32)
        return -1;
    sigv4_hex(md, mdlen, out);
    return 0;
}

/* HMAC-SHA256 with the thread's context (the digest was set when it was made). */
static int s_hmac(EVP_MAC_CTX *mac, const unsigned char *key, size_t keylen, const void *data,
                  size_t len, unsigned char out[SIGV4_KEY_LEN])
{
    size_t outlen = 0;
    if (EVP_MAC_init(mac, key, keylen, NULL) != 1 || EVP_MAC_update(mac, data, len) != 1 ||
        EVP_MAC_final(mac, out, &outlen, SIGV4_KEY_LEN) != 1 || outlen != SIGV4_KEY_LEN)
        return -1;
    return 0;
}

void sigv4_amz_date(time_t t, char out[17])
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (!gmtime_r(&t, &tm) || strftime(out, 17, "%Y%m%dT%H%M%SZ", &tm) != 16)
        out[0] = '\0';
}

static bool s_unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '_' || c == '.' || c == '~';
}

int sigv4_uri_encode(struct buf *out, const char *s, size_t len, bool keep_slash)
{
    static const char digits[] = "0123456789ABCDEF";
    if (buf_reserve(out, len) != 0)
        return -1;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (s_unreserved(c) || (keep_slash && c == '/')) {
            if (buf_putc(out, (char)c) != 0)
                return -1;
        } else {
            char enc[3] = {'%', digits[c >> 4], digits[c & 0x0f]};
            if (buf_append(out, enc, 3) != 0)
                return -1;
        }
    }
    return 0;
}

/* Makes data a valid (possibly empty) C string. buf_reserve() alone does not write the NUL
 * into a fresh buffer; an empty append does. */
static int s_buf_terminate(struct buf *b)
{
    return buf_append(b, "", 0);
}

static int s_hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Decodes %XX; a '%' not followed by two hex digits stays literal. '+' stays '+': our
 * callers encode spaces as %20, and reading '+' as a space would change what was sent. */
static int s_uri_decode(struct buf *out, const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < len) {
            int hi = s_hexval(s[i + 1]), lo = s_hexval(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi * 16 + lo);
                i += 2;
            }
        }
        if (buf_putc(out, c) != 0)
            return -1;
    }
    return s_buf_terminate(out);
}

/* ---------------------------------------------------------------------------------------- */
/* derived-key cache                                                                         */

#define SIGV4_CACHE_SLOTS 16
#define SIGV4_CACHE_NAME 64

struct s_cache_entry {
    bool used;
    unsigned long tick;
    unsigned char secret_hash[32];
    char date[9];
    char region[SIGV4_CACHE_NAME];
    char service[SIGV4_CACHE_NAME];
    unsigned char key[SIGV4_KEY_LEN];
};

static pthread_mutex_t s_cache_lock = PTHREAD_MUTEX_INITIALIZER;
static struct s_cache_entry s_cache[SIGV4_CACHE_SLOTS];
static unsigned long s_cache_tick;
static pthread_once_t s_cache_once = PTHREAD_ONCE_INIT;

static void s_cache_atexit(void)
{
    atexit(sigv4_cache_clear);
}

void sigv4_cache_clear(void)
{
    pthread_mutex_lock(&s_cache_lock);
    OPENSSL_cleanse(s_cache, sizeof s_cache);
    memset(s_cache, 0, sizeof s_cache);
    pthread_mutex_unlock(&s_cache_lock);
}

static bool s_cache_cacheable(const char *region, const char *service)
{
    return strlen(region) < SIGV4_CACHE_NAME && strlen(service) < SIGV4_CACHE_NAME;
}

static bool s_cache_match(const struct s_cache_entry *e, const unsigned char secret_hash[32],
                          const char *date, const char *region, const char *service)
{
    return e->used && CRYPTO_memcmp(e->secret_hash, secret_hash, 32) == 0 &&
           strcmp(e->date, date) == 0 && strcmp(e->region, region) == 0 &&
           strcmp(e->service, service) == 0;
}

static bool s_cache_get(const unsigned char secret_hash[32], const char *date,
                        const char *region, const char *service,
                        unsigned char key[SIGV4_KEY_LEN])
{
    bool found = false;
    pthread_mutex_lock(&s_cache_lock);
    for (size_t i = 0; i < SIGV4_CACHE_SLOTS; i++) {
        struct s_cache_entry *e = &s_cache[i];
        if (s_cache_match(e, secret_hash, date, region, service)) {
            memcpy(key, e->key, SIGV4_KEY_LEN);
            e->tick = ++s_cache_tick;
            found = true;
            break;
        }
    }
    pthread_mutex_unlock(&s_cache_lock);
    return found;
}

static void s_cache_put(const unsigned char secret_hash[32], const char *date,
                        const char *region, const char *service,
                        const unsigned char key[SIGV4_KEY_LEN])
{
    pthread_once(&s_cache_once, s_cache_atexit);
    pthread_mutex_lock(&s_cache_lock);
    struct s_cache_entry *slot = NULL;
    for (size_t i = 0; i < SIGV4_CACHE_SLOTS && !slot; i++)
        if (s_cache_match(&s_cache[i], secret_hash, date, region, service))
            slot = &s_cache[i]; /* another thread got there first: refresh it */
    for (size_t i = 0; i < SIGV4_CACHE_SLOTS && !slot; i++)
        if (!s_cache[i].used)
            slot = &s_cache[i];
    if (!slot) {
        slot = &s_cache[0]; /* least recently used */
        for (size_t i = 1; i < SIGV4_CACHE_SLOTS; i++)
            if (s_cache[i].tick < slot->tick)
                slot = &s_cache[i];
    }
    OPENSSL_cleanse(slot, sizeof *slot);
    memset(slot, 0, sizeof *slot);
    slot->used = true;
    slot->tick = ++s_cache_tick;
    memcpy(slot->secret_hash, secret_hash, 32);
    snprintf(slot->date, sizeof slot->date, "%s", date);
    snprintf(slot->region, sizeof slot->region, "%s", region);
    snprintf(slot->service, sizeof slot->service, "%s", service);
    memcpy(slot->key, key, SIGV4_KEY_LEN);
    pthread_mutex_unlock(&s_cache_lock);
}

/* "AWS4"+secret -> date -> region -> service -> "aws4_request". */
static int s_derive_key(EVP_MAC_CTX *mac, const char *secret, const char *date, const char *region,
                        const char *service, unsigned char key[SIGV4_KEY_LEN])
{
    int result = -1;
    struct buf k_secret = BUF_INIT;
    unsigned char k1[SIGV4_KEY_LEN], k2[SIGV4_KEY_LEN], k3[SIGV4_KEY_LEN];
    memset(k1, 0, sizeof k1);
    memset(k2, 0, sizeof k2);
    memset(k3, 0, sizeof k3);

    if (buf_puts(&k_secret, "AWS4") != 0 || buf_puts(&k_secret, secret) != 0)
        goto cleanup;
    if (s_hmac(mac, (const unsigned char *)k_secret.data, k_secret.len, date, strlen(date), k1) !=
        0)
        goto cleanup;
    if (s_hmac(mac, k1, sizeof k1, region, strlen(region), k2) != 0)
        goto cleanup;
    if (s_hmac(mac, k2, sizeof k2, service, strlen(service), k3) != 0)
        goto cleanup;
    if (s_hmac(mac, k3, sizeof k3, "aws4_request", 12, key) != 0)
        goto cleanup;
    result = 0;
cleanup:
    buf_free_secret(&k_secret);
    OPENSSL_cleanse(k1, sizeof k1);
    OPENSSL_cleanse(k2, sizeof k2);
    OPENSSL_cleanse(k3, sizeof k3);
    return result;
}

static int s_signing_key(EVP_MAC_CTX *mac, const struct sigv4_params *p, const char *date,
                         unsigned char key[SIGV4_KEY_LEN])
{
    if (p->key_cache) {
        struct sigv4_key *kc = p->key_cache;
        char scope[sizeof kc->scope];
        int n = snprintf(scope, sizeof scope, "%s/%s/%s", date, p->region, p->service);
        if (n > 0 && (size_t)n < sizeof scope && strcmp(scope, kc->scope) == 0) {
            memcpy(key, kc->key, SIGV4_KEY_LEN);
            return 0;
        }
        if (s_derive_key(mac, p->creds.secret_access_key, date, p->region, p->service, key) != 0)
            return -1;
        if (n > 0 && (size_t)n < sizeof scope) {
            memcpy(kc->scope, scope, (size_t)n + 1);
            memcpy(kc->key, key, SIGV4_KEY_LEN);
        }
        return 0;
    }
    int result = -1;
    unsigned char secret_hash[32];
    bool cacheable = s_cache_cacheable(p->region, p->service);
    memset(secret_hash, 0, sizeof secret_hash);

    if (cacheable) {
        const char *s = p->creds.secret_access_key;
        if (s_sha256(s, strlen(s), secret_hash) != 0)
            goto cleanup;
        if (s_cache_get(secret_hash, date, p->region, p->service, key)) {
            result = 0;
            goto cleanup;
        }
    }
    if (s_derive_key(mac, p->creds.secret_access_key, date, p->region, p->service, key) != 0)
        goto cleanup;
    if (cacheable)
        s_cache_put(secret_hash, date, p->region, p->service, key);
    result = 0;
cleanup:
    OPENSSL_cleanse(secret_hash, sizeof secret_hash);
    return result;
}

/* ---------------------------------------------------------------------------------------- */
/* canonical request parts                                                                   */

/* botocore's remove_dot_segments: drops "", "." and ".." segments (".." pops), keeps a
 * trailing slash when something is left. The result always starts with '/'. */
static int s_normalize_path(struct buf *out, const char *path)
{
    int result = -1;
    size_t len = strlen(path);
    size_t *starts = NULL, *lens = NULL, n = 0;

    starts = calloc(len / 2 + 2, sizeof *starts);
    lens = calloc(len / 2 + 2, sizeof *lens);
    if (!starts || !lens)
        goto cleanup;
    for (size_t i = 0; i <= len;) {
        size_t j = i;
        while (j < len && path[j] != '/')
            j++;
        size_t seg = j - i;
        if (seg == 2 && path[i] == '.' && path[i + 1] == '.') {
            if (n)
                n--;
        } else if (seg > 0 && !(seg == 1 && path[i] == '.')) {
            starts[n] = i;
            lens[n] = seg;
            n++;
        }
        i = j + 1;
    }
    if (buf_putc(out, '/') != 0)
        goto cleanup;
    for (size_t k = 0; k < n; k++) {
        if (k && buf_putc(out, '/') != 0)
            goto cleanup;
        if (buf_append(out, path + starts[k], lens[k]) != 0)
            goto cleanup;
    }
    if (n && len && path[len - 1] == '/' && buf_putc(out, '/') != 0)
        goto cleanup;
    result = 0;
cleanup:
    free(starts);
    free(lens);
    return result;
}

static int s_canonical_path(struct buf *out, const struct sigv4_params *p, const char *path)
{
    int result = -1;
    struct buf norm = BUF_INIT;

    if (!path || !*path)
        path = "/";
    if (p->s3_rules) {
        /* S3: the path is signed exactly as sent. */
        if (buf_puts(out, path) != 0)
            goto cleanup;
        result = 0;
        goto cleanup;
    }
    if (p->normalize_path) {
        if (s_normalize_path(&norm, path) != 0)
            goto cleanup;
        path = norm.data;
    }
    if (sigv4_uri_encode(out, path, strlen(path), true) != 0)
        goto cleanup;
    result = 0;
cleanup:
    buf_free(&norm);
    return result;
}

struct s_param {
    char *key; /* canonical (re-encoded) */
    char *value;
};

struct s_params {
    struct s_param *items;
    size_t n, cap;
};

static void s_params_free(struct s_params *ps)
{
    for (size_t i = 0; i < ps->n; i++) {
        free(ps->items[i].key);
        free(ps->items[i].value);
    }
    free(ps->items);
    memset(ps, 0, sizeof *ps);
}

/* Takes ownership of key and value (freed on failure too). */
static int s_params_push(struct s_params *ps, char *key, char *value)
{
    if (ps->n == ps->cap) {
        size_t cap = ps->cap ? ps->cap * 2 : 16;
        struct s_param *items = realloc(ps->items, cap * sizeof *items);
        if (!items) {
            free(key);
            free(value);
            return -1;
        }
        ps->items = items;
        ps->cap = cap;
    }
    ps->items[ps->n].key = key;
    ps->items[ps->n].value = value;
    ps->n++;
    return 0;
}

/* Adds one parameter given in decoded (raw) form. */
static int s_params_add_raw(struct s_params *ps, const char *k, size_t klen, const char *v,
                            size_t vlen)
{
    struct buf ek = BUF_INIT, ev = BUF_INIT;
    if (sigv4_uri_encode(&ek, k, klen, false) != 0 || sigv4_uri_encode(&ev, v, vlen, false) != 0 ||
        s_buf_terminate(&ek) != 0 || s_buf_terminate(&ev) != 0) {
        buf_free(&ek);
        buf_free(&ev);
        return -1;
    }
    return s_params_push(ps, buf_steal(&ek), buf_steal(&ev));
}

/* Adds one parameter given in wire form: decode, then re-encode canonically. */
static int s_params_add_wire(struct s_params *ps, const char *k, size_t klen, const char *v,
                             size_t vlen)
{
    int result = -1;
    struct buf dk = BUF_INIT, dv = BUF_INIT;
    if (s_uri_decode(&dk, k, klen) != 0 || s_uri_decode(&dv, v, vlen) != 0)
        goto cleanup;
    if (s_params_add_raw(ps, dk.data, dk.len, dv.data, dv.len) != 0)
        goto cleanup;
    result = 0;
cleanup:
    buf_free(&dk);
    buf_free(&dv);
    return result;
}

static int s_params_parse(struct s_params *ps, const char *query)
{
    if (!query)
        return 0;
    const char *p = query;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len) {
            const char *eq = memchr(p, '=', len);
            size_t klen = eq ? (size_t)(eq - p) : len;
            const char *v = eq ? eq + 1 : p + len;
            size_t vlen = eq ? len - klen - 1 : 0;
            if (s_params_add_wire(ps, p, klen, v, vlen) != 0)
                return -1;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return 0;
}

static int s_param_cmp(const void *a, const void *b)
{
    const struct s_param *x = a, *y = b;
    int c = strcmp(x->key, y->key);
    return c ? c : strcmp(x->value, y->value);
}

static int s_params_canonical(struct buf *out, struct s_params *ps)
{
    if (ps->n > 1)
        qsort(ps->items, ps->n, sizeof *ps->items, s_param_cmp);
    for (size_t i = 0; i < ps->n; i++) {
        if (i && buf_putc(out, '&') != 0)
            return -1;
        if (buf_cat(out, ps->items[i].key, "=", ps->items[i].value, NULL) != 0)
            return -1;
    }
    return s_buf_terminate(out);
}

/* Headers that proxies may add, change or drop, or that are ours to replace. */
static bool s_header_unsigned(const char *name)
{
    static const char *const skip[] = {
        "authorization", "connection", "expect",  "keep-alive",      "te",
        "trailer",       "upgrade",    "user-agent", "transfer-encoding", "x-amzn-trace-id",
    };
    for (size_t i = 0; i < sizeof skip / sizeof *skip; i++)
        if (strcasecmp(name, skip[i]) == 0)
            return true;
    return strncasecmp(name, "proxy-", 6) == 0;
}

struct s_canon_header {
    char *name; /* lowercase */
    const char *value;
    size_t index;
};

static int s_canon_header_cmp(const void *a, const void *b)
{
    const struct s_canon_header *x = a, *y = b;
    int c = strcmp(x->name, y->name);
    if (c)
        return c;
    return x->index < y->index ? -1 : x->index > y->index;
}

static bool s_is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trims the value and collapses inner runs of whitespace (folded lines included) to one
 * space. */
static int s_put_header_value(struct buf *out, const char *v)
{
    /* Runs of non-space bytes are copied whole; each run of spaces between them becomes one. */
    while (*v && s_is_ws(*v))
        v++;
    while (*v) {
        const char *run = v;
        while (*v && !s_is_ws(*v))
            v++;
        if (buf_append(out, run, (size_t)(v - run)) != 0)
            return -1;
        while (*v && s_is_ws(*v))
            v++;
        if (*v && buf_putc(out, ' ') != 0)
            return -1;
    }
    return 0;
}

/* canonical: "name:value\n" lines; signed: "a;b;c". */
static int s_canonical_headers(struct buf *canonical, struct buf *signed_headers,
                               const struct header_list *h)
{
    int result = -1;
    struct s_canon_header *items = NULL;
    size_t n = 0;

    items = calloc(h->n ? h->n : 1, sizeof *items);
    if (!items)
        goto cleanup;
    for (size_t i = 0; i < h->n; i++) {
        if (s_header_unsigned(h->items[i].name))
            continue;
        char *name = strdup(h->items[i].name);
        if (!name)
            goto cleanup;
        for (char *c = name; *c; c++)
            if (*c >= 'A' && *c <= 'Z')
                *c = (char)(*c - 'A' + 'a');
        items[n].name = name;
        items[n].value = h->items[i].value ? h->items[i].value : "";
        items[n].index = i;
        n++;
    }
    if (n > 1)
        qsort(items, n, sizeof *items, s_canon_header_cmp);
    for (size_t i = 0; i < n; i++) {
        bool repeat = i && strcmp(items[i].name, items[i - 1].name) == 0;
        if (repeat) {
            if (buf_putc(canonical, ',') != 0)
                goto cleanup;
        } else {
            if (i && buf_putc(canonical, '\n') != 0)
                goto cleanup;
            if (buf_cat(canonical, items[i].name, ":", NULL) != 0)
                goto cleanup;
            if (signed_headers->len && buf_putc(signed_headers, ';') != 0)
                goto cleanup;
            if (buf_puts(signed_headers, items[i].name) != 0)
                goto cleanup;
        }
        if (s_put_header_value(canonical, items[i].value) != 0)
            goto cleanup;
    }
    if (n && buf_putc(canonical, '\n') != 0)
        goto cleanup;
    if (s_buf_terminate(canonical) != 0 || s_buf_terminate(signed_headers) != 0)
        goto cleanup;
    result = 0;
cleanup:
    if (items)
        for (size_t i = 0; i < n; i++)
            free(items[i].name);
    free(items);
    return result;
}

/* ---------------------------------------------------------------------------------------- */
/* signing                                                                                   */

void sigv4_params_init(struct sigv4_params *p, const char *service, const char *region,
                       time_t when)
{
    memset(p, 0, sizeof *p);
    p->service = service;
    p->region = region;
    p->when = when;
    p->s3_rules = service && strcmp(service, "s3") == 0;
    p->normalize_path = !p->s3_rules;
}

void sigv4_result_free(struct sigv4_result *r)
{
    if (!r)
        return;
    buf_free(&r->canonical_request);
    buf_free(&r->string_to_sign);
    buf_free(&r->signed_headers);
    buf_free(&r->scope);
    buf_free(&r->authorization);
    buf_free(&r->query);
    memset(r, 0, sizeof *r);
}

static bool s_empty(const char *s)
{
    return !s || !*s;
}

/* One signing on its way through the stages, as aws-c-auth's pipeline goes: the payload
 * hash, the headers to sign, the canonical request, the string to sign, the signature, and
 * the request as it is to be sent (headers or presigned query). Each stage returns 0, or -1
 * with msg set (left at "out of memory" when memory ran out). */
struct s_signing {
    const struct sigv4_params *p;
    struct sigv4_result *out;
    bool presign;
    struct header_list work; /* the caller's headers, changed only on success */
    struct buf credential;   /* "AKID/scope" */
    char date[9];
    char expires[24];
    char payload_hash_buf[65];
    const char *payload_hash;
    const char *msg;
};

static int s_check_inputs(struct s_signing *s, const char *method, const void *body,
                          size_t body_len)
{
    const struct sigv4_params *p = s->p;
    if (s_empty(method))
        s->msg = "sigv4: missing argument";
    else if (s_empty(p->creds.access_key_id) || s_empty(p->creds.secret_access_key))
        s->msg = "sigv4: missing credentials";
    else if (s_empty(p->region) || s_empty(p->service))
        s->msg = "sigv4: missing region or service";
    else if (!body && body_len && !p->payload_hash)
        s->msg = "sigv4: missing body";
    else
        return 0;
    return -1;
}

/* The hash of the payload. A caller's x-amz-content-sha256 is it, as the SDKs sign, except
 * when signing an S3 request's headers: S3 is always told the hash it is to check. */
static int s_stage_payload_hash(struct s_signing *s, const void *body, size_t body_len)
{
    const struct sigv4_params *p = s->p;
    const char *given = p->s3_rules && !s->presign ? NULL : headers_get(&s->work, "x-amz-content-sha256");
    if (p->payload_hash) {
        s->payload_hash = p->payload_hash;
    } else if (given && strlen(given) < sizeof s->payload_hash_buf) {
        memcpy(s->payload_hash_buf, given, strlen(given) + 1);
        s->payload_hash = s->payload_hash_buf;
    } else if (s->presign && p->s3_rules) {
        /* A presigned S3 URL is used by someone who has not got the body. */
        s->payload_hash = "UNSIGNED-PAYLOAD";
    } else {
        sigv4_sha256_hex(body, body_len, s->payload_hash_buf);
        if (!s->payload_hash_buf[0]) {
            s->msg = "sigv4: SHA-256 failed: out of memory, or OpenSSL cannot hash";
            return -1;
        }
        s->payload_hash = s->payload_hash_buf;
    }
    return 0;
}

/* The headers that are signed: the caller's, less what an earlier attempt left, plus the
 * date, the session token and the payload hash when the signature goes in a header. */
static int s_stage_headers(struct s_signing *s, const struct header_list *headers)
{
    if (headers_copy(&s->work, headers) != 0)
        return -1;
    if (!headers_get(&s->work, "host")) {
        s->msg = "sigv4: missing Host header";
        return -1;
    }
    headers_remove(&s->work, "authorization");
    headers_remove(&s->work, "x-amz-date");
    headers_remove(&s->work, "x-amz-security-token");
    return 0;
}

static int s_stage_date_headers(struct s_signing *s)
{
    const struct sigv4_params *p = s->p;
    if (s->presign)
        return 0;
    if (headers_add(&s->work, "X-Amz-Date", s->out->amz_date) != 0)
        return -1;
    if (p->creds.session_token && !p->token_after_signing &&
        headers_add(&s->work, "X-Amz-Security-Token", p->creds.session_token) != 0)
        return -1;
    if ((p->s3_rules || p->sign_body) &&
        headers_set(&s->work, "X-Amz-Content-Sha256", s->payload_hash) != 0)
        return -1;
    return 0;
}

/* The query's parameters, with the presigning ones added, in canonical form. */
static int s_canonical_query(struct s_signing *s, const char *query, struct buf *canon_query)
{
    const struct sigv4_params *p = s->p;
    struct s_params params = {NULL, 0, 0};
    int rc = s_params_parse(&params, query);
    if (rc == 0 && s->presign) {
        snprintf(s->expires, sizeof s->expires, "%ld", p->presign_expires);
        rc = s_params_add_raw(&params, "X-Amz-Algorithm", 15, SIGV4_ALGORITHM,
                              strlen(SIGV4_ALGORITHM)) |
             s_params_add_raw(&params, "X-Amz-Credential", 16, s->credential.data, s->credential.len) |
             s_params_add_raw(&params, "X-Amz-Date", 10, s->out->amz_date, 16) |
             s_params_add_raw(&params, "X-Amz-Expires", 13, s->expires, strlen(s->expires)) |
             s_params_add_raw(&params, "X-Amz-SignedHeaders", 19, s->out->signed_headers.data,
                              s->out->signed_headers.len);
        if (rc == 0 && p->creds.session_token && !p->token_after_signing)
            rc = s_params_add_raw(&params, "X-Amz-Security-Token", 20, p->creds.session_token,
                                  strlen(p->creds.session_token));
    }
    if (rc == 0)
        rc = s_params_canonical(canon_query, &params);
    s_params_free(&params);
    return rc;
}

static int s_stage_canonical_request(struct s_signing *s, const char *method, const char *path,
                                     const char *query)
{
    struct sigv4_result *out = s->out;
    struct buf canon_headers = BUF_INIT, canon_path = BUF_INIT, canon_query = BUF_INIT;
    int rc = -1;
    if (s_canonical_headers(&canon_headers, &out->signed_headers, &s->work) == 0 &&
        buf_cat(&out->scope, s->date, "/", s->p->region, "/", s->p->service, "/aws4_request",
                NULL) == 0 &&
        buf_cat(&s->credential, s->p->creds.access_key_id, "/", out->scope.data, NULL) == 0 &&
        s_canonical_path(&canon_path, s->p, path) == 0 &&
        s_canonical_query(s, query, &canon_query) == 0)
        rc = buf_cat(&out->canonical_request, method, "\n", canon_path.data, "\n",
                     canon_query.data, "\n", canon_headers.data ? canon_headers.data : "", "\n",
                     out->signed_headers.data, "\n", s->payload_hash, NULL);
    buf_free(&canon_headers);
    buf_free(&canon_path);
    buf_free(&canon_query);
    return rc;
}

static int s_stage_string_to_sign(struct s_signing *s)
{
    struct sigv4_result *out = s->out;
    char hash[65] = "";
    sigv4_sha256_hex(out->canonical_request.data, out->canonical_request.len, hash);
    if (!hash[0]) {
        s->msg = "sigv4: SHA-256 failed: out of memory, or OpenSSL cannot hash";
        return -1;
    }
    return buf_cat(&out->string_to_sign, SIGV4_ALGORITHM, "\n", out->amz_date, "\n",
                   out->scope.data, "\n", hash, NULL);
}

static int s_stage_signature(struct s_signing *s)
{
    unsigned char key[SIGV4_KEY_LEN], sig[SIGV4_KEY_LEN];
    struct thread_ctx *c = s_thread_ctx();
    EVP_MAC_CTX *mac = c ? c->mac : NULL;
    int rc = -1;
    if (!mac)
        s->msg = "sigv4: no HMAC: out of memory, or OpenSSL has none";
    else if (s_signing_key(mac, s->p, s->date, key) != 0 ||
             s_hmac(mac, key, sizeof key, s->out->string_to_sign.data,
                    s->out->string_to_sign.len, sig) != 0)
        s->msg = "sigv4: HMAC failed: out of memory, or OpenSSL cannot sign";
    else {
        sigv4_hex(sig, sizeof sig, s->out->signature);
        rc = 0;
    }
    OPENSSL_cleanse(key, sizeof key);
    OPENSSL_cleanse(sig, sizeof sig);
    return rc;
}

/* Presigning: the original parameters as sent, then ours in the order the AWS suite shows. */
static int s_stage_presigned_query(struct s_signing *s, const char *query)
{
    const struct sigv4_params *p = s->p;
    struct buf *q = &s->out->query;
    if (!s_empty(query) && (buf_puts(q, query) != 0 ||
                            (query[strlen(query) - 1] != '&' && buf_putc(q, '&') != 0)))
        return -1;
    if (buf_printf(q, "X-Amz-Algorithm=%s&X-Amz-Credential=", SIGV4_ALGORITHM) != 0 ||
        sigv4_uri_encode(q, s->credential.data, s->credential.len, false) != 0 ||
        buf_printf(q, "&X-Amz-Date=%s&X-Amz-SignedHeaders=", s->out->amz_date) != 0 ||
        sigv4_uri_encode(q, s->out->signed_headers.data, s->out->signed_headers.len, false) != 0 ||
        buf_printf(q, "&X-Amz-Expires=%s", s->expires) != 0)
        return -1;
    if (p->creds.session_token &&
        (buf_puts(q, "&X-Amz-Security-Token=") != 0 ||
         sigv4_uri_encode(q, p->creds.session_token, strlen(p->creds.session_token), false) != 0))
        return -1;
    return buf_printf(q, "&X-Amz-Signature=%s", s->out->signature);
}

static int s_stage_authorization(struct s_signing *s, const char *query)
{
    const struct sigv4_params *p = s->p;
    struct sigv4_result *out = s->out;
    if (buf_cat(&out->authorization, SIGV4_ALGORITHM " Credential=", s->credential.data,
                ", SignedHeaders=", out->signed_headers.data, ", Signature=", out->signature,
                NULL) != 0 ||
        headers_add(&s->work, "Authorization", out->authorization.data) != 0)
        return -1;
    if (p->creds.session_token && p->token_after_signing &&
        headers_add(&s->work, "X-Amz-Security-Token", p->creds.session_token) != 0)
        return -1;
    return buf_puts(&out->query, query ? query : "");
}

int sigv4_sign(const struct sigv4_params *p, const char *method, const char *path,
               const char *query, struct header_list *headers, const void *body,
               size_t body_len, struct sigv4_result *out, char *err, size_t errlen)
{
    struct s_signing s = {.p = p, .out = out, .work = HEADER_LIST_INIT, .credential = BUF_INIT,
                          .msg = "out of memory"};
    int rc = -1;
    if (out)
        memset(out, 0, sizeof *out);
    if (!p || !out || !headers) {
        s.msg = "sigv4: missing argument";
        goto done;
    }
    s.presign = p->presign_expires > 0;
    if (s_check_inputs(&s, method, body, body_len) != 0)
        goto done;
    sigv4_amz_date(p->when, out->amz_date);
    if (!out->amz_date[0]) {
        s.msg = "sigv4: invalid time";
        goto done;
    }
    memcpy(s.date, out->amz_date, 8);
    if (s_stage_headers(&s, headers) != 0 || s_stage_payload_hash(&s, body, body_len) != 0 ||
        s_stage_date_headers(&s) != 0 ||
        s_stage_canonical_request(&s, method, path, query) != 0 ||
        s_stage_string_to_sign(&s) != 0 || s_stage_signature(&s) != 0)
        goto done;
    rc = s.presign ? s_stage_presigned_query(&s, query) : s_stage_authorization(&s, query);
    if (rc == 0) {
        headers_free(headers);
        *headers = s.work;
        memset(&s.work, 0, sizeof s.work);
    }
done:
    if (rc != 0) {
        s_set_err(err, errlen, s.msg);
        if (out)
            sigv4_result_free(out);
    }
    headers_free(&s.work);
    buf_free(&s.credential);
    return rc;
}
