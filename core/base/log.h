/* Where log lines go and which are kept: one setting for the whole process, one writer at a
 * time (lines of different threads never interleave). On a terminal a live progress line can
 * stand below the log lines; it is redrawn after each of them. */
#ifndef CREDREPORT_LOG_H
#define CREDREPORT_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Call before threads start. level_name: "debug" | "info" | "warn" | "error". */
void log_configure(const char *level_name, bool json);
/* Also append every line to this file. 0, or -1 with errno set. */
int log_open_file(const char *path);
/* Show a progress line on the terminal (only when stdout and stderr are terminals); while it
 * is shown, info and debug lines go to the log file only, not to the terminal. */
void log_enable_progress(void);
/* Replaces the progress line (NULL clears it for good). At most ten redraws a second. */
void log_progress(const char *text);

bool log_enabled(enum log_level level);
bool log_json(void);
void log_write(enum log_level level, const char *line, size_t len);

/* The run every line belongs to (JSON lines carry it as "run_id"). Call before threads
 * start. */
void log_set_run_id(const char *run_id);

/* One field of a log line: text, a number, or JSON already encoded (a table from Lua). */
struct log_field {
    const char *key;
    enum { LOG_TEXT, LOG_NUMBER, LOG_JSON } kind;
    const char *text;  /* LOG_TEXT, LOG_JSON */
    size_t len;        /* of text */
    double number;     /* LOG_NUMBER */
};

#define LOG_STR(k, v) ((struct log_field){.key = (k), .kind = LOG_TEXT, .text = (v), .len = strlen(v)})
#define LOG_NUM(k, v) ((struct log_field){.key = (k), .kind = LOG_NUMBER, .number = (double)(v)})

/* Writes one line, the same way from C and Lua: text, "TIME LEVEL message key=value ..."
 * with control characters shown as \xNN and values quoted when needed; or JSON, {"time",
 * "level", "msg", "run_id", fields...}. Nothing when the level is below the one set. */
void log_event(enum log_level level, const char *msg, const struct log_field *fields, size_t n);
/* log_event with a formatted message and no fields. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
