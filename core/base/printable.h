/* Text from outside (account and OU names, error messages from AWS) made safe to show on a
 * terminal or in a text log: control characters, which could move the cursor, rewrite the
 * screen or forge log lines, are shown as \xNN instead. */
#ifndef CREDREPORT_PRINTABLE_H
#define CREDREPORT_PRINTABLE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

/* Appends s[0..len) to b with C0 controls, DEL and UTF-8-encoded C1 controls escaped as
 * \xNN (every byte of them), and a backslash that would start such an escape doubled.
 * 0, or -1 when memory runs out. */
int printable_append(struct buf *b, const char *s, size_t len);
/* Whether s[0..len) needs escaping. */
bool printable_needed(const char *s, size_t len);

#endif
