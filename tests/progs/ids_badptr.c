/* The identity calls given a pointer the kernel refuses: each prints its return
   value and errno (EFAULT natively; veil must answer the same, not stop). */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#define SHOW(name, call)                                                   \
    do {                                                                   \
        errno = 0;                                                         \
        long rc_ = (call);                                                 \
        printf("%s %ld %s\n", name, rc_, rc_ < 0 ? strerrorname_np(errno) : "-"); \
    } while (0)

int main(void)
{
    char *bad = (char *)16;
    SHOW("openat", syscall(SYS_openat, AT_FDCWD, bad, O_RDONLY));
    SHOW("newfstatat", syscall(SYS_newfstatat, AT_FDCWD, "/", bad, 0));
    SHOW("statx", syscall(SYS_statx, AT_FDCWD, "/", 0, 0x7ff, bad));
    SHOW("getxattr", syscall(SYS_getxattr, "/", bad, NULL, 0));
    SHOW("setxattr", syscall(SYS_setxattr, "/", bad, "x", 1, 0));
    SHOW("chown", syscall(SYS_chown, bad, 0, 0));
    SHOW("access", syscall(SYS_access, bad, 0));
    SHOW("getresuid", syscall(SYS_getresuid, bad, bad, bad));
    SHOW("getresgid", syscall(SYS_getresgid, bad, bad, bad));
    SHOW("capget", syscall(SYS_capget, bad, bad));
    SHOW("setgroups", syscall(SYS_setgroups, 2, bad));
    SHOW("chdir", syscall(SYS_chdir, bad));
    SHOW("mkdir", syscall(SYS_mkdir, bad, 0755));
    SHOW("unlink", syscall(SYS_unlink, bad));
    return 0;
}
