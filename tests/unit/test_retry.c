/* Standard retry mode: classification of every code aws-wire.md lists, delays, the shared
 * quota (also from several threads), HTTP dates and the clock skew threshold. */
#include <math.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "aws/retry.h"
#include "unit.h"

static struct aws_error mkerr(const char *code, int status, const char *message)
{
    struct aws_error e;
    memset(&e, 0, sizeof e);
    snprintf(e.code, sizeof e.code, "%s", code ? code : "");
    snprintf(e.message, sizeof e.message, "%s", message ? message : "");
    e.http_status = status;
    return e;
}

static const char *kind_name(enum retry_kind k)
{
    switch (k) {
    case RETRY_NONE: return "NONE";
    case RETRY_THROTTLE: return "THROTTLE";
    case RETRY_TRANSIENT: return "TRANSIENT";
    case RETRY_SKEW: return "SKEW";
    }
    return "?";
}

#define CHECK_KIND(e, want)                                                                \
    do {                                                                                   \
        struct aws_error e_ = (e);                                                         \
        enum retry_kind k_ = retry_classify(&e_);                                          \
        CHECK(k_ == (want), "code \"%s\" status %d transport %d timeout %d: got %s want %s", \
              e_.code, e_.http_status, e_.transport, e_.timeout, kind_name(k_),            \
              kind_name(want));                                                            \
    } while (0)

