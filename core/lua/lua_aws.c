/* The AWS primitives scripts see: signing without sending (core.sign), clients with their
 * credentials (core.client, client:assume_role) and calls in each protocol (client:query,
 * client:json, client:rest_json, client:s3) to any service, described by service.h's table
 * or by the call. Calls suspend the calling task; expected failures return nil, err where
 * err is a table with a stable code. */
#include <curl/curl.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "aws/awsname.h"
#include "lua/lua_primitives.h"
#include "lua/lua_runtime.h"
#include "aws/credentials/provider.h"
#include "aws/sigv4.h"
#include "base/xml.h"

#define CLIENT_MT "credreport.client"
#define ERROR_MT "credreport.error"
#define KEPT_MT "credreport.kept_credentials"

struct client_ud {
    struct aws_client *c;
};

/* ---- values ----------------------------------------------------------------------- */

/* [-0, +1, m] Converts an XML element to Lua: text for a leaf; for an element whose children
 * are all <member>, an array; otherwise a table by child name, where a repeated name becomes
 * an array. */
static void s_push_xml(lua_State *L, const struct xml_node *n)
{
    luaL_checkstack(L, 6, "XML too deep");
    if (!n->first) {
        lua_pushstring(L, n->text);
        return;
    }
    bool members = true;
    for (const struct xml_node *c = n->first; c && members; c = c->next)
        members = strcmp(c->name, "member") == 0;
    lua_newtable(L);
    if (members) {
        lua_Integer i = 1;
        for (const struct xml_node *c = n->first; c; c = c->next) {
            s_push_xml(L, c);
            lua_rawseti(L, -2, i++);
        }
        return;
    }
    lua_newtable(L); /* names already made lists */
    for (const struct xml_node *c = n->first; c; c = c->next) {
        lua_getfield(L, -2, c->name);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            s_push_xml(L, c);
            lua_setfield(L, -3, c->name);
            continue;
        }
        lua_getfield(L, -2, c->name);
        bool is_list = lua_toboolean(L, -1);
        lua_pop(L, 1);
        if (!is_list) {
            lua_createtable(L, 2, 0);
            lua_insert(L, -2);
            lua_rawseti(L, -2, 1);
            lua_pushvalue(L, -1);
            lua_setfield(L, -4, c->name);
            lua_pushboolean(L, 1);
            lua_setfield(L, -3, c->name);
        }
        s_push_xml(L, c);
        lua_rawseti(L, -2, (lua_Integer)lua_rawlen(L, -2) + 1);
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
}

