/*
 * The guest's directory layout: a root directory plus binds, and the
 * translation of every path a call names from the guest's view to the host's
 * (and of the paths some calls return, back).
 *
 * Paths are resolved here, component by component, in the guest's view:
 * `..` stops at the guest root, symlinks (absolute or relative) are read and
 * followed inside the guest, /proc magic links of traced processes are
 * answered from the guest's view.  The kernel then gets an absolute host path
 * with no symlink left for it to follow but (where the call follows it) the
 * last one's target already substituted.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <linux/seccomp.h>
#include <sys/un.h>
#include <sys/prctl.h>
#include <linux/prctl.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"

#define AT_FDCWD_VALUE (-100)
#define MAX_SYMLINKS 40            /* path_resolution(7) */
#define RED_ZONE 128               /* x86_64 ABI: below sp, the leaf function's */
#define SCRATCH_MAX (256u * 1024u) /* how far below sp new strings may go */
#define O_CREAT_EXCL (0100 | 0200)
#define O_NOFOLLOW_FLAG 0400000

static void mem_fd_close(struct proc_view *p)
{
    if (p->mem_fd1)
        close(p->mem_fd1 - 1);
    p->mem_fd1 = 0;
}

/* --- configuration --------------------------------------------------------- */

static int set_prefix(char **dst, size_t *len, const char *path)
{
    char *copy = strdup(strcmp(path, "/") == 0 ? "" : path);
    if (!copy)
        return -ENOMEM;
    size_t n = strlen(copy);
    while (n > 0 && copy[n - 1] == '/')
        copy[--n] = 0;
    free(*dst);
    *dst = copy;
    *len = n;
    return 0;
}

/* host prefixes without symlinks: the kernel walks them with RESOLVE_NO_SYMLINKS */
static int set_host_prefix(char **dst, size_t *len, const char *path)
{
    char *canon = realpath(path, NULL);
    int rc = set_prefix(dst, len, canon ? canon : path);
    free(canon);
    return rc;
}

int veil_layout_set_root(struct veil_engine *e, const char *host_root)
{
    if (host_root[0] != '/')
        return -EINVAL;
    e->layout.active = 1;
    return set_host_prefix(&e->layout.root, &e->layout.rootlen, host_root);
}