static void test_classify(void)
{
    static const char *const throttling[] = {
        "Throttling", "ThrottlingException", "ThrottledException", "RequestThrottledException",
        "TooManyRequestsException", "ProvisionedThroughputExceededException",
        "TransactionInProgressException", "RequestLimitExceeded", "BandwidthLimitExceeded",
        "LimitExceededException", "RequestThrottled", "SlowDown", "PriorRequestNotComplete",
        "LimitExceeded", "Throttled",
    };
    /* whatever the status they come with */
    static const int statuses[] = {400, 409, 429, 503, 0};
    for (size_t i = 0; i < sizeof throttling / sizeof throttling[0]; i++)
        for (size_t j = 0; j < sizeof statuses / sizeof statuses[0]; j++)
            CHECK_KIND(mkerr(throttling[i], statuses[j], "x"), RETRY_THROTTLE);

    /* the real shapes: IAM Throttling 400, LimitExceeded 409, Organizations
     * TooManyRequestsException 400, S3 SlowDown 503, SNS Throttled 429 */
    CHECK_KIND(mkerr("Throttling", 400, "Rate exceeded"), RETRY_THROTTLE);
    CHECK_KIND(mkerr("LimitExceeded", 409, "Report generation limit"), RETRY_THROTTLE);
    CHECK_KIND(mkerr("TooManyRequestsException", 400, "Slow down"), RETRY_THROTTLE);
    CHECK_KIND(mkerr("SlowDown", 503, "Please reduce your request rate."), RETRY_THROTTLE);
    CHECK_KIND(mkerr("Throttled", 429, ""), RETRY_THROTTLE);
    /* JSON decorations, stripped once */
    static const char *const decorated[] = {"com.amazonaws.organizations#TooManyRequestsException",
                                            "ThrottlingException:http://internal.amazon.com/coral/",
                                            "aws#ThrottlingException:http://x/"};
    static const char *const plain[] = {"TooManyRequestsException", "ThrottlingException",
                                        "ThrottlingException"};
    for (size_t i = 0; i < 3; i++) {
        struct aws_error d = mkerr(decorated[i], 400, "");
        CHECK_KIND(d, RETRY_NONE);
        aws_error_clean_code(&d);
        CHECK_STR(d.code, plain[i], decorated[i]);
        CHECK_KIND(d, RETRY_THROTTLE);
    }
    /* HTTP 429 with any code */
    CHECK_KIND(mkerr("", 429, ""), RETRY_THROTTLE);
    CHECK_KIND(mkerr("SomethingElse", 429, ""), RETRY_THROTTLE);
    /* near misses */
    CHECK_KIND(mkerr("throttling", 400, ""), RETRY_NONE);
    CHECK_KIND(mkerr("ThrottlingX", 400, ""), RETRY_NONE);
    CHECK_KIND(mkerr("Throttl", 400, ""), RETRY_NONE);
    CHECK_KIND(mkerr("LimitExceededX", 409, ""), RETRY_NONE);

    /* transient */
    CHECK_KIND(mkerr("RequestTimeout", 400, "Your socket connection..."), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("RequestTimeoutException", 408, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("IDPCommunicationError", 400, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("ServiceFailure", 500, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("ServiceException", 500, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("", 500, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("", 502, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("ServiceUnavailable", 503, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("", 504, ""), RETRY_TRANSIENT);
    CHECK_KIND(mkerr("InternalError", 501, ""), RETRY_NONE);
    CHECK_KIND(mkerr("", 505, ""), RETRY_NONE);
    {
        struct aws_error e = mkerr("NetworkError", 0, "connection refused");
        e.transport = 7;
        CHECK_KIND(e, RETRY_TRANSIENT);
        e = mkerr("", 0, "");
        e.transport = -1;
        CHECK_KIND(e, RETRY_TRANSIENT);
        e = mkerr("", 0, "");
        e.timeout = true;
        CHECK_KIND(e, RETRY_TRANSIENT);
        e = mkerr("", 200, "");
        e.transport = 56; /* reset while reading the body */
        CHECK_KIND(e, RETRY_TRANSIENT);
        e = mkerr("AccessDenied", 403, "");
        e.timeout = true;
        CHECK_KIND(e, RETRY_TRANSIENT);
        e = mkerr("RequestTimeout", 0, "");
        e.timeout = true;
        e.transport = 28;
        CHECK_KIND(e, RETRY_TRANSIENT);
    }

    /* skew */
    CHECK_KIND(mkerr("RequestTimeTooSkewed", 403, "The difference between..."), RETRY_SKEW);
    CHECK_KIND(mkerr("RequestExpired", 400, "Request has expired."), RETRY_SKEW);
    CHECK_KIND(mkerr("RequestInTheFuture", 400, ""), RETRY_SKEW);
    CHECK_KIND(mkerr("SignatureDoesNotMatch", 403,
                     "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z "
                     "(20240101T001000Z - 5 min.)"),
               RETRY_SKEW);
    CHECK_KIND(mkerr("SignatureDoesNotMatch", 403,
                     "Signature not yet current: 20240101T002000Z is still later than "
                     "20240101T001500Z (20240101T001000Z + 5 min.)"),
               RETRY_SKEW);
    CHECK_KIND(mkerr("InvalidSignatureException", 400,
                     "Signature expired: 20240101T000000Z is now earlier than ..."),
               RETRY_SKEW);
    CHECK_KIND(mkerr("InvalidSignatureException", 400, "Signature not yet current: ..."),
               RETRY_SKEW);
    struct aws_error coral = mkerr("com.amazon.coral.service#InvalidSignatureException", 400,
                                   "Signature expired: ...");
    aws_error_clean_code(&coral);
    CHECK_KIND(coral, RETRY_SKEW);
    /* a real signature mismatch is not retried */
    CHECK_KIND(mkerr("SignatureDoesNotMatch", 403,
                     "The request signature we calculated does not match the signature you "
                     "provided."),
               RETRY_NONE);
    CHECK_KIND(mkerr("InvalidSignatureException", 400, "The request signature ..."),
               RETRY_NONE);
    CHECK_KIND(mkerr("InvalidSignatureException", 500, "The request signature ..."),
               RETRY_NONE);

    /* not retried */
    static const struct {
        const char *code;
        int status;
    } none[] = {
        {"AccessDenied", 403},       {"AccessDeniedException", 400},
        {"ReportNotPresent", 410},   {"ReportExpired", 410},
        {"ReportInProgress", 404},   {"AWSOrganizationsNotInUseException", 400},
        {"InvalidInputException", 400}, {"ParentNotFoundException", 400},
        {"TargetNotFoundException", 400}, {"NoSuchBucket", 404},
        {"PermanentRedirect", 301},  {"AuthorizationHeaderMalformed", 400},
        {"BadDigest", 400},          {"InvalidParameter", 400},
        {"NotFound", 404},           {"AuthorizationError", 403},
        {"ExpiredToken", 400},       {"InvalidClientTokenId", 403},
        {"", 0},                     {"", 200},
        {"", 400},                   {"", 404},
    };
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        CHECK_KIND(mkerr(none[i].code, none[i].status, "expired"), RETRY_NONE);

    CHECK(retry_classify(NULL) == RETRY_NONE, "NULL");
    /* a code filling the whole field, unterminated, is read safely */
    struct aws_error full;
    memset(&full, 'A', sizeof full);
    full.http_status = 503;
    full.transport = 0;
    full.timeout = false;
    CHECK(retry_classify(&full) == RETRY_TRANSIENT, "unterminated code");
}

static bool near(double a, double b)
{
    return fabs(a - b) < 1e-9;
}

static void test_delay(void)
{
    struct retry_config c;
    retry_config_default(&c);
    CHECK(c.max_attempts == 5, "max_attempts %d", c.max_attempts);
    CHECK(near(c.base_delay, 0.1), "base %g", c.base_delay);
    CHECK(near(c.throttle_base_delay, 0.5), "throttle base %g", c.throttle_base_delay);
    CHECK(near(c.max_backoff, 20.0), "max backoff %g", c.max_backoff);

    /* the ceiling: random01 just under 1 */
    const double r1 = 0.999999;
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 1, 1.0 - 1e-12), 0.1 * (1.0 - 1e-12)), "t1");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 1, 0.5), 0.05), "t1 half");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 2, 0.5), 0.1), "t2 half");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 3, 0.5), 0.2), "t3 half");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 8, 0.5), 6.4), "t8 half");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 9, 0.5), 10.0), "t9 capped at 20 * 0.5");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 100, 0.5), 10.0), "t100 capped");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 1000000, r1), 20.0 * r1), "huge attempt");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 2147483647, r1), 20.0 * r1), "INT_MAX");
    CHECK(near(retry_delay(&c, RETRY_SKEW, 2, 0.5), 0.1), "skew uses the base");
    CHECK(near(retry_delay(&c, RETRY_THROTTLE, 1, 0.5), 0.25), "throttle 1");
    CHECK(near(retry_delay(&c, RETRY_THROTTLE, 2, 0.5), 0.5), "throttle 2");
    CHECK(near(retry_delay(&c, RETRY_THROTTLE, 3, 0.5), 1.0), "throttle 3");
    CHECK(near(retry_delay(&c, RETRY_THROTTLE, 6, 0.5), 8.0), "throttle 6");
    CHECK(near(retry_delay(&c, RETRY_THROTTLE, 7, 0.5), 10.0), "throttle 7 capped");
    CHECK(near(retry_delay(&c, RETRY_THROTTLE, 7, 0.0), 0.0), "zero random");
    CHECK(near(retry_delay(&c, RETRY_NONE, 1, 0.5), 0.0), "none");
    /* attempt < 1 counts as the first retry */
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 0, 0.5), 0.05), "attempt 0");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, -5, 0.5), 0.05), "attempt -5");
    /* random01 outside [0,1) is clamped */
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 1, -1.0), 0.0), "negative random");
    CHECK(near(retry_delay(&c, RETRY_TRANSIENT, 1, NAN), 0.0), "NaN random");
    double d = retry_delay(&c, RETRY_TRANSIENT, 1, 1.0);
    CHECK(d < 0.1 && d > 0.0999, "random 1.0 stays below the ceiling: %g", d);
    d = retry_delay(&c, RETRY_TRANSIENT, 50, 7.0);
    CHECK(d < 20.0 && d > 19.99, "random 7 clamped: %g", d);

    /* bounds over many attempts and randoms */
    bool ok = true;
    for (int kind = RETRY_THROTTLE; kind <= RETRY_SKEW; kind++) {
        for (int a = 1; a <= 40; a++) {
            double base = kind == RETRY_THROTTLE ? 0.5 : 0.1;
            double ceil_ = fmin(20.0, base * pow(2.0, a - 1));
            for (double r = 0.0; r < 1.0; r += 0.0625) {
                double v = retry_delay(&c, (enum retry_kind)kind, a, r);
                if (!(v >= 0.0 && v <= ceil_ && near(v, r * ceil_)))
                    ok = false;
            }
        }
    }
    CHECK(ok, "delay == random01 * min(max_backoff, base * 2^(attempt-1)) everywhere");

    /* custom config */
    struct retry_config k = {5, 1.0, 2.0, 3.0};
    CHECK(near(retry_delay(&k, RETRY_TRANSIENT, 1, 0.5), 0.5), "custom 1");
    CHECK(near(retry_delay(&k, RETRY_TRANSIENT, 2, 0.5), 1.0), "custom 2");
    CHECK(near(retry_delay(&k, RETRY_TRANSIENT, 3, 0.5), 1.5), "custom capped");
    CHECK(near(retry_delay(&k, RETRY_THROTTLE, 1, 0.5), 1.0), "custom throttle");
    CHECK(near(retry_delay(&k, RETRY_THROTTLE, 2, 0.5), 1.5), "custom throttle capped");
    struct retry_config z = {3, 0.0, -1.0, 20.0};
    CHECK(near(retry_delay(&z, RETRY_TRANSIENT, 3, 0.5), 0.0), "zero base");
    CHECK(near(retry_delay(&z, RETRY_THROTTLE, 3, 0.5), 0.0), "negative base");
    struct retry_config nocap = {3, 0.1, 0.5, 0.0};
    CHECK(near(retry_delay(&nocap, RETRY_TRANSIENT, 3, 0.5), 0.0), "zero cap");
    CHECK(near(retry_delay(NULL, RETRY_TRANSIENT, 3, 0.5), 0.0), "NULL config");
}

