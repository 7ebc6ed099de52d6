/* The Lua runtime the JSON and Lua targets decode with, made once per process (as each worker
 * thread makes its own): the runtime's cjson hooks and the bundled Lua library (from
 * CREDREPORT_LUA_DIR, else lua/ below the folder the target runs in). */
#ifndef CREDREPORT_FUZZ_RUNTIME_H
#define CREDREPORT_FUZZ_RUNTIME_H

#include "fuzz.h"
#include "lua/lua_runtime.h"

static inline struct runtime *fuzz_runtime(void)
{
    static struct runtime *rt;
    if (!rt) {
        struct runtime_options ro;
        memset(&ro, 0, sizeof ro);
        http_settings_default(&ro.http);
        retry_config_default(&ro.retry);
        ro.region = "us-east-1";
        const char *dir = getenv("CREDREPORT_LUA_DIR");
        ro.lua_dir = dir && *dir ? dir : "lua";
        char err[256] = "";
        if (loop_global_init() != 0 || !(rt = runtime_new(&ro, err, sizeof err))) {
            fprintf(stderr, "runtime: %s\n", err);
            abort();
        }
    }
    return rt;
}

#endif
