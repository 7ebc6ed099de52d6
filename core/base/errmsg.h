/* Error messages into a caller's buffer (char *err, size_t errlen), the convention of the
 * pure modules. */
#ifndef CREDREPORT_ERRMSG_H
#define CREDREPORT_ERRMSG_H

#include <stddef.h>

/* Formats into err (nothing when err is NULL or errlen is 0; cut to fit). */
void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The text of an errno value, safe to call from any thread (strerror is not). */
#define ERRNO_TEXT(e) errmsg_errno((e), (char[128]){0}, 128)
const char *errmsg_errno(int e, char *buf, size_t len);

#endif