/* [-0, +1, m] The error table every failing call returns. */
static void s_push_error(lua_State *L, const struct aws_error *e, bool retryable, int attempts,
                         const char *service, const char *action, bool credentials,
                         const char *endpoint)
{
    lua_createtable(L, 0, 8);
    lua_pushstring(L, e->code);
    lua_setfield(L, -2, "code");
    lua_pushstring(L, e->message);
    lua_setfield(L, -2, "message");
    if (e->request_id[0]) {
        lua_pushstring(L, e->request_id);
        lua_setfield(L, -2, "request_id");
    }
    lua_pushinteger(L, e->http_status);
    lua_setfield(L, -2, "status");
    lua_pushboolean(L, retryable);
    lua_setfield(L, -2, "retryable");
    if (credentials) {
        lua_pushboolean(L, 1);
        lua_setfield(L, -2, "credentials");
    }
    if (endpoint) {
        const char *host = strstr(endpoint, "://");
        lua_pushstring(L, host ? host + 3 : endpoint);
        lua_setfield(L, -2, "host");
    }
    lua_pushinteger(L, attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushstring(L, service);
    lua_setfield(L, -2, "service");
    if (action) {
        lua_pushstring(L, action);
        lua_setfield(L, -2, "action");
    }
    luaL_setmetatable(L, ERROR_MT);
}

static int l_error_tostring(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_getfield(L, 1, "code");
    lua_getfield(L, 1, "message");
    lua_getfield(L, 1, "service");
    lua_getfield(L, 1, "action");
    lua_getfield(L, 1, "status");
    lua_getfield(L, 1, "request_id");
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    if (lua_isstring(L, 4) && lua_isstring(L, 5)) {
        lua_getfield(L, 1, "host");
        lua_pushfstring(L, "%s %s%s%s: ", lua_tostring(L, 4), lua_tostring(L, 5),
                        lua_isstring(L, -1) ? " on " : "", lua_isstring(L, -1) ? lua_tostring(L, -1) : "");
        lua_remove(L, -2);
        luaL_addvalue(&b);
    }
    lua_pushfstring(L, "%s: %s", luaL_optstring(L, 2, "Error"), luaL_optstring(L, 3, ""));
    luaL_addvalue(&b);
    if (lua_tointeger(L, 6) > 0) {
        lua_pushfstring(L, " (HTTP %d", (int)lua_tointeger(L, 6));
        luaL_addvalue(&b);
        if (lua_isstring(L, 7)) {
            lua_pushfstring(L, ", request id %s", lua_tostring(L, 7));
            luaL_addvalue(&b);
        }
        luaL_addchar(&b, ')');
    }
    luaL_pushresult(&b);
    return 1;
}

static void s_push_headers(lua_State *L, const struct header_list *h)
{
    lua_createtable(L, 0, (int)h->n);
    for (size_t i = 0; i < h->n; i++) {
        luaL_Buffer b;
        const char *name = h->items[i].name;
        luaL_buffinit(L, &b);
        for (const char *p = name; *p; p++)
            luaL_addchar(&b, (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p));
        luaL_pushresult(&b);
        lua_pushstring(L, h->items[i].value);
        lua_rawset(L, -3);
    }
}

/* ---- calls ------------------------------------------------------------------------ */

struct pending {
    struct runtime *rt;
    struct task *task;
    lua_State *L;         /* the task's coroutine */
    enum aws_protocol protocol;
    char service[SERVICE_ID_MAX];
    char action[64];
    bool completed;       /* finished before the task yielded */
    int nres;
};

struct convert {
    struct pending *p;
    const struct aws_result *res;
};

/* [-0, +2, m] result, meta | nil, err */
static int l_push_result(lua_State *L)
{
    struct convert *cv = lua_touserdata(L, 1);
    const struct aws_result *res = cv->res;
    struct pending *p = cv->p;
    lua_settop(L, 0);
    if (!res->ok) {
        lua_pushnil(L);
        s_push_error(L, &res->error, res->retryable, res->attempts, p->service,
                     p->action[0] ? p->action : NULL, res->credentials, res->endpoint);
        return 2;
    }
    if (p->protocol == AWS_QUERY) {
        const struct xml_node *root = res->xml;
        if (!root)
            return luaL_error(L, "the response is not XML");
        const struct xml_node *result = NULL;
        for (const struct xml_node *c = root->first; c && !result; c = c->next) {
            size_t n = strlen(c->name);
            if (n >= 6 && strcmp(c->name + n - 6, "Result") == 0)
                result = c;
        }
        if (result && result->first)
            s_push_xml(L, result);
        else
            lua_newtable(L);
    } else if (p->protocol != AWS_REST_XML) {
        if (!res->body->len) {
            lua_newtable(L);
        } else {
            runtime_cjson(L, "decode");
            lua_pushlstring(L, res->body->data, res->body->len);
            lua_call(L, 1, 1);
        }
    } else {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, res->status);
        lua_setfield(L, -2, "status");
        s_push_headers(L, res->headers);
        lua_setfield(L, -2, "headers");
        lua_pushlstring(L, res->body->data ? res->body->data : "", res->body->len);
        lua_setfield(L, -2, "body");
    }
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, res->attempts);
    lua_setfield(L, -2, "attempts");
    lua_pushnumber(L, res->seconds);
    lua_setfield(L, -2, "seconds");
    const char *rid = aws_request_id(res->headers);
    if (rid) {
        lua_pushstring(L, rid);
        lua_setfield(L, -2, "request_id");
    }
    return 2;
}

/* One function pushes the results whether the call finished at once or later. */
static void s_on_done(void *arg, const struct aws_result *res)
{
    struct pending *p = arg;
    bool now = runtime_task_running(p->task);
    lua_State *L = now ? p->L : p->rt->L;
    int base = lua_gettop(L);
    struct convert cv = {p, res};
    lua_pushcfunction(L, l_push_result);
    lua_pushlightuserdata(L, &cv);
    if (lua_pcall(L, 1, 2, 0) != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        struct aws_error e;
        memset(&e, 0, sizeof e);
        snprintf(e.code, sizeof e.code, "MalformedResponse");
        snprintf(e.message, sizeof e.message, "%s", msg ? msg : "cannot decode the response");
        lua_settop(L, base);
        lua_pushnil(L);
        s_push_error(L, &e, false, res->attempts, p->service, p->action[0] ? p->action : NULL, false,
                     res->endpoint);
    }
    if (now) {
        p->completed = true;
        p->nres = 2;
        return;
    }
    struct runtime *rt = p->rt;
    struct task *t = p->task;
    free(p);
    runtime_wake(rt, t, 2);
}

