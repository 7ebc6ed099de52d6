#include "http/loop.h"

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"

struct loop_timer {
    double due;
    unsigned long seq;   /* ties fire in the order they were added */
    loop_timer_fn fn;
    void *arg;
};

struct loop_watch {
    struct loop_watch *next;
    int fd;
    double deadline;       /* on the monotonic clock */
    loop_watch_fn fn;
    void *arg;
    bool gone;             /* unwatched: freed once no callback is running */
};

struct slot_waiter {
    struct slot_waiter *next;
    loop_timer_fn fn;
    void *arg;
};

/* An origin as the whole process meets it. A server's connection limit counts every thread's
 * connections, so what one thread learns of it bounds all of them: a loop may use what the
 * others do not hold, and no more than an equal share while others have senders waiting, so
 * no thread holds every connection while another has none. */
struct origin_share {
    struct origin_share *next;
    int loops;             /* loops with this origin; under s_shares_mu */
    atomic_int users;      /* loops with a slot taken or a sender waiting for one */
    atomic_int users_max;  /* the connections those loops may have together (their max summed) */
    atomic_int open;       /* connections open to it, all loops together, idle ones too */
    atomic_int accepted;   /* those of them the server took: one has answered on each */
    atomic_int wanting;    /* loops with senders waiting for a slot */
    atomic_ulong answered; /* transfers whose answer has begun, all loops together */
    atomic_int unanswered; /* transfers in flight with no answer begun, all loops together */
    atomic_int settled;    /* connections open of the loops with none waiting */
    atomic_int limit;      /* 0: no limit seen; else the connections all loops may have */
    atomic_int busy_successes; /* requests that went through while their loop used its whole
                                * bound, since the limit last changed */
    /* The connections the server took at its last refusal (those that had answered, or all
     * but the refused one of the limit then: connections opened with the refused one answer
     * after it), or more it took since; 0 before the first. Raising the limit above them is a
     * probe: a connection more, which a server still at its limit refuses. Each probe refused
     * doubles the wait before the next, up to PROBE_WAIT_MAX, so a server that stays at its
     * limit sees one every PROBE_WAIT_MAX however long the run, and one that takes more again
     * is found within that wait. */
    atomic_int known;
    atomic_int probe_shift;       /* the next probe waits PROBE_WAIT_MIN << probe_shift */
    atomic_llong probe_not_before; /* loop_now() in microseconds */
    char name[];
};

#define PROBE_WAIT_MIN 0.05
#define PROBE_WAIT_MAX 2.0

static pthread_mutex_t s_shares_mu = PTHREAD_MUTEX_INITIALIZER;
static struct origin_share *s_shares;
static void s_share_leave(const struct loop_origin *o);
static int s_bound(const struct loop_origin *o);
static long s_cache_size(const struct loop *l);
static void s_count_connection(struct loop_origin *o, int n);

/* For s_usual_wait, each origin of a loop keeps the waits of its latest S_WAITS answers,
 * those at most S_WAITS_AGE seconds old counting. */
#define S_WAITS 32
#define S_WAITS_AGE 120.0
/* s_end_lost_transfers looks at the requests in flight at least this often (seconds), and
 * this often while some have waited long enough to be lost once later ones are answered. */
#define S_LOST_CHECK_EVERY 1.0
#define S_LOST_RECHECK 0.25
/* A request whose body is at most this long (bytes: curl's upload buffer) leaves in one
 * piece: it has been silent since it was sent. */
#define S_ONE_PIECE 16384
/* s_fit_to_distance: steps to more connections are tried while answers take more than
 * S_FIT_FAR seconds and their rate and wait held within S_FIT_STEADY over two windows of at
 * least S_FIT_ANSWERS answers; kept when the rate rises S_FIT_GAIN times, the wait at most
 * S_FIT_QUEUED times and the requests awaiting answers by S_FIT_CARRIED of the step, and
 * none while the loop's thread used more than S_FIT_CPU of a CPU over the window. One taken
 * back holds the next off S_FIT_HOLD seconds, twice as long after each (up to 16 times). */
#define S_FIT_FAR 0.05
#define S_FIT_GAIN 1.2
#define S_FIT_QUEUED 1.2
#define S_FIT_STEADY 0.1
#define S_FIT_CARRIED 0.5
#define S_FIT_ANSWERS 64
#define S_FIT_HOLD 5.0
#define S_FIT_CPU 0.5

struct loop_origin {
    struct loop_origin *next;
    struct origin_share *share;
    int active;        /* slots taken on this loop */
    bool using;        /* counted in share->users */
    bool wanting;      /* counted in share->wanting; its open not in share->settled */
    int open;          /* counted connections this loop has open to it */
    int max;
    struct {
        double wait, at; /* from the request going out to its answer (s), and when it came */
    } waits[S_WAITS];  /* the latest answers' (s_usual_wait) */
    struct {
        enum { FIT_BEFORE, FIT_SETTLING, FIT_AFTER } state;
        unsigned answers;      /* answers seen */
        double window_start;   /* loop_now() the rate's count began (FIT_SETTLING: will); 0: not */
        unsigned window_answers; /* answers then */
        double rate_before;    /* answers per second before the step being judged */
        double wait_before;    /* the median wait then (s) */
        int from;              /* the bound before it */
        int backs;             /* steps taken back */
        double not_before;     /* no step before then */
        double cpu_start;      /* s_thread_cpu() when the window began */
    } fit;                 /* s_fit_to_distance */
    int next_wait;     /* where the next one goes */
    struct slot_waiter *head, *tail;
    struct slot_waiter *ahead_tail; /* the last waiter asked ahead, NULL when none waits */
    size_t waiting;
    bool dispatching;  /* handing out slots: a nested hand-out leaves it to the outer one */
    char name[];       /* scheme://host:port */
};

struct transfer {
    CURL *easy;
    struct loop *loop;
    struct loop_origin *slot;
    int limit_at_start;   /* the slot's share->limit when the transfer started */
    curl_socket_t opened; /* the counted socket curl last opened for it; CURL_SOCKET_BAD: none */
    double opened_at;     /* loop_now() when curl opened it */
    size_t max_body;
    bool too_many_headers;
    bool answering;       /* its answer has begun */
    long lost_after_ms;   /* the request's lost_after_ms */
    unsigned long answered_ahead; /* the origin's answered count, plus its transfers with no
                                   * answer yet, when it started: answers beyond it are to
                                   * later requests */
    bool origin_known;    /* the origin had answered LOOP_LOST_OVERTAKEN requests when it
                           * started */
    double sent_at;       /* loop_now() when curl was about to send it (s_on_prereq); 0:
                           * not yet */
    double quiet_since;   /* loop_now() of its last sign of progress before any answer; 0:
                           * not yet seen sent */
    curl_off_t uploaded;  /* body bytes sent, as last seen */
    struct curl_slist *headers;
    struct http_file_body file; /* the body, when it comes from a file */
    size_t file_sent;
    struct http_response resp;
    http_done_fn done;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    struct transfer *prev, *next; /* the loop's list of transfers in flight */
};

/* A socket curl opened to an origin with slots, counted in its share's open (and accepted). */
struct counted_socket {
    struct loop_origin *origin; /* NULL: not counted */
    const struct transfer *opener;
    bool accepted;
};

/* The loop waits in epoll for the sockets curl watches (curl_multi_socket_action), so the
 * cost of an iteration follows the sockets that are ready, not the connections open. */
