/* Holders follow dup, dup2, dup3, fcntl(F_DUPFD_CLOEXEC), close, close_range
 * and close-on-exec at execve.  Output (each line a pause: a line on stdin):
 *   fds pid=P s=S dup=D dup2=10 dup3=12 dupfd=F udp=U port=N uport=M
 *   closed                 close_range(10, 15) and close(D) done
 *   exec pid=P             after execve of itself: F and U (CLOEXEC) are gone
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static void pause_line(const char *tag) {
    printf("%s\n", tag);
    fflush(stdout);
    char ch;
    while (read(0, &ch, 1) == 1 && ch != '\n') {}
}

static int bound(int type, int *port) {
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(s, (struct sockaddr *)&a, &al) < 0) {
        perror("bound");
        exit(2);
    }
    *port = ntohs(a.sin_port);
    return s;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    char line[200];
    if (argc > 1 && strcmp(argv[1], "after-exec") == 0) {
        snprintf(line, sizeof line, "exec pid=%d", getpid());
        pause_line(line);
        return 0;
    }
    int port, uport;
    int s = bound(SOCK_STREAM, &port);
    int u = bound(SOCK_DGRAM | SOCK_CLOEXEC, &uport);
    int on = 1;
    if (ioctl(s, FIONBIO, &on) < 0) { perror("FIONBIO"); return 2; }        /* nonblocking via ioctl */
    int fl = fcntl(u, F_GETFL);
    if (fcntl(u, F_SETFL, fl | O_NONBLOCK) < 0) { perror("F_SETFL"); return 2; } /* ... via fcntl */
    int d = dup(s);
    if (dup2(s, 10) != 10) { perror("dup2"); return 2; }
    if (dup3(s, 12, O_CLOEXEC) != 12) { perror("dup3"); return 2; }
    int f = fcntl(s, F_DUPFD_CLOEXEC, 20);
    if (d < 0 || f < 0) { perror("dup"); return 2; }
    snprintf(line, sizeof line, "fds pid=%d s=%d dup=%d dup2=10 dup3=12 dupfd=%d udp=%d port=%d uport=%d",
             getpid(), s, d, f, u, port, uport);
    pause_line(line);
    if (syscall(SYS_close_range, 10, 15, 0) < 0) { perror("close_range"); return 2; }
    close(d);
    pause_line("closed");
    char *nargv[] = {argv[0], "after-exec", NULL};
    execv("/proc/self/exe", nargv);
    perror("execv");
    return 2;
}
