/* layout_unix: AF_UNIX path sockets, for the path translation of bind/connect/
 * sendto and the translation back of getsockname/getpeername/accept/recvfrom.
 *
 *   layout_unix stream PATH      bind PATH, listen, connect to it, accept, exchange
 *                                a message; prints every address seen. PATH is left.
 *   layout_unix dgram PATH PEER  bind a datagram socket at PATH and one at PEER,
 *                                sendto(PATH) from PEER, recvfrom: prints the sender.
 *   layout_unix connect PATH     connect a stream socket to PATH: "connect PATH = OK"
 *                                or the errno name; on OK reads one line and prints it.
 *
 * Output lines: "NAME = VALUE"; exit 0 when every step worked, 1 otherwise.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

static socklen_t mkaddr(struct sockaddr_un *a, const char *path)
{
    memset(a, 0, sizeof *a);
    a->sun_family = AF_UNIX;
    strncpy(a->sun_path, path, sizeof a->sun_path - 1);
    return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(a->sun_path) + 1);
}

static void show(const char *what, struct sockaddr_un *a, socklen_t len)
{
    size_t n = len > offsetof(struct sockaddr_un, sun_path) ? len - offsetof(struct sockaddr_un, sun_path) : 0;
    if (n == 0) {
        printf("%s = (unnamed)\n", what);
        return;
    }
    char p[sizeof a->sun_path + 1];
    memcpy(p, a->sun_path, n > sizeof a->sun_path ? sizeof a->sun_path : n);
    p[n > sizeof a->sun_path ? sizeof a->sun_path : n] = 0;
    printf("%s = '%s' len=%u\n", what, p, (unsigned)len);
}

#define CHECK(expr, what)                                         \
    do {                                                          \
        if ((expr) < 0) {                                         \
            printf("%s = %s\n", what, ename(errno));              \
            return 1;                                             \
        }                                                         \
    } while (0)

static int stream(const char *path)
{
    struct sockaddr_un a, b;
    socklen_t len = mkaddr(&a, path), blen;
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(s, "socket");
    CHECK(bind(s, (struct sockaddr *)&a, len), "bind");
    printf("bind = OK\n");
    blen = sizeof b;
    CHECK(getsockname(s, (struct sockaddr *)&b, &blen), "getsockname");
    show("sockname", &b, blen);
    CHECK(listen(s, 4), "listen");
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(c, "socket");
    CHECK(connect(c, (struct sockaddr *)&a, len), "connect");
    printf("connect = OK\n");
    blen = sizeof b;
    CHECK(getpeername(c, (struct sockaddr *)&b, &blen), "getpeername");
    show("peername", &b, blen);
    blen = sizeof b;
    int x = accept(s, (struct sockaddr *)&b, &blen);
    CHECK(x, "accept");
    show("accept-peer", &b, blen);
    blen = sizeof b;
    CHECK(getsockname(x, (struct sockaddr *)&b, &blen), "getsockname-accepted");
    show("accepted-sockname", &b, blen);
    CHECK(write(c, "ping\n", 5), "write");
    char buf[16] = {0};
    CHECK(read(x, buf, sizeof buf - 1), "read");
    buf[strcspn(buf, "\n")] = 0;
    printf("msg = %s\n", buf);
    return 0;
}

static int dgram(const char *path, const char *peer)
{
    struct sockaddr_un a, p, b;
    socklen_t alen = mkaddr(&a, path), plen = mkaddr(&p, peer), blen;
    int s = socket(AF_UNIX, SOCK_DGRAM, 0), t = socket(AF_UNIX, SOCK_DGRAM, 0);
    CHECK(s, "socket");
    CHECK(t, "socket");
    CHECK(bind(s, (struct sockaddr *)&a, alen), "bind");
    CHECK(bind(t, (struct sockaddr *)&p, plen), "bind-peer");
    CHECK(sendto(t, "dping", 5, 0, (struct sockaddr *)&a, alen), "sendto");
    printf("sendto = OK\n");
    char buf[16] = {0};
    blen = sizeof b;
    CHECK(recvfrom(s, buf, sizeof buf - 1, 0, (struct sockaddr *)&b, &blen), "recvfrom");
    show("recvfrom-sender", &b, blen);
    printf("msg = %s\n", buf);
    return 0;
}

static int do_connect(const char *path)
{
    struct sockaddr_un a;
    socklen_t len = mkaddr(&a, path);
    int c = socket(AF_UNIX, SOCK_STREAM, 0);
    CHECK(c, "socket");
    if (connect(c, (struct sockaddr *)&a, len) < 0) {
        printf("connect %s = %s\n", path, ename(errno));
        return 1;
    }
    printf("connect %s = OK\n", path);
    char buf[256] = {0};
    ssize_t n = read(c, buf, sizeof buf - 1);
    if (n > 0) {
        buf[strcspn(buf, "\n")] = 0;
        printf("got = %s\n", buf);
    }
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "stream"))
        return stream(argv[2]);
    if (argc >= 4 && !strcmp(argv[1], "dgram"))
        return dgram(argv[2], argv[3]);
    if (argc >= 3 && !strcmp(argv[1], "connect")) {
        int rc = 0;
        for (int i = 2; i < argc; i++)
            rc |= do_connect(argv[i]);
        return rc;
    }
    fprintf(stderr, "usage: layout_unix stream PATH | dgram PATH PEER | connect PATH...\n");
    return 2;
}
