/* config.ini: every setting of a run, parsed against one schema (section, key, type, default,
 * validator). Unknown sections and keys and bad values are errors reported as "FILE:LINE: ...",
 * all of them, not just the first. Command-line overrides go through the same validation with
 * their own origin ("--concurrency"). Pure C, no Lua: the Lua side reads config.values[].
 *
 * File syntax (inih underneath): [section] headers, "key = value" (or "key: value") lines,
 * whole-line comments starting with ';' or '#', inline comments starting with ';' or '#' after
 * whitespace, values optionally in double quotes (kept verbatim: no comment inside them), and
 * for lists only, continuation lines indented deeper than their key. Section and key names and
 * enum values are case-insensitive; values are stored normalized (see config_value.text). */
#ifndef CREDREPORT_CONFIG_H
#define CREDREPORT_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "base/buf.h"

enum config_type {
    CFG_STRING,
    CFG_INT,
    CFG_NUMBER,
    CFG_BOOL,
    CFG_LIST, /* comma-separated, trimmed, empties dropped */
    CFG_ENUM,
};

struct config_value {
    const char *section; /* static, lowercase */
    const char *key;     /* lowercase; static, or own_key */
    enum config_type type;
    /* Normalized text, "" when unset: ints in decimal, numbers in their shortest form ("1.5",
     * "60"), booleans "true"/"false", lists comma-joined without spaces ("a,b"), enums in
     * their canonical spelling ("AES256", "ACTIVE"). Never NULL after config_init(). */
    char *text;
    bool set;         /* given in the file or on the command line */
    char origin[300]; /* "config.ini:12" | "--concurrency" | "default" */
    char *own_key;    /* the key of a value outside the schema (an [endpoints] service), owned */
};

struct config {
    struct config_value *values; /* in schema order, grouped by section */
    size_t n;
    char *path; /* the file loaded, NULL if none */
};

/* All defaults. Returns 0, or -1 when memory runs out (c is then empty; config_free is safe). */
int config_init(struct config *c);

/* What config_load, config_set, config_check_key_template and config_shard return when memory
 * ran out (errors or why then says so): not a mistake in the settings, so the caller does not
 * report it as one. */
#define CONFIG_NO_MEMORY (-2)

/* Reads path (NULL = "config.ini", never required) on top of c. A missing file is not an error
 * unless must_exist. Returns 0, -1 with the errors appended to errors (one per line, in file
 * order, each "FILE:LINE: ..."; errors may be NULL), or CONFIG_NO_MEMORY. Values with errors
 * keep their previous value. A key given twice in one file is an error. */
int config_load(struct config *c, const char *path, bool must_exist, struct buf *errors);

/* A command-line override, validated like a file value. origin names it in errors and in
 * config_value.origin ("--concurrency"; NULL = "command line"). Returns 0, -1 with errors, or
 * CONFIG_NO_MEMORY. */
int config_set(struct config *c, const char *section, const char *key, const char *value,
               const char *origin, struct buf *errors);

/* NULL when the schema has no such setting. */
const struct config_value *config_get(const struct config *c, const char *section,
                                      const char *key);
/* "" if unknown or unset. */
const char *config_str(const struct config *c, const char *section, const char *key);
/* 0 if unknown or not a number. */
long config_int(const struct config *c, const char *section, const char *key);
double config_num(const struct config *c, const char *section, const char *key);
/* false if unknown. */
bool config_bool(const struct config *c, const char *section, const char *key);

/* Cross-field checks after load and overrides: kms_key_id and bucket_key need sse = aws:kms,
 * an account both included and excluded, wait_interval above max_wait, request_timeout below
 * connect_timeout. (Single-field rules such as bucket names in an s3:// destination, the
 * 12-digit expected_bucket_owner or {account} in key_template are checked when a value is
 * set.) Returns 0, or -1 with the errors appended. */
int config_validate(struct config *c, struct buf *errors);

/* 0 when path is a readable file of PEM CA certificates; -1 with why appended. (For
 * AWS_CA_BUNDLE, checked like [aws] ca_bundle.) */
int config_check_ca_file(const char *path, struct buf *why);
/* 0 when template is a valid report key template ([output] key_template: a relative path
 * with {account}, known variables only, no '.' or '..' segments); -1 with why appended, or
 * CONFIG_NO_MEMORY. */
int config_check_key_template(const char *template, struct buf *why);
/* 0 with *k and *n when spec is a valid [run] shard ("K/N" with 1 <= K <= N, or "auto/N" with
 * K from JOB_COMPLETION_INDEX + 1, as a Kubernetes Indexed Job numbers its pods from 0); -1
 * with why appended, or CONFIG_NO_MEMORY. */
int config_shard(const char *spec, long *k, long *n, struct buf *why);

void config_free(struct config *c);

#endif
