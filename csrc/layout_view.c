/*
 * The guest's view: a root directory plus binds, what each process sees of it
 * (the exe the guest sees, the root chroot(2) set), and the translation of a
 * canonical path between the guest's view and the host's.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "layout.h"

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

void veil_layout_pin_paths(struct veil_engine *e, int on)
{
    e->layout.pin_paths = on;
}

void veil_layout_proc_scope(struct veil_engine *e, int on)
{
    e->layout.proc_scope = on;
}

/* --- per-process state: the exe the guest sees, the root chroot set ------- */

struct proc_view *proc_find(struct layout *L, int32_t pid)
{
    for (uint32_t i = 0; i < L->nprocs; i++)
        if (L->procs[i].pid == pid)
            return &L->procs[i];
    return NULL;
}

struct proc_view *proc_get(struct layout *L, int32_t pid)
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

int replace_str(char **dst, const char *src)
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
const char *root_of(struct layout *L, int32_t pid)
{
    struct proc_view *p = L->nprocs ? proc_find(L, pid) : NULL;
    return p && p->root ? p->root : "";
}

/* --- guest <-> host ---------------------------------------------------------- */

int path_under(const char *path, const char *prefix, size_t len)
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
int to_host(const struct layout *L, const char *guest, char *out)
{
    const struct bind *best = NULL;
    for (uint32_t i = 0; i < L->nbinds; i++) {
        const struct bind *b = &L->binds[i];
        if ((!best || b->glen > best->glen) && path_under(guest, b->guest, b->glen))
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
int to_guest(const struct layout *L, const char *host, char *out)
{
    char guest[PATH_MAX], back[PATH_MAX];
    size_t best = 0;
    int found = 0;
    for (int64_t i = -1; i < (int64_t)L->nbinds; i++) {
        const char *h = i < 0 ? L->root : L->binds[i].host;
        size_t hlen = i < 0 ? L->rootlen : L->binds[i].hlen;
        if (!path_under(host, h, hlen) || (found && hlen < best))
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
int in_view(const char *root, const char *guest, char *out)
{
    size_t n = strlen(root);
    if (n == 0) {
        if (out != guest)
            memmove(out, guest, strlen(guest) + 1);
        return 0;
    }
    if (!path_under(guest, root, n))
        return -ENOENT;
    memmove(out, guest + n, strlen(guest + n) + 1);
    if (out[0] == 0)
        strcpy(out, "/");
    return 0;
}

/* The guest path of a host path the kernel reported for this process
   (cwd, fd target, exe), in the process's view. */
int host_to_view(struct veil_engine *e, int32_t pid, const char *host, char *out)
{
    char guest[PATH_MAX];
    int rc = to_guest(&e->layout, host, guest);
    if (rc < 0)
        return rc;
    return in_view(root_of(&e->layout, pid), guest, out);
}

/* The host path of a canonical guest path (no symlink on its way), for paths.c. */
int layout_to_host(struct veil_engine *e, const char *guest, char *out)
{
    return to_host(&e->layout, guest, out);
}