/* [-0, +2, -] Sends req for the running task and waits for it. */
static int s_call(lua_State *L, struct client_ud *cu, struct aws_request *req, const char *action)
{
    struct task *t = runtime_current_task(L);
    struct pending *p = calloc(1, sizeof *p);
    if (!p) {
        aws_request_cleanup(req);
        return luaL_error(L, "out of memory");
    }
    p->rt = runtime_get(L);
    p->task = t;
    p->L = L;
    p->protocol = req->service.protocol;
    snprintf(p->service, sizeof p->service, "%s", req->service.id);
    snprintf(p->action, sizeof p->action, "%s", action ? action : "");
    aws_send(cu->c, req, s_on_done, p);
    if (p->completed) {
        int n = p->nres;
        free(p);
        return n;
    }
    return runtime_wait(L, t);
}

static struct client_ud *s_check_client(lua_State *L, int idx)
{
    struct client_ud *cu = luaL_checkudata(L, idx, CLIENT_MT);
    if (!cu->c)
        luaL_argerror(L, idx, "client is closed");
    return cu;
}

/* [-0, +0, v] A string field of the options table at opts (absent: NULL), at most cap-1
 * bytes. The string stays referenced by the table. */
static const char *s_opt_string(lua_State *L, int opts, const char *field, size_t cap)
{
    if (!lua_istable(L, opts))
        return NULL;
    lua_getfield(L, opts, field);
    const char *v = NULL;
    if (!lua_isnil(L, -1)) {
        size_t len;
        v = lua_tolstring(L, -1, &len);
        if (lua_type(L, -1) != LUA_TSTRING || len == 0 || len >= cap)
            luaL_error(L, "opts.%s: expected a string of 1 to %d characters", field, (int)cap - 1);
    }
    lua_pop(L, 1);
    return v;
}

/* [-0, +0, v] opts.attempts (opts at index opts, or a field of the table there): at most this
 * many attempts for the call, when fewer than [aws] max_attempts; 0 when not given. */
static int s_opt_attempts(lua_State *L, int opts)
{
    if (!lua_istable(L, opts))
        return 0;
    lua_getfield(L, opts, "attempts");
    int isnum = 0;
    lua_Integer n = lua_isnil(L, -1) ? 0 : lua_tointegerx(L, -1, &isnum);
    if (!lua_isnil(L, -1) && (!isnum || n < 1 || n > 20))
        luaL_error(L, "opts.attempts: expected a whole number from 1 to 20");
    lua_pop(L, 1);
    return (int)n;
}

/* [-0, +0, v] The service named at idx for a call of method, which speaks one of the
 * protocols from..to: the table's entry, or for a service the table lacks, one that opts
 * (at index opts) describes (signing_name, endpoint_prefix) with the protocol from. Raises
 * when the name is no service id or the service speaks another protocol. */
static void s_check_service(lua_State *L, int idx, int opts, const char *method,
                            enum aws_protocol from, enum aws_protocol to, struct service *out)
{
    char err[160];
    if (service_describe(luaL_checkstring(L, idx), out, err, sizeof err) != 0)
        luaL_argerror(L, idx, err);
    if (out->built_in && (out->protocol < from || out->protocol > to))
        luaL_argerror(L, idx, lua_pushfstring(L, "%s speaks %s, not what client:%s sends",
                                              out->id, service_protocol_name(out->protocol), method));
    if (!out->built_in)
        out->protocol = from;
    const char *v = s_opt_string(L, opts, "signing_name", sizeof out->signing_name);
    if (v)
        snprintf(out->signing_name, sizeof out->signing_name, "%s", v);
    if ((v = s_opt_string(L, opts, "endpoint_prefix", sizeof out->endpoint_prefix)))
        snprintf(out->endpoint_prefix, sizeof out->endpoint_prefix, "%s", v);
}

/* [-0, +1, m] tostring() that accepts only strings, numbers and booleans. */
static const char *s_param_value(lua_State *L, int idx, const char *name)
{
    switch (lua_type(L, idx)) {
    case LUA_TSTRING:
    case LUA_TNUMBER:
        return lua_tostring(L, idx);
    case LUA_TBOOLEAN:
        return lua_toboolean(L, idx) ? "true" : "false";
    default:
        luaL_error(L, "parameter %s: expected a string, number or boolean, got %s", name,
                   luaL_typename(L, idx));
        return NULL;
    }
}

/* client:query(service, action, params[, opts]) -> result, meta | nil, err
 * Query protocol (IAM, STS, SNS). params is a flat table of parameter names to values, such
 * as {["MessageAttributes.entry.1.Name"] = "run"}. opts.version: the API version (required
 * for a service the table does not list); opts.region; opts.signing_name and
 * opts.endpoint_prefix for a service the table does not list. */
