/* What the Lua library parses from the network, through the real runtime: core.xml_decode
 * (an S3 listing turned into tables: s_push_xml) and report.rows (the credential report CSV).
 * Invariants: neither raises (malformed input is nil, err or fewer rows, never an error);
 * rows are keyed by column names. */
#include "fuzz.h"
#include "lua_runtime.h"

#include <lauxlib.h>

static const char s_chunk[] =
    "local data = ...\n"
    "local core = require 'credreport.core'\n"
    "local report = require 'credreport.report'\n"
    "local doc, err = core.xml_decode(data)\n"
    "assert(doc or type(err) == 'string', 'xml_decode: a table or nil, err')\n"
    "local rows = report.rows(data)\n"
    "for _, row in ipairs(rows) do\n"
    "  for k in pairs(row) do assert(type(k) == 'string', 'a column name') end\n"
    "end\n";

static struct runtime *s_rt;
static int s_fn = LUA_NOREF;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!s_rt) {
        struct runtime_options ro;
        memset(&ro, 0, sizeof ro);
        http_settings_default(&ro.http);
        retry_config_default(&ro.retry);
        ro.region = "us-east-1";
        const char *dir = getenv("CREDREPORT_LUA_DIR");
        ro.lua_dir = dir && *dir ? dir : "lua";
        char err[256];
        if (loop_global_init() != 0 || !(s_rt = runtime_new(&ro, err, sizeof err))) {
            fprintf(stderr, "runtime: %s\n", err);
            abort();
        }
        if (luaL_loadstring(s_rt->L, s_chunk) != LUA_OK) {
            fprintf(stderr, "chunk: %s\n", lua_tostring(s_rt->L, -1));
            abort();
        }
        s_fn = luaL_ref(s_rt->L, LUA_REGISTRYINDEX);
    }
    lua_State *L = s_rt->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s_fn);
    lua_pushlstring(L, (const char *)data, size);
    int rc = lua_pcall(L, 1, 0, 0);
    FUZZ_ASSERT(rc == LUA_OK, "raised: %s", lua_tostring(L, -1));
    lua_settop(L, 0);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
