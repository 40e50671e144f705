/*
 * Paths are resolved here, component by component, in the guest's view:
 * `..` stops at the guest root, symlinks (absolute or relative) are read and
 * followed inside the guest, /proc magic links of traced processes are
 * answered from the guest's view.  The kernel then gets an absolute host path
 * with no symlink left for it to follow but (where the call follows it) the
 * last one's target already substituted.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "layout.h"

#define MAX_SYMLINKS 40 /* path_resolution(7) */

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
int resolve_path(struct veil_engine *e, int32_t pid, int32_t tid, const char *root,
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
int start_dir(struct veil_engine *e, struct task *t, int64_t dirfd, char *out)
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
        layout_report(e, t, EACCES, "a path relative to a directory outside the guest (an fd "
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
int resolve_arg(struct veil_engine *e, struct task *t, int64_t dirfd, const char *path,
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
    return resolve_path(e, t->pid, t->tid, root_of(&e->layout, t->pid), start, path, follow, out);
}

int veil_layout_resolve(struct veil_engine *e, const char *guest, int follow, char *host_out,
                        char *guest_out)
{
    struct resolved r;
    int rc = resolve_path(e, 0, 0, "", "/", guest, follow, &r);
    if (rc < 0)
        return rc;
    strcpy(host_out, r.host);
    strcpy(guest_out, r.guest);
    return 0;
}