static int l_client_query(lua_State *L)
{
    struct client_ud *cu = s_check_client(L, 1);
    const char *action = luaL_checkstring(L, 3);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 5);
    struct aws_request req;
    s_check_service(L, 2, 5, "query", AWS_QUERY, AWS_QUERY, &req.service);
    const char *version = s_opt_string(L, 5, "version", sizeof req.service.api_version);
    if (!version && !req.service.api_version[0])
        return luaL_argerror(L, 5, "opts.version: the API version of a service credreport "
                                   "does not list");
    const char *region = s_opt_string(L, 5, "region", 32);
    int attempts = s_opt_attempts(L, 5);
    struct service svc = req.service;
    int rc = aws_query_init(&req, &svc, action, version);
    req.region = region;
    req.max_attempts = attempts;
    if (lua_istable(L, 4)) {
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, 4)) {
            if (lua_type(L, -2) != LUA_TSTRING) {
                aws_request_cleanup(&req);
                return luaL_error(L, "parameter names must be strings");
            }
            const char *name = lua_tostring(L, -2);
            lua_pushvalue(L, -1);
            const char *value = NULL;
            if (lua_type(L, -1) == LUA_TTABLE || lua_type(L, -1) == LUA_TNIL ||
                lua_type(L, -1) == LUA_TFUNCTION || lua_type(L, -1) == LUA_TUSERDATA) {
                aws_request_cleanup(&req);
                return luaL_error(L, "parameter %s: expected a string, number or boolean, got %s",
                                  name, luaL_typename(L, -1));
            }
            value = s_param_value(L, -1, name);
            rc |= aws_form_add(&req.body, name, value);
            lua_pop(L, 2);
        }
    }
    if (rc != 0) {
        aws_request_cleanup(&req);
        return luaL_error(L, "out of memory");
    }
    return s_call(L, cu, &req, action);
}

/* [-0, +1, e] Pushes cjson.encode(the table at idx, or {} when it is nil) and returns it: a
 * request body that lives on the caller's stack while its task waits. */
static const char *s_push_json(lua_State *L, int idx, size_t *len)
{
    runtime_cjson(L, "encode");
    if (lua_isnoneornil(L, idx))
        lua_newtable(L);
    else
        lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    return lua_tolstring(L, -1, len);
}

/* client:json(service, operation, body[, opts]) -> result, meta | nil, err
 * JSON 1.0 and 1.1 protocols (Organizations): body is a table, encoded with lua-cjson; so is
 * the answer. For a service the table does not list, opts.target_prefix gives the
 * X-Amz-Target prefix and opts.json_version "1.0" or "1.1" (default) the protocol; opts.region,
 * opts.signing_name and opts.endpoint_prefix as for client:query. */
static int l_client_json(lua_State *L)
{
    struct client_ud *cu = s_check_client(L, 1);
    const char *op = luaL_checkstring(L, 3);
    if (!lua_isnoneornil(L, 4))
        luaL_checktype(L, 4, LUA_TTABLE);
    lua_settop(L, 5);
    struct service svc;
    s_check_service(L, 2, 5, "json", AWS_JSON_1_0, AWS_JSON_1_1, &svc);
    const char *prefix = s_opt_string(L, 5, "target_prefix", sizeof svc.target_prefix);
    if (!prefix && !svc.target_prefix[0])
        return luaL_argerror(L, 5, "opts.target_prefix: the X-Amz-Target prefix of a service "
                                   "credreport does not list");
    const char *version = s_opt_string(L, 5, "json_version", 4);
    if (!svc.built_in || version) {
        if (version && strcmp(version, "1.0") != 0 && strcmp(version, "1.1") != 0)
            return luaL_argerror(L, 5, "opts.json_version: \"1.0\" or \"1.1\"");
        svc.protocol = version && strcmp(version, "1.0") == 0 ? AWS_JSON_1_0 : AWS_JSON_1_1;
    }
    const char *target = lua_pushfstring(L, "%s.%s", prefix ? prefix : svc.target_prefix, op);
    const char *region = s_opt_string(L, 5, "region", 32);
    struct aws_request req;
    aws_request_init(&req, &svc);
    req.operation = op;
    req.region = region;
    req.target = target; /* alive on this stack, like the body, while the task waits */
    req.max_attempts = s_opt_attempts(L, 5);
    req.body_ref = s_push_json(L, 4, &req.body_ref_len);
    return s_call(L, cu, &req, op);
}

/* [-0, +0, e] Checks a Lua headers table ({name = value} or {{name, value}, ...}) and
 * copies it into h. Every check comes before the first allocation, so a raised error leaks
 * nothing; returns -1 only when memory runs out. */
