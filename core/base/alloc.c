#include "base/alloc.h"

#ifdef CREDREPORT_MIMALLOC
#include <mimalloc.h>
#else
#include <malloc.h>
#endif

void alloc_tune(int threads)
{
#ifdef CREDREPORT_MIMALLOC
    (void)threads;
    /* Free pages and segments go back to the system at once instead of after 25 and 500 ms.
     * A run's memory moves from the workers to the main thread as accounts finish, and the
     * delay kept it resident in both: bench/findings-cpu at 10,000 accounts peaked at 110
     * MiB instead of 134-141, for no measurable CPU. */
    mi_option_set(mi_option_decommit_delay, 0);
    mi_option_set(mi_option_segment_decommit_delay, 0);
#elif defined(M_ARENA_MAX)
    /* glibc gives each thread a malloc arena of its own, which keeps what that thread freed.
     * One arena fewer than threads lets them reuse each other's (10,000 accounts on 2 cores:
     * peak RSS 84 -> 73 MiB, for 4% more CPU). */
    mallopt(M_ARENA_MAX, threads);
#else
    (void)threads;
#endif
}
