#include "aws/ratelimit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* The SDKs' constants (botocore retries/adaptive.py, the JS SDK's DefaultRateLimiter). */
#define MIN_FILL_RATE 0.5
#define MIN_CAPACITY 1.0
#define BETA 0.7
#define SCALE_CONSTANT 0.4
#define SMOOTHING 0.8
#define BUCKET_SECONDS 0.5
#define MAX_RATE_SCALE 2.0

/* A throttle cuts the rate when at least THROTTLE_SHARE of the recent answers were throttled
 * (a moving average, each answer weighing SHARE_WEIGHT): a service that refuses the rate sent
 * throttles most answers, and is met within a few. Rarer throttles, such as S3's occasional
 * SlowDown, are left to the requests' retries: cut for each, as the SDKs do, 2% of answers
 * throttled at random bring the rate down to a few requests per second, whatever the service
 * accepts. */
#define SHARE_WEIGHT 0.02
#define THROTTLE_SHARE 0.1

/* A request is promised a token at most this far ahead; later ones ask again after this long,
 * so that a rate that climbs back is used at once instead of by promises made when it was
 * low, and so the debt stays bounded whatever the number of waiting requests. */
#define MAX_PROMISE_SECONDS 1.0

void rate_limiter_init(struct rate_limiter *r, double now)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->fill_rate = MIN_FILL_RATE;
    r->capacity = MIN_CAPACITY;
    r->last_refill = now;
    r->last_bucket = floor(now / BUCKET_SECONDS) * BUCKET_SECONDS;
    r->w_max = MIN_FILL_RATE;
    r->last_throttle = now;
}

void rate_limiter_destroy(struct rate_limiter *r)
{
    pthread_mutex_destroy(&r->mu);
}

static void s_refill(struct rate_limiter *r, double now)
{
    if (now > r->last_refill) {
        r->tokens += (now - r->last_refill) * r->fill_rate;
        if (r->tokens > r->capacity)
            r->tokens = r->capacity;
        r->last_refill = now;
    }
}

double rate_limiter_acquire(struct rate_limiter *r, double now)
{
    pthread_mutex_lock(&r->mu);
    double wait = 0;
    if (r->enabled) {
        s_refill(r, now);
        wait = (1.0 - r->tokens) / r->fill_rate;
        if (wait <= 0) {
            wait = 0;
            r->tokens -= 1.0;
        } else if (wait <= MAX_PROMISE_SECONDS) {
            r->tokens -= 1.0;
        } else {
            wait = -MAX_PROMISE_SECONDS; /* no promise: ask again after that long */
        }
    }
    pthread_mutex_unlock(&r->mu);
    return wait;
}

static double s_cubic_zero(double w_max)
{
    return cbrt(w_max * (1.0 - BETA) / SCALE_CONSTANT);
}

bool rate_limiter_update(struct rate_limiter *r, bool throttled, double paced_at, double now)
{
    pthread_mutex_lock(&r->mu);
    double bucket = floor(now / BUCKET_SECONDS) * BUCKET_SECONDS;
    r->bucket_count += 1.0;
    if (bucket > r->last_bucket) {
        double current = r->bucket_count / (bucket - r->last_bucket);
        r->measured_rate = current * SMOOTHING + r->measured_rate * (1.0 - SMOOTHING);
        r->bucket_count = 0;
        r->last_bucket = bucket;
    }
    if (throttled && r->enabled && paced_at < r->last_throttle) {
        pthread_mutex_unlock(&r->mu);
        return true;
    }
    r->throttled_share += SHARE_WEIGHT * ((throttled ? 1.0 : 0.0) - r->throttled_share);
    bool cut = throttled && r->throttled_share >= THROTTLE_SHARE;
    if (!cut && !r->enabled) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    /* The responses of the half second under way count too: a first throttle within the
     * first half second of a burst would otherwise measure a rate of 0 and cut to the floor. */
    double sending = fmax(r->measured_rate, r->bucket_count / BUCKET_SECONDS);
    double rate;
    if (cut) {
        double base = r->enabled ? fmin(sending, r->fill_rate) : sending;
        r->w_max = base;
        r->k = s_cubic_zero(base);
        r->last_throttle = now;
        r->enabled = true;
        rate = base * BETA;
    } else {
        double dt = now - r->last_throttle - r->k;
        rate = SCALE_CONSTANT * dt * dt * dt + r->w_max;
    }
    rate = fmin(rate, MAX_RATE_SCALE * sending);
    s_refill(r, now);
    /* Tokens already promised keep their times: a debt is kept in seconds, not in tokens, so
     * that a cut rate does not hold every later request until the old debt is repaid. */
    double fill = fmax(rate, MIN_FILL_RATE);
    if (r->tokens < 0)
        r->tokens *= fill / r->fill_rate;
    r->fill_rate = fill;
    r->capacity = fmax(rate, MIN_CAPACITY);
    if (r->tokens > r->capacity)
        r->tokens = r->capacity;
    pthread_mutex_unlock(&r->mu);
    return false;
}

double rate_limiter_rate(struct rate_limiter *r)
{
    pthread_mutex_lock(&r->mu);
    double rate = r->enabled ? r->fill_rate : 0;
    pthread_mutex_unlock(&r->mu);
    return rate;
}

/* ---- sets --------------------------------------------------------------------------- */

struct limiter_entry {
    struct limiter_entry *next;
    struct rate_limiter limiter;
    char *service;
    char *operation;
};

struct rate_limits {
    pthread_mutex_t mu;
    struct limiter_entry *entries;
};

struct rate_limits *rate_limits_new(void)
{
    struct rate_limits *s = calloc(1, sizeof *s);
    if (s)
        pthread_mutex_init(&s->mu, NULL);
    return s;
}

static void s_entry_free(struct limiter_entry *e)
{
    rate_limiter_destroy(&e->limiter);
    free(e->service);
    free(e->operation);
    free(e);
}

void rate_limits_free(struct rate_limits *s)
{
    if (!s)
        return;
    while (s->entries) {
        struct limiter_entry *next = s->entries->next;
        s_entry_free(s->entries);
        s->entries = next;
    }
    pthread_mutex_destroy(&s->mu);
    free(s);
}

struct rate_limiter *rate_limits_get(struct rate_limits *s, const char *service,
                                     const char *operation, double now)
{
    if (!operation)
        operation = "";
    pthread_mutex_lock(&s->mu);
    struct limiter_entry *e = s->entries;
    while (e && (strcmp(e->operation, operation) != 0 || strcmp(e->service, service) != 0))
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        e->service = strdup(service);
        e->operation = strdup(operation);
        if (!e->service || !e->operation) {
            free(e->service);
            free(e->operation);
            free(e);
            e = NULL;
        } else {
            rate_limiter_init(&e->limiter, now);
            e->next = s->entries;
            s->entries = e;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return e ? &e->limiter : NULL;
}