static int s_headers_from_lua(lua_State *L, int idx, struct header_list *h)
{
    if (lua_isnoneornil(L, idx))
        return 0;
    luaL_checktype(L, idx, LUA_TTABLE);
    for (int pass = 0; pass < 2; pass++) {
        lua_pushnil(L);
        while (lua_next(L, idx)) {
            const char *n, *v;
            if (lua_type(L, -2) == LUA_TNUMBER && lua_istable(L, -1)) {
                lua_rawgeti(L, -1, 1);
                lua_rawgeti(L, -2, 2);
                n = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
                v = lua_isstring(L, -1) ? lua_tostring(L, -1) : NULL;
                lua_pop(L, 2); /* the strings stay referenced by the pair */
            } else {
                n = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
                v = lua_isstring(L, -1) && lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -1) : NULL;
            }
            if (!n || !v)
                return luaL_error(L, "headers: expected {name = value} or {{name, value}, ...} strings");
            if (pass == 1 && headers_add(h, n, v) != 0) {
                lua_pop(L, 2);
                return -1;
            }
            lua_pop(L, 1);
        }
    }
    return 0;
}

/* client:s3(method, {bucket=, key=, query=, headers=, body=, region=, unsigned_payload=})
 * -> {status, headers, body}, meta | nil, err
 * body: a string, or a file whose whole content is sent, read as it goes out. */
static int l_client_s3(lua_State *L)
{
    struct client_ud *cu = s_check_client(L, 1);
    const char *method = luaL_checkstring(L, 2);
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_settop(L, 3);
    lua_getfield(L, 3, "bucket");  /* 4 */
    lua_getfield(L, 3, "key");     /* 5 */
    lua_getfield(L, 3, "query");   /* 6 */
    lua_getfield(L, 3, "headers"); /* 7 */
    lua_getfield(L, 3, "body");    /* 8 */
    lua_getfield(L, 3, "region");  /* 9 */
    lua_getfield(L, 3, "unsigned_payload"); /* 10 */
    const char *bucket = luaL_checkstring(L, 4);
    struct body_arg body = {"", 0, -1};
    if (!lua_isnil(L, 8))
        body_arg_check(L, 8, &body);
    struct aws_request req;
    aws_request_init(&req, service_find("s3"));
    req.operation = method;
    req.method = method;
    req.bucket = bucket;
    req.key = luaL_optstring(L, 5, "");
    req.query = luaL_optstring(L, 6, NULL);
    req.region = luaL_optstring(L, 9, NULL);
    req.unsigned_payload = lua_toboolean(L, 10);
    req.max_attempts = s_opt_attempts(L, 3);
    /* The body, a string or a file, stays on this function's stack, so alive, while the task
     * waits; so does what tells the core which file to read. */
    if (body.data) {
        req.body_ref = body.data;
        req.body_ref_len = body.len;
    } else {
        struct http_file_body *file = lua_newuserdatauv(L, sizeof *file, 0);
        file->fd = body.fd;
        file->len = body.len;
        req.body_file = file;
    }
    if (s_headers_from_lua(L, 7, &req.headers) != 0) {
        aws_request_cleanup(&req);
        return luaL_error(L, "out of memory");
    }
    return s_call(L, cu, &req, method);
}

/* client:rest_json(service, method, path[, body[, opts]]) -> result, meta | nil, err
 * REST-JSON protocol (Account, Security Hub): method and path (percent-encoded, from '/')
 * name the operation; body, a table, goes as JSON (nil: no body); the answer is decoded.
 * opts.query (the wire query), opts.headers, and opts.region, opts.signing_name,
 * opts.endpoint_prefix as for client:query. */
static int l_client_rest_json(lua_State *L)
{
    struct client_ud *cu = s_check_client(L, 1);
    const char *method = luaL_checkstring(L, 3);
    const char *path = luaL_checkstring(L, 4);
    luaL_argcheck(L, path[0] == '/', 4, "a path starts with '/'");
    if (!lua_isnoneornil(L, 5))
        luaL_checktype(L, 5, LUA_TTABLE);
    if (!lua_isnoneornil(L, 6))
        luaL_checktype(L, 6, LUA_TTABLE);
    lua_settop(L, 6);
    struct service svc;
    s_check_service(L, 2, 6, "rest_json", AWS_REST_JSON, AWS_REST_JSON, &svc);
    const char *region = s_opt_string(L, 6, "region", 32);
    const char *query = s_opt_string(L, 6, "query", 8192);
    if (lua_istable(L, 6))
        lua_getfield(L, 6, "headers"); /* 7 */
    else
        lua_pushnil(L);
    struct aws_request req;
    aws_request_init(&req, &svc);
    req.method = method;
    req.operation = path;
    req.path = path;
    req.query = query;
    req.region = region;
    req.max_attempts = s_opt_attempts(L, 6);
    if (!lua_isnil(L, 5))
        req.body_ref = s_push_json(L, 5, &req.body_ref_len);
    if (s_headers_from_lua(L, 7, &req.headers) != 0) {
        aws_request_cleanup(&req);
        return luaL_error(L, "out of memory");
    }
    return s_call(L, cu, &req, path);
}

