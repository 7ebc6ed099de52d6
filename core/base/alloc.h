/* How the process's memory allocator is set up for a run's threads. The release binary
 * allocates with mimalloc (Makefile: MALLOC), the sanitizer builds with glibc's malloc. */
#ifndef CREDREPORT_ALLOC_H
#define CREDREPORT_ALLOC_H

/* Called once, before the run's `threads` worker threads start. Memory a thread frees should
 * be reusable by the others, or given back to the system, rather than kept by the thread that
 * freed it: the main thread's records grow while the workers' memory falls idle. */
void alloc_tune(int threads);

#endif
