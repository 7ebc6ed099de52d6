/* What the Lua library parses from the network, through the real runtime: core.xml_decode
 * (an S3 listing turned into tables: s_push_xml) and report.rows (the credential report CSV).
 * Invariants: neither raises (malformed input is nil, err or fewer rows, never an error);
 * rows are keyed by column names. */
#include "fuzz_runtime.h"

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

static int s_fn = LUA_NOREF;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct runtime *rt = fuzz_runtime();
    if (s_fn == LUA_NOREF) {
        if (luaL_loadstring(rt->L, s_chunk) != LUA_OK) {
            fprintf(stderr, "chunk: %s\n", lua_tostring(rt->L, -1));
            abort();
        }
        s_fn = luaL_ref(rt->L, LUA_REGISTRYINDEX);
    }
    lua_State *L = rt->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s_fn);
    lua_pushlstring(L, (const char *)data, size);
    int rc = lua_pcall(L, 1, 0, 0);
    FUZZ_ASSERT(rc == LUA_OK, "raised: %s", lua_tostring(L, -1));
    lua_settop(L, 0);
    lua_gc(L, LUA_GCSTEP, 0);
    return 0;
}
