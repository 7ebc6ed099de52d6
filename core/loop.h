/* The per-thread event loop: HTTP transfers over one libcurl multi handle (connection reuse,
 * many requests in flight) and a timer queue. A loop belongs to one thread; nothing in it is
 * shared with other threads except through loop_wakeup(). Completion callbacks run inside
 * loop_run_once(), on the loop's thread. */
#ifndef CREDREPORT_LOOP_H
#define CREDREPORT_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "buf.h"
#include "headers.h"

struct http_settings {
    long connect_timeout_ms;  /* default 10 s */
    long total_timeout_ms;    /* default 120 s */
    long low_speed_bytes;     /* abort when slower than this ... */
    long low_speed_seconds;   /* ... for this long (default 1 byte/s over 30 s) */
    const char *ca_bundle;    /* PEM file; NULL: AWS_CA_BUNDLE, else the system store */
    const char *user_agent;
};

struct http_request {
    const char *method;
    const char *url;
    const struct header_list *headers;
    const void *body;          /* borrowed: must stay valid until the callback */
    size_t body_len;
    long timeout_ms;           /* > 0: this request's whole time (and connect time) limit,
                                * instead of the loop's settings */
};

struct http_response {
    long status;               /* 0 when no response arrived */
    struct header_list headers;
    struct buf body;
    int transport_error;       /* 0, or the CURLcode of a failed transfer */
    bool timed_out;
    char error[256];           /* what went wrong in transport, for people */
};

struct loop;
struct loop_timer;

typedef void (*http_done_fn)(void *arg, struct http_response *resp);
typedef void (*loop_timer_fn)(void *arg);

void http_settings_default(struct http_settings *s);

/* Creates a loop; the settings are copied. NULL with a message in err on failure. */
struct loop *loop_new(const struct http_settings *s, char *err, size_t errlen);
void loop_free(struct loop *l);

/* Starts a transfer. The request is copied except its body. done is called exactly once, from
 * loop_run_once(), with a response that lives only during the call. Returns 0, or -1 with
 * a message in err (nothing started, done not called). */
int loop_http(struct loop *l, const struct http_request *req, http_done_fn done, void *arg,
              char *err, size_t errlen);

/* Calls fn(arg) once, after delay_s seconds (monotonic clock). The handle is only a token
 * of success (it is freed before fn runs); NULL when memory runs out. */
struct loop_timer *loop_timer_add(struct loop *l, double delay_s, loop_timer_fn fn, void *arg);

/* Waits at most max_wait_ms for work (less when a timer is due), then runs every finished
 * transfer's and due timer's callback. Returns the number of transfers and timers still
 * pending. */
size_t loop_run_once(struct loop *l, int max_wait_ms);
size_t loop_pending(const struct loop *l);

/* Interrupts a wait from another thread. */
void loop_wakeup(struct loop *l);

/* Seconds on the monotonic clock. */
double loop_now(void);

/* Process-wide libcurl setup; call once before any thread starts. */
int loop_global_init(void);
void loop_global_cleanup(void);

#endif
