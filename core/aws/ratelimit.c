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
#define RATE_MIN_SPAN 0.1

/* A throttle cuts the rate when at least THROTTLE_SHARE of the recent answers were throttled
 * (a moving average, each answer weighing SHARE_WEIGHT): a service that refuses the rate sent
 * throttles most answers, and is met within a few. Rarer throttles, such as S3's occasional
 * SlowDown, are left to the requests' retries: cut for each, as the SDKs do, 2% of answers
 * throttled at random bring the rate down to a few requests per second, whatever the service
 * accepts. */
#define SHARE_WEIGHT 0.02
#define THROTTLE_SHARE 0.1

/* Throttling caused by the rate sent falls as the rate does (cut by BETA, a rate 30% too
 * high is throttled no more), while a service that throttles at random (an overloaded
 * fleet, a fault) throttles as often whatever the rate: cutting for it again and again
 * brought the rate down to a few requests per second (1,000 accounts, a tenth of every
 * answer throttled: 8 s became 27-42 s). So a cut made while fewer than NOISE_MAX of the last
 * TRIAL_ANSWERS answers were throttled (s_refused_share) holds the rate for the next
 * TRIAL_ANSWERS, however long they take, and is judged by them: unless they are throttled
 * markedly less often than before (by FELL times the spread of the difference of two shares
 * over that many answers), or NOISE_MAX of them, a second cut is tried the same way, judged
 * against the first trial (s_judge_trial); if it does no better either, the rate before the
 * cuts is put back, and the share of both trials is taken as noise, which cuts must then
 * exceed by NOISE_MARGIN, or by NOISE_SPREADS times the spread of the moving average over
 * that noise when that is more (the noise counting half after NOISE_HALF_LIFE seconds). A
 * trial that ended sooner, at a few requests a second, had 2 or 3 answers to judge by: the
 * cut was kept for want of more, and the next throttle cut again, down to MIN_FILL_RATE;
 * judged by 10, a rate that was refused looked no better after the cut, and the cut was
 * undone. */
#define NOISE_MAX 0.4
#define FELL 2.0
#define TRIAL_ANSWERS 40
#define NOISE_MARGIN 0.1
/* At thousands of answers a second the moving average meets many streaks: with a tenth of
 * the answers throttled it reached the noise learned and its margin a few times in a run
 * (0.21-0.23 against 0.10-0.12), and a trial judged against such a streak kept the cut almost
 * half the time (3 throttled of 40 look markedly fewer than 0.21). A kept cut climbs back
 * over seconds: the reports of 10,000 accounts were all asked for after 6-17 s instead of
 * 5-6. Four spreads are 0.12 at a tenth, 0.16 at a fifth. */
#define NOISE_SPREADS 4.0
#define NOISE_HALF_LIFE 60.0

/* A request is promised a token at most this far ahead; later ones ask again after this long,
 * so that a rate that climbs back is used at once instead of by promises made when it was
 * low, and so the debt stays bounded whatever the number of waiting requests. */
#define MAX_PROMISE_SECONDS 1.0

void rate_limiter_init(struct rate_limiter *r, double now)
{
    memset(r, 0, sizeof *r);
    pthread_mutex_init(&r->mu, NULL);
    r->set.fill_rate = MIN_FILL_RATE;
    r->set.capacity = MIN_CAPACITY;
    r->last_refill = now;
    r->last_bucket = floor(now / BUCKET_SECONDS) * BUCKET_SECONDS;
    r->set.w_max = MIN_FILL_RATE;
    r->set.last_throttle = now;
}

void rate_limiter_destroy(struct rate_limiter *r)
{
    pthread_mutex_destroy(&r->mu);
}

static void s_refill(struct rate_limiter *r, double now)
{
    if (now > r->last_refill) {
        r->tokens += (now - r->last_refill) * r->set.fill_rate;
        if (r->tokens > r->set.capacity)
            r->tokens = r->set.capacity;
        r->last_refill = now;
    }
}

