/* File operations a tracer must decode: openat/read/write/close/newfstatat/
 * unlink/mkdir/rename, one ENOENT error, O_CREAT with a mode.
 * Works in a scratch directory given as argv[1] (default: cwd). Prints nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc > 1 && chdir(argv[1]) != 0)
        return 2;
    char buf[64];
    struct stat st;

    int fd = openat(AT_FDCWD, "veil_f1.txt", O_WRONLY | O_CREAT | O_TRUNC, 0640);
    if (fd < 0)
        return 3;
    if (write(fd, "hello veil\n", 11) != 11)
        return 4;
    close(fd);

    fd = openat(AT_FDCWD, "veil_f1.txt", O_RDONLY);
    if (fd < 0)
        return 5;
    if (read(fd, buf, sizeof buf) != 11)
        return 6;
    fstatat(fd, "", &st, AT_EMPTY_PATH);
    close(fd);

    fstatat(AT_FDCWD, "veil_f1.txt", &st, 0);
    /* the error case: a file that does not exist */
    if (openat(AT_FDCWD, "veil_does_not_exist", O_RDONLY) >= 0)
        return 7;

    if (mkdir("veil_d1", 0750) != 0)
        return 8;
    if (rename("veil_f1.txt", "veil_d1/veil_f2.txt") != 0)
        return 9;
    if (unlink("veil_d1/veil_f2.txt") != 0)
        return 10;
    if (rmdir("veil_d1") != 0)
        return 11;
    return 0;
}
