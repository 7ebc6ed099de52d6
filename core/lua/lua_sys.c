/* Primitives for what Lua's standard library cannot do safely: encodings and digests
 * (OpenSSL), files written atomically with private permissions, directories, and log lines
 * shared by every thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <openssl/evp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "config/config.h"
#include "base/errmsg.h"
#include "base/log.h"
#include "base/pieces.h"
#include "lua/lua_primitives.h"
#include "lua/lua_runtime.h"
#include "base/printable.h"
#include "aws/sigv4.h"

/* core.base64_decode(s) -> bytes | nil, err */
static int l_base64_decode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    /* AWS sends it on one line; tolerate line breaks and spaces anyway. */
    luaL_Buffer clean;
    luaL_buffinit(L, &clean);
    for (size_t i = 0; i < len; i++)
        if (s[i] != '\n' && s[i] != '\r' && s[i] != ' ' && s[i] != '\t')
            luaL_addchar(&clean, s[i]);
    luaL_pushresult(&clean);
    const char *c = lua_tolstring(L, -1, &len);
    if (len % 4 != 0) {
        lua_pushnil(L);
        lua_pushstring(L, "base64: length is not a multiple of 4");
        return 2;
    }
    unsigned char *out = malloc(len / 4 * 3 + 1);
    if (!out)
        return luaL_error(L, "out of memory");
    int n = len ? EVP_DecodeBlock(out, (const unsigned char *)c, (int)len) : 0;
    if (n < 0) {
        free(out);
        lua_pushnil(L);
        lua_pushstring(L, "base64: invalid characters");
        return 2;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    if (len >= 1 && c[len - 1] == '=')
        n--;
    if (len >= 2 && c[len - 2] == '=')
        n--;
    lua_pushlstring(L, (const char *)out, (size_t)n);
    free(out);
    return 1;
}

static void s_push_base64(lua_State *L, const unsigned char *p, size_t len)
{
    luaL_Buffer b;
    char *out = luaL_buffinitsize(L, &b, 4 * ((len + 2) / 3) + 1);
    int n = EVP_EncodeBlock((unsigned char *)out, p, (int)len);
    luaL_pushresultsize(&b, (size_t)n);
}

/* core.base64_encode(bytes) -> text */
static int l_base64_encode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    s_push_base64(L, (const unsigned char *)s, len);
    return 1;
}

void body_arg_check(lua_State *L, int idx, struct body_arg *b)
{
    b->fd = -1;
    b->data = NULL;
    luaL_Stream *file = luaL_testudata(L, idx, LUA_FILEHANDLE);
    if (!file) {
        b->data = luaL_checklstring(L, idx, &b->len);
        return;
    }
    struct stat st;
    if (!file->closef)
        luaL_argerror(L, idx, "a closed file");
    if (fflush(file->f) != 0 || fstat(fileno(file->f), &st) != 0)
        luaL_argerror(L, idx, lua_pushfstring(L, "an unreadable file: %s", strerror(errno)));
    b->fd = fileno(file->f);
    b->len = (size_t)st.st_size;
}

/* core.digest(algorithm, body[, encoding]) -> digest | nil, err (a file that cannot be read);
 * algorithm "sha256" | "md5", encoding "hex" (default) | "base64" | "raw"; body: a string or
 * a file (its whole content). */
static int l_digest(lua_State *L)
{
    static const char *algos[] = {"sha256", "md5", NULL};
    static const char *encs[] = {"hex", "base64", "raw", NULL};
    int algo = luaL_checkoption(L, 1, NULL, algos);
    struct body_arg body;
    body_arg_check(L, 2, &body);
    int enc = luaL_checkoption(L, 3, "hex", encs);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    const EVP_MD *algorithm = algo == 0 ? EVP_sha256() : EVP_md5();
    if (body.data && !EVP_Digest(body.data, body.len, md, &mdlen, algorithm, NULL))
        return luaL_error(L, "digest failed");
    if (!body.data && pieces_digest(body.fd, body.len, algorithm, md, &mdlen) != 0) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read the file to digest: %s", strerror(errno));
        return 2;
    }
    if (enc == 2) {
        lua_pushlstring(L, (const char *)md, mdlen);
    } else if (enc == 1) {
        s_push_base64(L, md, mdlen);
    } else {
        char hex[2 * EVP_MAX_MD_SIZE + 1];
        for (unsigned int i = 0; i < mdlen; i++)
            snprintf(hex + 2 * i, 3, "%02x", md[i]);
        lua_pushlstring(L, hex, 2 * mdlen);
    }
    return 1;
}

