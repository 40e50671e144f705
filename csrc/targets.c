/* Calls that name another process (kill, ptrace, process_vm_*, pidfd_*, ...):
 * with VEIL_F_TARGETS they reach only tasks this engine traces.  Which calls,
 * and which arguments name a process, is Python's table (veil.protect). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

/* Is `id` (a tid, or a thread group id whose leader may be gone) traced? */
int targets_traced(struct veil_engine *e, int32_t id)
{
    if (tasks_find(&e->tasks, id))
        return 1;
    /* a zombie leader is no longer in the table, its threads are */
    for (uint32_t i = 0; i < e->tasks.cap; i++)
        if (e->tasks.slots[i].tid != 0 && e->tasks.slots[i].pid == id)
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
        if (d->pid_args & (1u << i)) {
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
