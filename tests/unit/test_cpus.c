/* The CPUs a worker count is sized by: a container's quota, cgroup v2 or v1, at the process's
 * cgroup or one above it, rounded up; none, "max" or unreadable files leave the count alone. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/cpus.h"
#include "unit.h"

static char s_root[64];

/* Writes text to s_root/rel, making the folders on the way. */
static void s_put(const char *rel, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", s_root, rel);
    for (char *p = path + strlen(s_root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0700);
            *p = '/';
        }
    }
    FILE *f = fopen(path, "w");
    if (f) {
        fputs(text, f);
        fclose(f);
    }
}

static void s_fresh_root(void)
{
    if (s_root[0]) {
        char cmd[128];
        snprintf(cmd, sizeof cmd, "rm -rf %s", s_root);
        CHECK(system(cmd) == 0, "cleanup");
    }
    snprintf(s_root, sizeof s_root, "/tmp/credreport-cpus.XXXXXX");
    CHECK(mkdtemp(s_root) != NULL, "temp dir");
}

static void test_cgroup_v2(void)
{
    s_fresh_root();
    s_put("proc/self/cgroup", "0::/kubepods/pod1/ctr\n");
    CHECK(cpus_within_quota(16, s_root) == 16, "no cpu.max anywhere: the count stays");
    s_put("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "max 100000\n");
    CHECK(cpus_within_quota(16, s_root) == 16, "max: no quota");
    s_put("sys/fs/cgroup/kubepods/pod1/ctr/cpu.max", "150000 100000\n");
    CHECK(cpus_within_quota(16, s_root) == 2, "1.5 CPUs round up to 2");
    CHECK(cpus_within_quota(1, s_root) == 1, "never more than the count given");
    s_put("sys/fs/cgroup/kubepods/pod1/cpu.max", "50000 100000\n");
    CHECK(cpus_within_quota(16, s_root) == 1, "a tighter quota above the cgroup wins");
    s_fresh_root();
    s_put("proc/self/cgroup", "0::/\n");
    s_put("sys/fs/cgroup/cpu.max", "400000 100000\n");
    CHECK(cpus_within_quota(16, s_root) == 4, "a container's own cgroup seen as the root");
}

static void test_cgroup_v1(void)
{
    s_fresh_root();
    s_put("proc/self/cgroup", "5:memory:/docker/abc\n3:cpu,cpuacct:/docker/abc\n0::/\n");
    s_put("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "-1\n");
    s_put("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_period_us", "100000\n");
    CHECK(cpus_within_quota(8, s_root) == 8, "-1: no quota");
    s_put("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "300000\n");
    CHECK(cpus_within_quota(8, s_root) == 3, "3 CPUs of quota");
    s_put("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "garbage\n");
    CHECK(cpus_within_quota(8, s_root) == 8, "an unreadable quota leaves the count");
    s_put("proc/self/cgroup", "4:cpuacct:/docker/abc\n");
    s_put("sys/fs/cgroup/cpu/docker/abc/cpu.cfs_quota_us", "100000\n");
    CHECK(cpus_within_quota(8, s_root) == 8, "cpuacct alone is not the cpu controller");
}

static void test_this_machine(void)
{
    CHECK(cpus_within_quota(4, "/nonexistent") == 4, "no /proc there: the count stays");
    int n = cpus_usable();
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    CHECK(n >= 1 && n <= (online > 0 ? online : 1), "usable CPUs %d of %ld online", n, online);
}

int main(void)
{
    test_cgroup_v2();
    test_cgroup_v1();
    test_this_machine();
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", s_root);
    CHECK(system(cmd) == 0, "cleanup");
    return unit_report("test_cpus");
}
