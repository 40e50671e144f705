/* The classic pre-fork server: accept, fork a worker that serves the
 * connection, the parent closes its copy.  Output:
 *   accepted parent=P worker=W fd=F port=N client=C   (pause: a line on stdin)
 *   closed                                           (pause)
 * then the worker is released and everything exits. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static void pause_line(const char *tag) {
    printf("%s\n", tag);
    fflush(stdout);
    char ch;
    while (read(0, &ch, 1) == 1 && ch != '\n') {}
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    int ls = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (ls < 0 || bind(ls, (struct sockaddr *)&a, sizeof a) < 0 || listen(ls, 8) < 0 ||
        getsockname(ls, (struct sockaddr *)&a, &al) < 0) {
        perror("listen");
        return 2;
    }
    fflush(stdout);
    pid_t client = fork();
    if (client == 0) {
        close(ls);
        int c = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c, (struct sockaddr *)&a, sizeof a) < 0) { perror("connect"); _exit(2); }
        if (write(c, "hello", 5) != 5) _exit(2);
        char b[8];
        size_t got = 0;
        while (got < 5) {
            ssize_t n = read(c, b + got, 5 - got);
            if (n <= 0) _exit(3);
            got += n;
        }
        _exit(memcmp(b, "hello", 5) == 0 ? 0 : 4);
    }
    int rel[2];
    if (pipe(rel) < 0) return 2;
    int fd = accept(ls, NULL, NULL);
    if (fd < 0) { perror("accept"); return 2; }
    fflush(stdout);
    pid_t worker = fork();
    if (worker == 0) {
        close(ls);
        close(rel[1]);
        char b[8];
        size_t got = 0;
        while (got < 5) {
            ssize_t n = read(fd, b + got, 5 - got);
            if (n <= 0) _exit(3);
            got += n;
        }
        if (write(fd, b, 5) != 5) _exit(2);
        char r;
        if (read(rel[0], &r, 1) != 1) _exit(5);
        close(fd);
        _exit(0);
    }
    close(rel[0]);
    char line[160];
    snprintf(line, sizeof line, "accepted parent=%d worker=%d fd=%d port=%d client=%d", getpid(), worker, fd,
             ntohs(a.sin_port), client);
    pause_line(line);
    close(fd);
    pause_line("closed");
    if (write(rel[1], "r", 1) != 1) return 2;
    int st1, st2;
    waitpid(worker, &st1, 0);
    waitpid(client, &st2, 0);
    int ok = WIFEXITED(st1) && WEXITSTATUS(st1) == 0 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0;
    return ok ? 0 : 1;
}
