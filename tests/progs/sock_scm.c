/* socketpair + SCM_RIGHTS: the parent passes a bound UDP socket to a forked
 * child.  Output (one line each):
 *   child pid=C fd=F                  the child received the socket as fd F
 *   ready parent=P fd=S port=N child=C   (pause: a line on stdin)
 *   released                          the child closed its copy and exited (pause)
 */
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
    int sp[2];
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sp) < 0) { perror("socketpair"); return 2; }
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(s, (struct sockaddr *)&a, &al) < 0) {
        perror("udp");
        return 2;
    }
    fflush(stdout);
    pid_t child = fork();
    if (child < 0) { perror("fork"); return 2; }
    if (child == 0) {
        close(sp[0]);
        close(s); /* the child gets the socket only through SCM_RIGHTS */
        char b;
        struct iovec iov = {.iov_base = &b, .iov_len = 1};
        union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
        struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
        if (recvmsg(sp[1], &m, 0) != 1) { perror("recvmsg"); _exit(2); }
        struct cmsghdr *c = CMSG_FIRSTHDR(&m);
        if (!c || c->cmsg_type != SCM_RIGHTS) { fprintf(stderr, "no SCM_RIGHTS\n"); _exit(2); }
        int fd;
        memcpy(&fd, CMSG_DATA(c), sizeof fd);
        printf("child pid=%d fd=%d\n", getpid(), fd);
        fflush(stdout);
        if (write(sp[1], "k", 1) != 1) _exit(2);           /* ack */
        if (read(sp[1], &b, 1) != 1) _exit(2);              /* wait for release */
        close(fd);
        _exit(0);
    }
    close(sp[1]);
    char b = 'x';
    struct iovec iov = {.iov_base = &b, .iov_len = 1};
    union { struct cmsghdr h; char buf[CMSG_SPACE(sizeof(int))]; } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *c = CMSG_FIRSTHDR(&m);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(c), &s, sizeof s);
    if (sendmsg(sp[0], &m, 0) != 1) { perror("sendmsg"); return 2; }
    if (read(sp[0], &b, 1) != 1) { perror("ack"); return 2; }
    char line[160];
    snprintf(line, sizeof line, "ready parent=%d fd=%d port=%d child=%d pairfd=%d", getpid(), s, ntohs(a.sin_port), child, sp[0]);
    pause_line(line);
    if (write(sp[0], "r", 1) != 1) { perror("release"); return 2; }
    int st;
    waitpid(child, &st, 0);
    pause_line("released");
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
}
