/* Credentials settings from the environment and from the shared files (~/.aws/credentials and
 * ~/.aws/config): static keys, and the plan of what to fetch and which roles to assume on top
 * (source_profile chains, web identity, credential_process, credential_source).
 * Pure: reads the environment and the files, keeps no state. Secrets are wiped when freed and
 * never appear in an error message. */
#ifndef CREDREPORT_CREDS_H
#define CREDREPORT_CREDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "aws/aws_creds.h"
#include "aws/awsname.h"

/* A role to assume on top of base credentials (profile chains). */
struct creds_role_step {
    char *role_arn;
    char *external_id;      /* NULL if none */
    char *session_name;     /* role_session_name, or "credreport-<unix time>" */
    int duration_seconds;   /* 0 = default */
    char *region;           /* that profile's region, NULL if none */
};

/* Where the base credentials of a plan come from. */
enum creds_base_kind {
    CREDS_BASE_STATIC,       /* base holds the profile's keys */
    CREDS_BASE_PROCESS,      /* credential_process: run plan->process */
    CREDS_BASE_WEB_IDENTITY, /* role_arn + web_identity_token_file: plan->web, web_token_file */
    CREDS_BASE_ENVIRONMENT,  /* credential_source = Environment */
    CREDS_BASE_CONTAINER,    /* credential_source = EcsContainer */
    CREDS_BASE_IMDS,         /* credential_source = Ec2InstanceMetadata */
};

/* The plan for the credentials of a profile: base credentials, then zero or more roles assumed
 * in order: steps[0] is assumed with the base credentials, each next step with the
 * credentials of the one before. */
struct creds_plan {
    struct aws_creds base;   /* keys for CREDS_BASE_STATIC; base.source names the profile that
                                gives the base ("profile NAME") for every kind */
    struct creds_role_step *steps;
    size_t n_steps;
    char region[AWSNAME_REGION_MAX]; /* the profile's region, "" if none */
    enum creds_base_kind base_kind;
    char *process;              /* CREDS_BASE_PROCESS: the command (may hold secrets) */
    struct creds_role_step web; /* CREDS_BASE_WEB_IDENTITY: the role to assume */
    char *web_token_file;       /* CREDS_BASE_WEB_IDENTITY */
};

/* Frees and zeroes; safe on a zeroed plan. */
void creds_plan_free(struct creds_plan *p);

/* From AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN (AWS_SECURITY_TOKEN as
 * a fallback). Empty variables count as unset. Returns 1 found, 0 not set, -1 error (only one
 * of the two keys set: the message says which; or memory ran out). out is zeroed unless 1. */
int creds_from_env(struct aws_creds *out, char *err, size_t errlen);

/* The plan for a profile. Profile name: profile if non-NULL and non-empty, else AWS_PROFILE,
 * else "default" (the first two are "explicit"). Files: AWS_SHARED_CREDENTIALS_FILE (default
 * ~/.aws/credentials) and AWS_CONFIG_FILE (default ~/.aws/config); "~/" expands to HOME.
 * Config sections are [default] and [profile NAME] (others ignored); credentials sections are
 * [NAME]. Keys are matched without regard to case; for the same profile a key from the
 * credentials file wins over the config file. Lines are read the way the AWS CLI reads them
 * (indented lines after an option continue it and are ignored here; '#' and ';' start
 * comment lines) and values of any length are accepted (session tokens exceed inih's line
 * buffer).
 *
 * The requested profile: role_arn (with source_profile) makes a role step, else static keys
 * (aws_access_key_id + aws_secret_access_key [+ aws_session_token]) are the base. Following
 * source_profile, a profile with static keys is the base (even when it also has role_arn, as
 * in the SDKs; a profile may name itself as its source when it has static keys), one with
 * role_arn adds a step. A role profile with web_identity_token_file has a web identity base
 * (its source_profile, if any, is ignored, as in botocore); one with credential_source
 * (Environment, EcsContainer, Ec2InstanceMetadata) has that base and its own role step; a
 * profile with credential_process and no static keys (and no role_arn, unless reached as a
 * source_profile) has a process base. Static keys win over credential_process and
 * web_identity_token_file. Loops are reported with the chain that loops. The bases that must
 * be fetched are fetched by the providers (provider_*.c).
 *
 * A missing file has no profiles; a malformed one is an error naming the file and line.
 * Returns 1 found (out filled), 0 no credentials: the profile is not found and was not
 * requested explicitly, or it exists but has no credential settings at all (out->region is
 * then filled from it, and the caller goes on to other sources), -1 error. */
int creds_plan_resolve(const char *profile, struct creds_plan *out, char *err, size_t errlen);

/* Web identity from AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN (+ AWS_ROLE_SESSION_NAME,
 * default "credreport-<unix time>"). Returns 1 (role and *token_file filled, free them with
 * creds_role_step_free() and free()), 0 when AWS_WEB_IDENTITY_TOKEN_FILE is not set, -1 on
 * error (the message says why). The token file is not read here: it is read at each fetch. */
int creds_web_identity_from_env(struct creds_role_step *role, char **token_file, char *err,
                                size_t errlen);
void creds_role_step_free(struct creds_role_step *s);

#endif
