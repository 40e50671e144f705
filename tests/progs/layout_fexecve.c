/* layout_fexecve [-c] PROG ARGS...: run PROG through fexecve(3) (execveat with
   AT_EMPTY_PATH) from an fd opened by path; -c opens it close-on-exec. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    int flags = O_RDONLY;
    int i = 1;
    if (argc > 1 && strcmp(argv[1], "-c") == 0) {
        flags |= O_CLOEXEC;
        i++;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: layout_fexecve [-c] PROG ARGS...\n");
        return 2;
    }
    int fd = open(argv[i], flags);
    if (fd < 0) {
        perror("open");
        return 1;
    }
    fexecve(fd, argv + i, environ);
    perror("fexecve");
    return 1;
}
