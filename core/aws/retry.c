#include "aws/retry.h"

#include <limits.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

/* The SDKs' throttling codes, plus IAM's LimitExceeded (409) and SNS's Throttled (429). */
static const char *const s_throttle_codes[] = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "TransactionInProgressException",
    "RequestLimitExceeded",
    "BandwidthLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
    "PriorRequestNotComplete",
    "LimitExceeded",
    "Throttled",
};

/* STS's IDPCommunicationError: the web identity provider (an EKS cluster's OIDC issuer) did
 * not answer STS in time; the SDKs retry it as a passing failure. */
static const char *const s_transient_codes[] = {
    "RequestTimeout",
    "RequestTimeoutException",
    "IDPCommunicationError",
};

static const char *const s_skew_codes[] = {
    "RequestTimeTooSkewed",
    "RequestExpired",
    "RequestInTheFuture",
};

#define S_COUNT(a) (sizeof(a) / sizeof((a)[0]))

static bool s_in(const char *code, size_t len, const char *const *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (strlen(list[i]) == len && strncmp(list[i], code, len) == 0)
            return true;
    return false;
}

void aws_error_clean_code(struct aws_error *e)
{
    char *code = e->code;
    code[sizeof e->code - 1] = '\0';
    char *hash = strrchr(code, '#');
    if (hash)
        memmove(code, hash + 1, strlen(hash + 1) + 1);
    char *colon = strchr(code, ':');
    if (colon)
        *colon = '\0';
}

enum retry_kind retry_classify(const struct aws_error *e)
{
    if (!e)
        return RETRY_NONE;

    const char *code = e->code;
    size_t len = strnlen(code, sizeof e->code);

    if (len > 0) {
        if (s_in(code, len, s_throttle_codes, S_COUNT(s_throttle_codes)))
            return RETRY_THROTTLE;
        if (s_in(code, len, s_skew_codes, S_COUNT(s_skew_codes)))
            return RETRY_SKEW;
        if (s_in(code, len, (const char *const[]){"InvalidSignatureException",
                                                  "SignatureDoesNotMatch"}, 2)) {
            char msg[sizeof e->message + 1];
            size_t mlen = strnlen(e->message, sizeof e->message);
            memcpy(msg, e->message, mlen);
            msg[mlen] = '\0';
            if (strcasestr(msg, "expired") || strcasestr(msg, "not yet current"))
                return RETRY_SKEW;
            return RETRY_NONE;
        }
        if (s_in(code, len, s_transient_codes, S_COUNT(s_transient_codes)))
            return RETRY_TRANSIENT;
    }
    if (e->http_status == 429)
        return RETRY_THROTTLE;
    if (e->http_status == 500 || e->http_status == 502 || e->http_status == 503 ||
        e->http_status == 504)
        return RETRY_TRANSIENT;
    /* A connection that failed, was reset or timed out, even after a status line. */
    if (e->transport != 0 || e->timeout)
        return RETRY_TRANSIENT;
    return RETRY_NONE;
}

void retry_config_default(struct retry_config *c)
{
    c->max_attempts = 5;
    c->base_delay = 0.1;
    c->throttle_base_delay = 0.5;
    c->max_backoff = 20.0;
}

double retry_delay(const struct retry_config *c, enum retry_kind kind, int attempt,
                   double random01)
{
    if (!c || kind == RETRY_NONE)
        return 0.0;
    double base = kind == RETRY_THROTTLE ? c->throttle_base_delay : c->base_delay;
    double cap = c->max_backoff;
    if (!(base > 0.0) || !(cap > 0.0)) /* also catches NaN */
        return 0.0;
    if (attempt < 1)
        attempt = 1;
    /* Doubling stops at the cap, so a huge attempt number cannot overflow. */
    double d = base;
    for (int i = 1; i < attempt && d < cap; i++)
        d *= 2.0;
    if (d > cap)
        d = cap;
    if (!(random01 >= 0.0)) /* negative or NaN */
        random01 = 0.0;
    if (random01 >= 1.0)
        random01 = 0.9999999999999999;
    return random01 * d;
}

void retry_quota_init(struct retry_quota *q, int capacity)
{
    if (capacity <= 0)
        capacity = RETRY_QUOTA_CAPACITY;
    q->capacity = capacity;
    atomic_init(&q->tokens, capacity);
}

int retry_quota_acquire(struct retry_quota *q, bool after_timeout)
{
    int cost = after_timeout ? RETRY_COST_TIMEOUT : RETRY_COST;
    int cur = atomic_load(&q->tokens);
    do {
        if (cur < cost)
            return 0;
    } while (!atomic_compare_exchange_weak(&q->tokens, &cur, cur - cost));
    return cost;
}

void retry_quota_release(struct retry_quota *q, int cost_of_retries)
{
    int amount = cost_of_retries > 0 ? cost_of_retries : 1;
    int cur = atomic_load(&q->tokens);
    int next;
    do {
        if (cur >= q->capacity)
            return;
        next = amount > q->capacity - cur ? q->capacity : cur + amount;
    } while (!atomic_compare_exchange_weak(&q->tokens, &cur, next));
}

