#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static _Atomic int s_level = LOG_INFO;
static _Atomic bool s_json = false;
static _Atomic bool s_progress_on = false;
/* Guarded by s_mu: */
static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *s_file;
static char *s_progress;      /* the line shown, or NULL */
static struct timespec s_drawn;

void log_configure(const char *level_name, bool json)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (level_name && strcmp(level_name, names[i]) == 0)
            atomic_store(&s_level, i);
    atomic_store(&s_json, json);
}

int log_open_file(const char *path)
{
    FILE *f = fopen(path, "ae");
    if (!f)
        return -1;
    pthread_mutex_lock(&s_mu);
    if (s_file)
        fclose(s_file);
    s_file = f;
    pthread_mutex_unlock(&s_mu);
    return 0;
}

void log_enable_progress(void)
{
    if (isatty(STDOUT_FILENO) && isatty(STDERR_FILENO))
        atomic_store(&s_progress_on, true);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&s_level);
}

bool log_json(void)
{
    return atomic_load(&s_json);
}

/* With s_mu held. */
static void s_draw(void)
{
    if (s_progress)
        fprintf(stderr, "\r\033[K%s", s_progress);
    fflush(stderr);
}

void log_write(enum log_level level, const char *line, size_t len)
{
    pthread_mutex_lock(&s_mu);
    if (s_file) {
        fwrite(line, 1, len, s_file);
        fflush(s_file);
    }
    bool terminal = !atomic_load(&s_progress_on) || level >= LOG_WARN;
    if (terminal) {
        if (s_progress)
            fputs("\r\033[K", stderr);
        fwrite(line, 1, len, stderr);
        s_draw();
    }
    pthread_mutex_unlock(&s_mu);
}

void log_progress(const char *text)
{
    if (!atomic_load(&s_progress_on))
        return;
    pthread_mutex_lock(&s_mu);
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    double since = (double)(now.tv_sec - s_drawn.tv_sec) + (double)(now.tv_nsec - s_drawn.tv_nsec) / 1e9;
    if (!text) {
        if (s_progress)
            fputs("\r\033[K", stderr);
        fflush(stderr);
        free(s_progress);
        s_progress = NULL;
        atomic_store(&s_progress_on, false);
    } else if (since >= 0.1 || !s_progress) {
        char *copy = strdup(text);
        if (copy) {
            free(s_progress);
            s_progress = copy;
            s_drawn = now;
            s_draw();
        }
    }
    pthread_mutex_unlock(&s_mu);
}
