/* Decoding corpus: sockets on loopback and AF_UNIX inside one process:
 * socket/bind/listen/connect/accept4/getsockname/getpeername (in, in6, un,
 * abstract un, netlink), sendto/recvfrom, sendmsg/recvmsg with SCM_RIGHTS,
 * setsockopt/getsockopt, shutdown, socketpair.  Deterministic: ports are
 * chosen by the kernel and read back with getsockname.  Prints nothing. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static void tcp4(void)
{
    int one = 1;
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(0),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    bind(s, (struct sockaddr *)&a, sizeof a);
    listen(s, 5);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    int c = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    connect(c, (struct sockaddr *)&a, sizeof a);
    struct sockaddr_in peer;
    socklen_t plen = sizeof peer;
    int x = accept4(s, (struct sockaddr *)&peer, &plen, SOCK_CLOEXEC | SOCK_NONBLOCK);
    int v = 0;
    socklen_t vl = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_TYPE, &v, &vl);
    vl = sizeof v;
    getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl);
    vl = sizeof v;
    getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &vl);
    struct timeval tmo = {3, 500};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof tmo);
    socklen_t tl = sizeof tmo;
    getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tmo, &tl);
    int tos = 0x10;
    setsockopt(c, IPPROTO_IP, IP_TOS, &tos, sizeof tos);
    vl = sizeof v;
    getsockopt(c, IPPROTO_IP, IP_TOS, &v, &vl);
    setsockopt(c, 9999, 1, &one, sizeof one);
    getsockopt(-1, SOL_SOCKET, SO_TYPE, &v, &vl);
    char small[2];
    socklen_t sl = sizeof small;
    getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, small, &sl);
    struct linger lg = {1, 5};
    setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    sendto(c, "ping", 4, MSG_NOSIGNAL, NULL, 0);
    char buf[64];
    recvfrom(x, buf, sizeof buf, 0, NULL, NULL);
    send(x, "pong!", 5, MSG_DONTWAIT);
    recv(c, buf, sizeof buf, MSG_PEEK);
    recv(c, buf, 2, 0);
    recv(x, buf, sizeof buf, MSG_DONTWAIT); /* EAGAIN */
    shutdown(c, SHUT_WR);
    close(x);
    close(c);
    close(s);
}

static void udp6(void)
{
    int s = socket(AF_INET6, SOCK_DGRAM, 0);
    struct sockaddr_in6 a = {.sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT};
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) {
        close(s);
        return;
    }
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    int c = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    sendto(c, "datagram", 8, 0, (struct sockaddr *)&a, sizeof a);
    struct sockaddr_in6 from;
    socklen_t flen = sizeof from;
    char buf[16];
    recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    close(c);
    close(s);
}

static void unix_sockets(void)
{
    int s = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    /* abstract name: length-bound, may contain NULs */
    memcpy(a.sun_path, "\0veil-dec-net\0x", 15);
    socklen_t alen = offsetof(struct sockaddr_un, sun_path) + 15;
    bind(s, (struct sockaddr *)&a, alen);
    listen(s, 1);
    struct sockaddr_un b;
    socklen_t blen = sizeof b;
    getsockname(s, (struct sockaddr *)&b, &blen);
    int c = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    connect(c, (struct sockaddr *)&a, alen);
    blen = sizeof b;
    int x = accept4(s, (struct sockaddr *)&b, &blen, 0);
    blen = sizeof b;
    getpeername(c, (struct sockaddr *)&b, &blen);
    blen = sizeof b;
    getpeername(x, (struct sockaddr *)&b, &blen);
    struct ucred cred;
    socklen_t cl = sizeof cred;
    getsockopt(x, SOL_SOCKET, SO_PEERCRED, &cred, &cl);
    int acc = 0;
    socklen_t al = sizeof acc;
    getsockopt(s, SOL_SOCKET, SO_ACCEPTCONN, &acc, &al);
    accept4(s, NULL, NULL, SOCK_NONBLOCK);
    close(x);
    close(c);
    close(s);

    /* a path name, and one that does not exist */
    struct sockaddr_un p = {.sun_family = AF_UNIX, .sun_path = "veil-dec-net.sock"};
    s = socket(AF_UNIX, SOCK_DGRAM, 0);
    bind(s, (struct sockaddr *)&p, sizeof p);
    struct sockaddr_un q = {.sun_family = AF_UNIX, .sun_path = "/nonexistent/veil.sock"};
    int d = socket(AF_UNIX, SOCK_DGRAM, 0);
    connect(d, (struct sockaddr *)&q, sizeof q);
    sendto(d, "hi", 2, 0, (struct sockaddr *)&p, offsetof(struct sockaddr_un, sun_path) + 18);
    struct sockaddr_un from;
    socklen_t flen = sizeof from;
    char buf[8];
    recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen);
    close(d);
    close(s);
    unlink("veil-dec-net.sock");
}

static void msgs(void)
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    int fds[2] = {0, 1};
    char cbuf[CMSG_SPACE(sizeof fds)];
    memset(cbuf, 0, sizeof cbuf);
    struct iovec iov[2] = {{"hello ", 6}, {"fds", 3}};
    struct msghdr m = {.msg_iov = iov, .msg_iovlen = 2, .msg_control = cbuf,
                       .msg_controllen = sizeof cbuf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof fds);
    memcpy(CMSG_DATA(cm), fds, sizeof fds);
    sendmsg(sv[0], &m, 0);

    char rb[32];
    char rc[CMSG_SPACE(sizeof fds)];
    struct iovec riov[1] = {{rb, sizeof rb}};
    struct msghdr r = {.msg_iov = riov, .msg_iovlen = 1, .msg_control = rc,
                       .msg_controllen = sizeof rc};
    recvmsg(sv[1], &r, MSG_CMSG_CLOEXEC);
    struct cmsghdr *rcm = CMSG_FIRSTHDR(&r);
    if (rcm) {
        int got[2];
        memcpy(got, CMSG_DATA(rcm), sizeof got);
        close(got[0]);
        close(got[1]);
    }
    struct msghdr plain = {.msg_iov = iov, .msg_iovlen = 1};
    sendmsg(sv[1], &plain, MSG_DONTWAIT);
    struct msghdr r2 = {.msg_iov = riov, .msg_iovlen = 1};
    recvmsg(sv[0], &r2, 0);
    recvmsg(sv[0], &r2, MSG_DONTWAIT); /* EAGAIN */
    close(sv[0]);
    close(sv[1]);
}

static void netlink(void)
{
    int s = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    struct sockaddr_nl a = {.nl_family = AF_NETLINK};
    bind(s, (struct sockaddr *)&a, sizeof a);
    socklen_t len = sizeof a;
    getsockname(s, (struct sockaddr *)&a, &len);
    close(s);
    socket(AF_PACKET + 1000, SOCK_STREAM, 0); /* EAFNOSUPPORT */
    int v6 = socket(AF_INET6, SOCK_STREAM, 0);
    int on = 1;
    setsockopt(v6, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    close(v6);
}

int main(void)
{
    tcp4();
    udp6();
    unix_sockets();
    msgs();
    netlink();
    return 0;
}
