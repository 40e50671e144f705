/* Non-blocking connect to a closed loopback port.
 * Prints "port P", then "connect=R errno=NAME" and pauses (a line on stdin),
 * then polls for the result, prints "so_error=NAME" and pauses again; the
 * socket is left open until exit so that snapshots can see it. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static void pause_line(const char *tag) {
    printf("%s\n", tag);
    fflush(stdout);
    char ch;
    while (read(0, &ch, 1) == 1 && ch != '\n') {}
}

static const char *ename(int e) {
    switch (e) {
    case 0: return "0";
    case EINPROGRESS: return "EINPROGRESS";
    case ECONNREFUSED: return "ECONNREFUSED";
    case EAGAIN: return "EAGAIN";
    default: return strerror(e);
    }
}

int main(void) {
    setvbuf(stdout, NULL, _IOLBF, 0);
    /* a port nobody listens on: bind one, note it, close it */
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (t < 0 || bind(t, (struct sockaddr *)&a, sizeof a) < 0 || getsockname(t, (struct sockaddr *)&a, &al) < 0) {
        perror("probe");
        return 2;
    }
    close(t);
    printf("port %d\n", ntohs(a.sin_port));

    int s = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (s < 0) { perror("socket"); return 2; }
    int r = connect(s, (struct sockaddr *)&a, sizeof a);
    int e = r < 0 ? errno : 0;
    char buf[128];
    snprintf(buf, sizeof buf, "connect=%d errno=%s fd=%d", r, ename(e), s);
    pause_line(buf);

    struct pollfd p = {.fd = s, .events = POLLOUT};
    int pr = poll(&p, 1, 5000);
    int soerr = -1;
    socklen_t sl = sizeof soerr;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0) { perror("getsockopt"); return 2; }
    snprintf(buf, sizeof buf, "poll=%d revents=%#x so_error=%s", pr, p.revents, ename(soerr));
    pause_line(buf);
    return 0;
}
