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
    /* A free page goes back to the system 1 ms after it emptied unless reused by then, a
     * free segment at once; mimalloc's defaults, 25 and 500 ms, kept a run's memory resident
     * both in the workers and in the main thread, which it moves to as accounts finish
     * (bench/findings-cpu at 10,000 accounts: 134-141 MiB instead of 110). With no delay,
     * pages that requests' buffers emptied were returned and faulted in again at once: at
     * 10,000 accounts (bench/run-org, nine runs) 3,036-3,420 madvise calls (in a profile, half
     * of them from curl ending a request), each interrupting every other core running the
     * process, and 46,000-50,000 page faults; with 1 ms, 1,204-1,423 and 31,900-35,300. In
     * twelve pairs of runs CPU per account fell in eight, 1.02 against 1.11 ms on average,
     * and peak RSS rose 0.7 MiB on average (56.3-59.5 MiB against 55.2-58.9). Where reports
     * are large (bench/findings-cpu, 10,000 accounts, two pairs) it rose from 107.9-111.0 to
     * 115.6-117.2 MiB. */
    mi_option_set(mi_option_decommit_delay, 1);
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
