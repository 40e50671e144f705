/* Decoding corpus: path and *at calls, openat2, statx, faccessat2, stat family,
 * getdents64, readlink, renameat2, utimensat, lseek.  Works in the scratch
 * directory argv[1]; deterministic output; prints nothing. */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[256];
    struct stat st;
    struct statx stx;
    if (argc > 1 && chdir(argv[1]) != 0)
        return 2;

    int fd = openat(AT_FDCWD, "f1", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0)
        return 3;
    if (write(fd, "0123456789abcdef", 16) != 16)
        return 4;
    fstat(fd, &st);
    ftruncate(fd, 12);
    lseek(fd, 4, SEEK_SET);
    lseek(fd, -2, SEEK_END);
    close(fd);

    struct open_how how = {.flags = O_RDONLY | O_CLOEXEC, .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS};
    fd = syscall(SYS_openat2, AT_FDCWD, "f1", &how, sizeof how);
    if (fd >= 0) {
        read(fd, buf, sizeof buf);
        pread(fd, buf, 5, 3);
        close(fd);
    }
    struct open_how how2 = {.flags = O_RDWR | O_CREAT | O_EXCL, .mode = 0600};
    fd = syscall(SYS_openat2, AT_FDCWD, "f2", &how2, sizeof how2);
    if (fd >= 0)
        close(fd);
    syscall(SYS_openat2, AT_FDCWD, "/etc/passwd", &how, sizeof how); /* EXDEV */
    syscall(SYS_openat2, AT_FDCWD, "f1", NULL, sizeof how);          /* EFAULT */

    statx(AT_FDCWD, "f1", AT_STATX_SYNC_AS_STAT, STATX_TYPE | STATX_MODE | STATX_SIZE, &stx);
    statx(AT_FDCWD, "nonexistent", AT_SYMLINK_NOFOLLOW, STATX_ALL, &stx);
    fstatat(AT_FDCWD, "f1", &st, AT_SYMLINK_NOFOLLOW);
    fstatat(AT_FDCWD, "nonexistent", &st, 0);
    stat("/dev/null", &st);

    access("f1", R_OK | W_OK);
    access("nonexistent", F_OK);
    syscall(SYS_faccessat2, AT_FDCWD, "f1", X_OK, AT_EACCESS);
    syscall(SYS_faccessat2, AT_FDCWD, "f1", R_OK, AT_SYMLINK_NOFOLLOW | AT_EACCESS);
    faccessat(AT_FDCWD, "f2", W_OK, 0);

    mkdirat(AT_FDCWD, "d1", 0755);
    int dfd = open("d1", O_RDONLY | O_DIRECTORY);
    symlinkat("../f1", dfd, "ln");
    readlinkat(dfd, "ln", buf, sizeof buf);
    readlink("d1/ln", buf, 3);
    linkat(AT_FDCWD, "f1", dfd, "hard", 0);
    renameat2(dfd, "hard", dfd, "hard2", RENAME_NOREPLACE);
    renameat2(AT_FDCWD, "f2", AT_FDCWD, "f1", RENAME_NOREPLACE);
    fchmodat(AT_FDCWD, "f2", 0604, 0);
    fchownat(AT_FDCWD, "f2", -1, -1, AT_SYMLINK_NOFOLLOW);
    struct timespec ts[2] = {{1000000000, 5}, {1000000001, UTIME_OMIT}};
    utimensat(AT_FDCWD, "f2", ts, 0);
    utimensat(dfd, "ln", NULL, AT_SYMLINK_NOFOLLOW);

    int n = syscall(SYS_getdents64, dfd, buf, sizeof buf);
    (void)n;
    syscall(SYS_getdents64, dfd, buf, sizeof buf);
    fchdir(dfd);
    getcwd(buf, sizeof buf);
    chdir("..");
    close(dfd);

    unlinkat(AT_FDCWD, "d1/ln", 0);
    unlinkat(AT_FDCWD, "d1/hard2", 0);
    unlinkat(AT_FDCWD, "d1", AT_REMOVEDIR);
    truncate("f2", 0);
    rename("f2", "f3");
    unlink("f3");
    unlink("f1");
    return 0;
}