struct loop {
    CURLM *multi;
    CURLSH *share;
    int epfd;
    int wakefd;               /* eventfd: loop_wakeup() from other threads */
    double curl_due;          /* when curl wants its timeout handled; -1: not wanted */
    double lost_check_due;    /* when to look for lost requests next (s_end_lost_transfers) */
    struct http_settings settings;
    char *ca_bundle;
    bool ca_from_env;         /* ca_bundle came from AWS_CA_BUNDLE */
    char *user_agent;
    size_t transfers;
    struct transfer *in_flight;
    struct loop_timer **heap; /* min-heap on (due, seq) */
    size_t n_timers, cap_timers;
    unsigned long seq;
    CURL **idle;              /* easy handles kept for reuse */
    size_t n_idle, cap_idle;
    struct loop_origin *origins;
    long cached_connections;  /* curl's connection cache limit: the origins' bounds together */
    struct counted_socket *sockets; /* by descriptor: the counted ones */
    size_t n_sockets;
    struct loop_watch *watches;
    size_t n_watches;         /* not gone */
    int in_watch_callbacks;   /* >0: gone watches are freed later, not during the walk */
};

double loop_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int loop_global_init(void)
{
    return curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK ? 0 : -1;
}

void loop_global_cleanup(void)
{
    curl_global_cleanup();
}

void http_settings_default(struct http_settings *s)
{
    memset(s, 0, sizeof *s);
    s->connect_timeout_ms = 10000;
    s->total_timeout_ms = 120000;
    s->low_speed_bytes = 1;
    s->low_speed_seconds = 30;
    s->max_connections = 64;
    s->user_agent = "credreport";
}

/* What curl_multi_assign() ties to a socket once it is in the epoll set: curl hands it back as
 * socketp until the socket is removed, so each change costs one epoll_ctl(). */
static char s_in_epoll;

/* curl says which events of a socket it waits for. */
static int s_on_socket(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    struct loop *l = userp;
    if (what == CURL_POLL_REMOVE) {
        epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
        return 0;
    }
    struct epoll_event ev = {.events = 0, .data.fd = fd};
    if (what & CURL_POLL_IN)
        ev.events |= EPOLLIN;
    if (what & CURL_POLL_OUT)
        ev.events |= EPOLLOUT;
    int op = socketp ? EPOLL_CTL_MOD : EPOLL_CTL_ADD;
    if (epoll_ctl(l->epfd, op, fd, &ev) != 0) {
        /* Should curl's view and the set ever differ, the other operation matches the set. */
        int other = op == EPOLL_CTL_MOD ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
        if ((errno != ENOENT && errno != EEXIST) || epoll_ctl(l->epfd, other, fd, &ev) != 0)
            return -1;
    }
    if (!socketp)
        curl_multi_assign(l->multi, fd, &s_in_epoll);
    return 0;
}

static int s_on_curl_timer(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    struct loop *l = userp;
    l->curl_due = timeout_ms < 0 ? -1 : loop_now() + (double)timeout_ms / 1000.0;
    return 0;
}

/* Sockets are counted per origin as curl opens and closes them: a server at its connection
 * limit counts them all, busy or idle, whichever thread keeps them. */
static curl_socket_t s_on_open_socket(void *arg, curlsocktype purpose, struct curl_sockaddr *a)
{
    (void)purpose;
    struct transfer *t = arg;
    curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd == CURL_SOCKET_BAD || !t->slot)
        return fd;
    struct loop *l = t->loop;
    if ((size_t)fd >= l->n_sockets) {
        size_t n = (size_t)fd + 64;
        struct counted_socket *p = realloc(l->sockets, n * sizeof *p);
        if (!p)
            return fd; /* not counted: a refusal then looks like any failure */
        memset(p + l->n_sockets, 0, (n - l->n_sockets) * sizeof *p);
        l->sockets = p;
        l->n_sockets = n;
    }
    l->sockets[fd] = (struct counted_socket){.origin = t->slot, .opener = t};
    s_count_connection(t->slot, 1);
    t->opened = fd;
    t->opened_at = loop_now();
    return fd;
}

/* A transfer answered: the connection it opened, if it did, is one the server took. */
static void s_note_answered(struct loop *l, const struct transfer *t)
{
    if (t->opened == CURL_SOCKET_BAD || (size_t)t->opened >= l->n_sockets)
        return;
    struct counted_socket *c = &l->sockets[t->opened];
    if (c->origin && c->opener == t && !c->accepted) {
        c->accepted = true;
        atomic_fetch_add(&c->origin->share->accepted, 1);
    }
}

static int s_on_close_socket(void *arg, curl_socket_t fd)
{
    struct loop *l = arg;
    if ((size_t)fd < l->n_sockets && l->sockets[fd].origin) {
        struct counted_socket *c = &l->sockets[fd];
        s_count_connection(c->origin, -1);
        if (c->accepted)
            atomic_fetch_sub(&c->origin->share->accepted, 1);
        *c = (struct counted_socket){0};
    }
    return close(fd);
}

/* curl's own bound per host, behind the loop's (s_bound): the most the loop may have. */
static long s_host_connections(const struct http_settings *s)
{
    return s->grow_connections > s->max_connections ? s->grow_connections : s->max_connections;
}

/* The multi handle, and with it the cache of connections kept for reuse. */
static CURLM *s_multi_new(struct loop *l)
{
    CURLM *m = curl_multi_init();
    if (!m)
        return NULL;
    curl_multi_setopt(m, CURLMOPT_SOCKETFUNCTION, s_on_socket);
    curl_multi_setopt(m, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(m, CURLMOPT_TIMERFUNCTION, s_on_curl_timer);
    curl_multi_setopt(m, CURLMOPT_TIMERDATA, l);
    /* Slots keep transfers per origin at or below max_connections, so curl never queues; its
     * own limit is a backstop. Its cache keeps every origin's connections for reuse, up to
     * the origins' bounds together (s_fit_connection_cache). */
    curl_multi_setopt(m, CURLMOPT_MAX_HOST_CONNECTIONS, s_host_connections(&l->settings));
    l->cached_connections = s_cache_size(l);
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, l->cached_connections);
    return m;
}

bool loop_close_idle_connections(struct loop *l)
{
    if (l->transfers > 0)
        return false;
    CURLM *m = s_multi_new(l);
    if (!m)
        return false;
    curl_multi_cleanup(l->multi);
    l->multi = m;
    l->curl_due = -1;
    return true;
}

struct loop *loop_new(const struct http_settings *s, char *err, size_t errlen)
{
    struct loop *l = calloc(1, sizeof *l);
    if (!l)
        goto oom;
    l->epfd = l->wakefd = -1;
    l->curl_due = -1;
    l->settings = *s;
    const char *ca = s->ca_bundle && *s->ca_bundle ? s->ca_bundle : getenv("AWS_CA_BUNDLE");
    l->ca_from_env = !(s->ca_bundle && *s->ca_bundle);
    if (ca && *ca && !(l->ca_bundle = strdup(ca)))
        goto oom;
    if (!(l->user_agent = strdup(s->user_agent ? s->user_agent : "credreport")))
        goto oom;
    l->settings.ca_bundle = l->ca_bundle;
    l->settings.user_agent = l->user_agent;
    if (l->settings.max_connections < 1)
        l->settings.max_connections = 1;
    l->multi = s_multi_new(l);
    l->share = curl_share_init();
    if (!l->multi || !l->share)
        goto oom;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    struct epoll_event wake = {.events = EPOLLIN, .data.fd = l->wakefd};
    if (l->epfd < 0 || l->wakefd < 0 || epoll_ctl(l->epfd, EPOLL_CTL_ADD, l->wakefd, &wake) != 0) {
        snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
        loop_free(l);
        return NULL;
    }
    /* The share lives on one thread with its multi, so it needs no lock callbacks. */
    curl_share_setopt(l->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_DNS);
    curl_share_setopt(l->share, CURLSHOPT_SHARE, CURL_LOCK_DATA_SSL_SESSION);
    return l;
oom:
    snprintf(err, errlen, "out of memory creating the HTTP loop");
    loop_free(l);
    return NULL;
}

