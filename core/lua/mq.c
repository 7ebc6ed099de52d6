#include "lua/mq.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "http/loop.h"

int mq_init(struct mq *q)
{
    memset(q, 0, sizeof *q);
    return pthread_mutex_init(&q->mu, NULL) == 0 ? 0 : -1;
}

void mq_destroy(struct mq *q)
{
    struct mq_msg *m = q->head;
    while (m) {
        struct mq_msg *next = m->next;
        free(m);
        m = next;
    }
    free(q->wake);
    pthread_mutex_destroy(&q->mu);
}

int mq_subscribe(struct mq *q, struct loop *l)
{
    if (q->n_wake == q->cap_wake) {
        size_t cap = q->cap_wake ? q->cap_wake * 2 : 8;
        struct loop **w = realloc(q->wake, cap * sizeof *w);
        if (!w)
            return -1;
        q->wake = w;
        q->cap_wake = cap;
    }
    q->wake[q->n_wake++] = l;
    return 0;
}

static void s_wake_all(struct mq *q)
{
    /* The subscriber list is fixed before threads start, so reading it unlocked is safe. */
    for (size_t i = 0; i < q->n_wake; i++)
        loop_wakeup(q->wake[i]);
}

struct mq_msg *mq_msg_new(const char *data, size_t len)
{
    struct mq_msg *m = malloc(sizeof *m + len + 1);
    if (!m)
        return NULL;
    m->next = NULL;
    m->queued_at = loop_now();
    m->len = len;
    memcpy(m->data, data, len);
    m->data[len] = '\0';
    return m;
}

int mq_push(struct mq *q, const char *data, size_t len)
{
    struct mq_msg *m = mq_msg_new(data, len);
    return m ? mq_push_msg(q, m) : -1;
}

int mq_push_msg(struct mq *q, struct mq_msg *m)
{
    pthread_mutex_lock(&q->mu);
    if (q->closed) {
        pthread_mutex_unlock(&q->mu);
        free(m);
        return -1;
    }
    if (q->tail)
        q->tail->next = m;
    else
        q->head = m;
    q->tail = m;
    q->n++;
    pthread_mutex_unlock(&q->mu);
    s_wake_all(q);
    return 0;
}

struct mq_msg *mq_pop_queued_by(struct mq *q, double by)
{
    pthread_mutex_lock(&q->mu);
    struct mq_msg *m = q->head;
    if (m && m->queued_at <= by) {
        q->head = m->next;
        if (!q->head)
            q->tail = NULL;
        q->n--;
    } else {
        m = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    return m;
}

struct mq_msg *mq_pop(struct mq *q)
{
    return mq_pop_queued_by(q, HUGE_VAL);
}

void mq_close(struct mq *q)
{
    pthread_mutex_lock(&q->mu);
    q->closed = true;
    pthread_mutex_unlock(&q->mu);
    s_wake_all(q);
}

size_t mq_length(struct mq *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    pthread_mutex_unlock(&q->mu);
    return n;
}

bool mq_drained(struct mq *q)
{
    pthread_mutex_lock(&q->mu);
    bool d = q->closed && !q->head;
    pthread_mutex_unlock(&q->mu);
    return d;
}
