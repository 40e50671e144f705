/*
 * -yy: what a socket fd is, read at the stop.  The kernel names the protocol
 * in the "system.sockprotoname" xattr of /proc/PID/fd/N; addresses of inet
 * sockets come from /proc/PID/net/{tcp,tcp6,udp,udp6} (the line whose inode
 * field matches), a unix socket's name and peer from sock_diag (UNIX_DIAG).
 * The result is raw: "\0PROTO\0LINE\0PEER\0NAME" appended to the fd's link
 * target; Python formats it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "internal.h"

/* "LOCAL,REMOTE" as hex sockaddrs, from a copy of the tracee's fd
   (pidfd_getfd, Linux 5.6+; the tracer may take it) */
static int inet_addrs(int32_t tid, int fd, char *out, size_t cap)
{
    int copy = fd_copy(tid, fd);
    if (copy < 0)
        return 0;
    struct sockaddr_storage local, remote;
    socklen_t llen = sizeof local, rlen = sizeof remote;
    int have_local = getsockname(copy, (struct sockaddr *)&local, &llen) == 0;
    int have_remote = getpeername(copy, (struct sockaddr *)&remote, &rlen) == 0;
    close(copy);
    size_t used = 0;
    out[0] = 0;
    for (socklen_t i = 0; have_local && i < llen && used + 3 < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%02x", ((uint8_t *)&local)[i]);
    if (used + 2 < cap)
        out[used++] = ',', out[used] = 0;
    for (socklen_t i = 0; have_remote && i < rlen && used + 3 < cap; i++)
        used += (size_t)snprintf(out + used, cap - used, "%02x", ((uint8_t *)&remote)[i]);
    return have_local;
}

/* peer inode and bound name of a unix socket (0 / "" when unknown) */
static void unix_peer(unsigned long ino, uint32_t *peer, char *name, size_t cap)
{
    struct {
        struct nlmsghdr nlh;
        struct unix_diag_req req;
    } msg;
    char buf[8192];
    *peer = 0;
    name[0] = 0;
    int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    if (fd < 0)
        return;
    memset(&msg, 0, sizeof msg);
    msg.nlh.nlmsg_len = sizeof msg;
    msg.nlh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    msg.nlh.nlmsg_flags = NLM_F_REQUEST;
    msg.req.sdiag_family = AF_UNIX;
    msg.req.udiag_states = ~0u;
    msg.req.udiag_ino = (uint32_t)ino;
    msg.req.udiag_show = UDIAG_SHOW_PEER | UDIAG_SHOW_NAME;
    msg.req.udiag_cookie[0] = msg.req.udiag_cookie[1] = ~0u; /* no cookie */
    if (send(fd, &msg, sizeof msg, 0) < 0) {
        close(fd);
        return;
    }
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    close(fd);
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct unix_diag_msg)))
        return;
    struct nlmsghdr *h = (struct nlmsghdr *)buf;
    if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || !NLMSG_OK(h, (size_t)n))
        return;
    struct unix_diag_msg *m = NLMSG_DATA(h);
    struct rtattr *a = (struct rtattr *)(m + 1);
    int left = (int)h->nlmsg_len - (int)NLMSG_LENGTH(sizeof *m);
    for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
        if (a->rta_type == UNIX_DIAG_PEER && (size_t)RTA_PAYLOAD(a) >= 4)
            memcpy(peer, RTA_DATA(a), 4);
        else if (a->rta_type == UNIX_DIAG_NAME) {
            size_t payload = (size_t)RTA_PAYLOAD(a);
            size_t len = payload < cap - 1 ? payload : cap - 1;
            memcpy(name, RTA_DATA(a), len);
            name[len] = 0;
            if (len && name[0] == 0)
                name[0] = '@'; /* abstract */
        }
    }
}

uint32_t sockinfo_append(int32_t tid, int fd, const char *link, const char *target,
                         uint8_t *out, uint32_t room)
{
    unsigned long ino;
    char proto[32] = "", line[512] = "", name[256] = "";
    uint32_t peer = 0;
    if (sscanf(target, "socket:[%lu]", &ino) != 1)
        return 0;
    ssize_t n = getxattr(link, "system.sockprotoname", proto, sizeof proto - 1);
    proto[n > 0 ? n : 0] = 0;
    if (strncmp(proto, "UNIX", 4) == 0)
        unix_peer(ino, &peer, name, sizeof name);
    else if (strncmp(proto, "TCP", 3) == 0 || strncmp(proto, "UDP", 3) == 0)
        inet_addrs(tid, fd, line, sizeof line);
    char peer_s[16] = "";
    if (peer)
        snprintf(peer_s, sizeof peer_s, "%u", peer);
    int len = snprintf((char *)out, room, "%c%s%c%s%c%s%c%s", 0, proto, 0, line, 0, peer_s, 0,
                       name);
    if (len < 0 || (uint32_t)len >= room)
        return 0;
    return (uint32_t)len;
}
