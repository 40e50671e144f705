/* scm_rights SOCKET NAME MARKER: a process outside veil listens on SOCKET (a path
 * the guest reaches through a bind) and sends a directory fd of the host over
 * SCM_RIGHTS (or, with SOCKET "fd:N", the guest inherits it as fd N); the guest
 * then names NAME relative to it.
 * Natively: openat/fstatat/fchdir+open/proc-fd = ESCAPED.
 * Under veil: EACCES (or ENOTDIR for the /proc/self/fd/N/NAME walk), reported;
 * under the mount engine's --strict the fd never arrives: "recvmsg = MSG_CTRUNC",
 * "inherited = EBADF".
 * (The fd itself stays usable for fd-only calls such as getdents64: a host
 * process that hands out a directory fd grants that.) */
#include "esc.h"
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* a directory fd received over the socket at `path`: the fd, or -1 (said why) */
static int receive_dirfd(const char *path)
{
    int s = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX};
    snprintf(un.sun_path, sizeof un.sun_path, "%s", path);
    if (connect(s, (struct sockaddr *)&un, sizeof un) < 0) {
        say("connect", -1, "");
        return -1;
    }
    char byte, ctl[CMSG_SPACE(sizeof(int))];
    struct iovec iov = {&byte, 1};
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl,
                        .msg_controllen = sizeof ctl};
    if (recvmsg(s, &mh, 0) < 0) {
        say("recvmsg", -1, "");
        return -1;
    }
    if (!CMSG_FIRSTHDR(&mh)) { /* taken back, as an LSM refuses an fd */
        printf("recvmsg = %s\n", mh.msg_flags & MSG_CTRUNC ? "MSG_CTRUNC" : "no fd");
        return -1;
    }
    int dfd;
    memcpy(&dfd, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof dfd);
    return dfd;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    int dfd; /* "fd:N": inherited as fd N instead */
    if (strncmp(argv[1], "fd:", 3) == 0) {
        struct stat st;
        dfd = atoi(argv[1] + 3);
        if (fstat(dfd, &st) < 0) {
            say("inherited", -1, "");
            return 0;
        }
    } else if ((dfd = receive_dirfd(argv[1])) < 0) {
        return 0;
    }
    const char *name = argv[2], *marker = argv[3];
    say_fd("openat", openat(dfd, name, O_RDONLY), marker);
    struct stat st;
    say("fstatat", fstatat(dfd, name, &st, 0), "host file's metadata");
    say("mkdirat", mkdirat(dfd, "made-by-guest", 0755), "a directory made on the host");
    char p[64];
    snprintf(p, sizeof p, "/proc/self/fd/%d/%s", dfd, name);
    say_fd("proc fd walk", open(p, O_RDONLY), marker);
    if (fchdir(dfd) < 0)
        say("fchdir", -1, "");
    else
        say_fd("fchdir then open", open(name, O_RDONLY), marker);
    return 0;
}
