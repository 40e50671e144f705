/* Calls that name another process (kill, ptrace, process_vm_*, pidfd_*, ...):
 * with VEIL_F_TARGETS they reach only tasks this engine traces.  Which calls,
 * and which arguments name a process, is Python's table (veil.protect). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"

#define PROC_SUPER_MAGIC_VALUE 0x9fa0
#define PROC_ROOT_INO_VALUE 1
#define DIRENT64_NAME 19 /* offset of d_name in struct linux_dirent64 */

/* Is `id` (a tid, or a thread group id whose leader may be gone) traced? */
int targets_traced(struct veil_engine *e, int32_t id)
{
    if (tasks_find(&e->tasks, id))
        return 1;
    /* a zombie leader is no longer in the table, its threads are */
    for (uint32_t i = 0; i < e->tasks.cap; i++)
        if (tasks_at(&e->tasks, i) && tasks_at(&e->tasks, i)->pid == id)
            return 1;
    return 0;
}

/* The process a pidfd (or an fd of a /proc/PID directory, which pidfd_send_signal(2)
   also takes) refers to: > 0, 0 if the fd is neither (the kernel then refuses the
   call itself), -1 if it cannot be told (refused). */
static int32_t pidfd_target(int32_t tid, int fd)
{
    char path[64], buf[1024];
    if (fd < 0)
        return 0;
    snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)tid, fd);
    if (veil_read_proc(path, buf, sizeof buf) < 0)
        return 0; /* no such fd: EBADF from the kernel */
    const char *line = strstr(buf, "\nPid:");
    if (line) {
        /* "Pid: -1" once the process is gone (proc(5)): the kernel says ESRCH */
        long pid = strtol(line + 5, NULL, 10);
        return pid > 0 && pid <= INT_MAX ? (int32_t)pid : 0;
    }
    char link[64];
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)tid, fd);
    ssize_t n = readlink(path, link, sizeof link - 1);
    if (n < 0)
        return -1;
    link[n] = 0;
    int32_t pid = 0;
    int end = 0;
    /* the text of the link is only a hint here: a /proc/PID directory of the
       caller's own /proc is what the kernel accepts as a pidfd */
    if (sscanf(link, "/proc/%d%n", &pid, &end) == 1 && link[end] == 0)
        return pid > 0 ? pid : -1;
    return 0;
}

int targets_check(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d)
{
    for (int i = 0; i < VEIL_MAX_ARGS; i++) {
        /* in a pid namespace of its own the program's pids are that namespace's: the
           kernel keeps every other process out of its reach, and the filter refuses
           its init (pid 1, veil's) */
        if ((d->pid_args & (1u << i)) && !e->mountns.pidns) {
            int32_t id = (int32_t)t->args[i];
            if (id == 0)
                continue; /* the caller itself */
            if (id == INT_MIN)
                return -EPERM;
            if (!targets_traced(e, id < 0 ? -id : id)) /* -N: process group N (its leader) */
                return -EPERM;
        }
        if (d->pidfd_args & (1u << i)) {
            int32_t pid = pidfd_target(t->tid, (int)t->args[i]);
            if (pid < 0 || (pid > 0 && !targets_traced(e, pid)))
                return -EPERM;
            if (pid > 0 && e->mountns.pidns && pid == e->mountns.init_pid)
                return -EPERM;
        }
    }
    return 0;
}

int targets_proc_path(struct veil_engine *e, const char *guest)
{
    if (strncmp(guest, "/proc/", 6) != 0)
        return 0;
    const char *p = guest + 6;
    long id = 0;
    int digits = 0;
    for (; *p >= '0' && *p <= '9' && digits < 10; p++, digits++)
        id = id * 10 + (*p - '0');
    if (!digits || (*p && *p != '/') || id > INT_MAX)
        return 0; /* /proc/self, /proc/cpuinfo, ... */
    return targets_traced(e, (int32_t)id) ? 0 : -ENOENT;
}

static int is_proc_root(int32_t tid, int fd)
{
    char path[64];
    struct statfs sf;
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/fd/%d", (int)tid, fd);
    return statfs(path, &sf) == 0 && sf.f_type == PROC_SUPER_MAGIC_VALUE &&
           stat(path, &st) == 0 && st.st_ino == PROC_ROOT_INO_VALUE;
}

static int hidden_pid_entry(struct veil_engine *e, const char *name, size_t room)
{
    long id = 0;
    size_t i = 0;
    for (; i < room && i < 10 && name[i] >= '0' && name[i] <= '9'; i++)
        id = id * 10 + (name[i] - '0');
    if (i == 0 || i >= room || name[i] != 0 || id > INT_MAX)
        return 0;
    return !targets_traced(e, (int32_t)id);
}

/* At the exit of getdents64 under proc_scope: a listing of a /proc directory shows
   only the traced tree's processes, as the /proc of a pid namespace would.  When
   every entry it returned was hidden, the call is made again (the directory's
   position has moved on): returning 0 would say the listing is over.  Returns the
   call's new result. */
int64_t targets_proc_listing(struct veil_engine *e, struct task *t, int64_t ret)
{
    if (ret <= 0 || !is_proc_root(t->tid, (int)t->args[0]))
        return ret;
    size_t len = (size_t)ret;
    uint8_t *buf = malloc(len);
    if (!buf)
        return -ENOMEM;
    if (veil_read_mem(t->tid, t->args[1], buf, len) != (long)len) {
        free(buf);
        return -EFAULT;
    }
    size_t kept = 0;
    for (size_t off = 0; off + DIRENT64_NAME < len;) {
        uint16_t reclen;
        memcpy(&reclen, buf + off + 16, sizeof reclen);
        if (reclen <= DIRENT64_NAME || off + reclen > len)
            break;
        if (!hidden_pid_entry(e, (const char *)buf + off + DIRENT64_NAME, reclen - DIRENT64_NAME)) {
            memmove(buf + kept, buf + off, reclen);
            kept += reclen;
        }
        off += reclen;
    }
    int64_t out = (int64_t)kept;
    if (kept == 0 && veil_arch_restart(t->tid, t->nr) == 0)
        out = ret; /* made again: this result is never seen */
    else if (kept < len && veil_write_mem(t->tid, t->args[1], buf, kept) != (long)kept)
        out = -EFAULT;
    free(buf);
    return out;
}
