/* config.ini (config.c): load (every line error collected), validate (cross-field checks),
 * then every value read back in the form config_get gives. Invariants: a file that loads
 * without error has no error text; a failure has one. */
#include "config/config.h"
#include "fuzz.h"

#include <ini.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static char path[300];
    if (!path[0]) {
        snprintf(path, sizeof path, "%s/config.ini", fuzz_dir());
        ini_use_stack = false; /* a write past inih's buffer is then seen */
    }
    fuzz_write_file(path, data, size);
    struct config c;
    if (config_init(&c) != 0)
        abort();
    struct buf errors = BUF_INIT;
    int rc = config_load(&c, path, true, &errors);
    FUZZ_ASSERT((rc == 0) == (errors.len == 0), "rc %d with errors '%s'", rc,
                errors.data ? errors.data : "");
    if (rc == 0) {
        rc = config_validate(&c, &errors);
        FUZZ_ASSERT(rc == 0 || errors.len > 0, "a failed validation says why");
        config_str(&c, "endpoints", "url");
        config_num(&c, "aws", "request_timeout");
        config_int(&c, "run", "concurrency");
    }
    buf_free(&errors);
    config_free(&c);
    return 0;
}