static void test_quota(void)
{
    struct retry_quota q;
    retry_quota_init(&q, 500);
    CHECK(q.capacity == 500 && atomic_load(&q.tokens) == 500, "starts full");

    /* 100 retries of 5 empty it */
    int taken = 0, n = 0;
    int cost;
    while ((cost = retry_quota_acquire(&q, false)) > 0) {
        CHECK(cost == 5, "cost %d", cost);
        taken += cost;
        n++;
    }
    CHECK(n == 100 && taken == 500, "100 retries: %d, %d", n, taken);
    CHECK(atomic_load(&q.tokens) == 0, "empty");
    CHECK(retry_quota_acquire(&q, true) == 0, "empty: no timeout retry either");

    /* a success without retries gives 1 back */
    retry_quota_release(&q, 0);
    CHECK(atomic_load(&q.tokens) == 1, "refill 1: %d", atomic_load(&q.tokens));
    CHECK(retry_quota_acquire(&q, false) == 0, "1 < 5");
    for (int i = 0; i < 4; i++)
        retry_quota_release(&q, -3); /* negative counts as none */
    CHECK(atomic_load(&q.tokens) == 5, "5: %d", atomic_load(&q.tokens));
    CHECK(retry_quota_acquire(&q, true) == 0, "5 < 10 after a timeout");
    CHECK(retry_quota_acquire(&q, false) == 5, "5 == 5");
    CHECK(atomic_load(&q.tokens) == 0, "empty again");

    /* a success gives back the cost of its retries */
    retry_quota_release(&q, 15);
    CHECK(atomic_load(&q.tokens) == 15, "15: %d", atomic_load(&q.tokens));
    CHECK(retry_quota_acquire(&q, true) == 10, "timeout costs 10");
    CHECK(atomic_load(&q.tokens) == 5, "5 left");

    /* never above the capacity */
    retry_quota_release(&q, 1000);
    CHECK(atomic_load(&q.tokens) == 500, "capped: %d", atomic_load(&q.tokens));
    retry_quota_release(&q, 0);
    CHECK(atomic_load(&q.tokens) == 500, "still capped");
    CHECK(retry_quota_acquire(&q, false) == 5, "take 5");
    retry_quota_release(&q, 0);
    retry_quota_release(&q, 0);
    retry_quota_release(&q, 0);
    retry_quota_release(&q, 0);
    retry_quota_release(&q, 0);
    retry_quota_release(&q, 0);
    CHECK(atomic_load(&q.tokens) == 500, "refill stops at capacity");

    /* 50 timeout retries */
    n = 0;
    while (retry_quota_acquire(&q, true) > 0)
        n++;
    CHECK(n == 50, "50 timeout retries: %d", n);

    retry_quota_init(&q, 0);
    CHECK(q.capacity == RETRY_QUOTA_CAPACITY && atomic_load(&q.tokens) == 500, "default");
    retry_quota_init(&q, 12);
    CHECK(retry_quota_acquire(&q, false) == 5 && retry_quota_acquire(&q, false) == 5 &&
              retry_quota_acquire(&q, false) == 0,
          "small quota");
}