/* Frees a header list curl was given, wiping each line first: one carries the session
 * token (X-Amz-Security-Token), and freed memory is still in a core dump. */
static void s_slist_free_secret(struct curl_slist *list)
{
    for (struct curl_slist *i = list; i; i = i->next)
        OPENSSL_cleanse(i->data, strlen(i->data));
    curl_slist_free_all(list);
}

static void s_transfer_free(struct transfer *t)
{
    if (t->slot && !t->answering)
        atomic_fetch_sub(&t->slot->share->unanswered, 1);
    s_slist_free_secret(t->headers);
    headers_free(&t->resp.headers);
    buf_free_secret(&t->resp.body); /* an AssumeRole answer holds a secret key and a token */
    free(t);
}

static void s_release_easy(struct loop *l, CURL *easy)
{
    if (l->n_idle == l->cap_idle) {
        size_t cap = l->cap_idle ? l->cap_idle * 2 : 16;
        CURL **p = realloc(l->idle, cap * sizeof *p);
        if (!p) {
            curl_easy_cleanup(easy);
            return;
        }
        l->idle = p;
        l->cap_idle = cap;
    }
    l->idle[l->n_idle++] = easy;
}

void loop_free(struct loop *l)
{
    if (!l)
        return;
    /* Transfers still running are abandoned without their callbacks. */
    while (l->in_flight) {
        struct transfer *t = l->in_flight;
        l->in_flight = t->next;
        curl_multi_remove_handle(l->multi, t->easy);
        curl_easy_cleanup(t->easy);
        s_transfer_free(t);
    }
    /* Its connections close first: they are counted in their origins' records. */
    if (l->multi)
        curl_multi_cleanup(l->multi);
    while (l->origins) {
        struct loop_origin *o = l->origins;
        l->origins = o->next;
        while (o->head) {
            struct slot_waiter *w = o->head;
            o->head = w->next;
            free(w);
        }
        s_share_leave(o);
        free(o);
    }
    while (l->watches) {
        struct loop_watch *w = l->watches;
        l->watches = w->next;
        free(w);
    }
    for (size_t i = 0; i < l->n_timers; i++)
        free(l->heap[i]);
    free(l->heap);
    for (size_t i = 0; i < l->n_idle; i++)
        curl_easy_cleanup(l->idle[i]);
    free(l->idle);
    free(l->sockets);
    if (l->share)
        curl_share_cleanup(l->share);
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wakefd >= 0)
        close(l->wakefd);
    free(l->ca_bundle);
    free(l->user_agent);
    free(l);
}

/* Bodies are bounded as they arrive (curl checks a Content-Length against
 * CURLOPT_MAXFILESIZE before reading, but with no length announced it reads on). */
static size_t s_on_body(char *p, size_t size, size_t n, void *ud)
{
    struct transfer *t = ud;
    size_t len = size * n;
    if (len > t->max_body - t->resp.body.len) {
        t->resp.too_large = true;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    if (t->resp.body.len == 0) {
        /* Room for the announced length at once, instead of doubling up to it. */
        curl_off_t announced = -1;
        curl_easy_getinfo(t->easy, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &announced);
        if (announced > 0 && (size_t)announced <= t->max_body)
            buf_reserve(&t->resp.body, (size_t)announced);
    }
    return buf_append(&t->resp.body, p, len) == 0 ? len : 0;
}

/* Headers are bounded too (LOOP_MAX_HEADERS): an endless stream of them would otherwise grow
 * without end until the request's time runs out. */
static size_t s_on_header(char *p, size_t size, size_t n, void *ud)
{
    struct transfer *t = ud;
    size_t len = size * n;
    /* A new status line (redirect or 100-continue) starts a fresh header set. */
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        if (!t->answering && t->slot) {
            atomic_fetch_sub(&t->slot->share->unanswered, 1);
            atomic_fetch_add(&t->slot->share->answered, 1);
        }
        t->answering = true;
        headers_free(&t->resp.headers);
        return len;
    }
    if (t->resp.headers.n >= LOOP_MAX_HEADERS) {
        t->too_many_headers = true;
        return 0; /* curl ends the transfer with CURLE_WRITE_ERROR */
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1, *end = p + len;
    while (v < end && (*v == ' ' || *v == '\t'))
        v++;
    while (end > v && (end[-1] == '\r' || end[-1] == '\n' || end[-1] == ' '))
        end--;
    char name[256], value[8192];
    if (nlen >= sizeof name || (size_t)(end - v) >= sizeof value)
        return len; /* nothing we read is that long */
    memcpy(name, p, nlen);
    name[nlen] = '\0';
    memcpy(value, v, (size_t)(end - v));
    value[end - v] = '\0';
    return headers_add(&t->resp.headers, name, value) == 0 ? len : 0;
}

static size_t s_on_read(char *out, size_t size, size_t n, void *arg)
{
    struct transfer *t = arg;
    size_t want = size * n, left = t->file.len - t->file_sent;
    if (want > left)
        want = left;
    if (!want)
        return 0;
    ssize_t got;
    do
        got = pread(t->file.fd, out, want, (off_t)t->file_sent);
    while (got < 0 && errno == EINTR);
    if (got <= 0) /* a file cut short must not end the body early: the length was announced */
        return CURL_READFUNC_ABORT;
    t->file_sent += (size_t)got;
    return (size_t)got;
}

/* curl rewinds the body when it sends the request again on a fresh connection. */
static int s_on_seek(void *arg, curl_off_t offset, int origin)
{
    struct transfer *t = arg;
    if (origin != SEEK_SET || offset < 0 || (size_t)offset > t->file.len)
        return CURL_SEEKFUNC_FAIL;
    t->file_sent = (size_t)offset;
    return CURL_SEEKFUNC_OK;
}

/* The request is about to go out, on a connection made or reused: when its silence starts,
 * for s_end_lost_transfers. */
static int s_on_prereq(void *ud, char *conn_primary_ip, char *conn_local_ip, int conn_primary_port,
                       int conn_local_port)
{
    (void)conn_primary_ip, (void)conn_local_ip, (void)conn_primary_port, (void)conn_local_port;
    struct transfer *t = ud;
    t->sent_at = loop_now();
    return CURL_PREREQFUNC_OK;
}

/* A handle with the options every request shares; loop_http sets the others each time. */
static CURL *s_easy_new(struct loop *l)
{
    CURL *e = curl_easy_init();
    if (!e)
        return NULL;
    const struct http_settings *s = &l->settings;
    /* curl copies each HTTPS request into an upload buffer of this size, allocated per
     * transfer: 16 KiB (its minimum) instead of 64 KiB keeps requests in flight small. */
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, 16384L);
    /* Each pooled handle keeps a receive buffer of this size. AWS's answers are mostly a few
     * KiB, and a larger one (a big credential report) only takes more reads: 4 KiB instead
     * of 16 keeps 1.6 MiB less at 10,000 accounts (heaptrack, the peak's curl share). */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 4096L);
    curl_easy_setopt(e, CURLOPT_USERAGENT, s->user_agent);
    curl_easy_setopt(e, CURLOPT_SHARE, l->share);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, s_on_open_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, s_on_close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, l);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, s_on_read);
    curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, s_on_seek);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, s_on_body);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, s_on_header);
    curl_easy_setopt(e, CURLOPT_PREREQFUNCTION, s_on_prereq);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, s->low_speed_bytes);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, s->low_speed_seconds);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    if (s->ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, s->ca_bundle);
    /* One CA file and no CA directory: curl then loads the store once per loop and keeps it,
     * instead of parsing every certificate again for each connection. */
    curl_easy_setopt(e, CURLOPT_CAPATH, NULL);
    return e;
}

