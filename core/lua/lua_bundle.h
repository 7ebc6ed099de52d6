/* The Lua library and bundled workflows, built into the binary so that a copied binary works
 * on its own. Files in a Lua directory (CREDREPORT_LUA_DIR, beside the binary, or installed)
 * win over these, so operators change behaviour without recompiling. */
#ifndef CREDREPORT_LUA_BUNDLE_H
#define CREDREPORT_LUA_BUNDLE_H

#include <stddef.h>

struct lua_bundle_file {
    const char *path;    /* relative to the Lua directory: "credreport/workflow.lua" */
    const char *source;
    size_t len;
};

/* Ends with a NULL path. Generated from lua/ at build time (core/embed-lua). */
extern const struct lua_bundle_file lua_bundle[];

#endif