/* Threads take and give back; the total never goes wrong. */
struct worker {
    struct retry_quota *q;
    int acquired;
};

static void *s_worker(void *arg)
{
    struct worker *w = arg;
    for (int i = 0; i < 20000; i++) {
        int cost = retry_quota_acquire(w->q, i % 3 == 0);
        if (cost) {
            w->acquired++;
            retry_quota_release(w->q, cost);
        }
    }
    return NULL;
}

static void *s_drainer(void *arg)
{
    struct worker *w = arg;
    while (retry_quota_acquire(w->q, false))
        w->acquired++;
    return NULL;
}

static void test_quota_threads(void)
{
    struct retry_quota q;
    pthread_t t[8];
    struct worker w[8];

    retry_quota_init(&q, 500);
    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){&q, 0};
        CHECK(pthread_create(&t[i], NULL, s_worker, &w[i]) == 0, "thread");
    }
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    CHECK(atomic_load(&q.tokens) == 500, "balanced: %d", atomic_load(&q.tokens));

    for (int i = 0; i < 8; i++) {
        w[i] = (struct worker){&q, 0};
        CHECK(pthread_create(&t[i], NULL, s_drainer, &w[i]) == 0, "thread");
    }
    int total = 0;
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        total += w[i].acquired;
    }
    CHECK(total == 100, "exactly 100 retries across threads: %d", total);
    CHECK(atomic_load(&q.tokens) == 0, "empty");
}

