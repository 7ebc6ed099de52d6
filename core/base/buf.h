/* Growable byte buffer. A buffer owns its bytes; data is NUL-terminated whenever it is
 * non-NULL, so text can be used as a C string. All functions return 0 on success and -1 when
 * memory runs out (the buffer is then left as it was). */
#ifndef CREDREPORT_BUF_H
#define CREDREPORT_BUF_H

#include <stdarg.h>
#include <stddef.h>

struct buf {
    char *data;
    size_t len;
    size_t cap;
};

#define BUF_INIT {NULL, 0, 0}

int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
int buf_puts(struct buf *b, const char *s);
int buf_putc(struct buf *b, char c);
int buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends each string, up to a NULL: a cheaper buf_printf for "%s%s...". */
int buf_cat(struct buf *b, ...) __attribute__((sentinel));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Empties the buffer but keeps its memory. */
void buf_reset(struct buf *b);
/* Releases the memory; the buffer is then empty and reusable. */
void buf_free(struct buf *b);
/* Wipes the bytes (for secrets) and releases the memory. */
void buf_free_secret(struct buf *b);
/* Hands the bytes to the caller (free() them); never NULL unless memory runs out. */
char *buf_steal(struct buf *b);

#endif