double rate_limiter_acquire(struct rate_limiter *r, double now)
{
    pthread_mutex_lock(&r->mu);
    double wait = 0;
    if (r->set.enabled) {
        s_refill(r, now);
        wait = (1.0 - r->tokens) / r->set.fill_rate;
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

/* A cut: from now, the rate climbs back to w_max along the cubic curve, from BETA times it. */
static void s_cut_below(struct rate_limiter *r, double w_max, double now)
{
    r->set.w_max = w_max;
    r->set.k = s_cubic_zero(w_max);
    r->set.last_throttle = now;
}

/* The limiter takes set. Tokens already promised keep their times: a debt is kept in seconds,
 * not in tokens, so that a cut rate does not hold every later request until the old debt is
 * repaid. */
static void s_apply(struct rate_limiter *r, struct rate_setting set)
{
    if (r->tokens < 0)
        r->tokens *= set.fill_rate / r->set.fill_rate;
    r->set = set;
    if (r->tokens > r->set.capacity)
        r->tokens = r->set.capacity;
}

/* The share of throttles learned as noise, as it counts now. */
static double s_noise(const struct rate_limiter *r, double now)
{
    return r->noise * exp2(-(now - r->noise_at) / NOISE_HALF_LIFE);
}

/* The share of throttled answers that cuts the rate. */
static double s_cut_share(const struct rate_limiter *r, double now)
{
    double noise = s_noise(r, now);
    double spread = sqrt(noise * (1 - noise) * SHARE_WEIGHT / (2 - SHARE_WEIGHT));
    return fmax(THROTTLE_SHARE, noise + fmax(NOISE_MARGIN, NOISE_SPREADS * spread));
}

/* The share of the last TRIAL_ANSWERS answers that cuts the rate without a trial: the rate
 * is refused outright. It stands out of the noise learned by NOISE_SPREADS spreads of a share
 * over that many answers: where a third of the answers were throttled at random, 16 of 40
 * came every few seconds, and such cuts held the rate under 85% of the 200 a second wanted
 * in 15 of 20 seeds of test_ratelimit, one at 66. */
static double s_refused_share(const struct rate_limiter *r, double now)
{
    double noise = s_noise(r, now);
    return fmax(NOISE_MAX, noise + NOISE_SPREADS * sqrt(noise * (1 - noise) / TRIAL_ANSWERS));
}

static void s_forget_second_trial(struct rate_limiter *r)
{
    if (r->trial.second) {
        r->trial.second = false;
        r->noise = r->trial.noise_before;
        r->noise_at = r->trial.noise_before_at;
    }
}

/* How many throttles of TRIAL_ANSWERS answers are markedly fewer than share, itself taken
 * over as many answers: FELL times the spread of their difference. */
static double s_fewer(double share)
{
    return (share - FELL * sqrt(share * (1 - share) * 2.0 / TRIAL_ANSWERS)) * TRIAL_ANSWERS;
}

/* Counts an answer to a request paced after the cut on trial; ends the trial once it has
 * enough of them. */
static void s_judge_trial(struct rate_limiter *r, bool throttled, double now)
{
    r->trial.answers++;
    r->trial.throttled += throttled;
    /* A first trial with no throttle at all keeps its cut, however small "before" was: a cut
     * to a rate the service accepts can do no better. */
    double fewer = r->trial.second ? s_fewer(r->trial.share) : fmax(s_fewer(r->trial.share), 0);
    /* A second trial ends as soon as it has more throttles than that: where they are noise,
     * it sends at half the rate while it lasts. */
    if (r->trial.answers < TRIAL_ANSWERS && !(r->trial.second && r->trial.throttled > fewer))
        return;
    r->trial.on = false;
    double share = (double)r->trial.throttled / r->trial.answers;
    if (r->trial.throttled <= fewer || (!r->trial.second && share >= NOISE_MAX)) {
        s_forget_second_trial(r);
        r->set.k += now - r->set.last_throttle; /* the climb back starts now, from the cut rate */
        return;
    }
    if (!r->trial.second && s_fewer(share) >= 0) {
        /* Throttled as often after the cut: the throttles are noise, or the cut rate is still
         * above what the service accepts (it was measured over answers that came while the
         * rate climbed). A second cut tells them apart, judged against the first trial, a
         * share that is not a streak: undone at once, a cut from 3.6 to 2.5 requests a second
         * where Organizations accepted 2 learned its 22% as noise, and the rate then went up
         * to 9.5 a second with three answers in four throttled. Until it is judged, the
         * first trial's share counts as noise. Under 7 throttles of 40, none at all would not
         * be markedly fewer: the share is taken as noise at once. */
        r->trial.on = r->trial.second = true;
        r->trial.share = share;
        r->trial.first_throttled = r->trial.throttled;
        r->trial.answers = r->trial.throttled = 0;
        r->trial.noise_before = r->noise;
        r->trial.noise_before_at = r->noise_at;
        r->noise = fmax(share, s_noise(r, now));
        r->noise_at = now;
        s_cut_below(r, r->set.w_max * BETA, now);
        return;
    }
    if (r->trial.second) {
        share = (double)(r->trial.first_throttled + r->trial.throttled) /
                (TRIAL_ANSWERS + r->trial.answers);
        s_forget_second_trial(r);
    }
    s_apply(r, r->trial.before);
    r->noise = fmax(share, s_noise(r, now));
    r->noise_at = now;
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
    if (throttled && r->set.enabled && paced_at < r->set.last_throttle) {
        pthread_mutex_unlock(&r->mu);
        return true;
    }
    r->throttled_share += SHARE_WEIGHT * ((throttled ? 1.0 : 0.0) - r->throttled_share);
    r->recent = r->recent << 1 | throttled;
    if (r->recent_n < TRIAL_ANSWERS)
        r->recent_n++;
    double recent = (double)__builtin_popcountll(r->recent & ((1ULL << TRIAL_ANSWERS) - 1)) /
                    r->recent_n;
    if (r->trial.on && paced_at >= r->set.last_throttle)
        s_judge_trial(r, throttled, now);
    /* Below NOISE_MAX, a cut is put on trial, judged against the share before it: that
     * share is taken over TRIAL_ANSWERS answers. Over fewer, a streak (6 throttled of the
     * first 16, where 1 in 10 were) passed for a rate refused, the cut was kept, and the rate
     * then held the run back for seconds. */
    double refused = s_refused_share(r, now);
    bool cut = throttled && r->throttled_share >= s_cut_share(r, now) &&
               (recent >= refused || (!r->trial.on && r->recent_n >= TRIAL_ANSWERS));
    if (!cut && !r->set.enabled) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    /* The responses of the half second under way count too, at the rate they came (over at
     * least RATE_MIN_SPAN): a first throttle early in a burst would otherwise measure a
     * fraction of the rate sent, or none, and cut far below it. A run's first AssumeRoles,
     * 130 a second, measured 26, and the rate cut to 18 held the run's start for seconds. */
    double span = fmax(now - r->last_bucket, RATE_MIN_SPAN);
    double sending = fmax(r->measured_rate, r->bucket_count / span);
    double rate;
    if (cut) {
        s_forget_second_trial(r); /* a cut while it runs: the rate was refused after all */
        r->trial.on = recent < refused;
        if (r->trial.on) {
            /* The window that made the cut is most likely a streak: judged against it, the
             * next answers (throttled as often as ever) look improved, and the cut was kept.
             * The moving average, which has seen more, stands for "before". */
            r->trial.share = fmin(recent, r->throttled_share);
            r->trial.answers = r->trial.throttled = 0;
            r->trial.before = r->set;
        }
        double base = r->set.enabled ? fmin(sending, r->set.fill_rate) : sending;
        s_cut_below(r, base, now);
        r->set.enabled = true;
        rate = base * BETA;
    } else if (r->trial.on) {
        rate = r->set.w_max * BETA; /* held while the cut is on trial */
    } else {
        double dt = now - r->set.last_throttle - r->set.k;
        rate = SCALE_CONSTANT * dt * dt * dt + r->set.w_max;
    }
    rate = fmin(rate, MAX_RATE_SCALE * sending);
    s_refill(r, now);
    struct rate_setting set = r->set;
    set.fill_rate = fmax(rate, MIN_FILL_RATE);
    set.capacity = fmax(rate, MIN_CAPACITY);
    s_apply(r, set);
    pthread_mutex_unlock(&r->mu);
    return false;
}

bool rate_limiter_noisy(struct rate_limiter *r, double now)
{
    pthread_mutex_lock(&r->mu);
    bool noisy = s_noise(r, now) >= NOISE_MARGIN / 2;
    pthread_mutex_unlock(&r->mu);
    return noisy;
}

double rate_limiter_rate(struct rate_limiter *r)
{
    pthread_mutex_lock(&r->mu);
    double rate = r->set.enabled ? r->set.fill_rate : 0;
    pthread_mutex_unlock(&r->mu);
    return rate;
}

/* ---- sets --------------------------------------------------------------------------- */

struct limiter_entry {
    struct limiter_entry *next;
    struct rate_limiter limiter;
    char *service;
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

struct rate_limiter *rate_limits_get(struct rate_limits *s, const char *service, double now)
{
    pthread_mutex_lock(&s->mu);
    struct limiter_entry *e = s->entries;
    while (e && strcmp(e->service, service) != 0)
        e = e->next;
    if (!e && (e = calloc(1, sizeof *e))) {
        if (!(e->service = strdup(service))) {
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