int loop_http(struct loop *l, const struct http_request *req, http_done_fn done, void *arg,
              char *err, size_t errlen)
{
    struct transfer *t = calloc(1, sizeof *t);
    if (!t)
        goto oom;
    t->done = done;
    t->arg = arg;
    t->loop = l;
    t->slot = req->slot;
    if (t->slot) {
        t->limit_at_start = atomic_load(&t->slot->share->limit);
        struct origin_share *share = t->slot->share;
        int ahead = atomic_fetch_add(&share->unanswered, 1);
        unsigned long answered = atomic_load(&share->answered);
        t->answered_ahead = answered + (unsigned long)(ahead > 0 ? ahead : 0);
        t->origin_known = answered >= LOOP_LOST_OVERTAKEN;
    }
    t->lost_after_ms = req->lost_after_ms;
    t->opened = CURL_SOCKET_BAD;
    t->max_body = req->max_body ? req->max_body : HTTP_MAX_BODY_DEFAULT;
    t->easy = l->n_idle ? l->idle[--l->n_idle] : s_easy_new(l);
    if (!t->easy)
        goto oom;
    struct buf line = BUF_INIT;
    for (size_t i = 0; req->headers && i < req->headers->n; i++) {
        const struct header *h = &req->headers->items[i];
        buf_reset(&line);
        /* "Name;" is curl's way to send a header with an empty value. */
        int rc = buf_puts(&line, h->name);
        rc |= *h->value ? buf_puts(&line, ": ") | buf_puts(&line, h->value) : buf_putc(&line, ';');
        struct curl_slist *nl = rc == 0 ? curl_slist_append(t->headers, line.data) : NULL;
        if (!nl) {
            buf_free_secret(&line);
            goto oom;
        }
        t->headers = nl;
    }
    buf_free_secret(&line); /* it held the session token */
    /* curl adds these unless told not to; SigV4 must see exactly what is sent. */
    struct curl_slist *nl = curl_slist_append(t->headers, "Expect:");
    if (!nl || !(t->headers = nl, nl = curl_slist_append(t->headers, "Accept:")))
        goto oom;
    t->headers = nl;

    CURL *e = t->easy;
    const struct http_settings *s = &l->settings;
    /* A handle keeps its options from one request to the next (s_easy_new set those all
     * requests share), so each request sets every other one, the body's last: setting
     * POSTFIELDS, even to NULL, makes the request a POST, and UPLOAD and NOBODY change it. */
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(e, CURLOPT_URL, req->url);
    /* NULL: the proxy of the environment, as curl reads it; "": none. */
    curl_easy_setopt(e, CURLOPT_PROXY, req->direct ? "" : NULL);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, req->method);
    /* A HEAD response's Content-Length is the object's size, not a body that comes. */
    bool head = strcmp(req->method, "HEAD") == 0;
    curl_easy_setopt(e, CURLOPT_NOBODY, head ? 1L : 0L);
    curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, head ? (curl_off_t)0 : (curl_off_t)t->max_body);
    if (req->body_file) {
        t->file = *req->body_file;
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)t->file.len);
    } else if (req->body_len || strcmp(req->method, "POST") == 0 || strcmp(req->method, "PUT") == 0) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, req->body ? req->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers);
    curl_easy_setopt(e, CURLOPT_PRIVATE, t);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t);
    curl_easy_setopt(e, CURLOPT_READDATA, t);
    curl_easy_setopt(e, CURLOPT_SEEKDATA, t);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, t);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, t);
    curl_easy_setopt(e, CURLOPT_PREREQDATA, t);
    long total = req->timeout_ms > 0 ? req->timeout_ms : s->total_timeout_ms;
    long connect = s->connect_timeout_ms < total ? s->connect_timeout_ms : total;
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, connect);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, total);
    if (curl_multi_add_handle(l->multi, e) != CURLM_OK)
        goto oom;
    l->transfers++;
    t->next = l->in_flight;
    if (l->in_flight)
        l->in_flight->prev = t;
    l->in_flight = t;
    return 0;
oom:
    snprintf(err, errlen, "out of memory starting an HTTP request");
    if (t) {
        if (t->easy)
            s_release_easy(l, t->easy);
        s_transfer_free(t);
    }
    return -1;
}

/* ---- origins and their slots ----------------------------------------------------------- */

/* The process's record of the origin named name, joined by one more loop; NULL when memory
 * runs out. */
static struct origin_share *s_share_join(const char *name)
{
    pthread_mutex_lock(&s_shares_mu);
    struct origin_share *s = s_shares;
    while (s && strcasecmp(s->name, name) != 0)
        s = s->next;
    if (!s && (s = calloc(1, sizeof *s + strlen(name) + 1))) {
        strcpy(s->name, name);
        s->next = s_shares;
        s_shares = s;
    }
    if (s)
        s->loops++;
    pthread_mutex_unlock(&s_shares_mu);
    return s;
}

/* A loop leaves the record of its origin o; the last one frees it. */
static void s_share_leave(const struct loop_origin *o)
{
    struct origin_share *s = o->share;
    if (o->using) {
        atomic_fetch_sub(&s->users, 1);
        atomic_fetch_sub(&s->users_max, o->max);
    }
    if (o->wanting)
        atomic_fetch_sub(&s->wanting, 1);
    pthread_mutex_lock(&s_shares_mu);
    if (--s->loops == 0) {
        struct origin_share **p = &s_shares;
        while (*p != s)
            p = &(*p)->next;
        *p = s->next;
        free(s);
    }
    pthread_mutex_unlock(&s_shares_mu);
}

/* The slots this loop may use now: all of max_connections until the server refuses a
 * connection, then what the other loops leave of the limit it showed. While other loops have
 * senders waiting, at most an equal share among the loops that wait (this one counted) of
 * what the loops with none waiting leave, rounded up: one connection more to the limit is
 * one more for whichever loop takes it first, not one for each. Shares that follow demand: a
 * thread that sends now and then (the listing, say) keeps its connection without making the
 * others close theirs each time it sends and open them again after; a thread that needs more
 * takes it from those above their share, not from one that has only a few. */
static int s_bound(const struct loop_origin *o)
{
    const struct origin_share *s = o->share;
    int limit = atomic_load(&s->limit);
    if (limit == 0)
        return o->max;
    int bound = limit - (atomic_load(&s->open) - o->open);
    int wanting = atomic_load(&s->wanting) + !o->wanting;
    if (wanting > 1) {
        int settled = atomic_load(&s->settled) - (o->wanting ? 0 : o->open);
        int share = (limit - settled + wanting - 1) / wanting;
        bound = share < bound ? share : bound;
    }
    return bound < 1 ? 1 : bound > o->max ? o->max : bound;
}

/* Counts the loop among the origin's users while it has slots taken or senders waiting, and
 * among those wanting more while senders wait. */