static int s_fail(lua_State *L, const char *what, const char *path, int err)
{
    lua_pushnil(L);
    lua_pushfstring(L, "%s %s: %s", what, path, ERRNO_TEXT(err));
    return 2;
}

/* ---- files under a destination folder ---------------------------------------------- */

/* A report folder is written unattended, often on a shared host: another local user who can
 * write a directory on the way could plant a symbolic link (<dest>/<date> -> elsewhere) and
 * have reports and manifests written where they choose. So, when a root is given, every
 * directory of the root's real path is checked as ssh checks the files it trusts (owned by
 * root or this user, not writable by group or others unless it has the sticky bit), and every
 * component below the root is created and opened with openat() without following symbolic
 * links, and checked the same way. */

/* True when the directory open as fd (named path) is not to be trusted; why then says why. */
static bool s_untrusted(int fd, const char *path, struct buf *why)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        buf_printf(why, "cannot check %s: %s", path, ERRNO_TEXT(errno));
        return true;
    }
    if (st.st_uid != 0 && st.st_uid != geteuid()) {
        buf_printf(why, "%s is owned by user %ld, neither you nor root", path, (long)st.st_uid);
        return true;
    }
    if ((st.st_mode & (S_IWGRP | S_IWOTH)) && !(st.st_mode & S_ISVTX)) {
        buf_printf(why, "%s is writable by %s (mode %04o) and has no sticky bit", path,
                   (st.st_mode & S_IWOTH) ? "other users" : "its group",
                   (unsigned)(st.st_mode & 07777));
        return true;
    }
    return false;
}

/* Opens the directory name in dirfd (whose path is at, for messages) without following a
 * symbolic link, creating it with mode first when create; checks it (s_untrusted). Returns
 * the fd, or -1 with why filled and errno set. */
static int s_open_component(int dirfd, const char *at, const char *name, bool create,
                            mode_t mode, struct buf *why)
{
    if (create && mkdirat(dirfd, name, mode) != 0 && errno != EEXIST) {
        int e = errno;
        buf_printf(why, "cannot create directory %s/%s: %s", at, name, ERRNO_TEXT(e));
        errno = e;
        return -1;
    }
    int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        struct stat st;
        if ((e == ELOOP || e == ENOTDIR) && fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
            S_ISLNK(st.st_mode))
            buf_printf(why, "%s/%s is a symbolic link, which is not followed in a destination",
                       at, name);
        else
            buf_printf(why, "cannot open directory %s/%s: %s", at, name, ERRNO_TEXT(e));
        errno = e == ELOOP ? ENOTDIR : e;
        return -1;
    }
    struct buf path = BUF_INIT;
    if (buf_printf(&path, "%s/%s", at, name) != 0) {
        close(fd);
        errno = ENOMEM;
        return -1;
    }
    bool bad = s_untrusted(fd, path.data, why);
    buf_free(&path);
    if (bad) {
        close(fd);
        errno = EPERM;
        return -1;
    }
    return fd;
}

/* Opens the trusted root: its real path (the symbolic links the operator chose are followed)
 * walked from "/" with every directory checked; missing components at its end are created
 * with mode when create. Returns the fd, or -1 with why filled and errno set. */
