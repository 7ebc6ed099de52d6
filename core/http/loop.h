/* The per-thread event loop: HTTP transfers over one libcurl multi handle (connection reuse,
 * many requests in flight) and a timer queue. A loop belongs to one thread; nothing in it is
 * shared with other threads except through loop_wakeup(). Completion callbacks run inside
 * loop_run_once(), on the loop's thread. */
#ifndef CREDREPORT_LOOP_H
#define CREDREPORT_LOOP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"
#include "base/headers.h"

struct http_settings {
    long connect_timeout_ms;  /* default 10 s */
    int max_connections;      /* per origin, on this loop (default 64); see loop_origin_acquire */
    int grow_connections;     /* above max_connections: the connections per origin this loop
                               * may grow to while its answers show the endpoint far rather
                               * than busy (loop.c, s_fit_to_distance); else max_connections
                               * is all */
    long total_timeout_ms;    /* default 120 s */
    long low_speed_bytes;     /* abort when slower than this ... */
    long low_speed_seconds;   /* ... for this long (default 1 byte/s over 30 s) */
    const char *ca_bundle;    /* PEM file; NULL: AWS_CA_BUNDLE, else the system store */
    const char *user_agent;
};

struct loop_origin;

/* A body sent from a file as it goes out, never held in memory whole. */
struct http_file_body {
    int fd;     /* read with pread from offset 0; borrowed: open until the callback */
    size_t len; /* the bytes sent */
};

struct http_request {
    struct loop_origin *slot;  /* a slot the caller holds (loop_origin_acquire): the transfer
                                * gives it back when it ends; NULL: no slot needed */
    const char *method;
    const char *url;
    const struct header_list *headers;
    const void *body;          /* borrowed: must stay valid until the callback */
    size_t body_len;
    const struct http_file_body *body_file; /* when set, sent instead of body (a PUT);
                                             * borrowed like body */
    long timeout_ms;           /* > 0: this request's whole time (and connect time) limit,
                                * instead of the loop's settings */
    long lost_after_ms;        /* > 0: a request sent this long ago with no answer begun
                                * (or still making its own connection opened this long ago),
                                * while LOOP_LOST_OVERTAKEN requests sent after it to the same
                                * origin have been answered (or LOOP_LOST_ALONE times as long
                                * with fewer, unless the origin had answered that many before
                                * and few others are in flight; at least LOOP_LOST_SLOWEST
                                * times the longest wait for an answer lately, the slowest
                                * few left out), is taken as lost: the transfer ends timed
                                * out (its connection closed) instead of holding the
                                * connection until the loop's stall limit. 0: only the
                                * loop's limits apply (calls a server may hold, long polls) */
    bool direct;               /* never through a proxy the environment names (HTTPS_PROXY
                                * and the like): an address of this host or its link, such
                                * as instance metadata, which a proxy would answer with its
                                * own host's credentials, or refuse */
    size_t max_body;           /* the largest response body accepted, in bytes; 0:
                                * HTTP_MAX_BODY_DEFAULT. A larger one, announced by
                                * Content-Length or as it arrives, is not read: the transfer
                                * ends with too_large (as does one with more than
                                * LOOP_MAX_HEADERS headers) */
};

/* Answers to requests sent later that show a silent request lost, not a slow server. */
#define LOOP_LOST_OVERTAKEN 8
/* Without them (and when others wait too, or nothing is known of the origin yet), how many
 * times lost_after_ms a request waits before it is taken as lost. */
#define LOOP_LOST_ALONE 3
/* A request is not taken as lost before this many times the longest wait the origin's
 * answers took lately (the slowest 1 in 8 left out), whatever lost_after_ms says. */
#define LOOP_LOST_SLOWEST 3

/* AWS sends a dozen or two headers: an endless stream of them is cut off. */
#define LOOP_MAX_HEADERS 200
/* Responses whose size nobody asked about are small: errors, listing pages, credentials. */
#define HTTP_MAX_BODY_DEFAULT ((size_t)8 << 20)

