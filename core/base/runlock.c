#include "base/runlock.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errmsg.h"

/* A directory only the user can use: theirs, not a link, no permission bits for others. */
static bool s_private_dir(const char *dir, char *err, size_t errlen)
{
    struct stat st;
    if (lstat(dir, &st) != 0) {
        errmsg_set(err, errlen, "%s: %s", dir, ERRNO_TEXT(errno));
        return false;
    }
    if (!S_ISDIR(st.st_mode)) {
        errmsg_set(err, errlen, "%s is not a directory (a symbolic link?)", dir);
        return false;
    }
    if (st.st_uid != geteuid()) {
        errmsg_set(err, errlen, "%s belongs to uid %ld, not to the user running credreport (uid %ld)",
                 dir, (long)st.st_uid, (long)geteuid());
        return false;
    }
    if (st.st_mode & 077) {
        errmsg_set(err, errlen, "%s is open to other users (mode %03o)", dir, (unsigned)(st.st_mode & 0777));
        return false;
    }
    return true;
}

int runlock_default_path(char *buf, size_t cap, char *err, size_t errlen)
{
    const char *xdg = getenv("XDG_RUNTIME_DIR");
    char ignored[256];
    if (xdg && *xdg && s_private_dir(xdg, ignored, sizeof ignored)) {
        int n = snprintf(buf, cap, "%s/credreport.lock", xdg);
        if (n > 0 && (size_t)n < cap)
            return 0;
    }
    char dir[64];
    snprintf(dir, sizeof dir, "/tmp/credreport-%ld", (long)geteuid());
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        errmsg_set(err, errlen, "cannot create %s: %s", dir, ERRNO_TEXT(errno));
        return -1;
    }
    if (!s_private_dir(dir, err, errlen))
        return -1;
    int n = snprintf(buf, cap, "%s/credreport.lock", dir);
    if (n < 0 || (size_t)n >= cap) {
        errmsg_set(err, errlen, "the lock path is too long");
        return -1;
    }
    return 0;
}

int runlock_take(const char *path, bool *busy, char *err, size_t errlen)
{
    *busy = false;
    int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
    if (fd < 0) {
        if (errno == ELOOP)
            errmsg_set(err, errlen, "it is a symbolic link");
        else
            errmsg_set(err, errlen, "%s", ERRNO_TEXT(errno));
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        errmsg_set(err, errlen, "%s", ERRNO_TEXT(errno));
    } else if (!S_ISREG(st.st_mode)) {
        errmsg_set(err, errlen, "it is not a regular file");
    } else if (st.st_uid != geteuid()) {
        errmsg_set(err, errlen, "it belongs to uid %ld, not to the user running credreport (uid %ld)",
                 (long)st.st_uid, (long)geteuid());
    } else if (st.st_mode & 022) {
        errmsg_set(err, errlen, "other users can write to it (mode %03o)", (unsigned)(st.st_mode & 0777));
    } else if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        if (errno == EWOULDBLOCK) {
            *busy = true;
            char holder[32] = "";
            ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
            holder[n > 0 ? n : 0] = '\0';
            holder[strcspn(holder, "\n")] = '\0';
            bool pid = holder[0] && strspn(holder, "0123456789") == strlen(holder);
            errmsg_set(err, errlen, "another run%s%s%s holds it", pid ? " (pid " : "", pid ? holder : "",
                     pid ? ")" : "");
        } else {
            errmsg_set(err, errlen, "cannot lock it: %s", ERRNO_TEXT(errno));
        }
    } else {
        char pid[32];
        int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
        /* The lock holds even if the pid cannot be recorded. */
        if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        }
        return fd;
    }
    close(fd);
    return -1;
}
