#include "base/printable.h"

/* Bytes to escape at s[i], 0 when none: a C0 control or DEL (1), a UTF-8 C1 control (2). */
static size_t s_control(const unsigned char *s, size_t len, size_t i)
{
    if (s[i] < 0x20 || s[i] == 0x7f)
        return 1;
    if (s[i] == 0xc2 && i + 1 < len && s[i + 1] >= 0x80 && s[i + 1] <= 0x9f)
        return 2;
    return 0;
}

bool printable_needed(const char *s, size_t len)
{
    const unsigned char *u = (const unsigned char *)s;
    for (size_t i = 0; i < len; i++)
        if (s_control(u, len, i) || (u[i] == '\\' && i + 1 < len && u[i + 1] == 'x'))
            return true;
    return false;
}

int printable_append(struct buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *u = (const unsigned char *)s;
    size_t run = 0; /* start of the bytes copied as they are */
    for (size_t i = 0; i < len;) {
        size_t n = s_control(u, len, i);
        bool slash = u[i] == '\\' && i + 1 < len && u[i + 1] == 'x';
        if (!n && !slash) {
            i++;
            continue;
        }
        if (buf_append(b, s + run, i - run) != 0)
            return -1;
        if (slash) {
            if (buf_puts(b, "\\\\") != 0)
                return -1;
            i++;
        }
        for (size_t k = 0; k < n; k++, i++) {
            char esc[4] = {'\\', 'x', hex[u[i] >> 4], hex[u[i] & 15]};
            if (buf_append(b, esc, 4) != 0)
                return -1;
        }
        run = i;
    }
    return buf_append(b, s + run, len - run);
}
