/* A message queue between threads: strings pushed by one thread, popped by another, with
 * the consumers' loops woken on every push. This is the only place threads meet; what
 * crosses is a copy (JSON text), never a pointer into a Lua state. */
#ifndef CREDREPORT_MQ_H
#define CREDREPORT_MQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct loop;

struct mq_msg {
    struct mq_msg *next;
    double queued_at; /* loop_now() when pushed */
    size_t len;
    char data[]; /* NUL-terminated */
};

struct mq {
    pthread_mutex_t mu;
    struct mq_msg *head, *tail;
    size_t n;
    bool closed;
    struct loop **wake;    /* loops to wake on push and close: one per consumer thread */
    size_t n_wake, cap_wake;
};

int mq_init(struct mq *q);
void mq_destroy(struct mq *q);
/* Registers a consumer's loop (before any thread starts), however many there are. 0, or -1
 * when memory runs out. */
int mq_subscribe(struct mq *q, struct loop *l);
/* A message holding a copy of data, queued_at now (free() it), or NULL when memory runs out. */
struct mq_msg *mq_msg_new(const char *data, size_t len);
/* Copies data; 0, or -1 when memory runs out or the queue is closed. */
int mq_push(struct mq *q, const char *data, size_t len);
/* Queues m, taking it; 0, or -1 when the queue is closed (m is then freed). */
int mq_push_msg(struct mq *q, struct mq_msg *m);
/* The oldest message (free() it), or NULL when there is none now. */
struct mq_msg *mq_pop(struct mq *q);
/* The oldest message if it was pushed at or before `by` (loop_now()'s clock), else NULL. One
 * lock: another consumer cannot take it between the look and the pop. */
struct mq_msg *mq_pop_queued_by(struct mq *q, double by);
/* No more pushes: consumers see it once the queue is empty. */
void mq_close(struct mq *q);
/* Messages queued now. */
size_t mq_length(struct mq *q);
/* True when closed and nothing is left to pop. */
bool mq_drained(struct mq *q);

#endif
