#include "base/errmsg.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void errmsg_set(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

const char *errmsg_errno(int e, char *buf, size_t len)
{
    /* The GNU strerror_r: returns the text, in buf or in static storage. */
    return strerror_r(e, buf, len);
}