static int s_open_root(const char *root, bool create, mode_t mode, struct buf *why)
{
    /* The longest part of root that exists, resolved; the rest is created below it. */
    char *head = strdup(root);
    char *real = NULL;
    const char *rest = "";
    int fd = -1, e = ENOMEM;
    if (!head)
        goto done;
    for (;;) {
        real = realpath(*head ? head : "/", NULL);
        if (real || errno != ENOENT)
            break;
        char *slash = strrchr(head, '/');
        if (!slash) { /* a relative root whose first component is missing */
            real = realpath(".", NULL);
            rest = root;
            break;
        }
        rest = root + (slash - head) + 1;
        *slash = '\0';
        if (slash == head) /* "/x": the part that exists is "/" */
            *head = '\0';
    }
    if (!real) {
        e = errno;
        buf_printf(why, "cannot resolve %s: %s", root, ERRNO_TEXT(e));
        goto done;
    }
    fd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0 || s_untrusted(fd, "/", why)) {
        e = fd < 0 ? errno : EPERM;
        if (fd >= 0)
            close(fd);
        fd = -1;
        goto done;
    }
    struct buf at = BUF_INIT;
    for (int pass = 0; pass < 2 && fd >= 0; pass++) {
        char *walk = strdup(pass == 0 ? real : rest);
        char *save = NULL;
        for (char *name = walk ? strtok_r(walk, "/", &save) : NULL; name && fd >= 0;
             name = strtok_r(NULL, "/", &save)) {
            if (strcmp(name, ".") == 0)
                continue;
            if (pass == 1 && strcmp(name, "..") == 0) { /* below a folder still to be made */
                buf_printf(why, "cannot create %s: it has a '..' after a missing folder", root);
                close(fd);
                fd = -1;
                e = ENOENT;
                break;
            }
            int next = s_open_component(fd, at.data ? at.data : "", name, pass == 1 && create,
                                        mode, why);
            e = errno;
            close(fd);
            fd = next;
            if (fd >= 0 && buf_printf(&at, "/%s", name) != 0) {
                close(fd);
                fd = -1;
                e = ENOMEM;
            }
        }
        if (!walk) {
            close(fd);
            fd = -1;
            e = ENOMEM;
        }
        free(walk);
    }
    buf_free(&at);
done:
    free(head);
    free(real);
    if (fd < 0)
        errno = e;
    return fd;
}

/* Opens the directory dir (root, or a path under it) for the primitives below: without a root,
 * as the OS resolves it; with one, root through s_open_root and the rest of dir component by
 * component, never following a symbolic link (created with mode when create). Returns the fd,
 * or -1 with why filled and errno set. */
static int s_open_dir(const char *dir, const char *root, bool create, mode_t mode,
                      struct buf *why)
{
    if (!root) {
        int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
            int e = errno;
            buf_printf(why, "cannot open directory %s: %s", dir, ERRNO_TEXT(e));
            errno = e;
        }
        return fd;
    }
    size_t rlen = strlen(root);
    while (rlen > 1 && root[rlen - 1] == '/')
        rlen--;
    if (strncmp(dir, root, rlen) != 0 || (dir[rlen] != '/' && dir[rlen] != '\0')) {
        buf_printf(why, "%s is not under the destination %s", dir, root);
        errno = EINVAL;
        return -1;
    }
    char *rootcopy = strndup(root, rlen);
    int fd = rootcopy ? s_open_root(rootcopy, create, mode, why) : -1;
    int e = rootcopy ? errno : ENOMEM;
    struct buf at = BUF_INIT;
    if (fd >= 0 && buf_puts(&at, rootcopy) != 0) {
        close(fd);
        fd = -1;
        e = ENOMEM;
    }
    free(rootcopy);
    char *walk = strdup(dir + rlen);
    char *save = NULL;
    for (char *name = walk ? strtok_r(walk, "/", &save) : NULL; name && fd >= 0;
         name = strtok_r(NULL, "/", &save)) {
        if (strcmp(name, ".") == 0)
            continue;
        if (strcmp(name, "..") == 0) {
            buf_printf(why, "%s leaves the destination (a '..' component)", dir);
            close(fd);
            fd = -1;
            e = EINVAL;
            break;
        }
        int next = s_open_component(fd, at.data, name, create, mode, why);
        e = errno;
        close(fd);
        fd = next;
        if (fd >= 0 && buf_printf(&at, "/%s", name) != 0) {
            close(fd);
            fd = -1;
            e = ENOMEM;
        }
    }
    if (!walk && fd >= 0) {
        close(fd);
        fd = -1;
        e = ENOMEM;
    }
    free(walk);
    buf_free(&at);
    if (fd < 0)
        errno = e;
    return fd;
}

