/* Where to send a request and how to sign it: the endpoint URL and signing region of a
 * service (see service.h) in a region's partition, with the endpoint overrides users set the
 * way the AWS SDKs read them. Pure: reads the environment, keeps no state. */
#ifndef CREDREPORT_ENDPOINT_H
#define CREDREPORT_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>

#include "aws/awsname.h"
#include "base/buf.h"
#include "aws/service.h"

struct endpoint {
    /* scheme://host[:port], no trailing slash. An override may carry a base path
     * (scheme://host[:port]/prefix), again without a trailing slash. */
    char url[512];
    char signing_region[AWSNAME_REGION_MAX];
    char signing_name[SERVICE_ID_MAX];
    bool custom; /* from an override */
};

/* One [endpoints] setting: a service id and its URL. */
struct endpoint_url {
    const char *service;
    const char *url;
};

/* Endpoint URLs from config.ini. Any pointer may be NULL. */
struct endpoint_overrides {
    const char *global;                      /* [endpoints] url */
    const struct endpoint_url *service_urls; /* n_service_urls of them */
    size_t n_service_urls;
    bool allow_http;                         /* plain http:// to hosts other than this machine */
};

/* region: e.g. "us-east-1" ([a-z0-9-]+); for a service with one endpoint per partition (IAM,
 * Organizations) it only picks the partition. Without an override the URL is the service's
 * global host in that partition, else https://<endpoint prefix>.<region>.<DNS suffix>.
 *
 * Override precedence, as in the AWS SDKs: AWS_ENDPOINT_URL_<SERVICE> (service_env_suffix) >
 * AWS_ENDPOINT_URL >
 * config per-service URL > config global URL; AWS_IGNORE_CONFIGURED_ENDPOINT_URLS=true ignores
 * them all. Empty values count as unset. With an override the signing region stays what the
 * service would use without one. A plain http:// override must name this machine (localhost,
 * 127.0.0.0/8, ::1) unless allow_http.
 *
 * Returns 0, or -1 with a message in err naming the variable or setting that was wrong. */
int endpoint_resolve(const struct service *svc, const char *region,
                     const struct endpoint_overrides *ov, struct endpoint *out, char *err,
                     size_t errlen);

/* Whether a URL path (from its first '/', up to the end of the string) has a segment that is
 * exactly "." or "..": HTTP clients remove those before sending (RFC 3986), while S3 signs the
 * path as given, so an endpoint with one could never be signed right. */
bool endpoint_has_dot_segment(const char *path);

/* Appends the URL of an S3 object to out: virtual-hosted (scheme://bucket.host/key) when the
 * bucket name allows it (3-63 of [a-z0-9-], starting and ending with a letter or digit) and
 * the endpoint is not custom; path-style (scheme://host/bucket/key) otherwise. The key is
 * percent-encoded per segment (every byte but A-Za-z0-9-_.~, keeping '/'); segments that are
 * exactly "." or ".." are encoded as %2E so no HTTP client collapses them. Returns 0, or -1
 * on bad arguments (NULL, empty bucket) or when memory runs out; out is then unchanged. */
int endpoint_s3_object_url(const struct endpoint *ep, const char *bucket, const char *key,
                           struct buf *out);

#endif
