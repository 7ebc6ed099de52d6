/* Endpoint URLs (endpoint.c, and config.c's check of the same settings): the input is a URL,
 * then a newline, a bucket, a newline and an S3 key. Resolved as the [endpoints] url of every
 * service, and the S3 object URL built on it. Invariants: a resolved URL has no trailing
 * slash and no dot segment; an object URL has no dot segment either (a key's "." and ".."
 * are encoded), so no HTTP client changes the path that was signed. */
#include "aws/endpoint.h"
#include "fuzz.h"

static const char *s_path(const char *url)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    return p + strcspn(p, "/");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool once;
    if (!once) {
        once = true;
        unsetenv("AWS_ENDPOINT_URL");
        unsetenv("AWS_IGNORE_CONFIGURED_ENDPOINT_URLS");
    }
    char *url = fuzz_take(&data, &size, '\n');
    char *bucket = fuzz_take(&data, &size, '\n');
    char *key = fuzz_strndup(data, size);
    static const char *const services[] = {"iam", "sts", "organizations", "s3", "sns"};
    static const char *const regions[] = {"us-east-1", "cn-north-1", "us-gov-west-1"};
    for (size_t i = 0; i < 5; i++) {
        struct endpoint_overrides ov;
        memset(&ov, 0, sizeof ov);
        ov.global = url;
        struct endpoint ep;
        char err[512];
        if (endpoint_resolve(service_find(services[i]), regions[i % 3], &ov, &ep, err,
                             sizeof err) != 0) {
            FUZZ_ASSERT(err[0], "a failure says why");
            continue;
        }
        size_t n = strlen(ep.url);
        FUZZ_ASSERT(n > 0 && ep.url[n - 1] != '/', "no trailing slash: %s", ep.url);
        FUZZ_ASSERT(!endpoint_has_dot_segment(s_path(ep.url)), "no dot segment: %s", ep.url);
        if (strcmp(services[i], "s3") == 0) {
            struct buf b = BUF_INIT;
            if (endpoint_s3_object_url(&ep, bucket, key, &b) == 0)
                FUZZ_ASSERT(!endpoint_has_dot_segment(s_path(b.data)), "no dot segment: %s",
                            b.data);
            buf_free(&b);
        }
    }
    free(url);
    free(bucket);
    free(key);
    return 0;
}
