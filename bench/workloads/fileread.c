/* fileread FILE MB [CHUNK]: read MB MiB from FILE in read() calls of CHUNK
 * bytes (default 4096), going back to the start with lseek at each end of
 * file (so a small file read over and over, from the page cache). No socket
 * anywhere: what the socket table costs a program that does no networking.
 *
 * Prints "fileread: B bytes in R reads" and exits 0 if it read B = MB MiB. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
    long long want, got = 0;
    long reads = 0;
    size_t chunk;
    char *buf;
    int fd;

    if (argc < 3) {
        fprintf(stderr, "usage: fileread FILE MB [CHUNK]\n");
        return 2;
    }
    want = (long long)bench_count(argc, argv, 2, 200) << 20;
    chunk = (size_t)bench_count(argc, argv, 3, 4096);
    if (chunk == 0)
        chunk = 4096;
    buf = malloc(chunk);
    fd = open(argv[1], O_RDONLY | O_CLOEXEC);
    if (fd < 0 || !buf) {
        perror("fileread: open");
        return 1;
    }
    double start = bench_now();
    while (got < want) {
        size_t len = (size_t)(want - got) < chunk ? (size_t)(want - got) : chunk;
        ssize_t n = read(fd, buf, len);
        reads++;
        if (n < 0) {
            perror("fileread: read");
            return 1;
        }
        if (n == 0) {
            if (lseek(fd, 0, SEEK_SET) != 0) {
                perror("fileread: lseek");
                return 1;
            }
            continue;
        }
        got += n;
    }
    bench_loop_done(start);
    close(fd);
    printf("fileread: %lld bytes in %ld reads\n", got, reads);
    return 0;
}
