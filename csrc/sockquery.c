/*
 * The kernel's view of a traced process's socket, for the socket table:
 * a copy of the fd (pidfd_getfd, Linux 5.6+) is asked for its names, type,
 * queues and TCP state.  Nothing is read that would change the socket
 * (SO_ERROR is left alone: reading it clears the pending error).
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "internal.h"

#define PIDFD_THREAD_FLAG O_EXCL /* pidfd_open(2): PIDFD_THREAD */

int fd_is_socket(int32_t tid, uint64_t fd)
{
    char link[64], target[16];
    if (fd > 0x7fffffff)
        return 0;
    snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, (int)fd);
    ssize_t n = readlink(link, target, sizeof target);
    return n >= 7 && memcmp(target, "socket:", 7) == 0;
}

/* A copy of fd of process (or thread) tid, or -errno. */
int fd_copy(int32_t tid, int fd)
{
    int pidfd = (int)syscall(SYS_pidfd_open, tid, 0);
    if (pidfd < 0 && (errno == ENOENT || errno == EINVAL)) /* not a leader */
        pidfd = (int)syscall(SYS_pidfd_open, tid, PIDFD_THREAD_FLAG); /* a thread: Linux 6.9+ */
    if (pidfd < 0)
        return -errno;
    int copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
    int saved = errno;
    close(pidfd);
    return copy < 0 ? -saved : copy;
}

int veil_sock_query(int32_t pid, int fd, struct veil_sockq *q)
{
    memset(q, 0, sizeof *q);
    q->inq = q->outq = q->tcp_state = -1;
    int copy = fd_copy(pid, fd);
    if (copy < 0)
        return copy;
    socklen_t len = sizeof q->local;
    if (getsockname(copy, (struct sockaddr *)q->local, &len) == 0)
        q->local_len = len;
    len = sizeof q->remote;
    if (getpeername(copy, (struct sockaddr *)q->remote, &len) == 0)
        q->remote_len = len;
    int v;
    len = sizeof v;
    if (getsockopt(copy, SOL_SOCKET, SO_DOMAIN, &v, &len) == 0)
        q->domain = v;
    len = sizeof v;
    if (getsockopt(copy, SOL_SOCKET, SO_TYPE, &v, &len) == 0)
        q->type = v;
    len = sizeof v;
    if (getsockopt(copy, SOL_SOCKET, SO_PROTOCOL, &v, &len) == 0)
        q->protocol = v;
    len = sizeof v;
    if (getsockopt(copy, SOL_SOCKET, SO_ACCEPTCONN, &v, &len) == 0)
        q->listening = v;
    /* SIOCINQ/SIOCOUTQ: not on a listening TCP socket (EINVAL) */
    if (ioctl(copy, SIOCINQ, &v) == 0)
        q->inq = v;
    if (ioctl(copy, SIOCOUTQ, &v) == 0)
        q->outq = v;
    if (q->protocol == IPPROTO_TCP) {
        struct tcp_info ti;
        len = sizeof ti;
        if (getsockopt(copy, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0) {
            q->tcp_state = ti.tcpi_state;
            /* a listener: tcpi_unacked is the accept queue now, tcpi_sacked its limit */
            q->tcp_unacked = ti.tcpi_unacked;
            q->tcp_sacked = ti.tcpi_sacked;
        }
    }
    if (close(copy) < 0)
        return -errno;
    return 0;
}