/* ---- clients ---------------------------------------------------------------------- */

static void s_push_client(lua_State *L, struct aws_client *c)
{
    struct client_ud *cu = lua_newuserdatauv(L, sizeof *cu, 0);
    cu->c = c;
    luaL_setmetatable(L, CLIENT_MT);
}

static int l_client_close(lua_State *L)
{
    struct client_ud *cu = luaL_checkudata(L, 1, CLIENT_MT);
    if (cu->c) {
        aws_client_unref(cu->c);
        cu->c = NULL;
    }
    return 0;
}

/* client:keep_credentials() -> kept | nil
 * A role client's credentials (an opaque value: the keys stay in C, wiped when it is
 * collected), for a later client of the same role to start with: assume_role{credentials =
 * kept}. nil for a client that is no role's or has not assumed it yet, and once the run keeps
 * AWS_KEPT_BUDGET bytes of such credentials. */
static int l_client_keep(lua_State *L)
{
    struct client_ud *cu = s_check_client(L, 1);
    struct aws_kept_role *k = lua_newuserdatauv(L, sizeof *k, 0);
    memset(k, 0, sizeof *k);
    luaL_setmetatable(L, KEPT_MT);
    int rc = aws_role_keep(cu->c, k);
    if (rc < 0)
        return luaL_error(L, "out of memory");
    if (rc == 0)
        lua_pushnil(L);
    return 1;
}

static int l_kept_gc(lua_State *L)
{
    aws_kept_role_free(luaL_checkudata(L, 1, KEPT_MT));
    return 0;
}

static int l_kept_tostring(lua_State *L)
{
    struct aws_kept_role *k = luaL_checkudata(L, 1, KEPT_MT);
    lua_pushfstring(L, "credentials kept for %s", k->role_arn ? k->role_arn : "(used)");
    return 1;
}

/* client:assume_role{role_arn=, session_name=, external_id=, duration=, ahead=, credentials=}
 * -> client
 * The role is assumed at the first call, and again before its credentials expire. ahead: its
 * calls, the AssumeRole included, wait for a connection ahead of the others. credentials:
 * what keep_credentials() kept of the same role, to start with instead of assuming it (used
 * up here; ignored when they expire within minutes). */
static int l_client_assume_role(lua_State *L)
{
    struct client_ud *cu = s_check_client(L, 1);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "role_arn");
    lua_getfield(L, 2, "session_name");
    lua_getfield(L, 2, "external_id");
    lua_getfield(L, 2, "duration");
    lua_getfield(L, 2, "ahead");
    lua_getfield(L, 2, "credentials");
    struct aws_kept_role *kept = NULL;
    if (!lua_isnil(L, 8)) {
        kept = luaL_testudata(L, 8, KEPT_MT);
        luaL_argcheck(L, kept, 2, "credentials must be what client:keep_credentials() returned");
    }
    lua_Integer duration = luaL_optinteger(L, 6, 0);
    luaL_argcheck(L, duration >= 0 && duration <= 43200, 2, "duration: 0 (AWS's default) to 43200 seconds");
    struct aws_role role = {
        .role_arn = luaL_checkstring(L, 3),
        .session_name = luaL_optstring(L, 4, "credreport"),
        .external_id = luaL_optstring(L, 5, NULL),
        .duration_seconds = (int)duration,
        .own_rate_limits = true,
        .ahead = lua_toboolean(L, 7),
        .kept = kept,
    };
    luaL_argcheck(L, awsname_role_arn(role.role_arn), 2,
                  "role_arn must be a role ARN (arn:aws:iam::ACCOUNT:role/NAME)");
    luaL_argcheck(L, awsname_session_name(role.session_name), 2,
                  "session_name must be 2 to 64 of A-Za-z0-9_+=,.@-");
    luaL_argcheck(L, !kept || !kept->role_arn || strcmp(kept->role_arn, role.role_arn) == 0, 2,
                  "credentials were kept for another role");
    struct aws_client *c = aws_client_new_role(cu->c, &role);
    if (!c)
        return luaL_error(L, "out of memory");
    s_push_client(L, c);
    return 1;
}

/* client:credentials_info() -> {source=, expiration=} (never the keys) or nil */
static int l_client_info(lua_State *L)
{
    struct client_ud *cu = s_check_client(L, 1);
    struct aws_creds cr;
    memset(&cr, 0, sizeof cr);
    int rc = aws_client_creds(cu->c, &cr);
    if (rc <= 0) {
        lua_pushnil(L);
        return 1;
    }
    lua_createtable(L, 0, 2);
    lua_pushstring(L, cr.source);
    lua_setfield(L, -2, "source");
    if (cr.expiration) {
        lua_pushinteger(L, (lua_Integer)cr.expiration);
        lua_setfield(L, -2, "expiration");
    }
    creds_free(&cr);
    return 1;
}