static void s_note_use(struct loop_origin *o)
{
    bool using = o->active > 0 || o->head;
    if (using != o->using) {
        o->using = using;
        atomic_fetch_add(&o->share->users, using ? 1 : -1);
        atomic_fetch_add(&o->share->users_max, using ? o->max : -o->max);
    }
    bool wanting = o->head != NULL;
    if (wanting != o->wanting) {
        o->wanting = wanting;
        atomic_fetch_add(&o->share->wanting, wanting ? 1 : -1);
        atomic_fetch_add(&o->share->settled, wanting ? -o->open : o->open);
    }
}

/* n connections more (or fewer) of this loop to the origin. */
static void s_count_connection(struct loop_origin *o, int n)
{
    o->open += n;
    atomic_fetch_add(&o->share->open, n);
    if (!o->wanting)
        atomic_fetch_add(&o->share->settled, n);
}

/* The origins' bounds together (max_connections before the first origin). */
static long s_cache_size(const struct loop *l)
{
    long n = 0;
    for (const struct loop_origin *o = l->origins; o; o = o->next)
        n += s_bound(o);
    return n > 0 ? n : l->settings.max_connections;
}

/* curl keeps connections for reuse up to the bounds together: when a bound falls, the
 * connections beyond it close as transfers end, instead of holding the server's slots idle. */
static void s_fit_connection_cache(struct loop *l)
{
    long n = s_cache_size(l);
    if (n != l->cached_connections) {
        l->cached_connections = n;
        curl_multi_setopt(l->multi, CURLMOPT_MAXCONNECTS, n);
    }
}

/* o's connection bound on this loop becomes max (the connection cache is fitted after). */
static void s_set_origin_max(struct loop_origin *o, int max)
{
    if (o->using)
        atomic_fetch_add(&o->share->users_max, max - o->max);
    o->max = max;
}

void loop_set_max_connections(struct loop *l, int n)
{
    l->settings.max_connections = n > 0 ? n : 1;
    for (struct loop_origin *o = l->origins; o; o = o->next)
        s_set_origin_max(o, l->settings.max_connections);
    curl_multi_setopt(l->multi, CURLMOPT_MAX_HOST_CONNECTIONS, s_host_connections(&l->settings));
    s_fit_connection_cache(l);
}

int loop_max_connections(const struct loop *l)
{
    return l->settings.max_connections;
}

struct loop_origin *loop_origin(struct loop *l, const char *url)
{
    const char *host = strstr(url, "://");
    if (!host || host == url)
        return NULL;
    host += 3;
    size_t len = (size_t)(host - url) + strcspn(host, "/?#");
    for (struct loop_origin *o = l->origins; o; o = o->next)
        if (strlen(o->name) == len && strncasecmp(o->name, url, len) == 0)
            return o;
    struct loop_origin *o = calloc(1, sizeof *o + len + 1);
    if (!o)
        return NULL;
    memcpy(o->name, url, len);
    o->name[len] = '\0';
    if (!(o->share = s_share_join(o->name))) {
        free(o);
        return NULL;
    }
    o->max = l->settings.max_connections;
    o->next = l->origins;
    l->origins = o;
    s_fit_connection_cache(l);
    struct log_field f[] = {LOG_STR("endpoint", o->name), LOG_NUM("connections", o->max)};
    log_event(LOG_DEBUG, "endpoint", f, 2);
    return o;
}

int loop_origin_bound(const struct loop_origin *o)
{
    return s_bound(o);
}

const char *loop_origin_name(const struct loop_origin *o)
{
    return o->name;
}

double loop_request_timeout(const struct loop *l)
{
    return (double)l->settings.total_timeout_ms / 1000.0;
}

size_t loop_slot_backlog(const struct loop *l)
{
    size_t n = 0;
    for (const struct loop_origin *o = l->origins; o; o = o->next)
        n += o->waiting;
    return n;
}

static void s_take(struct loop_origin *o)
{
    o->active++;
    s_note_use(o);
}

/* Hands free slots to waiters, oldest first. */
static void s_dispatch(struct loop_origin *o)
{
    if (o->dispatching)
        return;
    o->dispatching = true;
    while (o->head && o->active < s_bound(o)) {
        struct slot_waiter *w = o->head;
        o->head = w->next;
        if (!o->head)
            o->tail = NULL;
        if (o->ahead_tail == w)
            o->ahead_tail = NULL;
        o->waiting--;
        s_take(o);
        loop_timer_fn fn = w->fn;
        void *arg = w->arg;
        free(w);
        fn(arg);
    }
    o->dispatching = false;
}

int loop_origin_acquire(struct loop_origin *o, bool ahead, loop_timer_fn fn, void *arg)
{
    if (!o->head && o->active < s_bound(o)) {
        s_take(o);
        fn(arg);
        return 0;
    }
    struct slot_waiter *w = malloc(sizeof *w);
    if (!w)
        return -1;
    w->fn = fn;
    w->arg = arg;
    struct slot_waiter **link = !ahead ? (o->tail ? &o->tail->next : &o->head)
                                       : (o->ahead_tail ? &o->ahead_tail->next : &o->head);
    w->next = *link;
    *link = w;
    if (!w->next)
        o->tail = w;
    if (ahead)
        o->ahead_tail = w;
    o->waiting++;
    s_note_use(o);
    s_dispatch(o);
    return 0;
}

void loop_origin_release(struct loop_origin *o)
{
    o->active--;
    s_dispatch(o);
    s_note_use(o);
}

/* A new connection that failed at once: the server is at its connection limit. One whose TLS
 * handshake went through was taken, and failed later like any other (a reset, say). */
static bool s_refused(CURL *e, CURLcode rc)
{
    long connects = 0;
    curl_off_t handshake_done = 0;
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
        return true;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
        curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &connects);
        curl_easy_getinfo(e, CURLINFO_APPCONNECT_TIME_T, &handshake_done);
        return connects > 0 && handshake_done == 0;
    default:
        return false;
    }
}

/* Whether the wait after the last refusal is over at now. */
static bool s_probe_may_go(const struct origin_share *s, double now)
{
    return now * 1e6 >= (double)atomic_load(&s->probe_not_before);
}

/* Adapts the limit to how the transfer that held a slot ended, and frees the slot (the
 * waiters are served after the transfer's callback). True when the server refused the
 * connection while the process had others open to it. limit_at_start: the limit when the
 * transfer started. */
static bool s_origin_transfer_ended(struct loop_origin *o, bool ok, bool refused, int limit_at_start)
{
    struct origin_share *s = o->share;
    bool busy = o->active >= s_bound(o);
    o->active--;
    int limit = atomic_load(&s->limit);
    int known = atomic_load(&s->known);
    int open = refused ? atomic_load(&s->open) : 0;
    if (open > 0) {
        double now = loop_now();
        /* Before any connection has answered, those still open are the best guess: the
         * others refused with this one close as their refusals come in. */
        int taken = atomic_load(&s->accepted);
        if (taken == 0)
            taken = limit != 0 && limit < open ? limit : open;
        atomic_store(&s->limit, taken);
        atomic_store(&s->known, limit_at_start - 1 > taken ? limit_at_start - 1 : taken);
        double wait = PROBE_WAIT_MIN;
        /* A probe refused (its first refusal: the others opened with it add nothing) waits
         * twice as long for the next. */
        if (limit_at_start > known && s_probe_may_go(s, now)) {
            int shift = atomic_load(&s->probe_shift);
            wait = PROBE_WAIT_MIN * (double)(1 << shift);
            if (wait < PROBE_WAIT_MAX)
                atomic_store(&s->probe_shift, shift + 1);
            else
                wait = PROBE_WAIT_MAX;
        }
        atomic_store(&s->probe_not_before, (long long)((now + wait) * 1e6));
        atomic_store(&s->busy_successes, 0);
        struct log_field f[] = {LOG_STR("endpoint", o->name), LOG_NUM("connections", taken),
                                LOG_NUM("threads", atomic_load(&s->users))};
        log_event(LOG_DEBUG, "the endpoint refused a connection: fewer at once", f, 3);
        return true;
    }
    if (ok && busy && limit != 0 && limit < atomic_load(&s->users_max) &&
        atomic_fetch_add(&s->busy_successes, 1) + 1 >= limit &&
        (limit < known || s_probe_may_go(s, loop_now()))) {
        /* Back up to what the server took needs no wait; a probe above it does. */
        atomic_store(&s->busy_successes, 0);
        /* The server took more than it had since the last refusal: probes need not wait. */
        int taken = atomic_load(&s->accepted);
        if (taken > known && atomic_compare_exchange_strong(&s->known, &known, taken))
            atomic_store(&s->probe_shift, 0);
        atomic_compare_exchange_strong(&s->limit, &limit, limit + 1);
    }
    return false;
}

