/* Whether a file that steers credreport (config.ini, the shared AWS files) can be trusted:
 * only its owner, the user running credreport or root, may be able to change it. A cron job
 * started in a directory others can write must not run with their settings. */
#ifndef CREDREPORT_TRUST_H
#define CREDREPORT_TRUST_H

#include <stddef.h>

/* 0 when the open file fd (named path) is a regular file owned by the user running
 * credreport or by root and not writable by group or others; else -1 with why in err. */
int trust_file(int fd, const char *path, char *err, size_t errlen);

#endif
