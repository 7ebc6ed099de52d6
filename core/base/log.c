#include "base/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/printable.h"

static _Atomic int s_level = LOG_INFO;
static _Atomic bool s_json = false;
static _Atomic bool s_progress_on = false;
/* Guarded by s_mu: */
static pthread_mutex_t s_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *s_file;
static char *s_progress;      /* the line shown, or NULL */
static struct timespec s_drawn;
static char s_run_id[64];     /* set before threads start, read-only after */

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

void log_set_run_id(const char *run_id)
{
    snprintf(s_run_id, sizeof s_run_id, "%s", run_id ? run_id : "");
}

static const char *const s_level_names[] = {"debug", "info", "warn", "error"};

/* A JSON string: quotes, backslashes and control characters escaped; other bytes as given. */
static int s_json_string(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    int rc = buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        rc |= buf_append(b, s + run, i - run);
        if (c == '"' || c == '\\') {
            rc |= buf_putc(b, '\\') | buf_putc(b, (char)c);
        } else if (c == '\n') {
            rc |= buf_puts(b, "\\n");
        } else {
            char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            rc |= buf_append(b, esc, 6);
        }
        run = i + 1;
    }
    return rc | buf_append(b, s + run, len - run) | buf_putc(b, '"');
}

/* A value in key=value form: as it is when plain, else quoted, control characters shown. */
static int s_text_value(struct buf *b, const char *v, size_t len)
{
    if (len && !memchr(v, ' ', len) && !memchr(v, '\t', len) && !memchr(v, '"', len) &&
        !memchr(v, '=', len) && !memchr(v, '\\', len) && !printable_needed(v, len))
        return buf_append(b, v, len);
    int rc = buf_putc(b, '"');
    size_t run = 0;
    for (size_t i = 0; i < len && rc == 0; i++) {
        if (v[i] == '"' || v[i] == '\\') {
            rc |= printable_append(b, v + run, i - run) | buf_putc(b, '\\') | buf_putc(b, v[i]);
            run = i + 1;
        }
    }
    return rc | printable_append(b, v + run, len - run) | buf_putc(b, '"');
}

static int s_number(struct buf *b, double d)
{
    if (d == (double)(long long)d && d > -1e15 && d < 1e15)
        return buf_printf(b, "%lld", (long long)d);
    return buf_printf(b, "%.6g", d);
}

void log_event(enum log_level level, const char *msg, const struct log_field *fields, size_t n)
{
    if (!log_enabled(level))
        return;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    char when[48], sec[32];
    strftime(sec, sizeof sec, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(when, sizeof when, "%.24s.%03dZ", sec, (int)(ts.tv_nsec / 1000000));
    struct buf b = BUF_INIT;
    int rc;
    if (log_json()) {
        rc = buf_printf(&b, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":", when, s_level_names[level]);
        rc |= s_json_string(&b, msg, strlen(msg));
        if (s_run_id[0])
            rc |= buf_printf(&b, ",\"run_id\":\"%s\"", s_run_id);
        for (size_t i = 0; i < n; i++) {
            const char *k = fields[i].key;
            if (!strcmp(k, "time") || !strcmp(k, "level") || !strcmp(k, "msg") || !strcmp(k, "run_id"))
                continue;
            rc |= buf_putc(&b, ',') | s_json_string(&b, k, strlen(k)) | buf_putc(&b, ':');
            if (fields[i].kind == LOG_NUMBER)
                rc |= s_number(&b, fields[i].number);
            else if (fields[i].kind == LOG_JSON)
                rc |= buf_append(&b, fields[i].text, fields[i].len);
            else
                rc |= s_json_string(&b, fields[i].text, fields[i].len);
        }
        rc |= buf_puts(&b, "}\n");
    } else {
        rc = buf_printf(&b, "%s ", when);
        for (const char *p = s_level_names[level]; *p; p++)
            rc |= buf_putc(&b, (char)(*p - 32));
        rc |= buf_putc(&b, ' ') | printable_append(&b, msg, strlen(msg));
        for (size_t i = 0; i < n; i++) {
            rc |= buf_putc(&b, ' ') | printable_append(&b, fields[i].key, strlen(fields[i].key));
            rc |= buf_putc(&b, '=');
            if (fields[i].kind == LOG_NUMBER)
                rc |= s_number(&b, fields[i].number);
            else
                rc |= s_text_value(&b, fields[i].text, fields[i].len);
        }
        rc |= buf_putc(&b, '\n');
    }
    if (rc == 0)
        log_write(level, b.data, b.len);
    buf_free(&b);
}

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (!log_enabled(level))
        return;
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    log_event(level, msg, NULL, 0);
}
