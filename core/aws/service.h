/* What differs from one AWS service to another, in one table: the name scripts and
 * [endpoints] use, the SigV4 signing name, the endpoint's host prefix, whether the service has
 * one endpoint per partition, the protocol, and the Query API version or the JSON target
 * prefix. Every other module reads it from here.
 *
 * A service the table does not list still works: service_describe gives it the defaults the
 * SDKs would (signing name and host prefix = its id, regional endpoints), and the caller sets
 * the protocol and its version or target prefix. */
#ifndef CREDREPORT_SERVICE_H
#define CREDREPORT_SERVICE_H

#include <stdbool.h>
#include <stddef.h>

enum aws_protocol {
    AWS_QUERY,     /* form body, XML answers: IAM, STS, SNS */
    AWS_JSON_1_0,  /* JSON body, X-Amz-Target, application/x-amz-json-1.0: SQS */
    AWS_JSON_1_1,  /* the same with application/x-amz-json-1.1: Organizations */
    AWS_REST_JSON, /* method and path name the operation, JSON body: Account, Security Hub */
    AWS_REST_XML,  /* method and path, XML answers: S3 */
};

#define SERVICE_ID_MAX 48 /* with the '\0'; the longest AWS service id is shorter */

/* The endpoint of a service that has one per partition. */
struct service_global {
    const char *partition; /* "aws", "aws-cn", "aws-us-gov" */
    const char *host;
    const char *region;    /* the region requests are signed for */
};

struct service {
    char id[SERVICE_ID_MAX];              /* lowercase: "iam", "securityhub" */
    char signing_name[SERVICE_ID_MAX];    /* SigV4's service name */
    char endpoint_prefix[SERVICE_ID_MAX]; /* the first label of the regional host */
    enum aws_protocol protocol;
    char api_version[16];                 /* Query: the Version parameter */
    char target_prefix[64];               /* JSON 1.0/1.1: X-Amz-Target is prefix.Operation */
    const struct service_global *global;  /* NULL-terminated list; NULL: regional only */
    bool built_in;                        /* from the table */
};

/* true for a usable service id: 1-47 of [a-z0-9-], starting with a letter. */
bool service_id_valid(const char *id);

/* The table's entry for id into out, or for an id the table lacks, its defaults: signing
 * name and endpoint prefix equal to id, regional, protocol AWS_REST_JSON until the caller
 * says otherwise, no version or target prefix. Returns 0, or -1 when id is not a valid id
 * (err says why). */
int service_describe(const char *id, struct service *out, char *err, size_t errlen);

/* The table's entry, or NULL. */
const struct service *service_find(const char *id);

/* "query", "json1.0", "json1.1", "rest-json", "rest-xml". */
const char *service_protocol_name(enum aws_protocol p);

/* The suffix of the service's endpoint variable (AWS_ENDPOINT_URL_<suffix>), by the SDKs'
 * rule: the id uppercased, with '-' and ' ' as '_'. Writes at most cap bytes. */
void service_env_suffix(const char *id, char *out, size_t cap);

#endif
