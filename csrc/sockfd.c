/*
 * Socket fds that stop and files that do not: the base seccomp filter lets
 * read/write/close/... pass, and each time a process gets a new socket fd,
 * veil stacks one more small filter into it (seccomp(2) run in the tracee
 * at the exit stop of the call that made the fd) that traces those calls on
 * that fd number only.  A per-process bitmap says which fd numbers already
 * have their filter.  Filters are inherited by fork and kept across execve,
 * and all threads get them (SECCOMP_FILTER_FLAG_TSYNC).
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "arch.h"
#include "internal.h"

#define MAX_FILTERED_FD 65536 /* beyond it, fds keep no filter (their calls are not counted) */

int veil_set_sockfd_calls(struct veil_engine *e, const int32_t *nrs, int n)
{
    if (n < 0 || n > (int)(sizeof e->sockfd_nrs / sizeof e->sockfd_nrs[0]))
        return -EINVAL;
    memcpy(e->sockfd_nrs, nrs, (size_t)n * sizeof *nrs);
    e->n_sockfd_nrs = n;
    return 0;
}

static struct fd_bits *bits_of(struct veil_engine *e, int32_t pid, int create)
{
    for (uint32_t i = 0; i < e->n_fd_bits; i++)
        if (e->fd_bits[i].pid == pid)
            return &e->fd_bits[i];
    if (!create)
        return NULL;
    struct fd_bits *n = realloc(e->fd_bits, (e->n_fd_bits + 1) * sizeof *n);
    if (!n)
        return NULL;
    e->fd_bits = n;
    n = &e->fd_bits[e->n_fd_bits++];
    memset(n, 0, sizeof *n);
    n->pid = pid;
    return n;
}

static int has_bit(const struct fd_bits *b, int fd)
{
    return b && (uint32_t)fd / 64 < b->nwords && (b->words[fd / 64] >> (fd % 64) & 1);
}

static int set_bit(struct fd_bits *b, int fd)
{
    uint32_t need = (uint32_t)fd / 64 + 1;
    if (need > b->nwords) {
        uint64_t *w = realloc(b->words, need * sizeof *w);
        if (!w)
            return -ENOMEM;
        memset(w + b->nwords, 0, (need - b->nwords) * sizeof *w);
        b->words = w;
        b->nwords = need;
    }
    b->words[fd / 64] |= 1ull << (fd % 64);
    return 0;
}

/* the filter: x86_64 calls in sockfd_nrs whose first argument is fd stop */
static size_t build_filter(const struct veil_engine *e, int fd, struct sock_filter *f)
{
    size_t i = 0, n = (size_t)e->n_sockfd_nrs;
    f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, arch));
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0,
                                          (uint8_t)(n + 2));
    f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, nr));
    for (size_t k = 0; k < n; k++) /* a match jumps over the rest and the ALLOW */
        f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K,
                                              (uint32_t)e->sockfd_nrs[k], (uint8_t)(n - k), 0);
    f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    f[i++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                          offsetof(struct seccomp_data, args[0]));
    f[i++] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)fd, 0, 1);
    f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE);
    f[i++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW);
    return i;
}

static int add_filter(struct veil_engine *e, struct task *t, int fd, int *pending_sig,
                      int *gone_status)
{
    struct sock_filter f[40];
    size_t n = build_filter(e, fd, f);
    uint64_t code = ((t->sp - 128) & ~(uint64_t)15) - 512; /* below the red zone */
    struct {
        uint16_t len;
        uint16_t pad[3];
        uint64_t filter;
    } prog = {(uint16_t)n, {0, 0, 0}, code};
    uint64_t progp = code - 32;
    if (veil_write_mem(t->tid, code, f, n * sizeof f[0]) != (long)(n * sizeof f[0]) ||
        veil_write_mem(t->tid, progp, &prog, sizeof prog) != (long)sizeof prog)
        return -EFAULT;
    uint64_t args[6] = {SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, progp, 0, 0, 0};
    int64_t result = 0;
    int rc = veil_arch_inject_syscall(t->tid, SYS_seccomp, args, &result, pending_sig,
                                      gone_status);
    if (rc < 0)
        return rc;
    return result == 0 ? 0 : result < 0 ? (int)result : -EBUSY; /* TSYNC: a thread diverged */
}

