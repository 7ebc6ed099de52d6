/* How many CPUs this process can keep busy, for the default number of worker threads: a
 * count of the machine's cores over-counts in a container with a CPU limit or under taskset. */
#ifndef CREDREPORT_CPUS_H
#define CREDREPORT_CPUS_H

/* The CPUs of the process's affinity mask (taskset, a cpuset), fewer when a CPU quota of its
 * cgroup or of one above it allows less (cgroup v2 cpu.max; v1 cpu.cfs_quota_us over
 * cpu.cfs_period_us), rounded up. At least 1. */
int cpus_usable(void);

/* cpus, or fewer when a quota allows less: the cgroup files are read under root ("/" for this
 * system; a test points it at a tree of its own). */
int cpus_within_quota(int cpus, const char *root);

#endif
