/* CSV for Lua, on Debian's libcsv: core.csv_decode parses a credential report (or any CSV
 * with a header row) into rows keyed by column name, strictly; core.csv_encode writes rows
 * back, quoting only the fields that need it. No CSV syntax is handled here by hand: libcsv
 * parses, and quotes what csv_encode writes. */
#include <csv.h>
#include <lauxlib.h>
#include <stdarg.h>
#include <stdbool.h>
#include <string.h>

#include "base/buf.h"
#include "lua/lua_primitives.h"
#include "lua/lua_runtime.h"

#define DECODER_MT "credreport.csv_decoder"

/* The parser lives in a userdata so that its buffer is freed by __gc if a Lua error (out of
 * memory inside a callback) unwinds through csv_parse. Created closed; `live` once csv_init
 * succeeded. */
struct s_decoder {
    struct csv_parser p;
    bool live;
};

static int l_decoder_gc(lua_State *L)
{
    struct s_decoder *d = luaL_checkudata(L, 1, DECODER_MT);
    if (d->live) {
        csv_free(&d->p);
        d->live = false;
    }
    return 0;
}

/* Stack slots used while decoding. */
enum { S_TEXT = 1, S_DECODER, S_ROWS, S_COLUMNS, S_SEEN, S_ERR, S_ROW };

struct s_state {
    lua_State *L;
    size_t line;        /* line being fed to the parser, from 1 */
    size_t ncolumns;    /* 0 while the header row is read */
    size_t field;       /* fields of the current row so far */
    lua_Integer nrows;
    bool failed;
};

/* [-0, +0, m] Records the first error of the text in S_ERR: "line N: ...". Later ones are
 * ignored (the parser runs to the end of the chunk it was given). */
static void s_fail(struct s_state *s, const char *fmt, ...)
{
    if (s->failed)
        return;
    s->failed = true;
    va_list ap;
    va_start(ap, fmt);
    lua_pushfstring(s->L, "line %I: ", (lua_Integer)s->line);
    lua_pushvfstring(s->L, fmt, ap);
    va_end(ap);
    lua_concat(s->L, 2);
    lua_replace(s->L, S_ERR);
}

/* libcsv: one field ended. [-0, +0, m] (a new row table stays at S_ROW) */
static void s_on_field(void *data, size_t len, void *arg)
{
    struct s_state *s = arg;
    lua_State *L = s->L;
    if (s->failed)
        return;
    s->field++;
    if (s->ncolumns == 0) { /* the header */
        if (len == 0) {
            s_fail(s, "column %I of the header has no name", (lua_Integer)s->field);
            return;
        }
        lua_pushlstring(L, data, len);
        if (lua_rawget(L, S_SEEN) != LUA_TNIL) {
            lua_Integer first = lua_tointeger(L, -1);
            lua_pop(L, 1);
            s_fail(s, "the header names column %I like column %I", (lua_Integer)s->field, first);
            return;
        }
        lua_pop(L, 1);
        lua_pushlstring(L, data, len);
        lua_pushinteger(L, (lua_Integer)s->field);
        lua_rawset(L, S_SEEN);
        lua_pushlstring(L, data, len);
        lua_rawseti(L, S_COLUMNS, (lua_Integer)s->field);
        return;
    }
    if (s->field > s->ncolumns) {
        s_fail(s, "more fields than the header's %I", (lua_Integer)s->ncolumns);
        return;
    }
    if (s->field == 1)
        lua_createtable(L, 0, (int)s->ncolumns);
    lua_rawgeti(L, S_COLUMNS, (lua_Integer)s->field);
    lua_pushlstring(L, data, len);
    lua_rawset(L, S_ROW);
}

/* libcsv: one row ended. [-1|0, +0, m] (the row table moves into the rows) */
static void s_on_row(int term, void *arg)
{
    struct s_state *s = arg;
    (void)term;
    if (s->failed)
        return;
    if (s->ncolumns == 0) {
        s->ncolumns = s->field;
    } else if (s->field != s->ncolumns) {
        if (s->field > 0)
            lua_pop(s->L, 1);
        s_fail(s, "the row has %I field(s), the header %I", (lua_Integer)s->field, (lua_Integer)s->ncolumns);
        return;
    } else {
        lua_rawseti(s->L, S_ROWS, ++s->nrows);
    }
    s->field = 0;
}

static int s_space(unsigned char c)
{
    (void)c;
    return 0; /* spaces are data: nothing is trimmed */
}

/* core.csv_decode(text) -> rows, columns | nil, err
 * rows: {{column = value, ...}, ...} from the second row on; columns: the header's names in
 * order. Strict: every row has the header's number of fields, the header names each column
 * once, quotes follow RFC 4180 (a quote inside an unquoted field, text after a closing quote
 * or an unclosed quote is an error). Values are the strings as written, nothing trimmed or
 * converted. Blank lines are skipped. err: "line N: ...". */
