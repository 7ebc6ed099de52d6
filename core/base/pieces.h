/* A file's first len bytes handed over in pieces, for bodies too large to hold in memory: a
 * findings file is hashed, copied and uploaded this way, never read whole. */
#ifndef CREDREPORT_PIECES_H
#define CREDREPORT_PIECES_H

#include <stddef.h>

/* Calls fn(arg, piece, n) for consecutive pieces of fd's bytes [0, len), read with pread (the
 * file offset is left alone). Returns 0; -1 with errno when a read fails (EIO: the file is
 * shorter than len) or when fn returns non-zero (fn sets errno). */
int pieces_each(int fd, size_t len, int (*fn)(void *arg, const void *piece, size_t n), void *arg);

#endif
