/* Shared by the fuzz targets: libFuzzer's entry points, and helpers that turn the input into
 * the text or files a parser reads. A target is built two ways: with clang's libFuzzer for
 * `make fuzz`, and with the project's compiler and replay.c for `make test`, which runs every
 * input of the target's corpus once (tests/fuzz/<name>/). */
#ifndef CREDREPORT_FUZZ_H
#define CREDREPORT_FUZZ_H

#include <dirent.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* An invariant that does not hold is a finding: abort, so libFuzzer keeps the input. */
#define FUZZ_ASSERT(cond, ...)                                                    \
    do {                                                                          \
        if (!(cond)) {                                                            \
            fprintf(stderr, "invariant failed: %s: ", #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                         \
            fputc('\n', stderr);                                                  \
            abort();                                                              \
        }                                                                         \
    } while (0)

/* A NUL-terminated copy of data[0..size) (free it); exits when memory runs out. */
static inline char *fuzz_strndup(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

/* Splits the input at the first occurrence of sep: *part gets the text before it (a
 * NUL-terminated copy to free), and data/size advance past it. The whole rest when absent. */
static inline char *fuzz_take(const uint8_t **data, size_t *size, char sep)
{
    const uint8_t *end = memchr(*data, sep, *size);
    size_t n = end ? (size_t)(end - *data) : *size;
    char *part = fuzz_strndup(*data, n);
    *data += n + (end ? 1 : 0);
    *size -= n + (end ? 1 : 0);
    return part;
}

/* Replaces the contents of the file at path (in a private folder made at start) with
 * data[0..size). */
static inline void fuzz_write_file(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0)
        abort();
}

static char s_fuzz_dir[256];

/* Removes the private folder and the files in it, at exit. */
static inline void fuzz_dir_remove(void)
{
    DIR *d = opendir(s_fuzz_dir);
    struct dirent *e;
    char path[600];
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", s_fuzz_dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    rmdir(s_fuzz_dir);
}

/* A private folder for a target's files, made once: "<tmp>/credreport-fuzz.XXXXXX". */
static inline const char *fuzz_dir(void)
{
    if (!s_fuzz_dir[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(s_fuzz_dir, sizeof s_fuzz_dir, "%s/credreport-fuzz.XXXXXX",
                 tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(s_fuzz_dir))
            abort();
        atexit(fuzz_dir_remove);
    }
    return s_fuzz_dir;
}

#endif
