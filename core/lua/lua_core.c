/* require "credreport.core", assembled from the primitive families (lua_primitives.h). */
#include <lauxlib.h>

#include "base/exitcode.h"
#include "lua/lua_primitives.h"

int luaopen_credreport_core(lua_State *L)
{
    lua_newtable(L);
    task_primitives_add(L);
    aws_primitives_add(L);
    workflow_primitives_add(L);
    sys_primitives_add(L);
    csv_primitives_add(L);
    lua_pushstring(L, CREDREPORT_VERSION);
    lua_setfield(L, -2, "version");
    static const struct { const char *name; int status; } exits[] = {
        {"delivered", EXIT_DELIVERED}, {"accounts_failed", EXIT_ACCOUNTS_FAILED},
        {"usage", EXIT_USAGE}, {"cannot_start", EXIT_CANNOT_START}, {"locked", EXIT_LOCKED},
        {"nothing_in_scope", EXIT_NOTHING_IN_SCOPE}, {"internal", EXIT_INTERNAL},
        {"signal_base", EXIT_SIGNAL_BASE}};
    lua_createtable(L, 0, (int)(sizeof exits / sizeof *exits));
    for (size_t i = 0; i < sizeof exits / sizeof *exits; i++) {
        lua_pushinteger(L, exits[i].status);
        lua_setfield(L, -2, exits[i].name);
    }
    lua_setfield(L, -2, "exit");
    return 1;
}