/* [-0, +2, m] nil and why (or "out of memory" when why is empty), freeing why. */
static int s_fail_why(lua_State *L, struct buf *why)
{
    lua_pushnil(L);
    lua_pushstring(L, why->data ? why->data : "out of memory");
    buf_free(why);
    return 2;
}

static mode_t s_opt_mode(lua_State *L, int idx, mode_t def)
{
    lua_Integer mode = luaL_optinteger(L, idx, def);
    luaL_argcheck(L, mode >= 0 && mode <= 07777, idx, "a file mode from 0 to 07777");
    return (mode_t)mode;
}

/* core.mkdir_p(path[, mode[, root]]) -> true | nil, err */
static int l_mkdir_p(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    mode_t mode = s_opt_mode(L, 2, 0700);
    const char *root = luaL_optstring(L, 3, NULL);
    struct buf why = BUF_INIT;
    if (root) {
        int fd = s_open_dir(path, root, true, mode, &why);
        if (fd < 0)
            return s_fail_why(L, &why);
        close(fd);
        lua_pushboolean(L, 1);
        return 1;
    }
    size_t len = strlen(path);
    char *p = malloc(len + 1);
    if (!p)
        return luaL_error(L, "out of memory");
    memcpy(p, path, len + 1);
    for (char *s = p + 1; ; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (mkdir(p, mode) != 0 && errno != EEXIST) {
                int e = errno;
                lua_pushstring(L, p);
                free(p);
                return s_fail(L, "cannot create directory", lua_tostring(L, -1), e);
            }
            *s = c;
            if (!c)
                break;
        }
    }
    free(p);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return s_fail(L, "not a directory:", path, ENOTDIR);
    lua_pushboolean(L, 1);
    return 1;
}

/* [-0, +1, m] Pushes and returns the directory part of path ("." when it has none); *name
 * is its last component. */
static const char *s_split_path(lua_State *L, const char *path, const char **name)
{
    const char *slash = strrchr(path, '/');
    *name = slash ? slash + 1 : path;
    return slash ? lua_pushlstring(L, path, slash > path ? (size_t)(slash - path) : 1)
                 : lua_pushliteral(L, ".");
}

