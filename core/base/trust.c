#include "base/trust.h"

#include <errno.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/errmsg.h"

int trust_file(int fd, const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (fstat(fd, &st) != 0) {
        errmsg_set(err, errlen, "%s: %s", path, ERRNO_TEXT(errno));
        return -1;
    }
    if (!S_ISREG(st.st_mode)) {
        errmsg_set(err, errlen, "%s is not a regular file", path);
        return -1;
    }
    if (st.st_uid != geteuid() && st.st_uid != 0) {
        errmsg_set(err, errlen, "%s belongs to uid %ld, neither the user running credreport (uid "
                   "%ld) nor root: refused, so nobody else can steer the run", path,
                   (long)st.st_uid, (long)geteuid());
        return -1;
    }
    if (st.st_mode & 022) {
        errmsg_set(err, errlen, "%s can be changed by other users (mode %03o): refused; "
                   "chmod go-w it", path, (unsigned)(st.st_mode & 0777));
        return -1;
    }
    return 0;
}
