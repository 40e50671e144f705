/*
 * Directory fds from outside the guest's mount namespace (mount layout engine,
 * --strict).  The kernel resolves every path of the guest in its own mount
 * namespace, except one relative to a directory fd opened outside it: such an
 * fd walks the host's tree (openat, fchdir, /proc/self/fd/N/..).  One can come
 * in two ways, and each is taken away:
 *   - inherited at exec: closed in the spawned child after pivot_root;
 *   - received over SCM_RIGHTS: at the exit of recvmsg/recvmmsg it is closed in
 *     the receiver and cut from its control data, with MSG_CTRUNC set, as when
 *     an LSM refuses an fd at receive (net/core/scm.c, scm_detach_fds).
 * Which process asked for this is Python's decision (VEIL_F_FDS_IN rows).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <dirent.h>

#include "arch.h"
#include "internal.h"

/* 1: directory `fd` lies outside the tree whose top is `root`: walking ".." from
   it ends elsewhere (".." stops at the top of a mount namespace, and of a
   detached tree, such as the host's after pivot_root and a lazy unmount) */
static int outside(int fd, const struct stat *root)
{
    struct stat st;
    if (fstat(fd, &st) < 0 || !S_ISDIR(st.st_mode))
        return 0;
    int cur = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    for (int depth = 0; cur >= 0 && depth < 4096; depth++) {
        int up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
        struct stat upst;
        if (up < 0 || fstat(up, &upst) < 0) {
            if (up >= 0)
                close(up);
            break;
        }
        close(cur);
        cur = up;
        if (upst.st_dev == st.st_dev && upst.st_ino == st.st_ino)
            break; /* the top */
        st = upst;
    }
    if (cur >= 0)
        close(cur);
    return st.st_dev != root->st_dev || st.st_ino != root->st_ino;
}

/* In the spawned child, before pivot_root (the host's /proc is still there): its
   directory fds, at most `max`; their number. */
int fdintake_inherited_dirs(int *out, int max)
{
    DIR *d = opendir("/proc/self/fd");
    if (!d)
        return 0;
    int self = dirfd(d), n = 0;
    struct dirent *de;
    while ((de = readdir(d)) != NULL && n < max) {
        struct stat st;
        int fd = atoi(de->d_name);
        if (de->d_name[0] != '.' && fd != self && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
            out[n++] = fd;
    }
    closedir(d);
    return n;
}

/* After pivot_root: those of `fds` outside the guest's "/" closed (0-2 made
   /dev/null where the guest has one, so that numbering stays).  0 or -errno. */
int fdintake_drop_inherited(const int *fds, int n)
{
    struct stat root;
    if (stat("/", &root) < 0)
        return -errno;
    for (int i = 0; i < n; i++) {
        if (!outside(fds[i], &root))
            continue;
        int null = fds[i] <= 2 ? open("/dev/null", O_RDWR | O_CLOEXEC) : -1;
        if (null >= 0) {
            int rc = dup2(null, fds[i]);
            close(null);
            if (rc < 0)
                return -errno;
        } else if (close(fds[i]) < 0) {
            return -errno;
        }
    }
    return 0;
}

/* 1: fd `fd` of thread `t` is a directory outside its root */
static int tracee_outside(const struct task *t, int fd)
{
    char path[96];
    struct stat root;
    snprintf(path, sizeof path, "/proc/%d/root", t->pid);
    if (stat(path, &root) < 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/task/%d/fd/%d", t->pid, t->tid, fd);
    int mine = open(path, O_PATH | O_CLOEXEC);
    if (mine < 0)
        return 0;
    int rc = outside(mine, &root);
    close(mine);
    return rc;
}

struct cmsghdr64 {
    uint64_t len;
    int32_t level, type;
};

#define CMSG_ALIGN64(n) (((n) + 7) & ~(uint64_t)7)
#define MSG_CTRUNC_FLAG 0x8
#define CONTROL_MAX 4096

/* One received message at `at`: its outside directory fds closed in the thread
   and cut from its control data.  0, or -ESRCH (*gone_status set). */
static int sift_message(struct task *t, uint64_t at, int *gone_status)
{
    struct msghdr64 mh;
    if (veil_read_mem(t->tid, at, &mh, sizeof mh) != (long)sizeof mh || !mh.control ||
        mh.controllen < sizeof(struct cmsghdr64) || mh.controllen > CONTROL_MAX)
        return 0;
    uint8_t in[CONTROL_MAX], out[CONTROL_MAX];
    if (veil_read_mem(t->tid, mh.control, in, mh.controllen) != (long)mh.controllen)
        return 0;
    int drop[CONTROL_MAX / 4], ndrop = 0;
    uint64_t pos = 0, outlen = 0;
    while (pos + sizeof(struct cmsghdr64) <= mh.controllen) {
        struct cmsghdr64 c;
        memcpy(&c, in + pos, sizeof c);
        if (c.len < sizeof c || pos + c.len > mh.controllen)
            break;
        uint64_t next = pos + CMSG_ALIGN64(c.len);
        if (c.level != SOL_SOCKET || c.type != SCM_RIGHTS) {
            memcpy(out + outlen, in + pos, c.len);
            outlen += CMSG_ALIGN64(c.len);
            pos = next;
            continue;
        }
        uint64_t nfds = (c.len - sizeof c) / 4, kept = 0;
        for (uint64_t i = 0; i < nfds; i++) {
            int32_t fd;
            memcpy(&fd, in + pos + sizeof c + i * 4, 4);
            if (tracee_outside(t, fd))
                drop[ndrop++] = fd;
            else
                memcpy(out + outlen + sizeof c + 4 * kept++, &fd, 4);
        }
        if (kept) { /* a message left with no fd loses its header too */
            c.len = sizeof c + 4 * kept;
            memcpy(out + outlen, &c, sizeof c);
            outlen += CMSG_ALIGN64(c.len);
        }
        pos = next;
    }
    if (!ndrop)
        return 0;
    if (outlen > mh.controllen)
        outlen = mh.controllen;
    mh.controllen = outlen;
    mh.flags |= MSG_CTRUNC_FLAG;
    if ((outlen && veil_write_mem(t->tid, mh.control, out, outlen) != (long)outlen) ||
        veil_write_mem(t->tid, at, &mh, sizeof mh) != (long)sizeof mh)
        return 0;
    for (int i = 0; i < ndrop; i++) {
        uint64_t args[6] = {(uint64_t)drop[i], 0, 0, 0, 0, 0};
        int64_t got;
        int rc = veil_arch_inject_syscall(t->tid, __NR_close, args, &got, &t->pending_sig,
                                          gone_status);
        if (rc == -ESRCH)
            return rc;
    }
    return 0;
}

/* At the exit of recvmsg or recvmmsg that returned `ret`: 0, or
   -ESRCH with *gone_status. */
int fdintake_after_recv(struct veil_engine *e, struct task *t, int64_t ret, int *gone_status)
{
    (void)e;
    if (ret < 0 || t->arch != VEIL_ARCH_X86_64)
        return 0;
    if (t->nr == __NR_recvmsg)
        return sift_message(t, t->args[1], gone_status);
    if (t->nr != __NR_recvmmsg)
        return 0;
    for (int64_t i = 0; i < ret && i < 1024; i++) {
        int rc = sift_message(t, t->args[1] + (uint64_t)i * 64 /* struct mmsghdr */,
                              gone_status);
        if (rc < 0)
            return rc;
    }
    return 0;
}
