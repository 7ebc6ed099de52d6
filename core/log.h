/* Where log lines go and which are kept: one setting for the whole process, one writer at a
 * time (lines of different threads never interleave). On a terminal a live progress line can
 * stand below the log lines; it is redrawn after each of them. */
#ifndef CREDREPORT_LOG_H
#define CREDREPORT_LOG_H

#include <stdbool.h>
#include <stddef.h>

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

#endif
