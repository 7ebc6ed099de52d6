/* A minimal test harness: each test binary calls its checks and ends with unit_report(),
 * which prints "N passed, N failed" and returns the exit status. */
#ifndef CREDREPORT_UNIT_H
#define CREDREPORT_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static char *unit_files[64];
static size_t unit_n_files;

/* Writes content to a new file under /tmp named after prefix; returns its path, owned by
 * the harness and removed by unit_remove_files() ("/nonexistent" when it cannot be made). */
static inline const char *unit_write_file(const char *prefix, const char *content)
{
    char tmpl[128];
    snprintf(tmpl, sizeof tmpl, "/tmp/%s.XXXXXX", prefix);
    int fd = mkstemp(tmpl);
    CHECK(fd >= 0, "mkstemp");
    if (fd < 0)
        return "/nonexistent";
    size_t n = strlen(content);
    CHECK(write(fd, content, n) == (ssize_t)n, "write");
    close(fd);
    char *p = strdup(tmpl);
    CHECK(p && unit_n_files < sizeof unit_files / sizeof unit_files[0], "room for %s", tmpl);
    if (!p || unit_n_files == sizeof unit_files / sizeof unit_files[0]) {
        unlink(tmpl);
        free(p);
        return "/nonexistent";
    }
    unit_files[unit_n_files++] = p;
    return p;
}

static inline void unit_remove_files(void)
{
    for (size_t i = 0; i < unit_n_files; i++) {
        unlink(unit_files[i]);
        free(unit_files[i]);
    }
    unit_n_files = 0;
}

static inline int unit_report(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, unit_passed, unit_failed);
    return unit_failed ? 1 : 0;
}

#endif
