/* The queue between threads: messages in order, closing, and every consumer's loop woken on
 * a push, however many consumers there are (a host with more cores than a fixed list held). */
#include <stdlib.h>

#include "http/loop.h"
#include "lua/mq.h"
#include "unit.h"

static void test_order_and_close(void)
{
    struct mq q;
    CHECK(mq_init(&q) == 0, "init");
    CHECK(mq_length(&q) == 0, "empty at first");
    CHECK(mq_push(&q, "one", 3) == 0 && mq_push(&q, "two", 3) == 0, "push");
    CHECK(mq_length(&q) == 2, "two queued");
    struct mq_msg *m = mq_pop(&q);
    CHECK(m && m->len == 3 && strcmp(m->data, "one") == 0, "first in, first out");
    free(m);
    CHECK(mq_length(&q) == 1, "one left");
    CHECK(!mq_drained(&q), "not drained while a message is left");
    mq_close(&q);
    CHECK(mq_push(&q, "three", 5) == -1, "no push after close");
    m = mq_pop(&q);
    CHECK(m && strcmp(m->data, "two") == 0, "what was queued is still popped");
    free(m);
    CHECK(mq_pop(&q) == NULL && mq_drained(&q), "drained");
    mq_destroy(&q);
}

static void test_pop_only_what_waited(void)
{
    struct mq q;
    CHECK(mq_init(&q) == 0, "init");
    CHECK(mq_push(&q, "one", 3) == 0, "push");
    double pushed = loop_now();
    CHECK(mq_pop_queued_by(&q, pushed - 60) == NULL && mq_length(&q) == 1,
          "a message pushed later than asked stays");
    struct mq_msg *m = mq_pop_queued_by(&q, loop_now());
    CHECK(m && strcmp(m->data, "one") == 0, "one pushed by then is popped");
    free(m);
    CHECK(mq_pop_queued_by(&q, loop_now()) == NULL, "an empty queue gives none");
    mq_destroy(&q);
}

static void test_every_consumer_is_woken(void)
{
    enum { N = 100 };
    struct http_settings hs;
    http_settings_default(&hs);
    struct loop *loops[N];
    char err[128];
    struct mq q;
    CHECK(mq_init(&q) == 0, "init");
    int made = 0;
    for (int i = 0; i < N; i++) {
        loops[i] = loop_new(&hs, err, sizeof err);
        if (loops[i] && mq_subscribe(&q, loops[i]) == 0)
            made++;
    }
    CHECK(made == N, "%d consumers subscribed", made);
    CHECK(mq_push(&q, "x", 1) == 0, "push");
    /* Woken loops return at once; one that was not would wait its whole 3 s. */
    double start = loop_now();
    for (int i = 0; i < made; i++)
        loop_run_once(loops[i], 3000);
    CHECK(loop_now() - start < 10.0, "all %d loops were woken (%.1f s)", made, loop_now() - start);
    for (int i = 0; i < made; i++)
        loop_free(loops[i]);
    mq_destroy(&q);
}

int main(void)
{
    loop_global_init();
    test_order_and_close();
    test_pop_only_what_waited();
    test_every_consumer_is_woken();
    loop_global_cleanup();
    return unit_report("test_mq");
}
