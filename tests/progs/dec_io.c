/* Decoding corpus: read/write family, pipes, dup, fcntl, ioctl, eventfd,
 * memfd, close_range.  Deterministic; prints nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/close_range.h>
#include <stdio.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <termios.h>
#include <unistd.h>

int main(void)
{
    char buf[128], b1[8], b2[64];
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0)
        return 2;
    write(p[1], "hello\n\t\"world\"\\\001\377x", 17);
    int n = -1;
    ioctl(p[0], FIONREAD, &n);
    read(p[0], buf, 5);
    read(p[0], buf, sizeof buf);
    struct iovec wv[3] = {{"abc", 3}, {"", 0}, {"0123456789012345678901234567890123456789", 40}};
    writev(p[1], wv, 3);
    struct iovec rv[2] = {{b1, sizeof b1}, {b2, sizeof b2}};
    readv(p[0], rv, 2);
    write(p[1], "tail", 4);
    struct iovec rv1[1] = {{b2, 2}};
    readv(p[0], rv1, 1);
    read(p[0], buf, 0);
    write(-1, "x", 1);
    read(p[0], NULL, 4);

    int fd = memfd_create("dec_io", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    pwrite(fd, "0123456789", 10, 100);
    pread(fd, buf, 4, 102);
    pwritev(fd, wv, 1, 5);
    struct iovec pr[1] = {{b2, 8}};
    preadv(fd, pr, 1, 104);
    lseek(fd, 0, SEEK_DATA);
    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW);
    fcntl(fd, F_GET_SEALS);
    ftruncate(fd, 0);

    int d = dup(fd);
    dup2(d, 10);
    dup3(10, 11, O_CLOEXEC);
    dup3(11, 11, 0);
    fcntl(11, F_GETFD);
    fcntl(11, F_SETFD, FD_CLOEXEC);
    fcntl(11, F_GETFL);
    fcntl(11, F_SETFL, O_NONBLOCK | O_APPEND);
    fcntl(11, F_DUPFD, 20);
    fcntl(11, F_DUPFD_CLOEXEC, 30);
    fcntl(p[0], F_GETPIPE_SZ);
    fcntl(p[0], F_SETPIPE_SZ, 8192);
    fcntl(11, F_GETOWN);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    fcntl(fd, F_SETLK, &fl);
    fl.l_type = F_UNLCK;
    fcntl(fd, F_SETLKW, &fl);
    struct flock gl = {.l_type = F_RDLCK, .l_whence = SEEK_CUR, .l_start = 1, .l_len = 2};
    fcntl(fd, F_GETLK, &gl);
    fcntl(fd, F_OFD_GETLK, &gl);
    fcntl(-1, F_GETFD);

    struct termios t;
    ioctl(p[0], TCGETS, &t);
    int on = 1;
    ioctl(p[0], FIONBIO, &on);
    ioctl(p[0], FIOCLEX);
    ioctl(p[0], FIONCLEX);
    struct winsize ws;
    ioctl(p[0], TIOCGWINSZ, &ws);
    ioctl(p[0], _IOR('x', 0x42, int), &n);
    int pt = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (pt >= 0) {
        ioctl(pt, TCGETS, &t);
        t.c_lflag &= ~ECHO;
        ioctl(pt, TCSETS, &t);
        ioctl(pt, TCSETSW, &t);
        struct winsize w2 = {24, 80, 0, 0};
        ioctl(pt, TIOCSWINSZ, &w2);
        ioctl(pt, TIOCGWINSZ, &ws);
        ioctl(pt, TCFLSH, TCIFLUSH);
        ioctl(pt, FIONREAD, &n);
        close(pt);
    }

    int e = eventfd(5, EFD_CLOEXEC | EFD_NONBLOCK);
    unsigned long long v = 0;
    read(e, &v, sizeof v);
    v = 3;
    write(e, &v, sizeof v);
    syscall(SYS_eventfd2, 0, EFD_SEMAPHORE);

    close_range(20, 30, CLOSE_RANGE_CLOEXEC);
    close_range(20, ~0U, 0);
    close_range(3, 2, 0);
    close(10);
    close(11);
    close(-1);
    return 0;
}