static void test_dates(void)
{
    /* the RFC 7231 example in all three forms */
    CHECK(retry_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT") == 784111777, "IMF");
    CHECK(retry_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT") == 784111777, "RFC 850");
    CHECK(retry_parse_http_date("Sun Nov  6 08:49:37 1994") == 784111777, "asctime");
    CHECK(retry_parse_http_date("Sun Nov 16 08:49:37 1994") == 784111777 + 10 * 86400,
          "asctime 2-digit day");
    /* more */
    CHECK(retry_parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT") == 0, "epoch");
    CHECK(retry_parse_http_date("Mon, 01 Jan 2024 00:00:00 GMT") == 1704067200, "2024");
    CHECK(retry_parse_http_date("Thu, 29 Feb 2024 12:00:00 GMT") == 1709208000, "leap day");
    CHECK(retry_parse_http_date("Tue, 19 Jan 2038 03:14:08 GMT") == (time_t)2147483648LL,
          "past 2038");
    CHECK(retry_parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT") == (time_t)253402300799LL,
          "9999");
    CHECK(retry_parse_http_date("Wednesday, 15-Jan-25 10:00:00 GMT") == 1736935200,
          "RFC 850 20xx");
    CHECK(retry_parse_http_date("Thursday, 01-Jan-70 00:00:00 GMT") == 0, "RFC 850 1970");
    CHECK(retry_parse_http_date("Wed Jan 15 10:00:00 2025") == 1736935200, "asctime 2025");
    /* tolerated: surrounding whitespace, a CRLF, case, UTC */
    CHECK(retry_parse_http_date("  Mon, 01 Jan 2024 00:00:00 GMT\r\n") == 1704067200, "ws");
    CHECK(retry_parse_http_date("mon, 01 jan 2024 00:00:00 gmt") == 1704067200, "case");
    CHECK(retry_parse_http_date("Mon, 01 Jan 2024 00:00:00 UTC") == 1704067200, "UTC");
    /* the weekday is not checked against the date */
    CHECK(retry_parse_http_date("Fri, 01 Jan 2024 00:00:00 GMT") == 1704067200, "weekday");

    static const char *const bad[] = {
        "",
        "garbage",
        "Mon, 01 Jan 2024 00:00:00",          /* no zone */
        "Mon, 01 Jan 2024 00:00:00 PST",
        "Mon, 01 Jan 2024 00:00:00 GMT x",
        "Mon, 1 Jan 2024 00:00:00 GMT",       /* IMF day is two digits */
        "Mon, 01 Jan 24 00:00:00 GMT",
        "Mon, 01 Foo 2024 00:00:00 GMT",
        "Mon, 32 Jan 2024 00:00:00 GMT",
        "Mon, 00 Jan 2024 00:00:00 GMT",
        "Thu, 29 Feb 2023 00:00:00 GMT",      /* not a leap year */
        "Mon, 29 Feb 2100 00:00:00 GMT",      /* nor 2100 */
        "Mon, 31 Apr 2024 00:00:00 GMT",
        "Mon, 01 Jan 2024 24:00:00 GMT",
        "Mon, 01 Jan 2024 00:60:00 GMT",
        "Mon, 01 Jan 2024 00:00:61 GMT",
        "Mon, 01 Jan 2024 0:00:00 GMT",
        "Mon 01 Jan 2024 00:00:00 GMT",
        "Xyz, 01 Jan 2024 00:00:00 GMT",
        "Wed, 31 Dec 1969 23:59:59 GMT",      /* before 1970 */
        "Monday, 01-Jan-2024 00:00:00 GMT",   /* RFC 850 year is two digits */
        "Monday, 01 Jan 24 00:00:00 GMT",
        "Sun Nov 6 08:49:37 1994",            /* asctime pads with a space */
        "Sun Nov  6 08:49:37 94",
        "Sun Nov  6 08:49:37 1994 GMT",
        "2024-01-01T00:00:00Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        CHECK(retry_parse_http_date(bad[i]) == -1, "refused: \"%s\"", bad[i]);
    CHECK(retry_parse_http_date(NULL) == -1, "NULL");
}

static void test_skew(void)
{
    const time_t now = 1704067200;
    CHECK(retry_skew_offset(now, now) == 0, "same");
    CHECK(retry_skew_offset(now + 239, now) == 0, "239 ahead");
    CHECK(retry_skew_offset(now - 239, now) == 0, "239 behind");
    CHECK(retry_skew_offset(now + 240, now) == 240, "240 ahead");
    CHECK(retry_skew_offset(now - 240, now) == -240, "240 behind");
    CHECK(retry_skew_offset(now + 3600, now) == 3600, "an hour ahead");
    CHECK(retry_skew_offset(now - 86400, now) == -86400, "a day behind");
    CHECK(retry_skew_offset(-1, now) == 0, "unknown server date");
    /* with a parsed Date */
    time_t server = retry_parse_http_date("Mon, 01 Jan 2024 00:05:00 GMT");
    CHECK(retry_skew_offset(server, now) == 300, "5 minutes");
    CHECK(retry_skew_offset(retry_parse_http_date("nonsense"), now) == 0, "bad date");
}

int main(void)
{
    test_classify();
    test_delay();
    test_quota();
    test_quota_threads();
    test_dates();
    test_skew();
    return unit_report("test_retry");
}