struct http_response {
    long status;               /* 0 when no response arrived */
    struct header_list headers;
    struct buf body;
    int transport_error;       /* 0, or the CURLcode of a failed transfer */
    bool timed_out;
    bool too_large;            /* the body exceeded the request's max_body, or the headers
                                * LOOP_MAX_HEADERS: a failed transfer (status 0,
                                * transport_error set, no body) */
    bool certificate_error;    /* the server's certificate could not be verified */
    bool lost;                 /* timed out as lost (http_request.lost_after_ms) */
    bool unsent;               /* lost before it went out: its new connection never completed,
                                * so the server did not process the request */
    bool refused;              /* a new connection the server dropped at once while the
                                * process kept others open to it: it is at its connection limit
                                * and did not process the request; the loops now keep fewer
                                * connections to it (see loop_origin_acquire) */
    char error[512];           /* what went wrong in transport, for people */
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
 * a message in err (nothing started, done not called, req->slot still the caller's). */
int loop_http(struct loop *l, const struct http_request *req, http_done_fn done, void *arg,
              char *err, size_t errlen);

/* Requests in flight to one origin (scheme://host:port) are bounded, so that the connections
 * a run opens do not grow with the work queued: a sender takes a slot, then sends with it, and
 * the slot is given back when the transfer ends. Connections are kept alive and reused, so an
 * origin never has more connections than slots. The bound adapts to the server: when it drops
 * or refuses a new connection while the process keeps others open to it (on any loop, busy or
 * idle), the process's limit for it falls to those connections; each loop may use what the
 * others do not hold of it, and no more than an equal share while others have senders waiting.
 * The limit climbs back by one after every `limit` requests that went through while their loop
 * used its whole bound, up to max_connections per loop. */

/* The origin of url (created on first use); NULL when url has no scheme://host or memory runs
 * out. It lives as long as the loop. */
struct loop_origin *loop_origin(struct loop *l, const char *url);
/* Calls fn(arg) when a slot of o is the caller's: at once, before returning, when one is free,
 * else from the loop in the order asked, those asked `ahead` before the others. The caller
 * passes it on as req->slot to loop_http(), or gives it back with loop_origin_release().
 * Returns 0, or -1 when memory runs out (fn is not called). */
int loop_origin_acquire(struct loop_origin *o, bool ahead, loop_timer_fn fn, void *arg);
void loop_origin_release(struct loop_origin *o);
/* The origin's current bound, for logs and tests. */
int loop_origin_bound(const struct loop_origin *o);
/* "scheme://host:port", alive as long as the loop. */
const char *loop_origin_name(const struct loop_origin *o);
/* Senders waiting for a slot, all origins of the loop together: a backlog that more work
 * would only lengthen. */
size_t loop_slot_backlog(const struct loop *l);
/* Seconds a request may take, connection included ([aws] request_timeout). */
double loop_request_timeout(const struct loop *l);

/* Closes the connections kept for reuse, when no transfer is in flight (else returns false
 * and closes none). A loop done with its endpoints for a while gives their slots back: a
 * server counts idle connections against its connection limit. TLS sessions are kept, so a
 * later connection resumes one. */
bool loop_close_idle_connections(struct loop *l);
/* Changes max_connections, for the origins already met too (at least 1). */
void loop_set_max_connections(struct loop *l, int n);
/* Connections per origin this loop may use (loop_set_max_connections). */
int loop_max_connections(const struct loop *l);

/* Calls fn(arg) once, after delay_s seconds (monotonic clock). The handle is freed before
 * fn runs: keep it only to cancel the timer before then. NULL when memory runs out. */
struct loop_timer *loop_timer_add(struct loop *l, double delay_s, loop_timer_fn fn, void *arg);
/* The timer's fn is not called (it stays in the queue until due, doing nothing). Only for a
 * timer that has not fired yet. */
void loop_timer_cancel(struct loop_timer *t);

/* Watching a descriptor that is not curl's (a child process's pipe, a pidfd): fn(arg, false)
 * is called from loop_run_once() whenever fd is readable or hung up, until loop_unwatch(); or,
 * when timeout_s seconds pass first, fn(arg, true) once, after which the watch is gone (do not
 * unwatch it then). A watch counts as pending work. NULL when memory runs out or epoll refuses
 * the descriptor (errno says why). The descriptor stays the caller's. */
struct loop_watch;
typedef void (*loop_watch_fn)(void *arg, bool timed_out);
struct loop_watch *loop_watch(struct loop *l, int fd, double timeout_s, loop_watch_fn fn,
                              void *arg);
/* Stops a watch (from its callback too). */
void loop_unwatch(struct loop *l, struct loop_watch *w);

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