static int s_timer_less(const struct loop_timer *a, const struct loop_timer *b)
{
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

struct loop_timer *loop_timer_add(struct loop *l, double delay_s, loop_timer_fn fn, void *arg)
{
    if (l->n_timers == l->cap_timers) {
        size_t cap = l->cap_timers ? l->cap_timers * 2 : 64;
        struct loop_timer **p = realloc(l->heap, cap * sizeof *p);
        if (!p)
            return NULL;
        l->heap = p;
        l->cap_timers = cap;
    }
    struct loop_timer *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    t->due = loop_now() + (delay_s > 0 ? delay_s : 0);
    t->seq = l->seq++;
    t->fn = fn;
    t->arg = arg;
    size_t i = l->n_timers++;
    while (i > 0 && s_timer_less(t, l->heap[(i - 1) / 2])) {
        l->heap[i] = l->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    l->heap[i] = t;
    return t;
}

void loop_timer_cancel(struct loop_timer *t)
{
    t->fn = NULL;
}

static struct loop_timer *s_timer_pop(struct loop *l)
{
    struct loop_timer *top = l->heap[0];
    struct loop_timer *last = l->heap[--l->n_timers];
    size_t i = 0, n = l->n_timers;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && s_timer_less(l->heap[c + 1], l->heap[c]))
            c++;
        if (!s_timer_less(l->heap[c], last))
            break;
        l->heap[i] = l->heap[c];
        i = c;
    }
    if (n)
        l->heap[i] = last;
    return top;
}

/* A certificate that does not verify: say which CA store was used, and how to change it. */
static void s_explain_ca(const struct loop *l, char *error, size_t cap)
{
    const char *store, *from;
    if (l->ca_bundle) {
        store = l->ca_bundle;
        from = l->ca_from_env ? "AWS_CA_BUNDLE" : "[aws] ca_bundle";
    } else {
        const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
        store = v && v->cainfo ? v->cainfo : "the system's default";
        from = "the system store";
    }
    size_t len = strlen(error);
    snprintf(error + len, cap - len, " (CA certificates from %s, %s; to trust another CA, set "
             "AWS_CA_BUNDLE or [aws] ca_bundle to its PEM file)", from, store);
}

/* The wait for an answer from o lately that a share `longer` of the latest S_WAITS answers (at
 * most S_WAITS_AGE old) took longer than, in seconds; 0 when there are none. */
static double s_recent_wait(const struct loop_origin *o, double now, double longer)
{
    double waits[S_WAITS];
    int n = 0;
    for (int i = 0; i < S_WAITS; i++) {
        if (o->waits[i].at <= 0 || now - o->waits[i].at > S_WAITS_AGE)
            continue;
        int j = n++; /* sorted, longest first */
        for (; j > 0 && waits[j - 1] < o->waits[i].wait; j--)
            waits[j] = waits[j - 1];
        waits[j] = o->waits[i].wait;
    }
    int i = (int)(longer * n);
    return n ? waits[i < n ? i : n - 1] : 0;
}

/* The longest wait for an answer from o lately, the slowest 1 in 8 left out: one answer in a
 * hundred that takes seconds is an outlier, better sent again than waited for; most answers
 * taking seconds are a slow endpoint. */
static double s_usual_wait(const struct loop_origin *o, double now)
{
    return s_recent_wait(o, now, 1.0 / 8);
}

