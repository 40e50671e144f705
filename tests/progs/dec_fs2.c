/* Decoding corpus: more file calls: O_TMPFILE/O_PATH opens, chmod/chown
 * family, links, xattrs, inotify, flock, fallocate/fadvise, copy_file_range,
 * sendfile, splice/tee, utimes, fsync.  Works in the scratch directory argv[1];
 * prints nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/inotify.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    char buf[64];
    if (argc > 1 && chdir(argv[1]) != 0)
        return 2;
    int fd = open("a", O_RDWR | O_CREAT | O_EXCL, 0600);
    write(fd, "some file contents\n", 19);
    fsync(fd);
    fdatasync(fd);
    fchmod(fd, 0644);
    fchown(fd, -1, -1);
    chmod("a", 0640);
    chown("a", -1, -1);
    lchown("a", -1, -1);
    flock(fd, LOCK_EX | LOCK_NB);
    flock(fd, LOCK_UN);
    fallocate(fd, FALLOC_FL_KEEP_SIZE, 0, 4096);
    posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    syscall(SYS_fadvise64, fd, 0, 0, 99);
    lseek(fd, 0, SEEK_SET);

    int out = open("b", O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0666);
    off_t off = 2;
    sendfile(out, fd, &off, 5);
    loff_t in_off = 0;
    copy_file_range(fd, &in_off, out, NULL, 4, 0);
    int p[2], q[2];
    pipe(p);
    pipe(q);
    write(p[1], "spliced", 7);
    tee(p[0], q[1], 7, SPLICE_F_NONBLOCK);
    splice(p[0], NULL, out, NULL, 7, SPLICE_F_MOVE);
    close(out);

    int tfd = open(".", O_RDWR | O_TMPFILE, 0600);
    if (tfd >= 0)
        close(tfd);
    int pfd = open("a", O_PATH | O_NOFOLLOW);
    fstat(pfd, &(struct stat){0});
    close(pfd);
    open("a", O_RDONLY | O_DIRECTORY);
    open("nonexistent/x", O_WRONLY | O_CREAT, 0644);
    creat("c", 0600);

    mkdir("d", 0700);
    rmdir("d");
    rmdir("nonexistent");
    link("a", "a2");
    symlink("a", "s");
    readlink("s", buf, sizeof buf);
    readlink("a", buf, sizeof buf);
    lstat("s", &(struct stat){0});
    rename("a2", "a3");
    struct timeval tv[2] = {{1700000000, 1}, {1700000001, 999999}};
    utimes("a3", tv);
    utimes("a3", NULL);

    setxattr("a", "user.veil", "value", 5, XATTR_CREATE);
    getxattr("a", "user.veil", buf, sizeof buf);
    listxattr("a", buf, sizeof buf);
    removexattr("a", "user.veil");
    lgetxattr("s", "user.none", buf, sizeof buf);
    fsetxattr(fd, "user.x", "1", 1, XATTR_REPLACE);

    int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
    int wd = inotify_add_watch(in, ".", IN_CREATE | IN_DELETE | IN_ONLYDIR);
    inotify_rm_watch(in, wd);
    close(in);

    truncate("a", 3);
    access("a", X_OK);
    unlink("a");
    unlink("a3");
    unlink("b");
    unlink("c");
    unlink("s");
    close(fd);
    sync();
    syncfs(p[0]);
    return 0;
}
