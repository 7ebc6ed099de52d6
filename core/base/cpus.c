#include "base/cpus.h"

#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* The CPUs a quota file allows, rounded up; 0 when it sets none or cannot be read. v2's
 * cpu.max holds "QUOTA PERIOD" or "max PERIOD"; v1 has the two in files of their own. */
static int s_quota_cpus(const char *dir, bool v2)
{
    char path[8500], text[64] = "";
    long long quota = -1, period = 0;
    snprintf(path, sizeof path, "%s/%s", dir, v2 ? "cpu.max" : "cpu.cfs_quota_us");
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    bool got = fgets(text, sizeof text, f) != NULL;
    fclose(f);
    if (!got)
        return 0;
    if (v2) {
        if (sscanf(text, "%lld %lld", &quota, &period) != 2)
            return 0; /* "max": no quota */
    } else {
        snprintf(path, sizeof path, "%s/cpu.cfs_period_us", dir);
        if (sscanf(text, "%lld", &quota) != 1 || !(f = fopen(path, "r")))
            return 0;
        if (fscanf(f, "%lld", &period) != 1)
            period = 0;
        fclose(f);
    }
    if (quota <= 0 || period <= 0)
        return 0;
    return (int)((quota + period - 1) / period);
}

/* The smallest quota of the cgroup at path (under the hierarchy mounted at mount) and of those
 * above it, up to the hierarchy's root (in a container, the container's own cgroup), as
 * CPUs; 0 when none sets one. */
static int s_tightest_quota(const char *mount, const char *path, bool v2)
{
    char dir[8400];
    int tightest = 0;
    size_t len = strlen(path);
    while (len > 0 && path[len - 1] == '/')
        len--;
    for (;;) {
        snprintf(dir, sizeof dir, "%s%.*s", mount, (int)len, path);
        int q = s_quota_cpus(dir, v2);
        if (q > 0 && (tightest == 0 || q < tightest))
            tightest = q;
        if (len == 0)
            return tightest;
        while (len > 0 && path[len - 1] != '/')
            len--;
        while (len > 0 && path[len - 1] == '/')
            len--;
    }
}

int cpus_within_quota(int cpus, const char *root)
{
    char path[4096], line[4096];
    snprintf(path, sizeof path, "%s/proc/self/cgroup", root);
    FILE *f = fopen(path, "r");
    if (!f)
        return cpus;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        /* hierarchy-id:controllers:path; v2 is "0::path", v1 names its controllers */
        char *controllers = strchr(line, ':');
        char *cgroup = controllers ? strchr(controllers + 1, ':') : NULL;
        if (!cgroup || cgroup[1] != '/')
            continue;
        *cgroup++ = '\0';
        *controllers++ = '\0';
        bool v2 = strcmp(line, "0") == 0 && *controllers == '\0';
        bool v1_cpu = false;
        for (char *c = controllers, *end; !v2 && *c; c = *end ? end + 1 : end) {
            end = c + strcspn(c, ",");
            if (end - c == 3 && strncmp(c, "cpu", 3) == 0)
                v1_cpu = true;
        }
        if (!v2 && !v1_cpu)
            continue;
        char mount[4200];
        snprintf(mount, sizeof mount, "%s/sys/fs/cgroup%s", root, v2 ? "" : "/cpu");
        int q = s_tightest_quota(mount, cgroup, v2);
        if (q > 0 && q < cpus)
            cpus = q;
    }
    fclose(f);
    return cpus;
}

int cpus_usable(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        n = CPU_COUNT(&set);
    n = cpus_within_quota(n > 0 ? (int)n : 1, "");
    return n > 0 ? (int)n : 1;
}
