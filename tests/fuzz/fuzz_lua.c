/* What the Lua library parses from the network, through the real runtime: core.xml_decode
 * (an S3 listing turned into tables: s_push_xml) and report.rows (the credential report CSV,
 * core.csv_decode on libcsv). Invariants: neither raises (malformed input is nil, err); every
 * row has a value in every column; what core.csv_encode writes of the rows decodes to them. */
#include "fuzz_runtime.h"

#include <lauxlib.h>

static const char s_chunk[] =
    "local data = ...\n"
    "local core = require 'credreport.core'\n"
    "local report = require 'credreport.report'\n"
    "local doc, err = core.xml_decode(data)\n"
    "assert(doc or type(err) == 'string', 'xml_decode: a table or nil, err')\n"
    "local rows, cols = report.rows(data)\n"
    "if not rows then\n"
    "  assert(type(cols) == 'string', 'csv: rows or nil, err')\n"
    "  return\n"
    "end\n"
    "local lines, blank = {cols}, false\n"
    "for _, row in ipairs(rows) do\n"
    "  local line = {}\n"
    "  for i, c in ipairs(cols) do line[i] = assert(row[c], 'a value in every column') end\n"
    "  blank = blank or (#cols == 1 and line[1] == '')\n"
    "  lines[#lines + 1] = line\n"
    "end\n"
    "if blank then return end -- a lone empty field is a blank line, which is skipped\n"
    "local again, cols2 = core.csv_decode(core.csv_encode(lines))\n"
    "assert(again, 'what csv_encode wrote decodes: ' .. tostring(cols2))\n"
    "assert(#again == #rows and #cols2 == #cols, 'as many rows and columns')\n"
    "for i, row in ipairs(rows) do\n"
    "  for _, c in ipairs(cols) do assert(again[i][c] == row[c], 'a value round-trips') end\n"
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
