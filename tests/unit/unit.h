/* A minimal test harness: each test binary calls its checks and ends with unit_report(),
 * which prints "N passed, N failed" and returns the exit status. */
#ifndef CREDREPORT_UNIT_H
#define CREDREPORT_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (cond) {                                                             \
            unit_passed++;                                                      \
        } else {                                                                \
            unit_failed++;                                                      \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);     \
            fprintf(stderr, __VA_ARGS__);                                       \
            fputc('\n', stderr);                                                \
        }                                                                       \
    } while (0)

#define CHECK_STR(got, want, what)                                              \
    do {                                                                        \
        const char *g_ = (got), *w_ = (want);                                   \
        CHECK(g_ && w_ && strcmp(g_, w_) == 0, "%s:\n--- got\n%s\n--- want\n%s", \
              (what), g_ ? g_ : "(null)", w_ ? w_ : "(null)");                  \
    } while (0)

static inline int unit_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}

#endif
