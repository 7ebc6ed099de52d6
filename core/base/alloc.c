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
     * pages that requests' buffers emptied were returned and faulted in again at once, each
     * madvise interrupting every other core running the process (in a profile, half of them
     * from curl ending a request). At 10,000 accounts (bench/run-org, five pairs of runs):
     * 3,052-3,230 madvise calls and 46,800-49,100 page faults, with 1 ms 1,893-2,128 and
     * 36,200-40,400; CPU per account lower in four pairs (1.19 against 1.30 ms on average),
     * peak RSS 56.5-59.2 MiB against 57.5-59.9. The 1 ms is not extended by later frees in
     * the page's segment (mimalloc's default): a busy thread then kept its free pages, and
     * at 30,000 accounts peaked at 92.7 and 96.0 MiB, 87.5 and 89.3 without the extension,
     * 88.0-88.6 with no delay. Where reports are large (bench/findings-cpu, 10,000 accounts)
     * peak RSS rose from 110.5 to 115.6 MiB. At 1,000 accounts, where a worker is often idle,
     * CPU per account was higher in five pairs of eight (1.64 against 1.56 ms on average)
     * for fewer madvise calls (516-741 against 725-775) and fewer interrupts sent (363 and
     * 523 against 570 and 579, two pairs): not settled within this machine's noise. */
    mi_option_set(mi_option_decommit_delay, 1);
    mi_option_set(mi_option_decommit_extend_delay, 0);
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
