/* The shared files ~/.aws/credentials and ~/.aws/config (creds.c): the input is the
 * credentials file, a NUL byte, then the config file (no NUL: no config file). Resolved for
 * the default profile and for a profile named in the input's last line. Invariants: a plan
 * found has a base or role steps; failures say why. */
#include "aws/credentials/creds.h"
#include "fuzz.h"

#include <ini.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char cred_path[300], config_path[300];
    if (!cred_path[0]) {
        snprintf(cred_path, sizeof cred_path, "%s/credentials", fuzz_dir());
        snprintf(config_path, sizeof config_path, "%s/config", fuzz_dir());
        setenv("HOME", fuzz_dir(), 1);
        /* inih's line buffer on the heap, where a write past it is seen */
        ini_use_stack = false;
        static const char *const vars[] = {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                           "AWS_SESSION_TOKEN", "AWS_PROFILE",
                                           "AWS_DEFAULT_PROFILE", "AWS_WEB_IDENTITY_TOKEN_FILE",
                                           "AWS_ROLE_ARN"};
        for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
            unsetenv(vars[i]);
    }
    const uint8_t *nul = memchr(data, '\0', size);
    size_t cred_len = nul ? (size_t)(nul - data) : size;
    fuzz_write_file(cred_path, data, cred_len);
    setenv("AWS_SHARED_CREDENTIALS_FILE", cred_path, 1);
    if (nul) {
        fuzz_write_file(config_path, nul + 1, size - cred_len - 1);
        setenv("AWS_CONFIG_FILE", config_path, 1);
    } else {
        setenv("AWS_CONFIG_FILE", "/nonexistent/config", 1);
    }
    /* the last line names a profile, so chains of named profiles are reached too */
    size_t start = size;
    while (start > 0 && data[start - 1] != '\n' && size - start < 64)
        start--;
    char *last = fuzz_strndup(data + start, size - start);
    const char *profiles[] = {NULL, *last ? last : NULL};
    for (size_t i = 0; i < 2; i++) {
        if (i == 1 && !profiles[1])
            break;
        struct creds_plan p;
        char err[512] = "";
        int rc = creds_plan_resolve(profiles[i], &p, err, sizeof err);
        FUZZ_ASSERT(rc >= -1 && rc <= 1, "rc %d", rc);
        if (rc == -1)
            FUZZ_ASSERT(err[0], "a failure says why");
        creds_plan_free(&p);
    }
    free(last);
    return 0;
}