static int l_csv_decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    lua_settop(L, 1);
    struct s_decoder *d = lua_newuserdatauv(L, sizeof *d, 0); /* S_DECODER */
    d->live = false;
    luaL_setmetatable(L, DECODER_MT);
    if (csv_init(&d->p, CSV_STRICT | CSV_STRICT_FINI) != 0)
        return luaL_error(L, "out of memory");
    d->live = true;
    csv_set_space_func(&d->p, s_space);
    lua_newtable(L); /* S_ROWS */
    lua_newtable(L); /* S_COLUMNS */
    lua_newtable(L); /* S_SEEN: name -> column */
    lua_pushnil(L);  /* S_ERR */
    struct s_state s = {.L = L};
    size_t off = 0;
    while (off < len && !s.failed) {
        const char *nl = memchr(text + off, '\n', len - off);
        size_t n = nl ? (size_t)(nl - (text + off)) + 1 : len - off;
        s.line++;
        if (csv_parse(&d->p, text + off, n, s_on_field, s_on_row, &s) != n) {
            if (csv_error(&d->p) != CSV_EPARSE)
                return luaL_error(L, "csv: %s", csv_strerror(csv_error(&d->p)));
            s_fail(&s, "malformed CSV: a quote inside an unquoted field, or text after a "
                   "closing quote");
        }
        off += n;
    }
    if (!s.failed && csv_fini(&d->p, s_on_field, s_on_row, &s) != 0) {
        if (csv_error(&d->p) != CSV_EPARSE)
            return luaL_error(L, "csv: %s", csv_strerror(csv_error(&d->p)));
        s_fail(&s, "a quoted field is not closed at the end of the text");
    }
    csv_free(&d->p);
    d->live = false;
    if (!s.failed && s.ncolumns == 0) {
        s.line = 1;
        s_fail(&s, "no header row: the text is empty");
    }
    if (s.failed) {
        lua_pushnil(L);
        lua_pushvalue(L, S_ERR);
        return 2;
    }
    lua_pushvalue(L, S_ROWS);
    lua_pushvalue(L, S_COLUMNS);
    return 2;
}

/* True when the field must be quoted to read back as itself. */
static bool s_needs_quotes(const char *f, size_t len)
{
    if (len > 0 && (f[0] == ' ' || f[0] == '\t' || f[len - 1] == ' ' || f[len - 1] == '\t'))
        return true;
    for (size_t i = 0; i < len; i++)
        if (f[i] == ',' || f[i] == '"' || f[i] == '\n' || f[i] == '\r')
            return true;
    return false;
}

/* Appends one field to b, quoted by libcsv when it needs it. 0, or -1 out of memory. */
static int s_add_field(struct buf *b, const char *f, size_t len)
{
    if (!s_needs_quotes(f, len))
        return buf_append(b, f, len);
    size_t need = csv_write(NULL, 0, f, len);
    if (buf_reserve(b, need + 1) != 0)
        return -1;
    b->len += csv_write(b->data + b->len, need, f, len);
    b->data[b->len] = '\0';
    return 0;
}

/* core.csv_encode(rows) -> text
 * rows: an array of arrays of strings; each row becomes one line ending in "\n". A field is
 * quoted (by libcsv) only when it holds a comma, a quote, a line break, or leading or
 * trailing blanks, so any string reads back as itself. Raises on anything but a string in a
 * row (a programming error: convert numbers with tostring). */
static int l_csv_encode(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 1);
    /* Nothing below raises between buf's first byte and its release: raw gets, strings only
     * (no conversion), and errors are raised after buf_free. */
    struct buf b = BUF_INIT;
    int rc = 0;
    lua_Integer bad_row = 0, bad_field = 0;
    int bad_type = LUA_TNONE;
    lua_Integer nrows = (lua_Integer)lua_rawlen(L, 1);
    for (lua_Integer r = 1; r <= nrows && rc == 0; r++) {
        if (lua_rawgeti(L, 1, r) != LUA_TTABLE) {
            bad_row = r, bad_type = lua_type(L, -1);
            break;
        }
        lua_Integer nf = (lua_Integer)lua_rawlen(L, 2);
        for (lua_Integer i = 1; i <= nf && rc == 0; i++) {
            if (lua_rawgeti(L, 2, i) != LUA_TSTRING) {
                bad_row = r, bad_field = i, bad_type = lua_type(L, -1);
                break;
            }
            size_t len;
            const char *f = lua_tolstring(L, 3, &len);
            if (i > 1)
                rc = buf_putc(&b, ',');
            if (rc == 0)
                rc = s_add_field(&b, f, len);
            lua_pop(L, 1);
        }
        if (bad_row)
            break;
        if (rc == 0)
            rc = buf_putc(&b, '\n');
        lua_settop(L, 1);
    }
    if (rc != 0 || bad_row) {
        buf_free(&b);
        if (rc != 0)
            return luaL_error(L, "out of memory");
        if (bad_field)
            return luaL_error(L, "csv_encode: row %I, field %I is a %s, not a string", bad_row,
                              bad_field, lua_typename(L, bad_type));
        return luaL_error(L, "csv_encode: row %I is a %s, not a table", bad_row,
                          lua_typename(L, bad_type));
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    buf_free(&b);
    return 1;
}

void csv_primitives_add(lua_State *L)
{
    if (luaL_newmetatable(L, DECODER_MT)) {
        lua_pushcfunction(L, l_decoder_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {
        {"csv_decode", l_csv_decode}, {"csv_encode", l_csv_encode}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
