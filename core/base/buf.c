#include "base/buf.h"

#include <openssl/crypto.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int buf_reserve(struct buf *b, size_t extra)
{
    if (extra > (size_t)-1 / 2 - b->len)
        return -1;
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return -1;
    p[b->len] = '\0';
    b->data = p;
    b->cap = cap;
    return 0;
}

int buf_append(struct buf *b, const void *p, size_t n)
{
    if (buf_reserve(b, n) != 0)
        return -1;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return 0;
}

int buf_puts(struct buf *b, const char *s)
{
    return buf_append(b, s, strlen(s));
}

int buf_putc(struct buf *b, char c)
{
    return buf_append(b, &c, 1);
}

/* Puts b back as it was before a call that failed half-way: its first len bytes, or no
 * memory at all when it had none (so that a caller of a failed call on an empty buffer has
 * nothing to free). What was written beyond len is wiped: it may have been a secret. */
static int s_undo(struct buf *b, size_t len, bool had_memory)
{
    if (b->data) {
        OPENSSL_cleanse(b->data + len, b->cap - len);
        b->len = len;
        b->data[len] = '\0';
        if (!had_memory)
            buf_free(b);
    }
    return -1;
}

int buf_vprintf(struct buf *b, const char *fmt, va_list ap)
{
    bool had_memory = b->data != NULL;
    /* Usually one pass: format into the free space, and again only when it did not fit. */
    if (buf_reserve(b, 63) != 0)
        return -1;
    size_t room = b->cap - b->len;
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(b->data + b->len, room, fmt, ap2);
    va_end(ap2);
    if (n < 0 || ((size_t)n >= room && buf_reserve(b, (size_t)n) != 0))
        return s_undo(b, b->len, had_memory);
    if ((size_t)n >= room)
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int buf_printf(struct buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int buf_cat(struct buf *b, ...)
{
    size_t len = b->len;
    bool had_memory = b->data != NULL;
    va_list ap;
    va_start(ap, b);
    int rc = 0;
    for (const char *s = va_arg(ap, const char *); s && rc == 0; s = va_arg(ap, const char *))
        rc = buf_puts(b, s);
    va_end(ap);
    return rc == 0 ? 0 : s_undo(b, len, had_memory);
}

void buf_reset(struct buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

void buf_free(struct buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void buf_free_secret(struct buf *b)
{
    if (b->data)
        OPENSSL_cleanse(b->data, b->cap);
    buf_free(b);
}

char *buf_steal(struct buf *b)
{
    if (!b->data && buf_reserve(b, 0) != 0)
        return NULL;
    if (!b->data)
        return NULL;
    b->data[b->len] = '\0';
    char *p = b->data;
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