/* Seconds of CPU the calling thread has used. */
static double s_thread_cpu(void)
{
    struct timespec ts;
    if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
        return 0;
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* s_fit_to_distance's window of answers opens: those counted from now, over the time from
 * start (now, or when the answers to a step's requests begin), with this thread's CPU. */
static void s_fit_open_window(struct loop_origin *o, double start)
{
    o->fit.window_start = start;
    o->fit.window_answers = o->fit.answers;
    o->fit.cpu_start = s_thread_cpu();
}

/* What the last windows showed no longer stands: the next two must agree again. */
static void s_fit_forget(struct loop_origin *o)
{
    o->fit.window_start = 0;
    o->fit.rate_before = 0;
}

/* How far an endpoint is decides how many connections carry a rate of requests: at 150 ms an
 * answer, 128 connections carry 850 requests/s; at 20 ms, 6,400. While senders wait for a
 * connection, every one is busy, answers take more than S_FIT_FAR and their rate and wait
 * have held steady, the loop tries half as many connections more, up to grow_connections.
 * Where the endpoint is far, not busy, the answers to the requests sent since come faster
 * (S_FIT_GAIN times or more) and take about as long as before (at most S_FIT_QUEUED times),
 * and the new connections carry requests: more of them await answers (the rate times the
 * wait), by at least S_FIT_CARRIED of the step. Then the step is kept, and the next one
 * tried. A rate that rose while no more requests were out came from an endpoint that sped up
 * (a lighter mix of calls, a local server given back its CPU), not from the step: at 10,000
 * accounts on 2 CPUs such steps were kept (the rate 1.6 times, the requests out 0.95 times),
 * and runs went up to 451 connections. A busy server only queues what more connections
 * bring (the wait grows, the rate does not), and fewer senders than connections send no
 * faster: the loop goes back, and tries again only after a wait, doubled with each step it
 * took back. Nor does a thread that is itself busy (half a CPU or more) get more done with
 * more connections: on a small machine shared with a busy local endpoint, steps taken by
 * chance opened 673 connections for 10,000 accounts. Rates and waits are counted over
 * windows of at least S_FIT_ANSWERS answers and the median wait. A server that limits
 * connections is not asked for more. Called as a transfer ends, which then fits the
 * connection cache to the bound. */
static void s_fit_to_distance(struct loop *l, struct loop_origin *o, double now)
{
    int ceiling = l->settings.grow_connections;
    if (ceiling <= l->settings.max_connections)
        return;
    o->fit.answers++;
    bool busy = o->head && o->active >= o->max;
    if (o->fit.state == FIT_SETTLING) {
        if (now < o->fit.window_start)
            return;
        o->fit.state = FIT_AFTER;
        s_fit_open_window(o, o->fit.window_start);
        return;
    }
    if (o->fit.state == FIT_BEFORE && !busy) {
        s_fit_forget(o); /* the rate of a loop that does not use its bound says nothing */
        return;
    }
    if (o->fit.window_start == 0) {
        s_fit_open_window(o, now);
        return;
    }
    unsigned answers = o->fit.answers - o->fit.window_answers;
    if (answers < S_FIT_ANSWERS || answers % 8)
        return;
    double span = now - o->fit.window_start, median = s_recent_wait(o, now, 0.5);
    if (span < median)
        return;
    double rate = answers / span, cpu = (s_thread_cpu() - o->fit.cpu_start) / span;
    int max = o->max;
    /* A step is tried from a steady rate and wait (two windows in a row within S_FIT_STEADY
     * of each other), or right after one was kept: while the endpoint warms up or the demand
     * ramps up, any step would look like a gain. */
    bool steady = o->fit.rate_before > 0 && fabs(rate / o->fit.rate_before - 1) <= S_FIT_STEADY &&
                  fabs(median / o->fit.wait_before - 1) <= S_FIT_STEADY;
    if (o->fit.state == FIT_AFTER) {
        double out_ratio = rate * median / (o->fit.rate_before * o->fit.wait_before); /* requests out */
        bool kept = rate >= S_FIT_GAIN * o->fit.rate_before && median <= S_FIT_QUEUED * o->fit.wait_before &&
                    out_ratio >= 1 + S_FIT_CARRIED * ((double)max / o->fit.from - 1);
        struct log_field f[] = {LOG_STR("endpoint", o->name), LOG_NUM("connections", kept ? max : o->fit.from),
                                LOG_NUM("answers_per_s", (long)rate),
                                LOG_NUM("before_per_s", (long)o->fit.rate_before),
                                LOG_NUM("median_wait_ms", (long)(median * 1000)),
                                LOG_NUM("before_ms", (long)(o->fit.wait_before * 1000)),
                                LOG_NUM("thread_cpu_percent", (long)(cpu * 100))};
        log_event(LOG_DEBUG, kept ? "more connections to a distant endpoint"
                                  : "more connections did not answer faster: back to fewer", f, 7);
        o->fit.state = FIT_BEFORE;
        if (!kept) {
            s_set_origin_max(o, o->fit.from);
            o->fit.not_before = now + S_FIT_HOLD * (double)(1 << (o->fit.backs < 4 ? o->fit.backs : 4));
            o->fit.backs++;
            s_fit_forget(o);
            return;
        }
        steady = true;
    }
    o->fit.rate_before = rate;
    o->fit.wait_before = median;
    o->fit.window_start = 0;
    if (steady && busy && max < ceiling && median > S_FIT_FAR && cpu < S_FIT_CPU &&
        now >= o->fit.not_before && atomic_load(&o->share->limit) == 0) {
        o->fit.from = max;
        s_set_origin_max(o, max + max / 2 < ceiling ? max + max / 2 : ceiling);
        o->fit.state = FIT_SETTLING;
        o->fit.window_start = now + median; /* the requests sent from now are being answered */
    }
}

/* An answer began: the wait from the request going out to it, for s_usual_wait. */
static void s_note_wait(struct loop_origin *o, CURL *e)
{
    curl_off_t sent = 0, first = 0;
    curl_easy_getinfo(e, CURLINFO_PRETRANSFER_TIME_T, &sent);
    curl_easy_getinfo(e, CURLINFO_STARTTRANSFER_TIME_T, &first);
    o->waits[o->next_wait].wait = (double)(first - sent) / 1e6;
    o->waits[o->next_wait].at = loop_now();
    o->next_wait = (o->next_wait + 1) % S_WAITS;
}

/* Ends transfer t with curl's result rc: its slot and easy handle go back, then its callback
 * runs and it is freed. */
static void s_transfer_end(struct loop *l, struct transfer *t, CURLcode rc)
{
    CURL *e = t->easy;
    curl_multi_remove_handle(l->multi, e);
    l->transfers--;
    if (t->prev)
        t->prev->next = t->next;
    else
        l->in_flight = t->next;
    if (t->next)
        t->next->prev = t->prev;
    if (t->slot) {
        if (rc == CURLE_OK)
            s_note_answered(l, t);
        if (t->answering) {
            s_note_wait(t->slot, e);
            s_fit_to_distance(l, t->slot, loop_now());
        }
        t->resp.refused = s_origin_transfer_ended(t->slot, rc == CURLE_OK, s_refused(e, rc),
                                                  t->limit_at_start);
        s_fit_connection_cache(l);
    }
    if (rc == CURLE_FILESIZE_EXCEEDED ||
        (rc == CURLE_WRITE_ERROR && (t->resp.too_large || t->too_many_headers))) {
        /* A failed transfer (status 0), not a response cut short that reads as whole. */
        t->resp.too_large = true;
        t->resp.status = 0;
        t->resp.transport_error = (int)rc;
        buf_free_secret(&t->resp.body);
        if (t->too_many_headers)
            snprintf(t->resp.error, sizeof t->resp.error,
                     "the response has more than %d headers", LOOP_MAX_HEADERS);
        else
            snprintf(t->resp.error, sizeof t->resp.error,
                     "the response body is larger than %zu bytes, the limit for this "
                     "request", t->max_body);
    } else if (rc == CURLE_OK) {
        curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &t->resp.status);
    } else {
        t->resp.status = 0;
        t->resp.transport_error = (int)rc;
        t->resp.timed_out = rc == CURLE_OPERATION_TIMEDOUT;
        snprintf(t->resp.error, sizeof t->resp.error, "%s", t->errbuf[0] ? t->errbuf : curl_easy_strerror(rc));
        if (rc == CURLE_PEER_FAILED_VERIFICATION || rc == CURLE_SSL_CACERT_BADFILE) {
            t->resp.certificate_error = true;
            s_explain_ca(l, t->resp.error, sizeof t->resp.error);
        }
    }
    s_release_easy(l, e);
    t->done(t->arg, &t->resp);
    if (t->slot) {
        s_dispatch(t->slot);
        s_note_use(t->slot);
    }
    s_transfer_free(t);
}

/* A request a server lost (its process died holding it, or the network dropped it on a
 * connection that stays open) would hold its connection until the stall limit, and at
 * thousands of accounts enough of them would hold every connection. One that had no answer
 * its lost_after_ms after it went out, while LOOP_LOST_OVERTAKEN requests sent after it to the
 * same origin (by any thread) were answered, ends as timed out, to be sent again: a server
 * slow for every request is waited for. With fewer answered after it, LOOP_LOST_ALONE times
 * as long, unless few others are in flight (the last requests of a run, a call alone) on an
 * origin known to answer. And never before LOOP_LOST_SLOWEST times the longest wait the
 * origin's answers took lately, outliers aside: an endpoint whose answers take seconds, some
 * more than others, is slow, not losing requests. Returns when to look again: when the
 * first request could be taken as lost, and at least every S_LOST_CHECK_EVERY seconds. */
static double s_end_lost_transfers(struct loop *l, double now)
{
    double next = now + S_LOST_CHECK_EVERY;
    for (struct transfer *t = l->in_flight, *nt; t; t = nt) {
        nt = t->next;
        if (!t->lost_after_ms || t->answering || !t->slot)
            continue;
        long sent = 0;
        curl_off_t uploaded = 0;
        curl_easy_getinfo(t->easy, CURLINFO_REQUEST_SIZE, &sent);
        curl_easy_getinfo(t->easy, CURLINFO_SIZE_UPLOAD_T, &uploaded);
        /* Not sent yet: waiting for a connection (the connect timeout's part), or making its
         * own. A handshake the server never completes is lost the same way, counted from
         * when the connection was opened, instead of holding the call for the connect
         * timeout while the endpoint takes other connections and answers on them. */
        bool connecting = sent == 0;
        if (connecting && t->opened == CURL_SOCKET_BAD)
            continue;
        if (!connecting && (t->quiet_since == 0 || uploaded != t->uploaded)) {
            /* Seen sent for the first time, or its body still going out. A request that left
             * in one piece has been silent since it was sent, however long ago this loop
             * last looked; a longer body, since it was last seen moving. */
            bool one_piece = t->quiet_since == 0 && uploaded <= S_ONE_PIECE && t->sent_at > 0;
            t->uploaded = uploaded;
            t->quiet_since = one_piece ? t->sent_at : now;
            if (!one_piece)
                continue;
        }
        double since = connecting ? t->opened_at : t->quiet_since;
        double quiet = now - since, after = (double)t->lost_after_ms / 1000;
        if (quiet < after) {
            if (since + after < next)
                next = since + after;
            continue;
        }
        unsigned long answered = atomic_load(&t->slot->share->answered);
        unsigned long later = answered > t->answered_ahead ? answered - t->answered_ahead : 0;
        double usual = LOOP_LOST_SLOWEST * s_usual_wait(t->slot, now);
        if (usual > after)
            after = usual;
        /* Others in flight and unanswered too are a server that paused, not one that lost a
         * request; and an origin not yet seen answering may be slow for every request. */
        bool compared = later >= LOOP_LOST_OVERTAKEN ||
                        (t->origin_known &&
                         atomic_load(&t->slot->share->unanswered) <= LOOP_LOST_OVERTAKEN);
        if (quiet < after || (!compared && quiet < LOOP_LOST_ALONE * after)) {
            /* Answers to later requests may show it lost any moment now. */
            if (now + S_LOST_RECHECK < next)
                next = now + S_LOST_RECHECK;
            continue;
        }
        char others[64] = "";
        if (later)
            snprintf(others, sizeof others, ", while %lu sent after it were answered", later);
        snprintf(t->errbuf, sizeof t->errbuf, "%s %.0f s after %s%s: taken as lost",
                 connecting ? "no connection" : "no answer", quiet,
                 connecting ? "it was opened" : "the request was sent", others);
        t->resp.lost = true;
        t->resp.unsent = connecting;
        s_transfer_end(l, t, CURLE_OPERATION_TIMEDOUT);
    }
    return next;
}

static void s_finish_transfers(struct loop *l)
{
    CURLMsg *m;
    int left;
    while ((m = curl_multi_info_read(l->multi, &left))) {
        if (m->msg != CURLMSG_DONE)
            continue;
        struct transfer *t = NULL;
        CURLcode rc = m->data.result;
        curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, (char **)&t);
        s_transfer_end(l, t, rc);
    }
}

