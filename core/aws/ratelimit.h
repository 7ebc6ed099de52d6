/* Client-side rate limiting, as the AWS SDKs' "adaptive" retry mode does it: a token bucket
 * per service that is off until the service first throttles, then sends at a rate that falls
 * by a factor (beta) on throttling errors and climbs back on a cubic curve (CUBIC congestion
 * control) while requests succeed, never above twice the rate actually measured. Unlike the
 * SDKs', a cut is undone when the answers after it show the throttling is not caused by the
 * rate (ratelimit.c). Time is an input (seconds on any monotonic clock), so tests need no
 * sleeping.
 *
 * A limiter never blocks: rate_limiter_acquire() reserves the next token and says how long
 * the caller must wait before sending. Limiters and sets are thread-safe: the calls made with
 * the run's own credentials (Organizations, STS) share one set across every thread. */
#ifndef CREDREPORT_RATELIMIT_H
#define CREDREPORT_RATELIMIT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What a cut sets, and an undone cut puts back. */
struct rate_setting {
    bool enabled;          /* after the first throttling error that cut the rate */
    double fill_rate;      /* the token bucket's tokens per second */
    double capacity;
    /* cubic: the rate at the last throttle and when it happened */
    double w_max;
    double k;
    double last_throttle;
};

struct rate_limiter {
    pthread_mutex_t mu;
    struct rate_setting set;
    double throttled_share; /* of the recent answers (a moving average) */
    uint64_t recent;       /* the latest answers, a bit set for each throttled one */
    int recent_n;          /* how many of its bits are answers (at most TRIAL_ANSWERS) */
    /* token bucket */
    double tokens;         /* negative: tokens already promised to waiting requests */
    double last_refill;
    /* measured send rate: responses per second, smoothed over half-second buckets */
    double measured_rate;
    double last_bucket;
    double bucket_count;
    /* a cut on trial: undone if the answers to the requests paced after it are throttled as
     * often (ratelimit.c) */
    struct {
        bool on;
        bool second;       /* a second cut, after a trial throttled as often as before */
        double share;      /* throttled before the cut */
        int answers, throttled;
        int first_throttled; /* of the first trial's answers, for a second */
        struct rate_setting before;
        double noise_before, noise_before_at; /* put back if the second cut is kept */
    } trial;
    double noise, noise_at; /* the share of throttles a cut did not lower, and when seen */
};

void rate_limiter_init(struct rate_limiter *r, double now);
void rate_limiter_destroy(struct rate_limiter *r);
/* Reserves a token: the seconds to wait before sending (0 while the limiter is off). A
 * negative value -w promises nothing: the token is too far ahead; ask again after w seconds. */
double rate_limiter_acquire(struct rate_limiter *r, double now);
/* Records a response, throttled or not, to a request paced at paced_at (when it asked for
 * its token). A throttle answering a request paced before the last cut does not cut the rate
 * again: the requests sent or promised while the rate was too high are throttled together,
 * and one cut answers them all. Returns true for such a throttle: the rate it was sent at
 * is already gone. */
bool rate_limiter_update(struct rate_limiter *r, bool throttled, double paced_at, double now);
/* The current sending rate in requests per second, 0 while the limiter is off. */
double rate_limiter_rate(struct rate_limiter *r);
/* Whether the service throttles at random, whatever the rate: a cut it made was undone
 * (its noise still counts for something at now). */
bool rate_limiter_noisy(struct rate_limiter *r, double now);

/* Limiters by service, created on first use. One for all of a service's operations, as in the
 * SDKs (one per client): AWS's request quotas are mostly shared by them (Organizations',
 * account-wide), and a limiter per operation measured only its share of the rate, so each
 * cut from too low a rate, and their sum was never limited. */
struct rate_limits;

/* NULL when memory runs out. */
struct rate_limits *rate_limits_new(void);
void rate_limits_free(struct rate_limits *s);
/* The limiter of service; NULL when memory runs out. It lives as long as the set. */
struct rate_limiter *rate_limits_get(struct rate_limits *s, const char *service, double now);

#endif
