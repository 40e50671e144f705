/*
 * The capabilities a spawned program keeps (veil_set_caps).  Mechanism only:
 * which ones stay is Python's (veil.protect).  Applied in the child between
 * fork and exec, after the seccomp filter (installing it without no_new_privs
 * needs CAP_SYS_ADMIN): the bounding set loses every capability not kept (what
 * a root program gets back at exec), the ambient set is cleared, permitted,
 * effective and inheritable are lowered, and no_new_privs is set (no setuid
 * bit or file capability grants anything at exec).  capabilities(7).
 *
 * The fds of veil that a pinned path names (layout.c, /proc/VEIL/.../fd/N) are
 * walked with the program's credentials: ptrace read access to the task the
 * /proc directory is of, i.e. the same uid and that task's permitted set inside
 * the program's effective one (or CAP_SYS_PTRACE).  A program without host
 * root's capabilities cannot walk them through veil's main thread, so they are
 * named through a thread of veil that holds no capability at all and only waits
 * (caps_fd_dir); it exists while an engine uses it.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>

#include "arch.h"
#include "internal.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

/* The kernel's highest capability number: /proc/sys/kernel/cap_last_cap, else
   the last one PR_CAPBSET_READ knows. */
static int last_cap(void)
{
    char buf[32];
    if (veil_read_proc("/proc/sys/kernel/cap_last_cap", buf, sizeof buf) > 0) {
        char *end;
        long n = strtol(buf, &end, 10);
        if (end != buf && n >= 0 && n < 64)
            return (int)n;
    }
    int cap = 0;
    while (cap < 63 && prctl(PR_CAPBSET_READ, cap + 1, 0, 0, 0) >= 0)
        cap++;
    return cap;
}

void veil_set_caps(struct veil_engine *e, uint64_t keep)
{
    e->drop_caps = keep != UINT64_MAX;
    e->keep_caps = keep;
    e->cap_last = e->drop_caps ? last_cap() : 0;
}

static long sys5(long nr, long a, long b, long c, long d, long e)
{
    return veil_arch_raw_syscall(nr, a, b, c, d, e);
}

/* In the child, before execve: 0 or -errno (raw calls: the child may share veil's
   memory, errno included, spawn.c). */
long caps_apply(const struct veil_engine *e)
{
    if (!e->drop_caps)
        return 0;
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
    memset(data, 0, sizeof data);
    long rc = sys5(SYS_capget, (long)&hdr, (long)data, 0, 0, 0);
    if (rc < 0)
        return rc;
    /* Dropping from the bounding set takes CAP_SETPCAP: a caller without it
       (veil run by a plain user) has nothing there a program could use, since
       no_new_privs keeps exec from granting it */
    if (data[CAP_TO_INDEX(CAP_SETPCAP)].effective & CAP_TO_MASK(CAP_SETPCAP)) {
        for (int cap = 0; cap <= e->cap_last; cap++) {
            if (e->keep_caps & (1ULL << cap))
                continue;
            long in = sys5(SYS_prctl, PR_CAPBSET_READ, cap, 0, 0, 0);
            if (in < 0)
                return in;
            if (in && (rc = sys5(SYS_prctl, PR_CAPBSET_DROP, cap, 0, 0, 0)) < 0)
                return rc;
        }
    }
    /* EINVAL: a kernel without ambient capabilities (before 4.3) */
    rc = sys5(SYS_prctl, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
    if (rc < 0 && rc != -EINVAL)
        return rc;
    for (int i = 0; i < _LINUX_CAPABILITY_U32S_3; i++) {
        uint32_t keep = (uint32_t)(e->keep_caps >> (32 * i));
        data[i].effective &= keep;
        data[i].permitted &= keep;
        data[i].inheritable &= keep;
    }
    hdr.version = _LINUX_CAPABILITY_VERSION_3;
    hdr.pid = 0;
    rc = sys5(SYS_capset, (long)&hdr, (long)data, 0, 0, 0);
    return rc < 0 ? rc : sys5(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* --- the thread that names veil's fds for the program ---------------------- */

static pthread_mutex_t holder_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    int refs;       /* engines using it */
    pid_t tid;      /* > 0: running */
    int wake;       /* write end: closing it ends the thread */
    pthread_t thread;
    int atfork;     /* the fork handler is registered */
} holder;

static void *holder_main(void *arg)
{
    int *ends = arg; /* [0]: read end (EOF: stop), [1]: where the tid goes */
    struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct none[_LINUX_CAPABILITY_U32S_3];
    memset(none, 0, sizeof none);
    prctl(PR_SET_NAME, "veil-fds", 0, 0, 0);
    /* capset(2) without glibc changes this thread only */
    pid_t tid = syscall(SYS_capset, &hdr, none) == 0 ? (pid_t)syscall(SYS_gettid) : -errno;
    int stop = ends[0];
    if (write(ends[1], &tid, sizeof tid) != sizeof tid || tid < 0) {
        close(stop);
        return NULL;
    }
    char c;
    while (read(stop, &c, 1) < 0 && errno == EINTR)
        ;
    close(stop);
    return NULL;
}

static void holder_forked(void)
{
    /* the child of a fork has no such thread */
    holder.refs = 0;
    holder.tid = 0;
    holder.wake = -1;
}

static pid_t holder_start(void)
{
    int stop[2], ready[2];
    if (pipe2(stop, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(ready, O_CLOEXEC) < 0) {
        int saved = errno;
        close(stop[0]);
        close(stop[1]);
        return -saved;
    }
    int ends[2] = {stop[0], ready[1]};
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* no signal of veil lands there */
    int rc = pthread_create(&holder.thread, NULL, holder_main, ends);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pid_t tid = -rc;
    if (rc == 0 && read(ready[0], &tid, sizeof tid) != sizeof tid)
        tid = -EIO;
    close(ready[0]);
    close(ready[1]);
    if (rc != 0)
        close(stop[0]);
    if (tid < 0) {
        close(stop[1]);
        if (rc == 0)
            pthread_join(holder.thread, NULL);
        return tid;
    }
    holder.wake = stop[1];
    return tid;
}

/* "/proc/VEIL/task/TID/fd" of the thread without capabilities (started on first
   use), else "/proc/VEIL/fd" */
void caps_fd_dir(struct veil_engine *e, char *out, size_t size)
{
    pid_t tid = 0;
    pthread_mutex_lock(&holder_lock);
    if (!holder.atfork)
        holder.atfork = pthread_atfork(NULL, NULL, holder_forked) == 0;
    if (!e->fd_holder) {
        if (holder.refs == 0)
            holder.tid = holder_start();
        if (holder.tid > 0) {
            holder.refs++;
            e->fd_holder = 1;
        }
    }
    if (e->fd_holder)
        tid = holder.tid;
    pthread_mutex_unlock(&holder_lock);
    if (tid > 0)
        snprintf(out, size, "/proc/%d/task/%d/fd", (int)getpid(), (int)tid);
    else
        snprintf(out, size, "/proc/%d/fd", (int)getpid());
}

void caps_free(struct veil_engine *e)
{
    if (!e->fd_holder)
        return;
    e->fd_holder = 0;
    pthread_mutex_lock(&holder_lock);
    if (holder.refs > 0 && --holder.refs == 0 && holder.tid > 0) {
        close(holder.wake);
        pthread_join(holder.thread, NULL);
        holder.tid = 0;
        holder.wake = -1;
    }
    pthread_mutex_unlock(&holder_lock);
}
