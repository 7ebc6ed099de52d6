/* Runs a fuzz target's entry point once on each input of its corpus: the regression run of
 * `make test`, with the project's compiler and sanitizers (no libFuzzer needed). Arguments are
 * files or folders; none: the corpus folder compiled in (FUZZ_CORPUS). Prints
 * "NAME: N passed, 0 failed"; an input that breaks a sanitizer or an invariant aborts. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int s_replayed;

static void s_replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    size_t cap = 4096, n = 0;
    unsigned char *data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *more = realloc(data, cap *= 2);
            if (!more)
                free(data);
            data = more;
        }
    }
    fclose(f);
    if (!data) {
        fprintf(stderr, "out of memory reading %s\n", path);
        exit(1);
    }
    /* A copy of exactly the input's size, so a read past it is seen. */
    unsigned char *exact = malloc(n ? n : 1);
    if (!exact)
        exit(1);
    memcpy(exact, data, n);
    free(data);
    LLVMFuzzerTestOneInput(exact, n);
    free(exact);
    s_replayed++;
}

static int s_by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void s_replay(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        perror(path);
        exit(1);
    }
    if (!S_ISDIR(st.st_mode)) {
        s_replay_file(path);
        return;
    }
    DIR *d = opendir(path);
    if (!d) {
        perror(path);
        exit(1);
    }
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **more = realloc(names, (n + 1) * sizeof *names);
        if (!more || !(more[n] = malloc(strlen(path) + strlen(e->d_name) + 2)))
            exit(1);
        names = more;
        sprintf(names[n++], "%s/%s", path, e->d_name);
    }
    closedir(d);
    qsort(names, n, sizeof *names, s_by_name);
    for (size_t i = 0; i < n; i++) {
        s_replay(names[i]);
        free(names[i]);
    }
    free(names);
}

int main(int argc, char **argv)
{
    if (argc < 2)
        s_replay(FUZZ_CORPUS);
    for (int i = 1; i < argc; i++)
        s_replay(argv[i]);
    const char *name = strrchr(argv[0], '/');
    printf("%s: %d passed, 0 failed\n", name ? name + 1 : argv[0], s_replayed);
    return s_replayed > 0 ? 0 : 1;
}
