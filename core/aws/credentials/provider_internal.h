/* What the credential providers (provider_*.c) share and nothing else uses. */
#ifndef CREDREPORT_PROVIDER_INTERNAL_H
#define CREDREPORT_PROVIDER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/credentials/provider.h"

/* Container and instance metadata requests: the SDKs use 1-5 s; a host without the service
 * must fail fast. Each is tried this many times. */
#define PROVIDER_HTTP_ATTEMPTS 2

bool provider_set(const char *s);

/* Ends a fetch with a failure. */
void provider_fail(struct aws_client *c, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Reads a token file (web identity, container authorization) into out, trimmed: 0, or -1
 * with err (out is then wiped). */
int provider_read_token_file(const char *path, struct buf *out, char *err, size_t errlen);

/* Credentials from a successful STS AssumeRole* result, read from its parsed body (the body is
 * wiped): 0 or -1. */
int provider_sts_creds(const struct aws_result *res, const char *source, struct aws_creds *out);

#endif