/* fds passed in by recvmsg (SCM_RIGHTS): those the process holds that have no filter yet */
static int passed_fds(struct veil_engine *e, struct task *t, int *fds, int cap)
{
    uint64_t controllen = 0; /* struct msghdr: msg_controllen at offset 40, set by the kernel */
    if (veil_read_mem(t->tid, t->args[1] + 40, &controllen, sizeof controllen) !=
            sizeof controllen || controllen == 0)
        return 0;
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d/fd", t->tid);
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    const struct fd_bits *b = bits_of(e, t->pid, 0);
    int n = 0;
    struct dirent *de;
    while (n < cap && (de = readdir(d)) != NULL) {
        if (de->d_name[0] < '0' || de->d_name[0] > '9')
            continue;
        int fd = atoi(de->d_name);
        if (!has_bit(b, fd))
            fds[n++] = fd;
    }
    closedir(d);
    return n;
}

/* After a call that may have made socket fds: give each new one its filter. */
int sockfd_after_exit(struct veil_engine *e, struct task *t, int64_t ret, int *pending_sig,
                      int *gone_status)
{
    int fds[64], nfds = 0;
    if (ret < 0 || !e->n_sockfd_nrs)
        return 0;
    if (t->nr == __NR_recvmsg) {
        nfds = passed_fds(e, t, fds, 64);
    } else if (t->nr == __NR_socketpair) {
        if (ret != 0 || veil_read_mem(t->tid, t->args[3], fds, sizeof fds) != sizeof fds)
            return 0;
        nfds = 2;
    } else if (t->nr == __NR_fcntl) {
        if (t->args[1] != 0 /* F_DUPFD */ && t->args[1] != 1030 /* F_DUPFD_CLOEXEC */)
            return 0;
        fds[nfds++] = (int)ret;
    } else {
        fds[nfds++] = (int)ret;
    }
    struct fd_bits *b = bits_of(e, t->pid, 1);
    if (!b)
        return -ENOMEM;
    for (int i = 0; i < nfds; i++) {
        if (fds[i] < 0 || fds[i] >= MAX_FILTERED_FD || has_bit(b, fds[i]) ||
            !fd_is_socket(t->tid, (uint64_t)fds[i]))
            continue;
        int rc = add_filter(e, t, fds[i], pending_sig, gone_status);
        if (rc == -ESRCH)
            return rc;
        b = bits_of(e, t->pid, 1); /* the table may have moved */
        if (rc == 0 && b)
            set_bit(b, fds[i]);
    }
    return 0;
}

void sockfd_forked(struct veil_engine *e, int32_t parent, int32_t child)
{
    struct fd_bits *p = bits_of(e, parent, 0);
    if (!p || parent == child || !p->nwords)
        return;
    uint32_t nw = p->nwords;
    uint64_t *copy = malloc(nw * sizeof *copy);
    if (!copy)
        return;
    memcpy(copy, p->words, nw * sizeof *copy);
    struct fd_bits *c = bits_of(e, child, 1);
    if (!c) {
        free(copy);
        return;
    }
    free(c->words);
    c->words = copy;
    c->nwords = nw;
}

void sockfd_gone(struct veil_engine *e, int32_t pid)
{
    struct fd_bits *b = bits_of(e, pid, 0);
    if (!b)
        return;
    free(b->words);
    *b = e->fd_bits[--e->n_fd_bits];
}

void sockfd_free(struct veil_engine *e)
{
    for (uint32_t i = 0; i < e->n_fd_bits; i++)
        free(e->fd_bits[i].words);
    free(e->fd_bits);
    e->fd_bits = NULL;
    e->n_fd_bits = 0;
}
