/* layout_syscalls: each path-taking system call of issue 5's list, called directly
 * (raw syscall where glibc would pick another one) on guest-only paths, one line
 * each: "NAME = OK[ detail]" or "NAME = ENAME". Run it in a guest that has
 * /etc/guest-only-file and a writable /tmp; compare with the same run under chroot.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static void res(const char *name, long r, const char *detail)
{
    if (r < 0)
        printf("%s = %s\n", name, ename(errno));
    else if (detail && *detail)
        printf("%s = OK %s\n", name, detail);
    else
        printf("%s = OK\n", name);
}

static const char *size_of(const char *p)
{
    static char b[64];
    struct stat st;
    if (stat(p, &st) < 0)
        snprintf(b, sizeof b, "(stat %s)", ename(errno));
    else
        snprintf(b, sizeof b, "size=%lld mtime=%lld mode=%o", (long long)st.st_size,
                 st.st_mtime < 100000000 ? (long long)st.st_mtime : -1LL /* now */, st.st_mode & 07777);
    return b;
}

int main(void)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *G = "/etc/guest-only-file";
    char d[256];
    struct stat st;
    long r;

    r = syscall(SYS_newfstatat, AT_FDCWD, G, &st, 0);
    snprintf(d, sizeof d, "size=%lld", (long long)st.st_size);
    res("newfstatat", r, r == 0 ? d : NULL);
    r = syscall(SYS_stat, G, &st);
    res("stat", r, NULL);
    r = syscall(SYS_lstat, "/etc/../etc/guest-only-file", &st);
    res("lstat", r, NULL);
    struct statx sx;
    r = syscall(SYS_statx, AT_FDCWD, G, 0, STATX_SIZE, &sx);
    snprintf(d, sizeof d, "size=%llu", (unsigned long long)sx.stx_size);
    res("statx", r, r == 0 ? d : NULL);
    res("access", syscall(SYS_access, G, R_OK), NULL);
    res("faccessat", syscall(SYS_faccessat, AT_FDCWD, G, R_OK), NULL);
    res("faccessat2", syscall(SYS_faccessat2, AT_FDCWD, G, R_OK, AT_EACCESS), NULL);
    res("open", syscall(SYS_open, G, O_RDONLY), NULL);
    res("creat", syscall(SYS_creat, "/tmp/c1", 0644), NULL);
    res("mkdir", syscall(SYS_mkdir, "/tmp/d1", 0755), NULL);
    res("mkdirat", syscall(SYS_mkdirat, AT_FDCWD, "/tmp/d2", 0755), NULL);
    res("rmdir", syscall(SYS_rmdir, "/tmp/d2"), NULL);
    res("mknod", syscall(SYS_mknod, "/tmp/fifo1", S_IFIFO | 0644, 0), NULL);
    res("mknodat", syscall(SYS_mknodat, AT_FDCWD, "/tmp/fifo2", S_IFIFO | 0644, 0), NULL);
    res("rename", syscall(SYS_rename, "/tmp/c1", "/tmp/c2"), NULL);
    res("renameat", syscall(SYS_renameat, AT_FDCWD, "/tmp/c2", AT_FDCWD, "/tmp/c3"), NULL);
    res("renameat2", syscall(SYS_renameat2, AT_FDCWD, "/tmp/c3", AT_FDCWD, "/tmp/c4", RENAME_NOREPLACE), NULL);
    res("link", syscall(SYS_link, "/tmp/c4", "/tmp/l1"), NULL);
    res("linkat", syscall(SYS_linkat, AT_FDCWD, "/tmp/c4", AT_FDCWD, "/tmp/l2", 0), NULL);
    res("symlink", syscall(SYS_symlink, "/etc/guest-only-file", "/tmp/s1"), NULL);
    res("symlinkat", syscall(SYS_symlinkat, "../etc/guest-only-file", AT_FDCWD, "/tmp/s2"), NULL);
    char buf[PATH_MAX];
    r = syscall(SYS_readlink, "/tmp/s1", buf, sizeof buf - 1);
    if (r >= 0) buf[r] = 0;
    res("readlink", r, r >= 0 ? buf : NULL);
    r = syscall(SYS_readlinkat, AT_FDCWD, "/tmp/s2", buf, sizeof buf - 1);
    if (r >= 0) buf[r] = 0;
    res("readlinkat", r, r >= 0 ? buf : NULL);
    res("chmod", syscall(SYS_chmod, "/tmp/c4", 0600), NULL);
    r = syscall(SYS_fchmodat, AT_FDCWD, "/tmp/l2", 0640);
    res("fchmodat", r, size_of("/tmp/c4"));
    /* to one's own ids: allowed to every user (what is compared is the path) */
    res("chown", syscall(SYS_chown, "/tmp/c4", getuid(), getgid()), NULL);
    res("lchown", syscall(SYS_lchown, "/tmp/s1", getuid(), getgid()), NULL);
    res("fchownat", syscall(SYS_fchownat, AT_FDCWD, "/tmp/c4", getuid(), getgid(), AT_SYMLINK_NOFOLLOW), NULL);
    int fd = open("/tmp/c4", O_WRONLY);
    if (fd >= 0) {
        if (write(fd, "0123456789", 10) < 0) {}
        close(fd);
    }
    r = syscall(SYS_truncate, "/tmp/c4", 4);
    res("truncate", r, size_of("/tmp/c4"));
    struct timespec ts[2] = {{1000000, 0}, {1000000, 0}};
    r = syscall(SYS_utimensat, AT_FDCWD, "/tmp/c4", ts, 0);
    res("utimensat", r, size_of("/tmp/c4"));
    struct timeval tv[2] = {{2000000, 0}, {2000000, 0}};
    r = syscall(SYS_utimes, "/tmp/c4", tv);
    res("utimes", r, size_of("/tmp/c4"));
    struct timeval tv2[2] = {{3000000, 0}, {3000000, 0}};
    r = syscall(SYS_futimesat, AT_FDCWD, "/tmp/c4", tv2);
    res("futimesat", r, size_of("/tmp/c4"));
    struct utimbuf { long a, m; } ub = {4000000, 4000000};
    r = syscall(SYS_utime, "/tmp/c4", &ub);
    res("utime", r, size_of("/tmp/c4"));
    r = syscall(SYS_setxattr, "/tmp/c4", "user.veil", "v1", 2, 0);
    res("setxattr", r, NULL);
    if (r == 0) {
        char v[16] = {0};
        r = syscall(SYS_getxattr, "/tmp/c4", "user.veil", v, sizeof v - 1);
        res("getxattr", r, r >= 0 ? v : NULL);
        r = syscall(SYS_lgetxattr, "/tmp/l1", "user.veil", v, sizeof v - 1);
        res("lgetxattr", r, r >= 0 ? v : NULL);
        char names[256] = {0};
        r = syscall(SYS_listxattr, "/tmp/c4", names, sizeof names);
        res("listxattr", r, r >= 0 ? names : NULL);
        res("removexattr", syscall(SYS_removexattr, "/tmp/c4", "user.veil"), NULL);
        res("lsetxattr", syscall(SYS_lsetxattr, "/tmp/c4", "user.veil2", "v", 1, 0), NULL);
        res("llistxattr", syscall(SYS_llistxattr, "/tmp/c4", names, sizeof names), NULL);
        res("lremovexattr", syscall(SYS_lremovexattr, "/tmp/c4", "user.veil2"), NULL);
    }
    struct statfs sf;
    res("statfs", syscall(SYS_statfs, G, &sf), NULL);
    int in = inotify_init1(IN_CLOEXEC);
    res("inotify_add_watch", syscall(SYS_inotify_add_watch, in, G, IN_ALL_EVENTS) < 0 ? -1 : 0, NULL);
    /* fanotify: refused under a layout (tests/escapes/fanotify_root.c) */
    res("unlink", syscall(SYS_unlink, "/tmp/l1"), NULL);
    res("unlinkat", syscall(SYS_unlinkat, AT_FDCWD, "/tmp/d1", AT_REMOVEDIR), NULL);
    res("chdir", syscall(SYS_chdir, "/etc"), NULL);
    r = syscall(SYS_getcwd, buf, sizeof buf);
    res("getcwd", r, r >= 0 ? buf : NULL);
    res("open relative", syscall(SYS_openat, AT_FDCWD, "guest-only-file", O_RDONLY) < 0 ? -1 : 0, NULL);
    /* chroot inside the guest: a sub-tree becomes the root */
    mkdir("/tmp/newroot", 0755);
    mkdir("/tmp/newroot/etc", 0755);
    fd = open("/tmp/newroot/etc/inner", O_WRONLY | O_CREAT, 0644);
    if (fd >= 0) {
        if (write(fd, "inner\n", 6) < 0) {}
        close(fd);
    }
    r = syscall(SYS_chroot, "/tmp/newroot");
    res("chroot", r, NULL);
    if (r == 0) {
        res("chdir / after chroot", chdir("/"), NULL);
        res("open /etc/inner after chroot", syscall(SYS_open, "/etc/inner", O_RDONLY) < 0 ? -1 : 0, NULL);
        res("open /etc/guest-only-file after chroot", syscall(SYS_open, G, O_RDONLY) < 0 ? -1 : 0, NULL);
        res("open /../../etc/guest-only-file after chroot",
            syscall(SYS_open, "/../../etc/guest-only-file", O_RDONLY) < 0 ? -1 : 0, NULL);
        r = syscall(SYS_getcwd, buf, sizeof buf);
        res("getcwd after chroot", r, r >= 0 ? buf : NULL);
    }
    return 0;
}