static int s_write_all(void *arg, const void *data, size_t len)
{
    int fd = *(int *)arg;
    size_t off = 0;
    while (off < len) {
        ssize_t n = write(fd, (const char *)data + off, len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        off += (size_t)n;
    }
    return 0;
}

/* core.write_file(path, body[, mode[, root]]) -> true | nil, err
 * body: a string or a file (its whole content, copied piece by piece). Written to a
 * temporary file beside it, flushed, then renamed: a reader sees the old file or the whole
 * new one, never a part. Mode defaults to 0600. With a root, the directories from root to
 * the file are opened as s_open_dir() does. */
static int l_write_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct body_arg body;
    body_arg_check(L, 2, &body);
    mode_t mode = s_opt_mode(L, 3, 0600);
    const char *root = luaL_optstring(L, 4, NULL);
    const char *name;
    const char *dir = s_split_path(L, path, &name);
    if (!*name || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
        return s_fail(L, "cannot write", path, EISDIR);
    struct buf why = BUF_INIT;
    int dirfd = s_open_dir(dir, root, false, 0700, &why);
    if (dirfd < 0)
        return s_fail_why(L, &why);
    buf_free(&why);
    const char *tmp = lua_pushfstring(L, "%s.tmp-%d-%p", name, (int)getpid(), (void *)&body);
    const char *shown = lua_pushfstring(L, "%s/%s", dir, tmp);
    int fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    int e = errno;
    bool written = fd >= 0 && (body.data ? s_write_all(&fd, body.data, body.len)
                                         : pieces_each(body.fd, body.len, s_write_all, &fd)) == 0;
    bool ok = written && fchmod(fd, mode) == 0 && fsync(fd) == 0;
    e = fd < 0 ? e : errno;
    if (fd >= 0 && close(fd) != 0 && ok) {
        ok = false;
        e = errno;
    }
    /* renameat replaces whatever path names (a planted link too) and never follows it. */
    if (ok && renameat(dirfd, tmp, dirfd, name) != 0) {
        ok = false;
        e = errno;
        shown = path;
    }
    if (!ok && fd >= 0)
        unlinkat(dirfd, tmp, 0);
    close(dirfd);
    if (!ok)
        return s_fail(L, fd < 0 ? "cannot create" : "cannot write", shown, e);
    lua_pushboolean(L, 1);
    return 1;
}

/* [-0, +0|+2] Opens the regular file at path for reading and returns its descriptor; else
 * pushes nil and why, and returns -1. With a root, the directories from root to the file are
 * opened as s_open_dir() does and the file itself is not followed if it is a symbolic link,
 * so a link planted inside a destination cannot send the read elsewhere. */
static int s_open_regular(lua_State *L, const char *path, const char *root)
{
    int top = lua_gettop(L);
    const char *name;
    const char *dir = s_split_path(L, path, &name);
    struct buf why = BUF_INIT;
    int dirfd = s_open_dir(dir, root, false, 0700, &why);
    lua_settop(L, top);
    if (dirfd < 0) {
        s_fail_why(L, &why);
        return -1;
    }
    buf_free(&why);
    int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    int e = errno;
    close(dirfd);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) != 0) {
        e = errno;
        close(fd);
        fd = -1;
    } else if (fd >= 0 && !S_ISREG(st.st_mode)) {
        close(fd);
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read %s: not a regular file", path);
        return -1;
    }
    if (fd < 0 && e == ELOOP) {
        lua_pushnil(L);
        lua_pushfstring(L, "cannot read %s: a symbolic link (not followed inside the destination)", path);
        return -1;
    }
    if (fd < 0)
        s_fail(L, "cannot read", path, e);
    return fd;
}

/* core.read_file(path[, root]) -> content | nil, err
 * A regular file's whole content, opened as s_open_regular() does. */
static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *root = luaL_optstring(L, 2, NULL);
    int fd = s_open_regular(L, path, root);
    if (fd < 0)
        return 2;
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (;;) {
        char *p = luaL_prepbuffer(&b);
        ssize_t n = read(fd, p, LUAL_BUFFERSIZE);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            int e = errno;
            if (n < 0) {
                close(fd);
                return s_fail(L, "cannot read", path, e);
            }
            break;
        }
        luaL_addsize(&b, (size_t)n);
    }
    close(fd);
    luaL_pushresult(&b);
    return 1;
}

/* The __close and __gc of a file core.open_file made (a luaL_Stream's closef), as io.open's. */
static int s_close_stream(lua_State *L)
{
    luaL_Stream *file = luaL_checkudata(L, 1, LUA_FILEHANDLE);
    errno = 0;
    return luaL_fileresult(L, fclose(file->f) == 0, NULL);
}

/* core.open_file(path[, root]) -> file | nil, err
 * A regular file opened for reading as s_open_regular() does, as a Lua file (io.open's kind):
 * a file of any size can be read in pieces with file:read(n). */
static int l_open_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *root = luaL_optstring(L, 2, NULL);
    luaL_Stream *file = lua_newuserdatauv(L, sizeof *file, 0);
    file->f = NULL;
    file->closef = NULL; /* closed, as io's own files are until fopen succeeds */
    if (luaL_getmetatable(L, LUA_FILEHANDLE) != LUA_TTABLE)
        return luaL_error(L, "core.open_file needs the io library loaded");
    lua_setmetatable(L, -2);
    int fd = s_open_regular(L, path, root);
    if (fd < 0)
        return 2;
    file->f = fdopen(fd, "r");
    if (!file->f) {
        int e = errno;
        close(fd);
        return s_fail(L, "cannot read", path, e);
    }
    file->closef = s_close_stream;
    return 1;
}

