/* The families of primitives that make up require "credreport.core": each adds its functions
 * (and the metatables of its userdata) to the table on top of the stack. lua_core.c, the one
 * place that knows them all, builds the module from them. [-0, +0, m] */
#ifndef CREDREPORT_LUA_PRIMITIVES_H
#define CREDREPORT_LUA_PRIMITIVES_H

#include <lua.h>

void task_primitives_add(lua_State *L);     /* lua_runtime.c: spawn, sleep, time */
void aws_primitives_add(lua_State *L);      /* lua_aws.c: client, sign, xml_decode */
void workflow_primitives_add(lua_State *L); /* lua_workflow.c: the account and outcome queues */
void sys_primitives_add(lua_State *L);      /* lua_sys.c: files, digests, logging, encodings */
void csv_primitives_add(lua_State *L);      /* lua_csv.c: csv_decode, csv_encode */

/* A body argument: a string, or an open Lua file (io.open, io.tmpfile) whose whole content,
 * from its start, is the body; a file is read as the body is used, never held in memory. */
struct body_arg {
    const char *data; /* the string; NULL for a file */
    size_t len;
    int fd;           /* the file's descriptor; -1 for a string */
};
/* Reads the body argument at idx (raises for anything else, or a closed file); a file's
 * buffered writes are flushed first. lua_sys.c. */
void body_arg_check(lua_State *L, int idx, struct body_arg *b);

/* require "credreport.core": every family, the version and the exit statuses. */
int luaopen_credreport_core(lua_State *L);

#endif