size_t loop_pending(const struct loop *l)
{
    return l->transfers + l->n_timers + l->n_watches;
}

/* ---- descriptors ------------------------------------------------------------------------ */

struct loop_watch *loop_watch(struct loop *l, int fd, double timeout_s, loop_watch_fn fn,
                              void *arg)
{
    struct loop_watch *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = fd;
    w->deadline = loop_now() + (timeout_s > 0 ? timeout_s : 0);
    w->fn = fn;
    w->arg = arg;
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = fd};
    if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
        int e = errno;
        free(w);
        errno = e;
        return NULL;
    }
    w->next = l->watches;
    l->watches = w;
    l->n_watches++;
    return w;
}

void loop_unwatch(struct loop *l, struct loop_watch *w)
{
    if (w->gone)
        return;
    epoll_ctl(l->epfd, EPOLL_CTL_DEL, w->fd, NULL);
    w->gone = true;
    l->n_watches--;
}

/* Frees the watches that are gone, unless a callback walk is under way. */
static void s_watches_sweep(struct loop *l)
{
    if (l->in_watch_callbacks)
        return;
    for (struct loop_watch **p = &l->watches; *p;) {
        struct loop_watch *w = *p;
        if (w->gone) {
            *p = w->next;
            free(w);
        } else {
            p = &w->next;
        }
    }
}

/* Runs the callback of the watch on fd, if one is; false when fd is not watched (curl's). */
static bool s_watch_event(struct loop *l, int fd)
{
    for (struct loop_watch *w = l->watches; w; w = w->next) {
        if (w->fd == fd && !w->gone) {
            l->in_watch_callbacks++;
            w->fn(w->arg, false);
            l->in_watch_callbacks--;
            return true;
        }
    }
    return false;
}

/* Ends the watches whose time is up, with fn(arg, true). */
static void s_watches_expire(struct loop *l, double now)
{
    l->in_watch_callbacks++;
    for (struct loop_watch *w = l->watches; w; w = w->next) {
        if (!w->gone && w->deadline <= now) {
            loop_unwatch(l, w);
            w->fn(w->arg, true);
        }
    }
    l->in_watch_callbacks--;
}

static double s_watches_due(const struct loop *l)
{
    double due = -1;
    for (const struct loop_watch *w = l->watches; w; w = w->next)
        if (!w->gone && (due < 0 || w->deadline < due))
            due = w->deadline;
    return due;
}

size_t loop_run_once(struct loop *l, int max_wait_ms)
{
    double now = loop_now();
    double due = l->n_timers ? l->heap[0]->due : -1;
    if (l->curl_due >= 0 && (due < 0 || l->curl_due < due))
        due = l->curl_due;
    if (l->transfers && (due < 0 || l->lost_check_due < due))
        due = l->lost_check_due;
    double watch_due = l->n_watches ? s_watches_due(l) : -1;
    if (watch_due >= 0 && (due < 0 || watch_due < due))
        due = watch_due;
    int wait = max_wait_ms;
    if (due >= 0) {
        double ms = (due - now) * 1000.0;
        if (ms < wait)
            wait = ms <= 0 ? 0 : (int)ms + 1;
    }
    struct epoll_event events[64];
    int n = epoll_wait(l->epfd, events, 64, wait);
    int running = 0;
    for (int i = 0; i < n; i++) {
        int fd = events[i].data.fd;
        if (fd == l->wakefd) {
            uint64_t count;
            while (read(l->wakefd, &count, sizeof count) == sizeof count) {
            }
            continue;
        }
        if (l->n_watches && s_watch_event(l, fd))
            continue;
        int flags = 0;
        if (events[i].events & EPOLLIN)
            flags |= CURL_CSELECT_IN;
        if (events[i].events & EPOLLOUT)
            flags |= CURL_CSELECT_OUT;
        if (events[i].events & (EPOLLERR | EPOLLHUP))
            flags |= CURL_CSELECT_ERR;
        curl_multi_socket_action(l->multi, fd, flags, &running);
    }
    if (l->curl_due >= 0 && loop_now() >= l->curl_due) {
        /* curl reports its timer only when it changes: if our clock ran ahead of curl's and
         * nothing was due for it yet, it says nothing, and the timer must be kept. */
        double expired = l->curl_due;
        l->curl_due = -2;
        curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
        if (l->curl_due == -2)
            l->curl_due = expired + 0.001;
    }
    s_finish_transfers(l);
    now = loop_now();
    if (l->transfers && now >= l->lost_check_due)
        l->lost_check_due = s_end_lost_transfers(l, now);
    if (l->n_watches)
        s_watches_expire(l, now);
    s_watches_sweep(l);
    while (l->n_timers && l->heap[0]->due <= now) {
        struct loop_timer *t = s_timer_pop(l);
        loop_timer_fn fn = t->fn;
        void *arg = t->arg;
        free(t);
        if (fn)
            fn(arg);
    }
    return loop_pending(l);
}

void loop_wakeup(struct loop *l)
{
    uint64_t one = 1;
    /* A full counter still wakes the loop: nothing to do then. */
    if (write(l->wakefd, &one, sizeof one) < 0) {
    }
}