/* ---- logging ---------------------------------------------------------------------- */

static const char *s_levels[] = {"debug", "info", "warn", "error", NULL};

/* Adds v as is, or quoted when it holds spaces, quotes, '=' or line breaks. */
/* [-0, +1, m] Pushes the sorted string keys of the table at idx as an array. */
static void s_sorted_keys(lua_State *L, int idx)
{
    lua_newtable(L);
    lua_Integer n = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        if (lua_type(L, -1) == LUA_TSTRING) {
            lua_pushvalue(L, -1);
            lua_rawseti(L, -3, ++n);
        }
    }
    lua_getglobal(L, "table");
    lua_getfield(L, -1, "sort");
    lua_pushvalue(L, -3);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
}

/* core.can_write(path) -> true | nil, why: whether files can be created at path (a folder),
 * or, when it does not exist yet, under its nearest existing parent; nothing is created. */
static int l_can_write(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct buf p = BUF_INIT;
    if (buf_puts(&p, *path ? path : ".") != 0) {
        buf_free(&p);
        return luaL_error(L, "out of memory");
    }
    struct stat st;
    while (stat(p.data, &st) != 0 && errno == ENOENT) {
        char *slash = strrchr(p.data, '/');
        if (!slash) {
            buf_reset(&p);
            buf_puts(&p, ".");
        } else if (slash == p.data) {
            p.data[1] = '\0';
        } else {
            *slash = '\0';
        }
        p.len = strlen(p.data);
    }
    const char *why = NULL;
    char err[256];
    if (stat(p.data, &st) != 0)
        why = errmsg_errno(errno, err, sizeof err);
    else if (!S_ISDIR(st.st_mode))
        why = "not a directory";
    else if (access(p.data, W_OK | X_OK) != 0)
        why = errmsg_errno(errno, err, sizeof err);
    if (why) {
        lua_pushnil(L);
        lua_pushfstring(L, "%s: %s", p.data, why);
    } else {
        lua_pushboolean(L, 1);
    }
    buf_free(&p);
    return why ? 2 : 1;
}

/* core.check_key_template(template) -> true | nil, why: the rules of [output] key_template
 * (a relative path with {account}, known variables only, no '.' or '..' segments). */
static int l_check_key_template(lua_State *L)
{
    const char *t = luaL_checkstring(L, 1);
    struct buf why = BUF_INIT;
    if (config_check_key_template(t, &why) == 0) {
        buf_free(&why);
        lua_pushboolean(L, 1);
        return 1;
    }
    return s_fail_why(L, &why);
}

/* core.check_shard(spec) -> k, n | nil, why: the rules of [run] shard, so that a script's
 * shard is checked by the same code as config.ini's ("auto/N" gives K from
 * JOB_COMPLETION_INDEX). */
static int l_check_shard(lua_State *L)
{
    const char *spec = luaL_checkstring(L, 1);
    struct buf why = BUF_INIT;
    long k, n;
    if (config_shard(spec, &k, &n, &why) == 0) {
        buf_free(&why);
        lua_pushinteger(L, k);
        lua_pushinteger(L, n);
        return 2;
    }
    return s_fail_why(L, &why);
}

/* core.printable(text) -> text with control characters shown as \xNN, for terminals and
 * text logs (account names, AWS messages). */
static int l_printable(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    if (!printable_needed(s, len)) {
        lua_settop(L, 1);
        return 1;
    }
    struct buf b = BUF_INIT;
    if (printable_append(&b, s, len) != 0) {
        buf_free(&b);
        return luaL_error(L, "out of memory");
    }
    lua_pushlstring(L, b.data, b.len);
    buf_free(&b);
    return 1;
}