/* core.client{[access_key_id=, secret_access_key=, session_token=] | [profile=]}
 * -> client | nil, err. Without explicit keys: the environment, then the shared files. */
static int l_client(lua_State *L)
{
    struct runtime *rt = runtime_get(L);
    if (!lua_isnoneornil(L, 1))
        luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    const char *ak = NULL, *sk = NULL, *tok = NULL, *profile = NULL;
    if (lua_istable(L, 1)) {
        lua_getfield(L, 1, "access_key_id");
        lua_getfield(L, 1, "secret_access_key");
        lua_getfield(L, 1, "session_token");
        lua_getfield(L, 1, "profile");
        ak = lua_tostring(L, 2);
        sk = lua_tostring(L, 3);
        tok = lua_tostring(L, 4);
        profile = lua_tostring(L, 5);
    }
    if ((ak == NULL) != (sk == NULL))
        return luaL_error(L, "core.client: give both access_key_id and secret_access_key");
    struct aws_client *c = NULL;
    if (ak) {
        struct aws_creds base;
        memset(&base, 0, sizeof base);
        base.access_key_id = strdup(ak);
        base.secret_access_key = strdup(sk);
        base.session_token = tok ? strdup(tok) : NULL;
        snprintf(base.source, sizeof base.source, "explicit");
        if (!base.access_key_id || !base.secret_access_key || (tok && !base.session_token)) {
            creds_free(&base);
            return luaL_error(L, "out of memory");
        }
        c = aws_client_new_static(rt->aws, &base);
        creds_free(&base);
    } else {
        /* The SDKs' chain; only instance metadata, the last resort, fails later (at the
         * first call, with code NoCredentials). */
        char err[1200];
        c = provider_chain(rt->aws, profile, err, sizeof err);
        if (!c) {
            lua_pushnil(L);
            lua_pushstring(L, err);
            return 2;
        }
    }
    if (!c)
        return luaL_error(L, "out of memory");
    s_push_client(L, c);
    return 1;
}

/* ---- signing without sending ------------------------------------------------------ */

static time_t s_check_time(lua_State *L, int idx)
{
    if (lua_type(L, idx) == LUA_TNUMBER)
        return (time_t)lua_tointeger(L, idx);
    const char *s = luaL_checkstring(L, idx);
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    const char *end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (!end || *end)
        end = strptime(s, "%Y%m%dT%H%M%SZ", &tm);
    if (!end || *end)
        luaL_argerror(L, idx, "time must be epoch seconds or \"YYYY-MM-DDTHH:MM:SSZ\"");
    return timegm(&tm);
}

/* core.sign{method=, url=, headers=, body=, service=, region=, time=, access_key_id=,
 *           secret_access_key=, session_token=, s3=, unsigned_payload=, presign=}
 * -> headers_to_add, details{canonical_request, string_to_sign, signature, signed_headers,
 *    scope, query (presigning: the signed query string)} */
