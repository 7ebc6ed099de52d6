/* The names AWS defines and credreport checks wherever they come from (config.ini, ~/.aws,
 * the environment, Lua): one validator each. Pure. */
#ifndef CREDREPORT_AWSNAME_H
#define CREDREPORT_AWSNAME_H

#include <stdbool.h>

#define AWSNAME_REGION_MAX 32 /* bytes with the '\0': longer than any region AWS has */

/* A region: 1 to AWSNAME_REGION_MAX-1 of [a-z0-9-], such as eu-west-1. */
bool awsname_region(const char *s);

/* A role session name: 2 to 64 of [A-Za-z0-9_+=,.@-]. */
bool awsname_session_name(const char *s);

/* Twelve digits. */
bool awsname_account_id(const char *s);

/* "arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE" with the partition aws[a-z-]*, the given
 * service, a region of [a-z0-9-] (empty for IAM, and only for IAM) and a 12-digit account:
 * a pointer to RESOURCE, else NULL. */
const char *awsname_arn_resource(const char *arn, const char *service);

/* An IAM role ARN: arn:aws...:iam::ACCOUNT:role/[path/]name. */
bool awsname_role_arn(const char *s);

#endif