/* core.log(level, message[, fields]) writes one line to stderr:
 *   2026-11-28T21:30:00.000Z INFO message key=value ...   (text)
 *   {"time":"...","level":"info","msg":"...",...}          (json, through lua-cjson) */
static int l_log(lua_State *L)
{
    int level = luaL_checkoption(L, 1, NULL, s_levels);
    const char *msg = luaL_checkstring(L, 2);
    if (!log_enabled((enum log_level)level))
        return 0;
    lua_settop(L, 3);
    struct log_field fields[32];
    size_t n = 0;
    if (lua_istable(L, 3)) {
        s_sorted_keys(L, 3); /* 4 */
        runtime_cjson(L, "encode"); /* 5 */
        lua_Integer nkeys = (lua_Integer)lua_rawlen(L, 4);
        for (lua_Integer i = 1; i <= nkeys && n < sizeof fields / sizeof *fields; i++) {
            lua_rawgeti(L, 4, i);
            const char *k = lua_tostring(L, -1);
            lua_gettable(L, 3);
            struct log_field *f = &fields[n++];
            f->key = k; /* alive in the keys array */
            switch (lua_type(L, -1)) {
            case LUA_TNUMBER:
                f->kind = LOG_NUMBER;
                f->number = lua_tonumber(L, -1);
                break;
            case LUA_TSTRING:
                f->kind = LOG_TEXT;
                f->text = lua_tolstring(L, -1, &f->len);
                break;
            case LUA_TTABLE:
            case LUA_TBOOLEAN:
                lua_pushvalue(L, 5);
                lua_insert(L, -2);
                lua_call(L, 1, 1);
                f->kind = LOG_JSON;
                f->text = lua_tolstring(L, -1, &f->len);
                break;
            default:
                f->kind = LOG_TEXT;
                f->text = luaL_tolstring(L, -1, &f->len);
                lua_remove(L, -2);
            }
            /* The value stays on the stack until the line is written. */
            luaL_checkstack(L, 4, "too many log fields");
        }
    }
    log_event((enum log_level)level, msg, fields, n);
    return 0;
}

/* core.uri_encode(s) -> s with every byte but A-Za-z0-9-_.~ percent-encoded (AWS's rule) */
static int l_uri_encode(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    struct buf b = BUF_INIT;
    if (sigv4_uri_encode(&b, s, len, false) != 0) {
        buf_free(&b);
        return luaL_error(L, "out of memory");
    }
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    buf_free(&b);
    return 1;
}

/* core.progress(text | nil): the live progress line on a terminal (nil clears it). */
static int l_progress(lua_State *L)
{
    log_progress(luaL_optstring(L, 1, NULL));
    return 0;
}

/* core.list_dir(path[, root]) -> {names...} | nil, err  (no "." or ".."); with a root, the
 * directories from root to path are opened as s_open_dir() does. */
static int l_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    const char *root = luaL_optstring(L, 2, NULL);
    struct buf why = BUF_INIT;
    int fd = s_open_dir(path, root, false, 0, &why);
    if (fd < 0)
        return s_fail_why(L, &why);
    buf_free(&why);
    DIR *d = fdopendir(fd);
    if (!d) {
        int e = errno;
        close(fd);
        return s_fail(L, "cannot read directory", path, e);
    }
    lua_newtable(L);
    lua_Integer n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        lua_pushstring(L, e->d_name);
        lua_rawseti(L, -2, ++n);
    }
    closedir(d);
    return 1;
}

void sys_primitives_add(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"base64_decode", l_base64_decode}, {"base64_encode", l_base64_encode},
        {"digest", l_digest}, {"mkdir_p", l_mkdir_p}, {"write_file", l_write_file},
        {"read_file", l_read_file}, {"open_file", l_open_file},
        {"log", l_log}, {"printable", l_printable}, {"check_key_template", l_check_key_template},
        {"check_shard", l_check_shard},
        {"can_write", l_can_write}, {"progress", l_progress}, {"uri_encode", l_uri_encode}, {"list_dir", l_list_dir}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
