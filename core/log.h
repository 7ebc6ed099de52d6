/* Where log lines go and which are kept: one setting for the whole process, one writer at a
 * time (lines of different threads never interleave). */
#ifndef CREDREPORT_LOG_H
#define CREDREPORT_LOG_H

#include <stdbool.h>
#include <stddef.h>

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* Call before threads start. level_name: "debug" | "info" | "warn" | "error". */
void log_configure(const char *level_name, bool json);
bool log_enabled(enum log_level level);
bool log_json(void);
void log_write(const char *line, size_t len);

#endif
