#include "log.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

static _Atomic int s_level = LOG_INFO;
static _Atomic bool s_json = false;
static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;

void log_configure(const char *level_name, bool json)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; i < 4; i++)
        if (level_name && strcmp(level_name, names[i]) == 0)
            atomic_store(&s_level, i);
    atomic_store(&s_json, json);
}

bool log_enabled(enum log_level level)
{
    return (int)level >= atomic_load(&s_level);
}

bool log_json(void)
{
    return atomic_load(&s_json);
}

void log_write(const char *line, size_t len)
{
    pthread_mutex_lock(&s_mu);
    fwrite(line, 1, len, stderr);
    fflush(stderr);
    pthread_mutex_unlock(&s_mu);
}
