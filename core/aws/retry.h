/* The AWS SDKs' "standard" retry mode: which errors to retry, how long to wait, and the retry
 * quota shared by every request of a run. Pure: time and randomness are inputs; the only
 * shared state is the quota, updated with C11 atomics. */
#ifndef CREDREPORT_RETRY_H
#define CREDREPORT_RETRY_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

struct aws_error {
    char code[96];
    char message[512];
    char request_id[128];
    int http_status; /* 0 if no response */
    int transport;   /* 0, or a nonzero transport error (connection failed/reset/timeout) */
    bool timeout;
};

enum retry_kind { RETRY_NONE, RETRY_THROTTLE, RETRY_TRANSIENT, RETRY_SKEW };

/* Throttling: the SDKs' throttling codes, IAM's LimitExceeded, SNS's Throttled, HTTP 429.
 * Skew: RequestTimeTooSkewed, RequestExpired, RequestInTheFuture, and InvalidSignatureException
 * or SignatureDoesNotMatch whose message says the signature expired or is not yet current.
 * (A response whose Date is 4 minutes or more off local time is the caller's call: see
 * retry_skew_offset().) Transient: RequestTimeout, RequestTimeoutException, HTTP 500, 502, 503,
 * 504, transport errors and timeouts. Codes decide before statuses (S3's SlowDown 503 is
 * throttling). */
enum retry_kind retry_classify(const struct aws_error *e);

/* Strips the JSON protocols' decorations from e->code: "aws.protocol#Code:http://..." is
 * "Code". Error decoding does it once, before anything reads the code. */
void aws_error_clean_code(struct aws_error *e);

struct retry_config {
    int max_attempts;           /* attempts in all, first included; default 5 */
    double base_delay;          /* seconds; default 0.1 (JS SDK) */
    double throttle_base_delay; /* seconds, when throttled; default 0.5 */
    double max_backoff;         /* seconds; default 20 */
};

void retry_config_default(struct retry_config *c);

/* Full jitter: random01 * min(max_backoff, base * 2^(attempt-1)), base the throttling base
 * for RETRY_THROTTLE and base_delay otherwise; 0 for RETRY_NONE. attempt: 1 for the first
 * retry (smaller values count as 1). random01 in [0,1), supplied by the caller (deterministic
 * tests); values outside are clamped. */
double retry_delay(const struct retry_config *c, enum retry_kind kind, int attempt,
                   double random01);

#define RETRY_QUOTA_CAPACITY 500
#define RETRY_COST 5
#define RETRY_COST_TIMEOUT 10

/* Retry quota: a bucket of tokens shared by every request of the run (struct aws_shared),
 * threads included. */
struct retry_quota {
    _Atomic int tokens;
    int capacity;
};

/* capacity <= 0 means RETRY_QUOTA_CAPACITY. The bucket starts full. */
void retry_quota_init(struct retry_quota *q, int capacity);
/* Takes the cost of one retry (RETRY_COST, or RETRY_COST_TIMEOUT after a timeout); returns
 * the cost taken (> 0), or 0 when the quota cannot pay it (do not retry). */
int retry_quota_acquire(struct retry_quota *q, bool after_timeout);
/* After a success: gives back the sum of what its retries took, or 1 when it needed none
 * (cost_of_retries <= 0); never above the capacity. */
void retry_quota_release(struct retry_quota *q, int cost_of_retries);

/* Parses an HTTP Date (RFC 7231 IMF-fixdate "Sun, 06 Nov 1994 08:49:37 GMT", RFC 850
 * "Sunday, 06-Nov-94 08:49:37 GMT" (two-digit years: 70-99 are 19xx, 00-69 are 20xx), asctime
 * "Sun Nov  6 08:49:37 1994") into UTC seconds; -1 on failure or before 1970. */
time_t retry_parse_http_date(const char *s);

#define RETRY_SKEW_THRESHOLD 240

/* Clock skew correction: the offset (server - local, seconds) to apply to signing times when
 * |offset| >= RETRY_SKEW_THRESHOLD, else 0 (also when server_date is negative: unknown). */
long retry_skew_offset(time_t server_date, time_t local_now);

#endif