static int l_sign(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    static const char *fields[] = {"method", "url", "headers", "body", "service", "region",
                                   "time", "access_key_id", "secret_access_key",
                                   "session_token", "s3", "unsigned_payload", "presign",
                                   "normalize", NULL};
    for (int i = 0; fields[i]; i++)
        lua_getfield(L, 1, fields[i]); /* at 2 + i */
    const char *method = luaL_optstring(L, 2, "GET");
    const char *url = luaL_checkstring(L, 3);
    size_t body_len = 0;
    const char *body = luaL_optlstring(L, 5, "", &body_len);
    const char *service = luaL_checkstring(L, 6);
    const char *region = luaL_checkstring(L, 7);
    time_t when = lua_isnoneornil(L, 8) ? time(NULL) : s_check_time(L, 8);
    struct sigv4_params p;
    sigv4_params_init(&p, service, region, when);
    p.creds.access_key_id = luaL_checkstring(L, 9);
    p.creds.secret_access_key = luaL_checkstring(L, 10);
    p.creds.session_token = luaL_optstring(L, 11, NULL);
    p.s3_rules = lua_isnil(L, 12) ? strcmp(service, "s3") == 0 : lua_toboolean(L, 12);
    p.normalize_path = lua_isnil(L, 15) ? !p.s3_rules : lua_toboolean(L, 15);
    p.sign_body = p.s3_rules;
    if (lua_toboolean(L, 13))
        p.payload_hash = "UNSIGNED-PAYLOAD";
    p.presign_expires = (long)luaL_optinteger(L, 14, 0);

    /* The URL's parts as they go on the wire: no normalization, no re-encoding. */
    CURLU *u = curl_url();
    char *host = NULL, *port = NULL, *path = NULL, *query = NULL, *scheme = NULL;
    if (!u)
        return luaL_error(L, "out of memory");
    CURLUcode uc = curl_url_set(u, CURLUPART_URL, url, CURLU_PATH_AS_IS | CURLU_NON_SUPPORT_SCHEME);
    if (uc == CURLUE_OK) {
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
        curl_url_get(u, CURLUPART_HOST, &host, 0);
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        curl_url_get(u, CURLUPART_QUERY, &query, 0);
    }
    curl_url_cleanup(u);
    if (uc != CURLUE_OK || !host) {
        curl_free(scheme);
        curl_free(host);
        curl_free(port);
        curl_free(path);
        curl_free(query);
        return luaL_argerror(L, 1, lua_pushfstring(L, "url: cannot parse '%s'", url));
    }
    struct header_list h = HEADER_LIST_INIT;
    struct sigv4_result r;
    memset(&r, 0, sizeof r);
    char err[256] = "out of memory";
    int rc = -1;
    lua_pushfstring(L, "%s%s%s", host, port ? ":" : "", port ? port : "");
    lua_pushstring(L, path ? path : "/");
    lua_pushstring(L, query ? query : "");
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_free(query);
    int hostidx = lua_gettop(L) - 2;
    if (s_headers_from_lua(L, 4, &h) != 0)
        goto done;
    if (!headers_get(&h, "Host") && headers_add(&h, "Host", lua_tostring(L, hostidx)) != 0)
        goto done;
    struct header_list before = HEADER_LIST_INIT;
    if (headers_copy(&before, &h) != 0) {
        headers_free(&before);
        goto done;
    }
    rc = sigv4_sign(&p, method, lua_tostring(L, hostidx + 1), lua_tostring(L, hostidx + 2), &h,
                    body, body_len, &r, err, sizeof err);
    if (rc == 0) {
        lua_newtable(L);
        for (size_t i = 0; i < h.n; i++) {
            const char *old = headers_get(&before, h.items[i].name);
            if (!old || strcmp(old, h.items[i].value) != 0) {
                lua_pushstring(L, h.items[i].value);
                lua_setfield(L, -2, h.items[i].name);
            }
        }
        lua_createtable(L, 0, 6);
        lua_pushstring(L, r.canonical_request.data);
        lua_setfield(L, -2, "canonical_request");
        lua_pushstring(L, r.string_to_sign.data);
        lua_setfield(L, -2, "string_to_sign");
        lua_pushstring(L, r.signature);
        lua_setfield(L, -2, "signature");
        lua_pushstring(L, r.signed_headers.data);
        lua_setfield(L, -2, "signed_headers");
        lua_pushstring(L, r.scope.data);
        lua_setfield(L, -2, "scope");
        if (p.presign_expires > 0) {
            lua_pushstring(L, r.query.data);
            lua_setfield(L, -2, "query");
        }
    }
    headers_free(&before);
done:
    headers_free(&h);
    sigv4_result_free(&r);
    if (rc != 0)
        return luaL_error(L, "core.sign: %s", err);
    return 2;
}

/* core.xml_decode(text) -> table | nil, err */
static int l_xml_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    char err[160];
    struct xml_node *root = xml_parse(s, len, err, sizeof err);
    if (!root) {
        lua_pushnil(L);
        lua_pushstring(L, err);
        return 2;
    }
    lua_createtable(L, 0, 1);
    /* s_push_xml can only fail on memory; the tree would leak then, which is acceptable for
     * an out-of-memory exit. */
    s_push_xml(L, root);
    lua_setfield(L, -2, root->name);
    xml_free(root);
    return 1;
}

void aws_primitives_add(lua_State *L)
{
    static const luaL_Reg client_methods[] = {
        {"query", l_client_query},
        {"json", l_client_json},
        {"rest_json", l_client_rest_json},
        {"s3", l_client_s3},
        {"assume_role", l_client_assume_role},
        {"credentials_info", l_client_info},
        {"keep_credentials", l_client_keep},
        {"close", l_client_close},
        {NULL, NULL}};
    if (luaL_newmetatable(L, CLIENT_MT)) {
        luaL_newlib(L, client_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_client_close);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_client_close);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, KEPT_MT)) {
        lua_pushcfunction(L, l_kept_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_kept_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, ERROR_MT)) {
        lua_pushcfunction(L, l_error_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {
        {"sign", l_sign}, {"client", l_client}, {"xml_decode", l_xml_decode}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
