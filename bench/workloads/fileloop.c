/* fileloop N [stat]: N x { openat("/etc/passwd", O_RDONLY), fstat, close }, and
   with "stat" a stat("/etc/passwd") as well (what an ownership database patches). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 1, 50000);
    int with_stat = argc > 2 && strcmp(argv[2], "stat") == 0;
    struct stat st;
    double start = bench_now();

    for (long i = 0; i < n; i++) {
        int fd = openat(AT_FDCWD, "/etc/passwd", O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
            perror("fileloop: openat /etc/passwd");
            return 1;
        }
        if (fstat(fd, &st) != 0) {
            perror("fileloop: fstat");
            return 1;
        }
        if (close(fd) != 0) {
            perror("fileloop: close");
            return 1;
        }
        if (with_stat && stat("/etc/passwd", &st) != 0) {
            perror("fileloop: stat");
            return 1;
        }
    }
    bench_loop_done(start);
    return 0;
}
