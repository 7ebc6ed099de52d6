#include "failing_alloc.h"

#include <sanitizer/common_interface_defs.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);

/* Counted from any thread: a run's workers allocate too. */
static atomic_long s_fail_at; /* 0: none */
static atomic_long s_count;
static atomic_bool s_failed;

void failing_alloc_arm(long n)
{
    atomic_store(&s_fail_at, 0);
    atomic_store(&s_count, 0);
    atomic_store(&s_failed, false);
    atomic_store(&s_fail_at, n);
}

bool failing_alloc_failed(void)
{
    return atomic_load(&s_failed);
}

__attribute__((constructor)) static void s_arm_from_env(void)
{
    const char *n = getenv("OOM_FAIL_AT");
    if (n && *n)
        failing_alloc_arm(atol(n));
}

/* lua-cjson ends the process ("Out of memory", status 255) when its buffers cannot grow: a
 * choice of the library, so its allocations never fail here (the next one does instead). */
static bool s_from_cjson(void *pc)
{
    char fn[128] = "";
    __sanitizer_symbolize_pc(pc, "%f", fn, sizeof fn);
    return strncmp(fn, "strbuf_", 7) == 0 || strncmp(fn, "json_", 5) == 0 ||
           strncmp(fn, "fpconv_", 7) == 0 || strstr(fn, "cjson") != NULL;
}

static bool s_fail_now(void *pc)
{
    long at = atomic_load(&s_fail_at);
    if (!at || atomic_fetch_add(&s_count, 1) + 1 < at || atomic_load(&s_failed) ||
        s_from_cjson(pc))
        return false;
    return !atomic_exchange(&s_failed, true);
}

#define CALLER __builtin_return_address(0)
void *__wrap_malloc(size_t n) { return s_fail_now(CALLER) ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t n, size_t size) { return s_fail_now(CALLER) ? NULL : __real_calloc(n, size); }
void *__wrap_realloc(void *p, size_t n) { return s_fail_now(CALLER) ? NULL : __real_realloc(p, n); }
char *__wrap_strdup(const char *s) { return s_fail_now(CALLER) ? NULL : __real_strdup(s); }
char *__wrap_strndup(const char *s, size_t n) { return s_fail_now(CALLER) ? NULL : __real_strndup(s, n); }