int veil_layout_add_bind(struct veil_engine *e, const char *host, const char *guest)
{
    struct layout *L = &e->layout;
    if (host[0] != '/' || guest[0] != '/')
        return -EINVAL;
    struct bind *n = realloc(L->binds, (L->nbinds + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    L->binds = n;
    struct bind b;
    memset(&b, 0, sizeof b);
    if (set_host_prefix(&b.host, &b.hlen, host) < 0 ||
        set_prefix(&b.guest, &b.glen, guest) < 0) {
        free(b.host);
        free(b.guest);
        return -ENOMEM;
    }
    /* as PRoot: of two binds at one guest path, the last one is shown */
    for (uint32_t i = 0; i < L->nbinds; i++) {
        if (strcmp(L->binds[i].guest, b.guest) == 0) {
            free(L->binds[i].host);
            free(L->binds[i].guest);
            L->binds[i] = b;
            return 0;
        }
    }
    L->binds[L->nbinds++] = b;
    return 0;
}

void layout_free(struct veil_engine *e)
{
    struct layout *L = &e->layout;
    for (uint32_t i = 0; i < L->nbinds; i++) {
        free(L->binds[i].host);
        free(L->binds[i].guest);
    }
    free(L->binds);
    free(L->root);
    for (uint32_t i = 0; i < L->nprocs; i++) {
        free(L->procs[i].exe);
        free(L->procs[i].root);
        mem_fd_close(&L->procs[i]);
    }
    free(L->procs);
    for (uint32_t i = 0; i < L->npins; i++)
        close(L->pins[i].fd);
    free(L->pins);
    for (uint32_t i = 0; i < L->nsun_dirs; i++) {
        close(L->sun_dirs[i].fd);
        free(L->sun_dirs[i].alias);
        free(L->sun_dirs[i].host);
    }
    free(L->sun_dirs);
    memset(L, 0, sizeof *L);
}

static void pins_close(struct layout *L, int32_t tid, int32_t pid);

static int own_fsuid_is_root(struct task *t);
static int retitle(struct veil_engine *e, struct task *t, struct proc_view *pv, int *gone_status);
static void report(struct veil_engine *e, struct task *t, int err, const char *why);
static int writes_proc_mem(struct veil_engine *e, struct task *t, const char *host,
                           uint64_t open_flags);
static int guard_scratch(struct veil_engine *e, struct task *t);

/* --- per-process state: the exe the guest sees, the root chroot set ------- */

static struct proc_view *proc_find(struct layout *L, int32_t pid)
{
    for (uint32_t i = 0; i < L->nprocs; i++)
        if (L->procs[i].pid == pid)
            return &L->procs[i];
    return NULL;
}

static struct proc_view *proc_get(struct layout *L, int32_t pid)
{
    struct proc_view *p = proc_find(L, pid);
    if (p)
        return p;
    p = realloc(L->procs, (L->nprocs + 1) * sizeof *p);
    if (!p)
        return NULL;
    L->procs = p;
    p = &L->procs[L->nprocs++];
    memset(p, 0, sizeof *p);
    p->pid = pid;
    return p;
}

static int replace_str(char **dst, const char *src)
{
    char *copy = src ? strdup(src) : NULL;
    if (src && !copy)
        return -ENOMEM;
    free(*dst);
    *dst = copy;
    return 0;
}

void layout_forked(struct veil_engine *e, int32_t parent_pid, int32_t child_pid)
{
    struct layout *L = &e->layout;
    struct proc_view *parent = proc_find(L, parent_pid);
    if (!L->active || !parent || parent_pid == child_pid)
        return;
    char *exe = parent->exe, *root = parent->root; /* proc_get may move the array */
    int scratch = parent->scratch; /* a copy (fork) or the same (CLONE_VM) address space */
    int fds_ok = parent->fds_ok, plain = parent->plain_calls; /* filters are inherited */
    /* A child may stop before its parent's fork event is seen, and may even have
       exec'd by then (a vfork child): what its own stops set up is its own.  Its
       scratch state then describes its address space, the parent's would not
       (0 is always safe: the next path call maps or finds the area). */
    int seen = proc_find(L, child_pid) != NULL;
    exe = exe ? strdup(exe) : NULL;
    root = root ? strdup(root) : NULL;
    struct proc_view *child = proc_get(L, child_pid);
    if (!child) {
        free(exe);
        free(root);
        return;
    }
    if (seen) {
        if (!child->exe)
            child->exe = exe, exe = NULL;
        if (!child->root)
            child->root = root, root = NULL;
        free(exe);
        free(root);
        child->plain_calls |= plain;
        return;
    }
    free(child->exe);
    free(child->root);
    child->exe = exe;
    child->root = root;
    child->scratch = scratch;
    child->fds_ok = fds_ok;
    child->plain_calls = plain;
}

void layout_gone(struct veil_engine *e, int32_t pid)
{
    struct layout *L = &e->layout;
    if (L->npins)
        pins_close(L, 0, pid);
    struct proc_view *p = proc_find(L, pid);
    if (!p)
        return;
    free(p->exe);
    free(p->root);
    free(p->pending_execfn);
    mem_fd_close(p);
    *p = L->procs[--L->nprocs];
}

/* the guest path of the root a process sees ("" = the layout's root) */
static const char *root_of(struct layout *L, int32_t pid)
{
    struct proc_view *p = L->nprocs ? proc_find(L, pid) : NULL;
    return p && p->root ? p->root : "";
}

/* --- guest <-> host ---------------------------------------------------------- */

static int under(const char *path, const char *prefix, size_t len)
{
    return strncmp(path, prefix, len) == 0 && (path[len] == 0 || path[len] == '/');
}

static int join(char *out, size_t cap, const char *a, const char *b)
{
    int n = snprintf(out, cap, "%s%s", a, b);
    if (n < 0 || (size_t)n >= cap)
        return -ENAMETOOLONG;
    if (out[0] == 0)
        strcpy(out, "/");
    return 0;
}

/* guest: absolute, canonical ("/a/b") */
static int to_host(const struct layout *L, const char *guest, char *out)
{
    const struct bind *best = NULL;
    for (uint32_t i = 0; i < L->nbinds; i++) {
        const struct bind *b = &L->binds[i];
        if ((!best || b->glen > best->glen) && under(guest, b->guest, b->glen))
            best = b;
    }
    if (best)
        return join(out, PATH_MAX, best->host, guest + best->glen);
    return join(out, PATH_MAX, L->root, strcmp(guest, "/") ? guest : "");
}

/* host: absolute, canonical.  -ENOENT: not visible in the guest.  The guest path
   through the bind with the longest host prefix (the root counting as a bind of /,
   so that a root below a bound host directory shows its own paths) among those
   whose guest path leads back to host (not to what a deeper bind shows there). */
static int to_guest(const struct layout *L, const char *host, char *out)
{
    char guest[PATH_MAX], back[PATH_MAX];
    size_t best = 0;
    int found = 0;
    for (int64_t i = -1; i < (int64_t)L->nbinds; i++) {
        const char *h = i < 0 ? L->root : L->binds[i].host;
        size_t hlen = i < 0 ? L->rootlen : L->binds[i].hlen;
        if (!under(host, h, hlen) || (found && hlen < best))
            continue;
        /* a bind of the host's / has the empty prefix: / itself is its guest path */
        const char *rest = strcmp(host + hlen, "/") == 0 ? "" : host + hlen;
        if (join(guest, PATH_MAX, i < 0 ? "" : L->binds[i].guest, rest) < 0 ||
            to_host(L, guest, back) < 0 || strcmp(back, host) != 0)
            continue;
        strcpy(out, guest);
        best = hlen;
        found = 1;
    }
    return found ? 0 : -ENOENT;
}

/* a guest path as a process under chroot sees it; -ENOENT if outside */
static int in_view(const char *root, const char *guest, char *out)
{
    size_t n = strlen(root);
    if (n == 0) {
        if (out != guest)
            memmove(out, guest, strlen(guest) + 1);
        return 0;
    }
    if (!under(guest, root, n))
        return -ENOENT;
    memmove(out, guest + n, strlen(guest + n) + 1);
    if (out[0] == 0)
        strcpy(out, "/");
    return 0;
}

/* The guest path of a host path the kernel reported for this process
   (cwd, fd target, exe), in the process's view. */
static int host_to_view(struct veil_engine *e, int32_t pid, const char *host, char *out)
{
    char guest[PATH_MAX];
    int rc = to_guest(&e->layout, host, guest);
    if (rc < 0)
        return rc;
    return in_view(root_of(&e->layout, pid), guest, out);
}

/* --- /proc ------------------------------------------------------------------ */

enum magic { M_NONE, M_EXE, M_CWD, M_ROOT, M_FD };

/* /proc/PID/{exe,cwd,root,fd/N} and the same under task/TID: links whose
   target the kernel reads from a process, not from the file system. */
static enum magic proc_magic(const char *host, int32_t *pid)
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

static int read_link(const char *path, char *out)
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
static int magic_target(struct veil_engine *e, enum magic kind, int32_t pid, const char *host,
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

/* --- resolution ---------------------------------------------------------- */

struct resolved {
    char guest[PATH_MAX]; /* canonical, in the layout's terms (chroot prefix kept) */
    char host[PATH_MAX];
    int links;            /* symlinks followed on the way */
    int magic;            /* of which /proc magic links */
    int kernel_link;      /* host is a /proc magic link the kernel must follow itself */
};

/* Does a bind lie below guest directory g (which may not exist in the root)? */
static int bind_below(const struct layout *L, const char *g)
{
    size_t n = strlen(g);
    for (uint32_t i = 0; i < L->nbinds; i++)
        if (L->binds[i].glen > n && strncmp(L->binds[i].guest, g, n) == 0 &&
            L->binds[i].guest[n] == '/')
            return 1;
    return 0;
}

static int has_dotdot(const char *path)
{
    for (const char *p = path; (p = strstr(p, "..")) != NULL; p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == 0 || p[2] == '/'))
            return 1;
    return 0;
}

static void pop_component(char *g, size_t floor)
{
    char *slash = strrchr(g, '/');
    if (slash && (size_t)(slash - g) >= floor)
        *slash = 0;
}

/*
 * Resolve `path` starting in guest directory `start` (for a relative path);
 * `root` is the process's guest root ("" = the layout root).  pid/tid are
 * the caller's (0 when veil itself asks).
 */
static int resolve(struct veil_engine *e, int32_t pid, int32_t tid, const char *root,
                   const char *start, const char *path, int follow_last, struct resolved *out)
{
    const struct layout *L = &e->layout;
    char rest[2 * PATH_MAX], target[PATH_MAX], host[PATH_MAX];
    char *g = out->guest;
    size_t floor = strlen(root);
    int links = 0;
    out->links = out->magic = out->kernel_link = 0;
    if (snprintf(rest, sizeof rest, "%s", path) >= (int)sizeof rest)
        return -ENAMETOOLONG;
    snprintf(g, PATH_MAX, "%s", path[0] == '/' ? root : start);
    if (strcmp(g, "/") == 0)
        g[0] = 0; /* the empty string is the guest root: components append "/name" */
    const char *p = rest;
    int trailing = 0;
    for (;;) {
        while (*p == '/')
            p++;
        if (!*p)
            break;
        const char *end = strchrnul(p, '/');
        size_t n = (size_t)(end - p);
        const char *after = end;
        while (*after == '/')
            after++;
        int last = *after == 0;
        trailing = last && *end == '/';
        if (n == 1 && p[0] == '.') {
            p = end;
            continue;
        }
        if (n == 2 && p[0] == '.' && p[1] == '.') {
            pop_component(g, floor);
            p = end;
            continue;
        }
        size_t glen = strlen(g);
        if (glen + 1 + n >= PATH_MAX)
            return -ENAMETOOLONG;
        g[glen] = '/';
        memcpy(g + glen + 1, p, n);
        g[glen + 1 + n] = 0;
        if (last && !follow_last && !trailing)
            break;
        int rc = to_host(L, g, host);
        if (rc < 0)
            return rc;
        /* /proc/self as veil reads it names veil: answer for the caller */
        const char *self_target = NULL;
        char self_buf[64];
        if (pid && strncmp(host, "/proc/", 6) == 0) {
            if (strcmp(host, "/proc/self") == 0) {
                snprintf(self_buf, sizeof self_buf, "%d", pid);
                self_target = self_buf;
            } else if (strcmp(host, "/proc/thread-self") == 0) {
                snprintf(self_buf, sizeof self_buf, "%d/task/%d", pid, tid);
                self_target = self_buf;
            }
        }
        struct stat st;
        if (!self_target && lstat(host, &st) < 0) {
            /* The kernel meets the same error on the same component.  Not when
               ".." follows: the component created meanwhile (a directory) would
               let "x/../../.." climb out of the guest. */
            if (!last && bind_below(L, g)) {
                p = end; /* a directory only the path to a bind makes */
                continue;
            }
            if (!last && has_dotdot(end))
                return -errno;
            if (snprintf(g + glen + 1 + n, PATH_MAX - glen - 1 - n, "%s", end) >=
                (int)(PATH_MAX - glen - 1 - n))
                return -ENAMETOOLONG;
            trailing = 0;
            break;
        }
        if (!self_target && !S_ISLNK(st.st_mode)) {
            /* "file/." and "file/.." (which veil's walk drops) fail as in the kernel */
            if (!last && !S_ISDIR(st.st_mode))
                return -ENOTDIR;
            p = end;
            continue;
        }
        if (++links > MAX_SYMLINKS)
            return -ELOOP;
        out->links = links;
        int32_t owner = 0;
        enum magic kind = self_target ? M_NONE : proc_magic(host, &owner);
        if (kind != M_NONE)
            out->magic++;
        if (self_target) {
            snprintf(target, sizeof target, "%s", self_target);
        } else if (kind != M_NONE) {
            int m = magic_target(e, kind, owner, host, target);
            if (m < 0)
                return m;
            if (m == 0) {
                if (!last)
                    return -ENOTDIR;
                /* a pipe, a deleted file, a file outside the guest that the
                   process holds: the kernel opens what the link names */
                out->kernel_link = 1;
                return snprintf(out->host, PATH_MAX, "%s", host) >= PATH_MAX ? -ENAMETOOLONG
                                                                            : 0;
            }
            if (kind == M_FD && last) {
                /* reopen through the link: works for O_PATH and unlinked files too */
                out->kernel_link = 1;
                snprintf(out->host, PATH_MAX, "%s", host);
                return 0;
            }
        } else {
            rc = read_link(host, target);
            if (rc < 0)
                return rc;
        }
        char joined[2 * PATH_MAX];
        if (snprintf(joined, sizeof joined, "%s%s", target, end) >= (int)sizeof joined)
            return -ENAMETOOLONG;
        strcpy(rest, joined);
        p = rest;
        g[glen] = 0;
        if (target[0] == '/')
            snprintf(g, PATH_MAX, "%s", root);
    }
    if (g[0] == 0)
        strcpy(g, "/");
    int rc = to_host(L, g, out->host);
    if (rc < 0)
        return rc;
    if (trailing && strcmp(out->host, "/") != 0) {
        size_t n = strlen(out->host);
        if (n + 1 >= PATH_MAX)
            return -ENAMETOOLONG;
        out->host[n] = '/';
        out->host[n + 1] = 0;
    }
    return 0;
}

/* Does the text of a cwd or fd link name the directory the link itself leads to?
   The text need not: a removed directory's ends in " (deleted)", a name the
   program can then create (as a symlink to "/"), and an O_PATH fd of a symlink
   names the symlink.  0, or -errno as the kernel would answer a walk from it.
   Two syscalls per relative path call; the walk of veil's result is pinned
   (--strict) or opened without symlinks (opens) as any other path. */
static int start_is_anchored(const char *link, const char *host)
{
    struct stat fd_st, text_st;
    if (stat(link, &fd_st) < 0) /* the object itself, through the magic link */
        return errno == ENOENT ? -EBADF : -errno;
    if (!S_ISDIR(fd_st.st_mode))
        return -ENOTDIR;
    /* the text walked now: a symlink in its place (or above it, leading elsewhere)
       or a removed directory is another object (d_path's text has no symlink) */
    if (lstat(host, &text_st) < 0 || text_st.st_dev != fd_st.st_dev ||
        text_st.st_ino != fd_st.st_ino)
        return -ENOENT;
    return 0;
}

/* The guest directory a relative path starts from: the cwd or a dirfd. */
static int start_dir(struct veil_engine *e, struct task *t, int64_t dirfd, char *out)
{
    char link[64], host[PATH_MAX];
    if (dirfd == AT_FDCWD_VALUE)
        snprintf(link, sizeof link, "/proc/%d/cwd", t->tid);
    else
        snprintf(link, sizeof link, "/proc/%d/fd/%d", t->tid, (int)dirfd);
    int rc = read_link(link, host);
    if (rc < 0)
        return rc == -ENOENT ? -EBADF : rc;
    if (host[0] != '/')
        return -ENOTDIR;
    rc = start_is_anchored(link, host);
    if (rc < 0)
        return rc;
    if (to_guest(&e->layout, host, out) < 0) {
        report(e, t, EACCES, "a path relative to a directory outside the guest (an fd "
                             "passed in or inherited)");
        return -EACCES;
    }
    return 0;
}

/*
 * `native`: the host path the kernel would walk for the call as made (the
 * start directory's host path joined with a relative path), so that a call
 * the translation leaves unchanged needs no rewrite and no exit stop.  Only
 * where the guest sees the host's tree unchanged (root /, no bind, no path
 * rule): elsewhere a second thread could change the caller's buffer between
 * veil's check and the kernel's read, so the kernel always gets veil's copy.
 */
static int resolve_arg(struct veil_engine *e, struct task *t, int64_t dirfd, const char *path,
                       int follow, struct resolved *out, char *native)
{
    char start[PATH_MAX] = "/";
    if (path[0] != '/') {
        int rc = start_dir(e, t, dirfd, start);
        if (rc < 0)
            return rc;
    }
    if (native && (e->layout.rootlen || e->layout.nbinds || e->npath_rules)) {
        native[0] = 0;
    } else if (native) {
        char start_host[PATH_MAX];
        if (path[0] == '/')
            snprintf(native, PATH_MAX, "%s", path);
        else if (to_host(&e->layout, start, start_host) < 0 ||
                 snprintf(native, PATH_MAX, "%s/%s", strcmp(start_host, "/") ? start_host : "",
                          path) >= PATH_MAX)
            native[0] = 0;
    }
    return resolve(e, t->pid, t->tid, root_of(&e->layout, t->pid), start, path, follow, out);
}

int veil_layout_resolve(struct veil_engine *e, const char *guest, int follow, char *host_out,
                        char *guest_out)
{
    struct resolved r;
    int rc = resolve(e, 0, 0, "", "/", guest, follow, &r);
    if (rc < 0)
        return rc;
    strcpy(host_out, r.host);
    strcpy(guest_out, r.guest);
    return 0;
}

/* --- scratch memory below the caller's stack pointer ------------------------ */

struct scratch {
    int32_t tid;
    uint64_t top;
    uint64_t floor;
    int forced; /* in veil's read-only area: written through /proc/PID/mem */
    int mem_fd; /* the process's /proc/PID/mem, kept open by veil (-1: open one each time) */
};

#define SCRATCH_SLOTS 128
#define SLOT_BYTES (VEIL_SCRATCH_SIZE / SCRATCH_SLOTS)

/* a slot no call in flight uses: the caller's last one, or one whose owner is gone
   or no longer inside a call */
static int scratch_slot(struct veil_engine *e, struct task *t)
{
    struct layout *L = &e->layout;
    if (t->scratch_slot && L->slot_owner[t->scratch_slot - 1] == t->tid)
        return t->scratch_slot - 1;
    for (int k = 0; k < SCRATCH_SLOTS; k++) {
        int32_t owner = L->slot_owner[k];
        struct task *o = owner ? tasks_find(&e->tasks, owner) : NULL;
        if (!o || o->scratch_slot != k + 1 || !(o->flags & T_IN_SYSCALL)) {
            L->slot_owner[k] = t->tid;
            t->scratch_slot = k + 1;
            return k;
        }
    }
    return -1;
}

/* Where this call's rewritten arguments go: a slot of veil's read-only area, else
   (not mapped: no room at its address, or an old kernel) below the stack pointer,
   which the program's other threads can write; under pin_paths (--strict) not at
   all (the call fails). */
static int scratch_init(struct veil_engine *e, struct scratch *s, struct task *t)
{
    struct proc_view *pv = proc_find(&e->layout, t->pid);
    int slot = pv && pv->scratch == 1 ? scratch_slot(e, t) : -1;
    s->tid = t->tid;
    s->forced = slot >= 0;
    if (slot >= 0 && !pv->mem_fd1) {
        /* bound to this address space (proc(5)): closed when it execs or is gone */
        char mem[64];
        snprintf(mem, sizeof mem, "/proc/%d/mem", t->tid);
        int fd = open(mem, O_WRONLY | O_CLOEXEC);
        pv->mem_fd1 = fd >= 0 ? fd + 1 : 0;
    }
    s->mem_fd = pv ? pv->mem_fd1 - 1 : -1;
    if (slot >= 0) {
        s->floor = VEIL_SCRATCH_BASE + (uint64_t)slot * SLOT_BYTES;
        s->top = s->floor + SLOT_BYTES;
        return 0;
    }
    s->top = (t->sp - RED_ZONE) & ~(uint64_t)15;
    s->floor = s->top - SCRATCH_MAX;
    if (e->layout.pin_paths) {
        s->floor = s->top; /* nothing fits */
        return -ENOMEM;
    }
    return 0;
}

/* copy data into the tracee; 0 if it does not fit or cannot be written */
static uint64_t scratch_put(struct scratch *s, const void *data, size_t len)
{
    if (len > s->top - s->floor)
        return 0;
    uint64_t at = (s->top - len) & ~(uint64_t)15;
    long n = !s->forced        ? veil_write_mem(s->tid, at, data, len)
             : s->mem_fd >= 0 ? (long)pwrite(s->mem_fd, data, len, (off_t)at)
                              : veil_write_mem_force(s->tid, at, data, len);
    if (at < s->floor || n != (long)len)
        return 0;
    s->top = at;
    return at;
}

/* EEXIST: is what is there the area, mapped while the memory was shared (a vfork
   child's, CLONE_VM)?  A private read-only anonymous mapping of exactly its range
   no thread can write, whoever made it (mmap over the range is refused). */
static int area_there(int32_t tid)
{
    char path[64], line[256], want[96];
    snprintf(path, sizeof path, "/proc/%d/maps", tid);
    snprintf(want, sizeof want, "%llx-%llx r--p 00000000 00:00 0",
             (unsigned long long)VEIL_SCRATCH_BASE,
             (unsigned long long)(VEIL_SCRATCH_BASE + VEIL_SCRATCH_SIZE));
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, want, strlen(want)) == 0 &&
                strspn(line + strlen(want), " \n") == strlen(line + strlen(want));
    fclose(f);
    return found;
}

/*
 * Before the first translated call of a process (and after each execve): map
 * veil's scratch area read-only in it, in place of the call, which then starts
 * again (1: the thread is set up for that; resume it).  MAP_FIXED_NOREPLACE is
 * Linux 4.17; EEXIST (something of the program's is there) leaves the area
 * unmapped.
 */
int layout_prepare(struct veil_engine *e, struct task *t, int *gone_status)
{
    struct proc_view *pv = proc_get(&e->layout, t->pid);
    if (!pv || !(t->flags & T_SECCOMP_ENTRY) || t->arch != VEIL_ARCH_X86_64)
        return 0;
    if (pv->scratch != 0)
        return pv->title[0] || pv->arg_start ? retitle(e, t, pv, gone_status) : 0;
    uint64_t args[6] = {VEIL_SCRATCH_BASE, VEIL_SCRATCH_SIZE, 1 /* PROT_READ */,
                        0x02 | 0x20 | 0x4000 | 0x100000 /* PRIVATE ANONYMOUS NORESERVE
                                                           FIXED_NOREPLACE */,
                        (uint64_t)-1, 0};
    int64_t got = 0;
    int rc = veil_arch_replace_and_restart(t->tid, 9 /* mmap */, args, &got, &t->pending_sig,
                                           gone_status);
    if (rc == -ESRCH)
        return rc;
    pv = proc_find(&e->layout, t->pid);
    if (!pv)
        return rc == 0;
    char probe = 0;
    int ours = (uint64_t)got == VEIL_SCRATCH_BASE || (got == -EEXIST && area_there(t->tid));
    pv->scratch = rc == 0 && ours &&
                          veil_write_mem_force(t->tid, VEIL_SCRATCH_BASE, &probe, 1) == 1
                      ? 1
                      : -1;
    return rc == 0;
}

/*
 * After an exec through an interpreter or the loader: the process, at its first
 * translated calls, names itself after the program (prctl PR_SET_NAME) and
 * points its argument strings at the program's own (PR_SET_MM_MAP, which needs
 * no privilege when it keeps the exe file; its break is asked first).  One call
 * per stop, each in place of the program's, which then starts again (1).  A
 * refusal leaves the loader's view.
 */
static int retitle(struct veil_engine *e, struct task *t, struct proc_view *pv, int *gone_status)
{
    uint64_t at = ((t->sp - RED_ZONE) & ~(uint64_t)15) - 256, args[6] = {0};
    long nr = 12; /* brk */
    /* the map waits for the loader's own auxv (execview.c), to copy it */
    int map = pv->arg_start && (!pv->auxv_sp || execview_auxv_ready(t, pv));
    int step = map && pv->brk < 0 ? 0 : map ? 1 : 2;
    if (step == 1) {
        uint64_t f[26]; /* startcode (26) ... env_end (51) */
        if (stat_fields(t->pid, f, 26, 51) < 0) {
            pv->arg_start = 0;
            return 0;
        }
        struct prctl_mm_map map = {
            .start_code = f[0], .end_code = f[1], .start_stack = f[2],
            .start_data = f[45 - 26], .end_data = f[46 - 26], .start_brk = f[47 - 26],
            .brk = (uint64_t)pv->brk, .arg_start = pv->arg_start, .arg_end = f[49 - 26],
            .env_start = f[50 - 26], .env_end = f[51 - 26], .auxv = NULL, .auxv_size = 0,
            .exe_fd = (uint32_t)-1,
        };
        map.auxv_size = execview_auxv_put(t, pv, at - 16 * AUXV_MAX);
        map.auxv = map.auxv_size ? (__u64 *)(uintptr_t)(at - 16 * AUXV_MAX) : NULL;
        pv->arg_start = 0;
        if (veil_write_mem(t->tid, at, &map, sizeof map) != (long)sizeof map)
            return 0;
        nr = 157; /* prctl */
        args[0] = PR_SET_MM, args[1] = PR_SET_MM_MAP, args[2] = at, args[3] = sizeof map;
    } else if (step == 2) {
        size_t len = strlen(pv->title) + 1;
        if (len == 1 || veil_write_mem(t->tid, at, pv->title, len) != (long)len) {
            pv->title[0] = 0;
            return 0;
        }
        pv->title[0] = 0;
        nr = 157;
        args[0] = PR_SET_NAME, args[1] = at;
    }
    int64_t got = 0;
    int rc = veil_arch_replace_and_restart(t->tid, nr, args, &got, &t->pending_sig, gone_status);
    if (rc == -ESRCH)
        return rc;
    pv = proc_find(&e->layout, t->pid);
    if (step == 0 && pv)
        pv->brk = rc == 0 && got > 0 ? got : 0, pv->arg_start = got > 0 ? pv->arg_start : 0;
    return rc == 0;
}

static int set_arg(struct task *t, int idx, uint64_t value)
{
    int rc = veil_arch_set_arg(t->tid, idx, value);
    if (rc < 0)
        return rc;
    if (!(t->saved_mask & (1u << idx))) {
        t->saved_args[idx] = t->args[idx];
        t->saved_mask |= (uint8_t)(1u << idx);
    }
    t->args[idx] = value;
    t->flags |= T_RESTORE | T_WANT_EXIT;
    return 0;
}

static int put_path_arg(struct scratch *s, struct task *t, int idx, const char *host)
{
    uint64_t at = scratch_put(s, host, strlen(host) + 1);
    if (!at)
        return -ENOMEM;
    return set_arg(t, idx, at);
}

/* --- the kernel walks what veil checked -------------------------------------

   veil resolves every symlink itself and hands the kernel a canonical host path
   with none left, but the kernel walks that path again: a directory of the
   guest swapped for a symlink to "/" in between (another thread, another
   process) would take the call out of the guest.  Opens become
   openat2(RESOLVE_NO_SYMLINKS), so that such a swap fails the call (ELOOP: veil
   makes it again, translated anew, up to RACE_RETRIES times, then reports
   it).  With pin_paths, other calls get /proc/VEIL/fd/N[/NAME]: N is the
   file, or the directory that holds NAME, opened by veil the same way; the
   kernel starts from what veil opened. */

#define OPENAT2_NR 437
#define RACE_RETRIES 3
#define RACE_REPORT "a directory of the path was replaced by a symlink (a race)"
#define RESOLVE_NO_SYMLINKS_FLAG 0x04
#define O_PATH_FLAG 010000000
#define O_TMPFILE_FLAG 020000000
#define O_LARGEFILE_FLAG 0100000
#define VALID_OPEN_FLAGS 037777703 /* fs/fcntl.c VALID_OPEN_FLAGS on x86_64 (O_* up to __O_TMPFILE) */
#define O_PATH_FLAGS (O_PATH_FLAG | 0200000 /* O_DIRECTORY */ | O_NOFOLLOW_FLAG | 02000000)

struct open_how64 {
    uint64_t flags, mode, resolve;
};

/* a VEIL_R_DENIED record with why as its text; err < 0: a notice, nothing refused */
static void report(struct veil_engine *e, struct task *t, int err, const char *why)
{
    struct {
        uint32_t arch;
        char why[124];
    } p;
    p.arch = veil_arch_native_audit();
    snprintf(p.why, sizeof p.why, "%s", why);
    ring_event(e, VEIL_R_DENIED, t->pid, t->tid, err, t->nr, &p,
               (uint32_t)(sizeof p.arch + strlen(p.why) + 1));
}

/* openat2(2) is Linux 5.6; fd or -errno */
static int open_nosym(const char *path, uint64_t flags)
{
    struct open_how64 how = {flags | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS_FLAG};
    long fd = syscall(OPENAT2_NR, AT_FDCWD_VALUE, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

static int have_openat2(void)
{
    static int known = -1;
    if (known < 0) {
        int fd = open_nosym("/", O_PATH_FLAG);
        if (fd >= 0) {
            known = 1;
            close(fd);
        } else if (fd == -ENOSYS) {
            known = 0;
        } /* else (EMFILE, ENOMEM...): veil's own state, not the kernel's; ask again */
        return fd >= 0 || fd != -ENOSYS;
    }
    return known;
}

/* open(2) flags as openat2(2) takes them: open(2) ignores unknown bits and a
   mode without O_CREAT, and O_PATH drops the others (fs/open.c build_open_how) */
static struct open_how64 open_how_of(uint64_t flags, uint64_t mode)
{
    struct open_how64 how;
    how.flags = ((uint32_t)flags & VALID_OPEN_FLAGS) | O_LARGEFILE_FLAG;
    if (how.flags & O_PATH_FLAG)
        how.flags &= O_PATH_FLAGS;
    how.mode = (how.flags & (0100 | O_TMPFILE_FLAG)) ? (mode & 07777) : 0;
    how.resolve = RESOLVE_NO_SYMLINKS_FLAG;
    return how;
}

static void pins_close(struct layout *L, int32_t tid, int32_t pid)
{
    for (uint32_t i = 0; i < L->npins;) {
        if ((tid && L->pins[i].tid == tid) || (pid && L->pins[i].pid == pid)) {
            close(L->pins[i].fd);
            L->pins[i] = L->pins[--L->npins];
        } else {
            i++;
        }
    }
}

void veil_layout_pin_paths(struct veil_engine *e, int on)
{
    e->layout.pin_paths = on;
}

void veil_layout_proc_scope(struct veil_engine *e, int on)
{
    e->layout.proc_scope = on;
}

/* Can the caller walk /proc/VEIL/fd (ptrace read access: the same fsuid)?  Known
   per process until it execs or changes its ids (VEIL_L_CREDS). */
static int can_read_our_fds(struct veil_engine *e, struct task *t)
{
    if (geteuid() != 0)
        return 1; /* it cannot have another uid: no_new_privs, or the same user */
    struct proc_view *pv = proc_get(&e->layout, t->pid);
    if (pv && pv->fds_ok)
        return pv->fds_ok > 0;
    int ok = own_fsuid_is_root(t);
    if (pv)
        pv->fds_ok = ok ? 1 : -1;
    return ok;
}

static int own_fsuid_is_root(struct task *t)
{
    char path[64], buf[1024];
    snprintf(path, sizeof path, "/proc/%d/status", t->tid);
    if (veil_read_proc(path, buf, sizeof buf) < 0)
        return 0;
    const char *uid = strstr(buf, "\nUid:");
    unsigned r, eu, su, fsu;
    return uid && sscanf(uid + 5, "%u %u %u %u", &r, &eu, &su, &fsu) == 4 && fsu == 0;
}

/* Registers back to what the caller passed: its call starts again as it made it. */
static int unrewrite_args(struct task *t)
{
    for (int i = 0; i < VEIL_MAX_ARGS; i++) {
        if (!(t->saved_mask & (1u << i)))
            continue;
        int rc = veil_arch_set_arg(t->tid, i, t->saved_args[i]);
        if (rc < 0)
            return rc;
        t->args[i] = t->saved_args[i];
    }
    t->saved_mask = 0;
    t->flags &= ~T_RESTORE;
    return (t->flags & T_NEW_NR) ? veil_arch_set_nr(t->tid, t->nr) : 0;
}

/* Is the thread's fd `fd` the file (dev, ino)?  veil is root when it asks. */
static int tracee_fd_is(struct task *t, int fd, uint64_t dev, uint64_t ino)
{
    char link[96];
    struct stat st;
    snprintf(link, sizeof link, "/proc/%d/task/%d/fd/%d", t->pid, t->tid, fd);
    return stat(link, &st) == 0 && (uint64_t)st.st_dev == dev && (uint64_t)st.st_ino == ino;
}

static void held_forget(struct task *t, int k)
{
    t->held[k] = t->held[--t->nheld];
}

/*
 * pin() for a caller that cannot walk veil's fds: veil runs as root and the
 * caller's fsuid is another user's (proc(5): the fd directory of a process asks
 * for ptrace read access, and a helper process of that uid would hand the same
 * access to every host process of that uid).  The caller opens the directory
 * itself, the same way veil would (openat2 RESOLVE_NO_SYMLINKS, O_PATH,
 * O_CLOEXEC), in place of its call, which then starts again and walks from
 * /proc/thread-self/fd/M: a thread may always walk its own fds.  M is closed at
 * the call's exit stop (layout_close_held).  Returns 1 and `out`, 0 (leave the
 * path as it is), LAYOUT_RESTARTED, LAYOUT_GONE or -errno.
 */
static int pin_in_caller(struct veil_engine *e, struct task *t, struct scratch *s,
                         const char *dir, const char *name, int slash, char *out)
{
    uint64_t open_flags = O_PATH_FLAG | (name ? 0200000 /* O_DIRECTORY */ : 0);
    int fd = open_nosym(dir, open_flags);
    if (fd < 0)
        return fd; /* the kernel would fail the walk the same way */
    struct stat st;
    int rc = fstat(fd, &st);
    close(fd);
    if (rc < 0)
        return -errno;
    for (int k = 0; k < t->nheld; k++) {
        struct held_pin h = t->held[k];
        if (h.dev != (uint64_t)st.st_dev || h.ino != (uint64_t)st.st_ino)
            continue;
        if (h.fd < 0) { /* its own open failed */
            held_forget(t, k);
            if (h.fd != -ENOSYS)
                return h.fd;
            struct proc_view *pv = proc_get(&e->layout, t->pid);
            if (pv && !pv->plain_calls) {
                pv->plain_calls = 1;
                report(e, t, -ENOSYS, "the program's own seccomp filter refuses openat2: veil "
                                      "makes its calls the plain way, no longer safe from "
                                      "symlink swaps");
            }
            return 0;
        }
        if (!tracee_fd_is(t, h.fd, h.dev, h.ino)) {
            held_forget(t, k); /* the program reused that number meanwhile */
            break;
        }
        t->flags |= T_WANT_EXIT; /* closed at the exit stop */
        int len = name ? snprintf(out, PATH_MAX, "/proc/thread-self/fd/%d/%s%s", h.fd, name,
                                  slash ? "/" : "")
                       : snprintf(out, PATH_MAX, "/proc/thread-self/fd/%d", h.fd);
        return len >= PATH_MAX ? -ENAMETOOLONG : 1;
    }
    if (t->nheld == sizeof t->held / sizeof t->held[0] || t->held_rounds >= 8) {
        report(e, t, EAGAIN, "the program kept changing the fds veil had it open for its call");
        return -EAGAIN;
    }
    struct open_how64 how = {open_flags | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS_FLAG};
    uint64_t path_at = scratch_put(s, dir, strlen(dir) + 1);
    uint64_t how_at = path_at ? scratch_put(s, &how, sizeof how) : 0;
    if (!how_at)
        return -ENOMEM;
    rc = unrewrite_args(t);
    if (rc < 0)
        return rc;
    uint64_t args[6] = {(uint64_t)(int64_t)AT_FDCWD_VALUE, path_at, how_at, sizeof how, 0, 0};
    int64_t got = 0;
    rc = veil_arch_replace_and_restart(t->tid, OPENAT2_NR, args, &got, &t->pending_sig,
                                       &t->gone_status);
    if (rc == -ESRCH && t->gone_status)
        return LAYOUT_GONE;
    if (rc < 0)
        return rc;
    t->held[t->nheld++] = (struct held_pin){(int)got,
                                            (uint64_t)st.st_dev, (uint64_t)st.st_ino};
    t->held_rounds++;
    return LAYOUT_RESTARTED;
}

/* At the exit stop of a call that walked from fds it opened for veil: close them
   (by a close(2) the thread makes; its registers are put back).  0, or
   LAYOUT_GONE. */
int layout_close_held(struct veil_engine *e, struct task *t)
{
    (void)e;
    while (t->nheld) {
        struct held_pin h = t->held[t->nheld - 1];
        t->nheld--;
        /* an exec closed it (O_CLOEXEC), or the program reused the number */
        if (h.fd < 0 || !tracee_fd_is(t, h.fd, h.dev, h.ino))
            continue;
        uint64_t args[6] = {(uint64_t)h.fd, 0, 0, 0, 0, 0};
        int64_t got;
        int rc = veil_arch_inject_syscall(t->tid, 3 /* close */, args, &got, &t->pending_sig,
                                          &t->gone_status);
        if (rc == -ESRCH && t->gone_status)
            return LAYOUT_GONE;
    }
    t->held_rounds = 0;
    return 0;
}

/*
 * `host` as the kernel should walk it: 1 and `out` = /proc/VEIL/fd/N (the file,
 * for a call that follows its last component) or /proc/VEIL/fd/N/NAME (its
 * directory, for one that does not); 0: leave host as it is; LAYOUT_RESTARTED
 * (pin_in_caller); -errno.
 */
static int pin(struct veil_engine *e, struct task *t, struct scratch *s, const char *host,
               int follow, char *out)
{
    struct layout *L = &e->layout;
    char dir[PATH_MAX];
    const char *name = NULL;
    size_t n = strlen(host);
    int slash = n > 1 && host[n - 1] == '/';
    snprintf(dir, sizeof dir, "%s", host);
    while (n > 1 && dir[n - 1] == '/')
        dir[--n] = 0;
    if (!follow) {
        char *cut = strrchr(dir, '/');
        if (!cut || !cut[1])
            return 0;
        name = cut + 1;
        if (cut == dir) {
            memmove(dir + 1, dir, strlen(dir) + 1); /* "/name" -> "/" + "name" */
            name = dir + 2;
            cut = dir + 1;
        }
        *cut = 0;
    }
    if (!can_read_our_fds(e, t))
        return pin_in_caller(e, t, s, dir, name, slash, out);
    struct pin *grown = realloc(L->pins, (L->npins + 1) * sizeof *grown);
    if (!grown)
        return -ENOMEM;
    L->pins = grown;
    int fd = open_nosym(dir, O_PATH_FLAG | (name ? 0200000 /* O_DIRECTORY */ : 0));
    if (fd < 0) /* ELOOP: swapped since veil's walk (the caller walks again) */
        return fd; /* the kernel would fail it the same way on the same component */
    L->pins[L->npins++] = (struct pin){t->tid, t->pid, fd};
    char fds[64]; /* walkable by a program without veil's capabilities (caps.c) */
    caps_fd_dir(e, fds, sizeof fds);
    int len = name ? snprintf(out, PATH_MAX, "%s/%d/%s%s", fds, fd, name, slash ? "/" : "")
                   : snprintf(out, PATH_MAX, "%s/%d", fds, fd);
    return len >= PATH_MAX ? -ENAMETOOLONG : 1;
}

/* The filters run again on a call the tracer changed (seccomp(2)): does veil's own
   let `nr` by?  (The program's own filters may still refuse it.) */
static int filter_lets(struct veil_engine *e, int nr)
{
    struct __ptrace_syscall_info si;
    memset(&si, 0, sizeof si);
    si.arch = veil_arch_native_audit();
    si.seccomp.nr = nr;
    uint32_t act = filter_run(e, &si) & SECCOMP_RET_ACTION_FULL;
    return act == SECCOMP_RET_TRACE || act == SECCOMP_RET_ALLOW;
}

/* open/openat/creat of `host` become openat2(AT_FDCWD, host, RESOLVE_NO_SYMLINKS) */
static int open_as_openat2(struct veil_engine *e, struct task *t, struct scratch *s,
                           const char *host, uint64_t flags, uint64_t mode)
{
    struct open_how64 how = open_how_of(flags, mode);
    if (!filter_lets(e, OPENAT2_NR))
        return put_path_arg(s, t, 1 - (t->nr == 2 || t->nr == 85), host);
    uint64_t follow = !(how.flags & O_NOFOLLOW_FLAG) && (how.flags & O_CREAT_EXCL) != O_CREAT_EXCL;
    struct stat st;
    /* a last symlink the call does not follow fails it with ELOOP anyway */
    int expected_loop = !follow && lstat(host, &st) == 0 && S_ISLNK(st.st_mode);
    uint64_t at = scratch_put(s, &how, sizeof how);
    if (!at)
        return -ENOMEM;
    uint64_t path = scratch_put(s, host, strlen(host) + 1);
    if (!path)
        return -ENOMEM;
    int rc = veil_arch_set_nr(t->tid, OPENAT2_NR);
    if (rc == 0)
        rc = set_arg(t, 0, (uint64_t)(int64_t)AT_FDCWD_VALUE);
    if (rc == 0)
        rc = set_arg(t, 1, path);
    if (rc == 0)
        rc = set_arg(t, 2, at);
    if (rc == 0)
        rc = set_arg(t, 3, sizeof how);
    if (rc < 0)
        return rc;
    t->flags |= T_NEW_NR | (expected_loop ? 0 : T_RACE_ELOOP);
    return 0;
}

/* a process whose own seccomp filter refuses the calls veil makes of its own */
static int plain_calls(struct veil_engine *e, struct task *t)
{
    struct proc_view *pv = proc_find(&e->layout, t->pid);
    return pv && pv->plain_calls;
}

static void paths_exit(struct veil_engine *e, struct task *t, int64_t ret)
{
    if ((t->flags & T_NEW_NR) && ret == -ENOSYS) {
        /* openat2/execveat refused by the program's own filter (it does not know
           them): the call again, as the program made it, translated as before */
        struct proc_view *pv = proc_get(&e->layout, t->pid);
        if (pv && !pv->plain_calls && veil_arch_restart(t->tid, t->nr) == 0) {
            pv->plain_calls = 1;
            report(e, t, -ENOSYS, "the program's own seccomp filter refuses openat2/"
                                  "execveat: veil makes its calls the plain way, no longer "
                                  "safe from symlink swaps");
        }
    } else if (t->flags & T_NEW_NR) {
        veil_arch_set_nr(t->tid, t->nr);
    }
    if (ret == -ELOOP && (t->flags & T_RACE_ELOOP)) {
        /* the call again (translated anew) a few times, then its ELOOP stands */
        if (t->race_retries < RACE_RETRIES && veil_arch_restart(t->tid, t->nr) == 0)
            t->race_retries++;
        else
            report(e, t, ELOOP, RACE_REPORT);
    } else {
        t->race_retries = 0;
    }
    t->flags &= ~(T_NEW_NR | T_RACE_ELOOP);
    if (e->layout.npins)
        pins_close(&e->layout, t->tid, 0);
}

/* --- the calls -------------------------------------------------------------- */

static int follows(const struct veil_sysdesc *d, struct task *t, int idx, uint64_t open_flags)
{
    if (d->nofollow_args & (1u << idx))
        return 0;
    if (d->open_flags_arg >= 0 || d->open_flags_ptr >= 0) {
        if (open_flags & O_NOFOLLOW_FLAG)
            return 0;
        return (open_flags & O_CREAT_EXCL) != O_CREAT_EXCL;
    }
    if (d->follow_flag_arg < 0)
        return 1;
    int set = (t->args[d->follow_flag_arg] & d->follow_flag_mask) != 0;
    return d->follow_flag_sets ? set : !set;
}

static int read_path(struct task *t, int idx, char *out)
{
    int trunc = 0;
    long n = veil_read_cstr(t->tid, t->args[idx], out, PATH_MAX, &trunc);
    if (n < 0)
        return (int)n;
    return trunc ? -ENAMETOOLONG : 0;
}

static int64_t dirfd_of(const struct veil_sysdesc *d, struct task *t, int idx)
{
    if (idx > 0 && (d->dirfd_args & (1u << (idx - 1))))
        return (int64_t)(int32_t)t->args[idx - 1];
    return AT_FDCWD_VALUE;
}

static int check_rules(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                       const char *guest)
{
    if (e->layout.proc_scope) {
        int rc = targets_proc_path(e, guest);
        if (rc < 0)
            return rc;
    }
    if (!e->npath_rules)
        return 0;
    return paths_rule_errno(e, t, guest, paths_call_writes(t, d));
}

/* Translate every path argument.  Returns 0 or -errno for the caller. */
static int translate_paths_plain(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                           struct scratch *s)
{
    uint64_t open_flags = paths_open_flags(t, d);
    for (int i = 0; i < VEIL_MAX_ARGS; i++) {
        if (!(d->path_args & (1u << i)) || t->args[i] == 0)
            continue;
        char path[PATH_MAX];
        int rc = read_path(t, i, path);
        if (rc < 0)
            return rc;
        if (path[0] == 0)
            continue; /* AT_EMPTY_PATH, or ENOENT from the kernel */
        struct resolved r;
        char native[PATH_MAX];
        rc = resolve_arg(e, t, dirfd_of(d, t, i), path, follows(d, t, i, open_flags), &r,
                         native);
        if (rc < 0)
            return rc;
        rc = check_rules(e, t, d, r.guest);
        if (rc < 0)
            return rc;
        if (strcmp(r.host, native) == 0)
            continue; /* the kernel walks the same components: leave the call alone */
        int is_open = d->open_flags_arg >= 0 || t->nr == 85 /* creat */;
        if (is_open && (rc = writes_proc_mem(e, t, r.host, t->nr == 85 ? 1 : open_flags)) < 0)
            return rc;
        if (is_open && !r.kernel_link && have_openat2() && !plain_calls(e, t)) {
            if (t->nr == 85)
                return open_as_openat2(e, t, s, r.host, 0100 | 01 | 01000, t->args[1]);
            return open_as_openat2(e, t, s, r.host, open_flags, t->args[d->open_flags_arg + 1]);
        }
        const char *give = r.host;
        char pinned[PATH_MAX];
        if (e->layout.pin_paths && !is_open && !r.kernel_link) {
            rc = pin(e, t, s, r.host, follows(d, t, i, open_flags), pinned);
            for (int again = 0; rc == -ELOOP && again < RACE_RETRIES; again++) {
                rc = resolve_arg(e, t, dirfd_of(d, t, i), path, follows(d, t, i, open_flags),
                                 &r, native);
                if (rc == 0)
                    rc = check_rules(e, t, d, r.guest);
                if (rc == 0)
                    rc = r.kernel_link ? 0 : pin(e, t, s, r.host,
                                                 follows(d, t, i, open_flags), pinned);
            }
            if (rc == -ELOOP)
                report(e, t, ELOOP, RACE_REPORT);
            if (rc < 0)
                return rc;
            give = rc > 0 ? pinned : r.host;
        }
        rc = put_path_arg(s, t, i, give);
        if (rc < 0)
            return rc;
    }
    return 0;
}

#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10

/*
 * openat2(2)'s RESOLVE_* flags, applied in the guest's view: IN_ROOT makes
 * dirfd the root of the walk, BENEATH refuses to leave it, NO_SYMLINKS and
 * NO_MAGICLINKS refuse what veil's walk followed.  The kernel then gets the
 * host path with those flags cleared (it would apply them to the host path).
 */
static int translate_openat2(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                             struct scratch *s)
{
    struct { uint64_t flags, mode, resolve; } how;
    char path[PATH_MAX], start[PATH_MAX] = "/";
    if (t->args[3] < sizeof how || veil_read_mem(t->tid, t->args[2], &how, sizeof how) !=
                                        (long)sizeof how)
        return translate_paths_plain(e, t, d, s); /* the kernel fails it */
    int rc = read_path(t, 1, path);
    if (rc < 0 || path[0] == 0)
        return rc;
    uint64_t scoped = how.resolve & (RESOLVE_IN_ROOT | RESOLVE_BENEATH);
    if (scoped || path[0] != '/') {
        rc = start_dir(e, t, (int64_t)(int32_t)t->args[0], start);
        if (rc < 0)
            return rc;
    }
    if ((how.resolve & RESOLVE_BENEATH) && path[0] == '/')
        return -EXDEV;
    char root[PATH_MAX];
    snprintf(root, sizeof root, "%s",
             (how.resolve & RESOLVE_IN_ROOT) ? (strcmp(start, "/") ? start : "")
                                             : root_of(&e->layout, t->pid));
    int follow = !(how.flags & O_NOFOLLOW_FLAG) && (how.flags & O_CREAT_EXCL) != O_CREAT_EXCL;
    struct resolved r;
    rc = resolve(e, t->pid, t->tid, root, start, path, follow, &r);
    if (rc < 0)
        return rc;
    if (scoped && r.magic)
        return -EXDEV;
    if ((how.resolve & RESOLVE_BENEATH) && strcmp(start, "/") != 0 &&
        !under(r.guest, start, strlen(start)))
        return -EXDEV;
    if ((how.resolve & RESOLVE_NO_SYMLINKS) && r.links)
        return -ELOOP;
    if ((how.resolve & RESOLVE_NO_MAGICLINKS) && r.magic)
        return -ELOOP;
    rc = check_rules(e, t, d, r.guest);
    if (rc == 0)
        rc = writes_proc_mem(e, t, r.host, how.flags);
    if (rc < 0)
        return rc;
    how.resolve &= ~(uint64_t)(RESOLVE_IN_ROOT | RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
                               RESOLVE_NO_MAGICLINKS);
    if (!r.kernel_link) {
        struct stat st;
        how.resolve |= RESOLVE_NO_SYMLINKS; /* see open_as_openat2 */
        if (follow || lstat(r.host, &st) < 0 || !S_ISLNK(st.st_mode))
            t->flags |= T_RACE_ELOOP;
    }
    uint64_t at = scratch_put(s, &how, sizeof how);
    if (!at)
        return -ENOMEM;
    rc = set_arg(t, 2, at);
    if (rc == 0)
        rc = set_arg(t, 3, sizeof how);
    return rc < 0 ? rc : put_path_arg(s, t, 1, r.host);
}

static int translate_paths(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                           struct scratch *s)
{
    if (d->open_flags_ptr >= 0)
        return translate_openat2(e, t, d, s);
    return translate_paths_plain(e, t, d, s);
}

/* getcwd(2) answered from the guest's view: no exit stop needed. */
static int emulate_getcwd(struct veil_engine *e, struct task *t, int64_t *value)
{
    char link[64], host[PATH_MAX], guest[PATH_MAX + 16];
    snprintf(link, sizeof link, "/proc/%d/cwd", t->tid);
    int rc = read_link(link, host);
    if (rc < 0)
        return rc;
    if (host_to_view(e, t->pid, host, guest) < 0)
        snprintf(guest, sizeof guest, "(unreachable)%s", host); /* as getcwd(2) says */
    size_t n = strlen(guest) + 1;
    if (n > t->args[1])
        return -ERANGE;
    if (veil_write_mem(t->tid, t->args[0], guest, n) != (long)n)
        return -EFAULT;
    *value = (int64_t)n;
    return 1;
}

/*
 * readlink(at), answered at entry (one stop, nothing rewritten): a /proc
 * magic link shows its target in the guest's view, any other symlink its
 * content, read by veil; anything else fails as readlink(2) would.  The
 * host path of /proc/self and /proc/thread-self names veil, so those are
 * left to the kernel.
 */
static int translate_readlink(struct veil_engine *e, struct task *t,
                              const struct veil_sysdesc *d, struct scratch *s, int64_t *value)
{
    int pidx = d->path_args & 1 ? 0 : 1;
    char path[PATH_MAX];
    int rc = read_path(t, pidx, path);
    if (rc < 0 || path[0] == 0)
        return rc;
    struct resolved r;
    char native[PATH_MAX];
    rc = resolve_arg(e, t, dirfd_of(d, t, pidx), path, 0, &r, native);
    if (rc < 0)
        return rc;
    rc = check_rules(e, t, d, r.guest);
    if (rc < 0)
        return rc;
    int32_t owner;
    enum magic kind = proc_magic(r.host, &owner);
    char target[PATH_MAX + 16];
    if (kind == M_NONE) {
        if (strcmp(r.host, native) == 0 || strncmp(r.host, "/proc/", 6) == 0)
            return strcmp(r.host, native) == 0 ? 0 : put_path_arg(s, t, pidx, r.host);
        rc = read_link(r.host, target);
        if (rc < 0)
            return rc;
    } else {
        rc = magic_target(e, kind, owner, r.host, target);
        if (rc < 0)
            return rc;
    }
    int64_t bufsiz = (int64_t)t->args[pidx + 2];
    if (bufsiz <= 0)
        return -EINVAL;
    size_t n = strlen(target);
    if ((int64_t)n > bufsiz)
        n = (size_t)bufsiz; /* readlink(2) truncates silently */
    if (veil_write_mem(t->tid, t->args[pidx + 1], target, n) != (long)n)
        return -EFAULT;
    *value = (int64_t)n;
    return 1;
}

/* chroot(2) inside the guest: later paths of the process resolve below it. */
static int emulate_chroot(struct veil_engine *e, struct task *t, int64_t *value)
{
    char path[PATH_MAX];
    int rc = read_path(t, 0, path);
    if (rc < 0)
        return rc;
    struct resolved r;
    rc = resolve_arg(e, t, AT_FDCWD_VALUE, path, 1, &r, NULL);
    if (rc < 0)
        return rc;
    struct stat st;
    if (stat(r.host, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    struct proc_view *pv = proc_get(&e->layout, t->pid);
    if (!pv)
        return -ENOMEM;
    rc = replace_str(&pv->root, strcmp(r.guest, "/") ? r.guest : NULL);
    if (rc < 0)
        return rc;
    *value = 0;
    return 1;
}

/*
 * A name for host path `host` short enough for sun_path, for bind: ALIAS/NAME,
 * where ALIAS is veil's fd of the directory (kept open: the kernel stores the name,
 * and getsockname shows it later).  1 and `out`; 0: no alias (the caller cannot
 * walk veil's fds, or NAME itself is too long); -errno.
 */
static int sun_alias(struct veil_engine *e, struct task *t, const char *host, char *out,
                     size_t cap)
{
    struct layout *L = &e->layout;
    const char *cut = strrchr(host, '/');
    if (!cut || cut == host || !cut[1] || !can_read_our_fds(e, t))
        return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(cut - host), host);
    struct sun_dir *d = NULL;
    for (uint32_t i = 0; i < L->nsun_dirs && !d; i++)
        if (strcmp(L->sun_dirs[i].host, dir) == 0)
            d = &L->sun_dirs[i];
    if (!d) {
        struct sun_dir *grown = realloc(L->sun_dirs, (L->nsun_dirs + 1) * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        L->sun_dirs = grown;
        int fd = open_nosym(dir, O_PATH_FLAG | 0200000 /* O_DIRECTORY */);
        if (fd < 0)
            return fd; /* the kernel would fail the walk the same way */
        char fds[64], alias[96];
        caps_fd_dir(e, fds, sizeof fds);
        snprintf(alias, sizeof alias, "%s/%d", fds, fd);
        d = &L->sun_dirs[L->nsun_dirs];
        d->fd = fd;
        d->alias = strdup(alias);
        d->host = strdup(dir);
        if (!d->alias || !d->host) {
            free(d->alias);
            free(d->host);
            close(fd);
            return -ENOMEM;
        }
        L->nsun_dirs++;
    }
    int n = snprintf(out, cap, "%s%s", d->alias, cut);
    return n > 0 && (size_t)n < cap;
}

/* The host path an AF_UNIX name the kernel reports stands for (an alias of
   sun_alias, or the name itself). */
static const char *sun_host(struct veil_engine *e, const char *name, char *buf)
{
    const struct layout *L = &e->layout;
    for (uint32_t i = 0; i < L->nsun_dirs; i++) {
        size_t n = strlen(L->sun_dirs[i].alias);
        if (strncmp(name, L->sun_dirs[i].alias, n) == 0 && name[n] == '/') {
            if (snprintf(buf, PATH_MAX, "%s%s", L->sun_dirs[i].host, name + n) >= PATH_MAX)
                return name;
            return buf;
        }
    }
    return name;
}

/*
 * The host address for an AF_UNIX sockaddr the caller passes in: 1 and
 * `out`/`outlen` if it names a path, 0 if it is no AF_UNIX path (abstract,
 * another family: the kernel takes it as it is), -errno.
 */
static int unix_name_in(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                        struct scratch *s, uint64_t addr, uint64_t len, int binding, struct sockaddr_un *out,
                        uint32_t *outlen)
{
    if (!addr || len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof *out)
        return 0;
    if (veil_read_mem(t->tid, addr, out, len) != (long)len || out->sun_family != AF_UNIX)
        return 0;
    size_t plen = len - offsetof(struct sockaddr_un, sun_path);
    if (out->sun_path[0] == 0)
        return 0; /* abstract: no file system name */
    char path[sizeof out->sun_path + 1];
    memcpy(path, out->sun_path, plen);
    path[plen] = 0;
    struct resolved r;
    int rc = resolve_arg(e, t, AT_FDCWD_VALUE, path, !binding, &r, NULL);
    if (rc < 0)
        return rc;
    rc = check_rules(e, t, d, r.guest);
    if (rc < 0)
        return rc;
    const char *host = r.host;
    char pinned[PATH_MAX];
    int too_long = strlen(host) >= sizeof out->sun_path;
    if ((e->layout.pin_paths || too_long) && !binding) {
        /* connect/sendto walk the name again: through the socket file veil opened
           (a magic link to it; a name stays short).  bind makes the name: through
           veil's fd of its directory (sun_alias), which getsockname shows back. */
        rc = pin(e, t, s, r.host, 1, pinned);
        if (rc < 0)
            return rc;
        if (rc > 0)
            host = pinned;
    } else if (too_long || e->layout.pin_paths) {
        rc = sun_alias(e, t, r.host, pinned, sizeof out->sun_path);
        if (rc < 0)
            return rc;
        if (rc > 0)
            host = pinned;
    }
    size_t hn = strlen(host);
    if (hn >= sizeof out->sun_path)
        return -ENAMETOOLONG;
    memcpy(out->sun_path, host, hn + 1);
    *outlen = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + hn + 1);
    return 1;
}

/* bind/connect/sendto */
static int translate_sockaddr_in(struct veil_engine *e, struct task *t,
                                 const struct veil_sysdesc *d, struct scratch *s)
{
    int ai = d->sock_arg;
    struct sockaddr_un un;
    uint32_t len;
    int binding = t->nr == 49; /* bind creates the name: never follow it */
    int rc = unix_name_in(e, t, d, s, t->args[ai], t->args[ai + 1], binding, &un, &len);
    if (rc <= 0)
        return rc;
    uint64_t at = scratch_put(s, &un, sizeof un);
    if (!at)
        return -ENOMEM;
    rc = set_arg(t, ai, at);
    return rc < 0 ? rc : set_arg(t, ai + 1, len);
}

/* sendmsg: a copy of the msghdr pointing at the host address */
static int translate_msg_in(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                            struct scratch *s)
{
    struct msghdr64 mh;
    int ai = d->sock_arg;
    if (t->nr == 307 /* sendmmsg */) {
        /* each message's name is read again by the kernel: refuse AF_UNIX paths there */
        uint64_t vlen = t->args[2] < 1024 ? t->args[2] : 1024;
        for (uint64_t i = 0; i < vlen; i++) {
            struct sockaddr_un un;
            uint32_t len;
            if (veil_read_mem(t->tid, t->args[ai] + i * 64, &mh, sizeof mh) != sizeof mh)
                return 0;
            int rc = unix_name_in(e, t, d, s, mh.name, mh.namelen, 0, &un, &len);
            if (rc != 0)
                return rc < 0 ? rc : -EOPNOTSUPP;
        }
        return 0;
    }
    if (veil_read_mem(t->tid, t->args[ai], &mh, sizeof mh) != sizeof mh)
        return 0;
    struct sockaddr_un un;
    uint32_t len;
    int rc = unix_name_in(e, t, d, s, mh.name, mh.namelen, 0, &un, &len);
    if (rc <= 0)
        return rc;
    uint64_t at = scratch_put(s, &un, sizeof un);
    if (!at)
        return -ENOMEM;
    mh.name = at;
    mh.namelen = len;
    at = scratch_put(s, &mh, sizeof mh);
    if (!at)
        return -ENOMEM;
    return set_arg(t, ai, at);
}

/* recvmsg at exit: the sender's AF_UNIX path in the guest's view */
static void translate_msg_out(struct veil_engine *e, struct task *t,
                              const struct veil_sysdesc *d, int64_t ret)
{
    struct msghdr64 mh;
    struct sockaddr_un un;
    uint64_t at = t->args[d->sock_arg];
    if (ret < 0 || veil_read_mem(t->tid, at, &mh, sizeof mh) != sizeof mh || !mh.name)
        return;
    size_t cap = t->sock_cap < sizeof un ? t->sock_cap : sizeof un;
    size_t have = mh.namelen < cap ? mh.namelen : cap;
    if (have <= offsetof(struct sockaddr_un, sun_path) || have < mh.namelen ||
        veil_read_mem(t->tid, mh.name, &un, have) != (long)have || un.sun_family != AF_UNIX)
        return;
    size_t plen = have - offsetof(struct sockaddr_un, sun_path);
    char host[sizeof un.sun_path + 1], guest[PATH_MAX], aliased[PATH_MAX];
    memcpy(host, un.sun_path, plen);
    host[plen] = 0;
    if (host[0] != '/' || host_to_view(e, t->pid, sun_host(e, host, aliased), guest) < 0 ||
        strlen(guest) >= sizeof un.sun_path)
        return;
    strcpy(un.sun_path, guest);
    uint32_t full = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + strlen(guest) + 1);
    size_t wrote = full < cap ? full : cap;
    if (veil_write_mem(t->tid, mh.name, &un, wrote) == (long)wrote)
        veil_write_mem(t->tid, at + offsetof(struct msghdr64, namelen), &full, sizeof full);
}

/* At exit: an AF_UNIX address the kernel wrote back (getsockname, accept...). */
static void translate_sockaddr_out(struct veil_engine *e, struct task *t,
                                   const struct veil_sysdesc *d, int64_t ret)
{
    int ai = d->sock_arg;
    uint64_t addr = t->args[ai], lenp = t->args[ai + 1];
    uint32_t len;
    struct sockaddr_un un;
    if (ret < 0 || !addr || !lenp || veil_read_mem(t->tid, lenp, &len, sizeof len) != sizeof len)
        return;
    size_t cap = t->sock_cap < sizeof un ? t->sock_cap : sizeof un;
    size_t have = len < cap ? len : cap;
    if (have <= offsetof(struct sockaddr_un, sun_path) ||
        veil_read_mem(t->tid, addr, &un, have) != (long)have || un.sun_family != AF_UNIX)
        return;
    size_t plen = len - offsetof(struct sockaddr_un, sun_path);
    if (plen > sizeof un.sun_path || un.sun_path[0] == 0 || have < len)
        return;
    char host[sizeof un.sun_path + 1], guest[PATH_MAX], aliased[PATH_MAX];
    memcpy(host, un.sun_path, plen);
    host[plen] = 0;
    if (host[0] != '/' || host_to_view(e, t->pid, sun_host(e, host, aliased), guest) < 0)
        return;
    size_t gn = strlen(guest);
    if (gn >= sizeof un.sun_path)
        return;
    memcpy(un.sun_path, guest, gn + 1);
    uint32_t full = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + gn + 1);
    size_t wrote = full < cap ? full : cap;
    if (veil_write_mem(t->tid, addr, &un, wrote) == (long)wrote)
        veil_write_mem(t->tid, lenp, &full, sizeof full);
}

/* --- execve ------------------------------------------------------------------- */

#define PREFIX_MAX 16 /* five #! levels (interpreter, argument) and the loader's own */

struct exec_plan {
    char prefix[PREFIX_MAX][PATH_MAX]; /* argv entries put before the program's argv[1..] */
    int nprefix;
    int drop_argv0;           /* the original argv[0] is replaced by the prefix */
};

static int push_arg(struct exec_plan *p, const char *s)
{
    if (p->nprefix >= PREFIX_MAX || strlen(s) >= PATH_MAX)
        return -E2BIG;
    strcpy(p->prefix[p->nprefix++], s);
    return 0;
}

/* Does this dynamic loader take --argv0 (glibc 2.33 and later)? */
static int loader_takes_argv0(const char *host)
{
    int fd = open(host, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    static const char needle[] = "--argv0";
    char buf[65536 + sizeof needle];
    size_t keep = 0;
    int found = 0;
    for (;;) {
        ssize_t n = read(fd, buf + keep, sizeof buf - keep);
        if (n <= 0)
            break;
        size_t have = keep + (size_t)n;
        if (memmem(buf, have, needle, sizeof needle - 1)) {
            found = 1;
            break;
        }
        keep = sizeof needle - 1;
        memmove(buf, buf + have - keep, keep);
    }
    close(fd);
    return found;
}

/* execve(path, argv, envp) or execveat(...) of a pinned path (/proc/VEIL/fd/N/NAME)
   becomes execveat(AT_FDCWD, pinned, argv, envp, AT_SYMLINK_NOFOLLOW): NAME swapped
   for a symlink fails it (ELOOP) */
static int exec_nofollow(struct task *t, struct scratch *s, const char *pinned)
{
    uint64_t path = scratch_put(s, pinned, strlen(pinned) + 1);
    if (!path)
        return -ENOMEM;
    uint64_t argv = t->args[t->nr == 59 ? 1 : 2], envp = t->args[t->nr == 59 ? 2 : 3];
    uint64_t flags = t->nr == 59 ? 0 : t->args[4] & ~(uint64_t)0x1000 /* AT_EMPTY_PATH */;
    int rc = t->nr == 59 ? veil_arch_set_nr(t->tid, 322) : 0;
    if (rc == 0)
        rc = set_arg(t, 0, (uint64_t)(int64_t)AT_FDCWD_VALUE);
    if (rc == 0)
        rc = set_arg(t, 1, path);
    if (rc == 0)
        rc = set_arg(t, 2, argv);
    if (rc == 0)
        rc = set_arg(t, 3, envp);
    if (rc == 0)
        rc = set_arg(t, 4, flags | 0x100 /* AT_SYMLINK_NOFOLLOW */);
    if (rc < 0)
        return rc;
    t->flags |= (t->nr == 59 ? T_NEW_NR : 0) | T_RACE_ELOOP;
    return 0;
}

/*
 * execve(at) of a guest program.  The kernel would look for a script's
 * interpreter and an ELF's PT_INTERP on the host, so veil finds them in the
 * guest and starts what the kernel has to start itself: the interpreter
 * (with the script's guest path as its argument, as binfmt_script does) and,
 * for a dynamic ELF whose loader is not at the same place on the host, the
 * guest's loader run as a program (`ld.so --argv0 ARGV0 PROGRAM ARGS`).
 */
static int translate_exec(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                          struct scratch *s)
{
    int pidx = t->nr == 59 ? 0 : 1, aidx = pidx + 1;
    char path[PATH_MAX];
    t->flags |= T_WANT_EXIT; /* a new address space: its scratch area is mapped again */
    t->exec_want = 0;        /* until the file the kernel is to run has been checked */
    int rc = read_path(t, pidx, path);
    if (rc < 0)
        return rc;
    struct resolved prog;
    char native[PATH_MAX];
    int by_fd = path[0] == 0 && t->nr == 322 && (t->args[4] & 0x1000 /* AT_EMPTY_PATH */);
    if (by_fd) {
        /* fexecve: the program is the file the fd holds (a memfd too); the loader
           and a script's interpreter still come from the guest */
        int fd = (int)(int32_t)t->args[0];
        snprintf(prog.host, PATH_MAX, "/proc/%d/fd/%d", t->tid, fd);
        snprintf(path, sizeof path, "/dev/fd/%d", fd); /* what binfmt_script passes */
        /* the loader opens the program by name after the exec, when a close-on-exec
           fd is gone: name the file itself where it has a guest path */
        char target[PATH_MAX];
        if (read_link(prog.host, target) < 0 || target[0] != '/' ||
            host_to_view(e, t->pid, target, prog.guest) < 0)
            snprintf(prog.guest, PATH_MAX, "/proc/self/fd/%d", fd);
        native[0] = 0;
    } else {
        if (path[0] == 0)
            return 0;
        int follow = t->nr == 59 ? 1 : !(t->args[4] & 0x100 /* AT_SYMLINK_NOFOLLOW */);
        rc = resolve_arg(e, t, dirfd_of(d, t, pidx), path, follow, &prog, native);
        if (rc < 0)
            return rc;
        rc = check_rules(e, t, d, prog.guest);
        if (rc < 0)
            return rc;
        rc = exec_caller_may(t, prog.host);
        if (rc < 0)
            return rc;
    }

    struct proc_view *pv = proc_find(&e->layout, t->pid);
    if (pv) {
        replace_str(&pv->pending_exe, NULL);
        pv->pending_title[0] = 0;
        pv->pending_swap = 0;
    }
    /* the kernel names the task after the last component of the path it was given */
    const char *base = strrchr(path, '/');
    char title[sizeof pv->title] = {0}; /* TASK_COMM_LEN */
    base = base ? base + 1 : path;
    memcpy(title, base, strnlen(base, sizeof title - 1));
    int takes_argv0 = 0;
    static struct exec_plan plan, next;
    memset(&plan, 0, sizeof plan);
    char script_arg[PATH_MAX];
    snprintf(script_arg, sizeof script_arg, "%s", path);
    /* each file as the kernel's handlers read it (elfcheck.c); what they would
       refuse or read otherwise is refused, and the kernel must run the last one */
    static struct exec_format fmt;
    int loader_of = 0; /* e_machine of the program whose loader prog now is */
    for (int depth = 0;; depth++) {
        int fd = open(prog.host, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
        if (fd < 0)
            return -errno;
        rc = exec_write_busy(fd); /* the kernel's check of each file it would open */
        if (rc == 0)
            rc = exec_format(fd, prog.host, &fmt);
        if (rc == 0 && loader_of && (fmt.kind != EXEC_ELF ||
                                     (fmt.machine == EM_X86_64) != (loader_of == EM_X86_64)))
            rc = -ELIBBAD, fmt.why = "its ELF interpreter is no ELF file for its machine";
        else if (rc == 0 && loader_of && fmt.has_interp)
            rc = -ELIBBAD, fmt.why = "its ELF interpreter has a PT_INTERP of its own";
        if (rc == 0 && fmt.kind == EXEC_ELF)
            rc = exec_expect(t, fd);
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        if (rc < 0) {
            if (fmt.why)
                report(e, t, -rc, fmt.why);
            return rc;
        }
        if (loader_of)
            break; /* the guest's loader, run as the program */
        if (fmt.kind == EXEC_SCRIPT) {
            if (depth >= EXEC_MAX_SCRIPTS)
                return -ELOOP;
            /* binfmt_script: argv = interp [arg] script argv[1..] */
            memset(&next, 0, sizeof next);
            if (push_arg(&next, fmt.interp) < 0 || (fmt.has_arg && push_arg(&next, fmt.arg) < 0) ||
                push_arg(&next, script_arg) < 0)
                return -E2BIG;
            for (int i = plan.drop_argv0 ? 1 : 0; i < plan.nprefix; i++)
                if (push_arg(&next, plan.prefix[i]) < 0)
                    return -E2BIG;
            next.drop_argv0 = 1;
            plan = next;
            snprintf(script_arg, sizeof script_arg, "%s", fmt.interp);
            rc = resolve_arg(e, t, AT_FDCWD_VALUE, fmt.interp, 1, &prog, NULL);
            if (rc < 0)
                return rc;
            rc = exec_caller_may(t, prog.host);
            if (rc < 0)
                return rc;
            continue;
        }
        if (!fmt.has_interp)
            break; /* static: the kernel loads no interpreter */
        const char *ld = fmt.interp;
        struct resolved loader;
        rc = resolve_arg(e, t, AT_FDCWD_VALUE, ld, 1, &loader, NULL);
        if (rc < 0)
            return rc == -ENOENT ? -ENOENT : rc;
        /* the kernel follows the host's symlinks (/lib64/ld-linux-x86-64.so.2 is one
           on Debian): what it would load, compared with the guest's loader */
        char host_ld[PATH_MAX];
        if (realpath(ld, host_ld) && strcmp(loader.host, host_ld) == 0) {
            exec_allow_interp(t, loader.host);
            break; /* the kernel finds the guest's loader at the same host path */
        }
        /* ld.so PROGRAM: the loader opens PROGRAM by its guest path, through us */
        const char *lost = exec_setid_lost(prog.host);
        if (lost)
            report(e, t, -1, lost);
        memset(&next, 0, sizeof next);
        char argv0[PATH_MAX];
        argv0[0] = 0;
        if (plan.nprefix)
            snprintf(argv0, sizeof argv0, "%s", plan.prefix[0]);
        else {
            uint64_t p0 = 0;
            int trunc;
            if (t->args[aidx] && veil_read_mem(t->tid, t->args[aidx], &p0, 8) == 8 && p0)
                veil_read_cstr(t->tid, p0, argv0, sizeof argv0, &trunc);
        }
        if (push_arg(&next, ld) < 0)
            return -E2BIG;
        takes_argv0 = loader_takes_argv0(loader.host);
        if (takes_argv0 && (push_arg(&next, "--argv0") < 0 || push_arg(&next, argv0) < 0))
            return -E2BIG;
        /* the loader names the program after the path it opens (AT_EXECFN): the
           caller's own where it opens the same file from here */
        int as_given = depth == 0 && !by_fd && strchr(path, '/') &&
                       (path[0] == '/' || t->nr == 59 || (int)t->args[0] == AT_FDCWD_VALUE);
        if (push_arg(&next, as_given ? path : prog.guest) < 0)
            return -E2BIG;
        for (int i = 1; i < plan.nprefix; i++)
            if (push_arg(&next, plan.prefix[i]) < 0)
                return -E2BIG;
        next.drop_argv0 = 1;
        plan = next;
        pv = proc_get(&e->layout, t->pid);
        if (pv)
            replace_str(&pv->pending_exe, prog.guest);
        strcpy(prog.host, loader.host);
        loader_of = fmt.machine; /* checked as the kernel checks an interpreter, and more */
    }
    if (plan.nprefix) {
        /* the new argv: prefix, then the caller's argv[1..] */
        uint64_t old[1024];
        size_t nold = 0;
        if (t->args[aidx]) {
            for (;;) {
                if (nold == sizeof old / sizeof old[0])
                    return -E2BIG;
                if (veil_read_mem(t->tid, t->args[aidx] + nold * 8, &old[nold], 8) != 8)
                    return -EFAULT;
                if (old[nold] == 0)
                    break;
                nold++;
            }
        }
        uint64_t vec[1024 + PREFIX_MAX];
        size_t n = 0;
        for (int i = 0; i < plan.nprefix; i++) {
            uint64_t at = scratch_put(s, plan.prefix[i], strlen(plan.prefix[i]) + 1);
            if (!at)
                return -ENOMEM;
            vec[n++] = at;
        }
        for (size_t i = 1; i < nold; i++)
            vec[n++] = old[i];
        vec[n++] = 0;
        uint64_t at = scratch_put(s, vec, n * 8);
        if (!at)
            return -ENOMEM;
        rc = set_arg(t, aidx, at);
        if (rc < 0)
            return rc;
        pv = proc_get(&e->layout, t->pid);
        if (pv) {
            memcpy(pv->pending_title, title, sizeof title);
            pv->pending_swap = loader_of && takes_argv0;
        }
    } else if (by_fd || strcmp(prog.host, native) == 0) {
        return 0; /* the kernel runs the same file with no interpreter to find */
    }
    if (by_fd) {
        /* execveat(fd, "", AT_EMPTY_PATH) becomes execveat(AT_FDCWD, interpreter, 0) */
        rc = set_arg(t, 0, (uint64_t)(int64_t)AT_FDCWD_VALUE);
        if (rc == 0)
            rc = set_arg(t, 4, 0);
        if (rc < 0)
            return rc;
    }
    char padded[PATH_MAX]; /* room for the caller's path in AT_EXECFN */
    pv = proc_get(&e->layout, t->pid);
    const char *host_base = strrchr(prog.host, '/');
    if (!plan.nprefix && host_base && strncmp(host_base + 1, title, sizeof title - 1) != 0) {
        /* a symlink's target runs (/bin/sh -> dash): the kernel would name it "sh" */
        pv = proc_get(&e->layout, t->pid);
        if (pv)
            memcpy(pv->pending_title, title, sizeof title);
    }
    if (e->layout.pin_paths && !prog.kernel_link && filter_lets(e, 322) && !plain_calls(e, t)) {
        char pinned[PATH_MAX];
        rc = pin(e, t, s, prog.host, 0, pinned);
        if (rc == -ELOOP)
            report(e, t, ELOOP, RACE_REPORT);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return exec_nofollow(t, s, execview_pad(pv, path, pinned, padded));
    }
    return put_path_arg(s, t, pidx, execview_pad(pv, path, prog.host, padded));
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

/*
 * Just after the exec of `ld --argv0 ARGV0 PROG ARGS`, before the loader's first
 * instruction: swap the strings ARGV0 and PROG on the new stack (and their argv
 * pointers), so that ARGV0 ARGS end the argument strings as the program's argv
 * would.  Returns where ARGV0 now starts (0: left as it was).
 */
static uint64_t swap_argv0(struct task *t)
{
    uint64_t f[24]; /* startstack (28) ... arg_start (48), arg_end (49) */
    if (stat_fields(t->pid, f, 28, 49) < 0)
        return 0;
    uint64_t sp = f[0], arg_start = f[48 - 28], arg_end = f[49 - 28];
    uint64_t argc = 0, ptr[4];
    char a[PATH_MAX * 2], b[PATH_MAX];
    int trunc;
    if (veil_read_mem(t->tid, sp, &argc, 8) != 8 || argc < 4 ||
        veil_read_mem(t->tid, sp + 8, ptr, sizeof ptr) != sizeof ptr || ptr[0] != arg_start ||
        ptr[2] >= arg_end || veil_read_cstr(t->tid, ptr[2], a, PATH_MAX, &trunc) < 0 || trunc ||
        veil_read_cstr(t->tid, ptr[3], b, sizeof b, &trunc) < 0 || trunc)
        return 0;
    size_t la = strlen(a) + 1, lb = strlen(b) + 1;
    if (ptr[3] != ptr[2] + la)
        return 0;
    memmove(a + lb, a, la); /* PROG\0ARGV0\0 */
    memcpy(a, b, lb);
    uint64_t moved[2] = {ptr[2] + lb, ptr[2]};
    if (veil_write_mem(t->tid, ptr[2], a, la + lb) != (long)(la + lb) ||
        veil_write_mem(t->tid, sp + 8 + 2 * 8, moved, sizeof moved) != (long)sizeof moved)
        return 0;
    return moved[0];
}

void layout_exec_done(struct veil_engine *e, struct task *t, int64_t ret)
{
    struct proc_view *pv = proc_find(&e->layout, t->pid);
    if (ret == 0) {
        /* registers belong to the new program now */
        t->saved_mask = 0;
        t->flags &= ~T_RESTORE;
        /* before its first instruction: is it what veil checked? */
        const char *why = exec_verify(t);
        if (why) {
            report(e, t, EACCES, why);
            if (kill(t->pid, SIGKILL) < 0 && errno != ESRCH)
                report(e, t, errno, "killing it failed");
        }
    }
    if (!pv)
        return;
    if (ret == 0) {
        free(pv->exe);
        pv->exe = pv->pending_exe;
        pv->pending_exe = NULL;
        memcpy(pv->title, pv->pending_title, sizeof pv->title);
        pv->arg_start = pv->pending_swap ? swap_argv0(t) : 0;
        execview_set_execfn(t, pv);
        if (pv->exe)
            execview_loader_started(t, pv);
        else
            pv->auxv_sp = 0;
        pv->brk = -1;
        pv->scratch = 0; /* a new address space */
        mem_fd_close(pv);
        pv->fds_ok = 0;  /* and perhaps new ids (setuid programs) */
    } else {
        replace_str(&pv->pending_exe, NULL);
        replace_str(&pv->pending_execfn, NULL);
    }
    pv->pending_title[0] = 0;
    pv->pending_swap = 0;
}

/* --- veil's scratch area stays as veil mapped it ------------------------------ */

static int overlaps_scratch(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;
    if (end < addr)
        end = UINT64_MAX;
    return addr < VEIL_SCRATCH_BASE + VEIL_SCRATCH_SIZE && end > VEIL_SCRATCH_BASE;
}

/* mmap(hint or MAP_FIXED), munmap, mprotect, pkey_mprotect, madvise, mremap and
   shmat over the area would let the program write what the kernel reads there */
static int guard_scratch(struct veil_engine *e, struct task *t)
{
    const uint64_t *a = t->args;
    int hit;
    switch (t->nr) {
    case 25: /* mremap: the old range, and the new one with MREMAP_FIXED */
        hit = overlaps_scratch(a[0], a[1]) || ((a[3] & 2) && overlaps_scratch(a[4], a[2]));
        break;
    case 30: /* shmat: its size is the segment's */
        hit = a[1] && overlaps_scratch(a[1], UINT64_MAX - a[1]);
        break;
    case 9: /* mmap: a hint too, before the area is mapped */
        hit = a[0] && overlaps_scratch(a[0], a[1]);
        break;
    default: /* munmap, mprotect, pkey_mprotect, madvise */
        hit = overlaps_scratch(a[0], a[1]);
        break;
    }
    if (!hit)
        return 0;
    report(e, t, EPERM, "veil's read-only scratch area cannot be remapped, unmapped or "
                        "made writable");
    return -EPERM;
}

/* /proc/PID/mem (or .../task/TID/mem, or an fd of one) writes through page
   protections: a writable open of it fails */
static int writes_proc_mem(struct veil_engine *e, struct task *t, const char *host,
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
    report(e, t, EACCES, "writing a process's memory through /proc/PID/mem would reach "
                         "veil's read-only scratch area");
    return -EACCES;
}

/* --- entry and exit ------------------------------------------------------------ */

int layout_enter(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                 int64_t *value)
{
    struct scratch s;
    int no_scratch = scratch_init(e, &s, t);
    int rc;
    t->scratch_low = 0;
    t->flags &= ~(T_NEW_NR | T_RACE_ELOOP);
    if (e->layout.npins)
        pins_close(&e->layout, t->tid, 0); /* its last call is over */
    if (!t->nheld)
        t->held_rounds = 0; /* a new call (one made again holds what it opened) */
    switch (d->layout_op) {
    case VEIL_L_PATHS:
        rc = translate_paths(e, t, d, &s);
        break;
    case VEIL_L_EXEC:
        rc = translate_exec(e, t, d, &s);
        break;
    case VEIL_L_GETCWD:
        return emulate_getcwd(e, t, value);
    case VEIL_L_READLINK:
        return translate_readlink(e, t, d, &s, value);
    case VEIL_L_CHROOT:
        return emulate_chroot(e, t, value);
    case VEIL_L_MEMGUARD:
        return guard_scratch(e, t);
    case VEIL_L_CREDS: {
        struct proc_view *pv = proc_find(&e->layout, t->pid);
        if (pv)
            pv->fds_ok = 0; /* ask again at its next path call */
        return 0;
    }
    case VEIL_L_SOCK_IN:
        rc = translate_sockaddr_in(e, t, d, &s);
        break;
    case VEIL_L_MSG_IN:
        rc = translate_msg_in(e, t, d, &s);
        break;
    case VEIL_L_MSG_OUT: {
        struct msghdr64 mh;
        t->sock_cap = veil_read_mem(t->tid, t->args[d->sock_arg], &mh, sizeof mh) == sizeof mh
                          ? mh.namelen
                          : 0;
        t->flags |= T_WANT_EXIT;
        return 0;
    }
    case VEIL_L_SOCK_OUT: {
        uint32_t cap = 0;
        uint64_t lenp = t->args[d->sock_arg + 1];
        if (lenp && veil_read_mem(t->tid, lenp, &cap, sizeof cap) != sizeof cap)
            cap = 0;
        t->sock_cap = cap;
        t->flags |= T_WANT_EXIT;
        return 0;
    }
    default:
        return 0;
    }
    if (!s.forced && s.top != ((t->sp - RED_ZONE) & ~(uint64_t)15))
        t->scratch_low = s.top;
    if (rc == -ENOMEM && no_scratch)
        report(e, t, ENOMEM, "veil's read-only scratch area is not mapped in the process, "
                             "or all its slots are in use");
    return rc;
}

void layout_exit(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d, int64_t ret)
{
    if (d->layout_op == VEIL_L_SOCK_OUT)
        translate_sockaddr_out(e, t, d, ret);
    else if (d->layout_op == VEIL_L_MSG_OUT)
        translate_msg_out(e, t, d, ret);
    else if (d->layout_op == VEIL_L_EXEC) {
        layout_exec_done(e, t, ret);
        paths_exit(e, t, ret);
    }
    else if (d->layout_op == VEIL_L_PATHS)
        paths_exit(e, t, ret);
}

/* The host path of a canonical guest path (no symlink on its way), for paths.c. */
int layout_to_host(struct veil_engine *e, const char *guest, char *out)
{
    return to_host(&e->layout, guest, out);
}