/* ---- HTTP dates ---- */

static const char *const s_months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const s_wkday[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
static const char *const s_weekday[] = {"Monday", "Tuesday",  "Wednesday", "Thursday",
                                        "Friday", "Saturday", "Sunday"};

/* A tiny cursor parser: each function consumes on success and returns false otherwise. */
struct s_cur {
    const char *p;
};

static bool s_lit(struct s_cur *c, const char *lit)
{
    size_t n = strlen(lit);
    if (strncmp(c->p, lit, n) != 0)
        return false;
    c->p += n;
    return true;
}

static bool s_word(struct s_cur *c, const char *const *words, size_t n, int *idx)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(words[i]);
        if (strncasecmp(c->p, words[i], len) == 0) {
            c->p += len;
            if (idx)
                *idx = (int)i;
            return true;
        }
    }
    return false;
}

/* n_min to n_max digits */
static bool s_digits(struct s_cur *c, int n_min, int n_max, int *out)
{
    int v = 0, n = 0;
    while (n < n_max && c->p[n] >= '0' && c->p[n] <= '9') {
        v = v * 10 + (c->p[n] - '0');
        n++;
    }
    if (n < n_min)
        return false;
    c->p += n;
    *out = v;
    return true;
}

static bool s_time(struct s_cur *c, int *h, int *m, int *s)
{
    return s_digits(c, 2, 2, h) && s_lit(c, ":") && s_digits(c, 2, 2, m) && s_lit(c, ":") &&
           s_digits(c, 2, 2, s);
}

static bool s_gmt(struct s_cur *c)
{
    return s_word(c, (const char *const[]){"GMT", "UTC"}, 2, NULL);
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil). */
static long long s_days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (long long)doe - 719468;
}

static time_t s_make_time(int year, int mon /* 0-11 */, int day, int h, int m, int s)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (year < 1970 || year > 9999 || mon < 0 || mon > 11 || day < 1)
        return -1;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    int dim = mdays[mon] + (mon == 1 && leap);
    if (day > dim || h > 23 || m > 59 || s > 60)
        return -1;
    long long t = s_days_from_civil(year, (unsigned)mon + 1, (unsigned)day) * 86400LL +
                  h * 3600LL + m * 60LL + s;
    if ((long long)(time_t)t != t)
        return -1;
    return (time_t)t;
}

time_t retry_parse_http_date(const char *str)
{
    if (!str)
        return -1;
    while (*str == ' ' || *str == '\t')
        str++;

    int year = 0, mon = 0, day = 0, h = 0, m = 0, s = 0;
    struct s_cur c = {str};
    bool ok = false;

    if (s_word(&c, s_weekday, 7, NULL)) {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        ok = s_lit(&c, ", ") && s_digits(&c, 2, 2, &day) && s_lit(&c, "-") &&
             s_word(&c, s_months, 12, &mon) && s_lit(&c, "-") && s_digits(&c, 2, 2, &year) &&
             s_lit(&c, " ") && s_time(&c, &h, &m, &s) && s_lit(&c, " ") && s_gmt(&c);
        year += year < 70 ? 2000 : 1900;
    } else if (s_word(&c, s_wkday, 7, NULL)) {
        if (s_lit(&c, ", ")) {
            /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
            ok = s_digits(&c, 2, 2, &day) && s_lit(&c, " ") && s_word(&c, s_months, 12, &mon) &&
                 s_lit(&c, " ") && s_digits(&c, 4, 4, &year) && s_lit(&c, " ") &&
                 s_time(&c, &h, &m, &s) && s_lit(&c, " ") && s_gmt(&c);
        } else if (s_lit(&c, " ")) {
            /* asctime: Sun Nov  6 08:49:37 1994 (day: two digits, or a space and one) */
            ok = s_word(&c, s_months, 12, &mon) && s_lit(&c, " ");
            if (ok && *c.p == ' ') {
                c.p++;
                ok = s_digits(&c, 1, 1, &day);
            } else if (ok) {
                ok = s_digits(&c, 2, 2, &day);
            }
            ok = ok && s_lit(&c, " ") && s_time(&c, &h, &m, &s) && s_lit(&c, " ") &&
                 s_digits(&c, 4, 4, &year);
        }
    }
    if (!ok)
        return -1;
    while (*c.p == ' ' || *c.p == '\t' || *c.p == '\r' || *c.p == '\n')
        c.p++;
    if (*c.p)
        return -1;
    return s_make_time(year, mon, day, h, m, s);
}

long retry_skew_offset(time_t server_date, time_t local_now)
{
    if (server_date < 0)
        return 0;
    long long diff = (long long)server_date - (long long)local_now;
    if (diff > LONG_MAX || diff < -LONG_MAX)
        return 0;
    if (diff >= RETRY_SKEW_THRESHOLD || diff <= -RETRY_SKEW_THRESHOLD)
        return (long)diff;
    return 0;
}
