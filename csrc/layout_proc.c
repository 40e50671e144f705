/*
 * /proc as the guest sees it: magic links (exe, cwd, root, fd/N) answered in
 * the guest's view, writable opens of /proc/PID/mem refused, and the fields
 * of /proc/PID/stat veil reads.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"

/* /proc/PID/{exe,cwd,root,fd/N} and the same under task/TID: links whose
   target the kernel reads from a process, not from the file system. */
enum magic proc_magic(const char *host, int32_t *pid)
{
    const char *p = host;
    if (strncmp(p, "/proc/", 6) != 0)
        return M_NONE;
    p += 6;
    char *end;
    long n = strtol(p, &end, 10);
    if (end == p || *end != '/')
        return M_NONE;
    *pid = (int32_t)n;
    p = end + 1;
    if (strncmp(p, "task/", 5) == 0) {
        strtol(p + 5, &end, 10);
        if (end == p + 5 || *end != '/')
            return M_NONE;
        p = end + 1;
    }
    if (strcmp(p, "exe") == 0)
        return M_EXE;
    if (strcmp(p, "cwd") == 0)
        return M_CWD;
    if (strcmp(p, "root") == 0)
        return M_ROOT;
    if (strncmp(p, "fd/", 3) == 0) {
        strtol(p + 3, &end, 10);
        if (end != p + 3 && *end == 0)
            return M_FD;
    }
    return M_NONE;
}

int read_link(const char *path, char *out)
{
    ssize_t n = readlink(path, out, PATH_MAX - 1);
    if (n < 0)
        return -errno;
    out[n] = 0;
    return 0;
}

/*
 * What a magic link shows the guest: its target in the guest's view.
 * Returns 1 if `out` is a guest path, 0 if the target is not a path
 * ("pipe:[7]") or lies outside the guest (out = the host text), -errno.
 */
int magic_target(struct veil_engine *e, enum magic kind, int32_t pid, const char *host,
                        char *out)
{
    if (!tasks_find(&e->tasks, pid))
        return -EACCES; /* a process outside the sandbox */
    if (kind == M_ROOT) {
        strcpy(out, "/");
        return 1;
    }
    struct proc_view *pv = kind == M_EXE ? proc_find(&e->layout, pid) : NULL;
    if (pv && pv->exe && in_view(root_of(&e->layout, pid), pv->exe, out) == 0)
        return 1;
    char target[PATH_MAX];
    int rc = read_link(host, target);
    if (rc < 0)
        return rc;
    if (target[0] != '/') {
        strcpy(out, target);
        return 0;
    }
    static const char deleted[] = " (deleted)";
    size_t n = strlen(target), dn = sizeof deleted - 1;
    int is_deleted = n > dn && strcmp(target + n - dn, deleted) == 0;
    if (is_deleted)
        target[n - dn] = 0;
    if (host_to_view(e, pid, target, out) < 0) {
        strcpy(out, target);
        return 0;
    }
    if (is_deleted) {
        strcat(out, deleted);
        return 0;
    }
    return 1;
}

/* /proc/PID/mem (or .../task/TID/mem, or an fd of one) writes through page
   protections: a writable open of it fails */
int writes_proc_mem(struct veil_engine *e, struct task *t, const char *host,
                           uint64_t open_flags)
{
    char link[PATH_MAX], *end;
    int32_t pid;
    if (!(open_flags & 3))
        return 0;
    if (proc_magic(host, &pid) == M_FD && read_link(host, link) == 0)
        host = link;
    const char *p = host + 6;
    if (strncmp(host, "/proc/", 6) != 0 || (strtol(p, &end, 10), end == p))
        return 0;
    p = end;
    if (strncmp(p, "/task/", 6) == 0) {
        strtol(p + 6, &end, 10);
        if (end == p + 6)
            return 0;
        p = end;
    }
    if (strcmp(p, "/mem") != 0)
        return 0;
    layout_report(e, t, EACCES, "writing a process's memory through /proc/PID/mem would reach "
                         "veil's read-only scratch area");
    return -EACCES;
}

/* fields of /proc/PID/stat, numbered as proc(5) numbers them (from 1) */
int stat_fields(int32_t pid, uint64_t *out, int first, int last)
{
    char path[64], buf[4096];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    if (veil_read_proc(path, buf, sizeof buf) < 0)
        return -1;
    char *p = strrchr(buf, ')'); /* the comm may hold spaces and parentheses */
    if (!p)
        return -1;
    p++;
    p += strspn(p, " ");
    p += strcspn(p, " "); /* field 3, the state, is a letter */
    for (int field = 4; field <= last; field++) {
        char *end;
        unsigned long long v = strtoull(p, &end, 10); /* nice and priority may be < 0 */
        if (end == p)
            return -1;
        if (field >= first)
            out[field - first] = v;
        p = end;
    }
    return 0;
}
