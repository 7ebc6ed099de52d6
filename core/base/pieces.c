#include "base/pieces.h"

#include <errno.h>
#include <unistd.h>

int pieces_each(int fd, size_t len, int (*fn)(void *arg, const void *piece, size_t n), void *arg)
{
    char piece[64 * 1024];
    size_t off = 0;
    while (off < len) {
        size_t want = len - off < sizeof piece ? len - off : sizeof piece;
        ssize_t got = pread(fd, piece, want, (off_t)off);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0) {
            if (got == 0)
                errno = EIO;
            return -1;
        }
        if (fn(arg, piece, (size_t)got) != 0)
            return -1;
        off += (size_t)got;
    }
    return 0;
}
