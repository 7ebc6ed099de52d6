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

static int s_digest_piece(void *arg, const void *piece, size_t n)
{
    if (EVP_DigestUpdate(arg, piece, n))
        return 0;
    errno = ENOMEM;
    return -1;
}

int pieces_digest(int fd, size_t len, const EVP_MD *md, unsigned char *out, unsigned *outlen)
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int rc = -1;
    errno = ENOMEM;
    if (c && EVP_DigestInit_ex(c, md, NULL) && pieces_each(fd, len, s_digest_piece, c) == 0) {
        errno = ENOMEM;
        if (EVP_DigestFinal_ex(c, out, outlen))
            rc = 0;
    }
    EVP_MD_CTX_free(c);
    return rc;
}
