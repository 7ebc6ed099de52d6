/* A file's first len bytes handed over in pieces, for bodies too large to hold in memory: a
 * findings file is hashed, copied and uploaded this way, never read whole. */
#ifndef CREDREPORT_PIECES_H
#define CREDREPORT_PIECES_H

#include <openssl/evp.h>
#include <stddef.h>

/* Calls fn(arg, piece, n) for consecutive pieces of fd's bytes [0, len), read with pread (the
 * file offset is left alone). Returns 0; -1 with errno when a read fails (EIO: the file is
 * shorter than len) or when fn returns non-zero (fn sets errno). */
int pieces_each(int fd, size_t len, int (*fn)(void *arg, const void *piece, size_t n), void *arg);

/* The digest (md: EVP_sha256(), EVP_md5()...) of fd's bytes [0, len) into out (at least
 * EVP_MAX_MD_SIZE bytes; its length in *outlen). Returns 0; -1 with errno as pieces_each, or
 * ENOMEM when OpenSSL fails. */
int pieces_digest(int fd, size_t len, const EVP_MD *md, unsigned char *out, unsigned *outlen);

#endif
