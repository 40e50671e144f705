/* Path rules: canonicalise the paths a call names, match them against a table. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define WRITE_OPEN_FLAGS (01 | 02 | 0100 | 01000) /* O_WRONLY O_RDWR O_CREAT O_TRUNC */
#define AT_FDCWD_VALUE (-100)

int veil_add_path_rule(struct veil_engine *e, const char *pattern, int is_prefix, int err,
                       int writes_only)
{
    if (e->npath_rules == e->cap_path_rules) {
        uint32_t ncap = e->cap_path_rules ? e->cap_path_rules * 2 : 8;
        struct path_rule *n = realloc(e->path_rules, ncap * sizeof *n);
        if (!n)
            return -ENOMEM;
        e->path_rules = n;
        e->cap_path_rules = ncap;
    }
    struct path_rule *r = &e->path_rules[e->npath_rules];
    r->pattern = strdup(pattern);
    if (!r->pattern)
        return -ENOMEM;
    r->len = strlen(pattern);
    r->is_prefix = is_prefix;
    r->err = err;
    r->writes_only = writes_only;
    e->npath_rules++;
    return 0;
}

void paths_free(struct veil_engine *e)
{
    for (uint32_t i = 0; i < e->npath_rules; i++)
        free(e->path_rules[i].pattern);
    free(e->path_rules);
    e->path_rules = NULL;
    e->npath_rules = e->cap_path_rules = 0;
}

/* The path of `path` (absolute, in the caller's tree) resolved from the caller's own
   root: under the mount engine its tree is another mount namespace's.  readlink of
   an fd opened there gives the path from that namespace's root (d_path). */
static int resolve_in_root(int32_t tid, const char *path, char *out)
{
    char link[64];
    snprintf(link, sizeof link, "/proc/%d/root", tid);
    int root = open(link, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (root < 0)
        return -errno;
    struct open_how how = {.flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_IN_ROOT};
    long fd = syscall(SYS_openat2, root, path, &how, sizeof how);
    int rc = fd < 0 ? -errno : 0;
    close(root);
    if (rc < 0)
        return rc;
    snprintf(link, sizeof link, "/proc/self/fd/%ld", fd);
    ssize_t n = readlink(link, out, PATH_MAX - 1);
    rc = n < 0 ? -errno : 0;
    close((int)fd);
    if (rc < 0)
        return rc;
    out[n] = 0;
    return 0;
}

/* realpath(3) of `path` as the caller sees it */
static int real_path(int in_root, int32_t tid, const char *path, char *out)
{
    if (in_root)
        return resolve_in_root(tid, path, out);
    return realpath(path, out) ? 0 : -errno;
}

/* The absolute path the caller means, symlinks resolved as far as it exists
   (a file about to be created keeps its last component). */
static int canonical(int in_root, int32_t tid, int64_t dirfd, const char *path, char *out)
{
    char joined[PATH_MAX * 2], link[64], base[PATH_MAX];
    if (path[0] == '/') {
        snprintf(joined, sizeof joined, "%s", path);
    } else {
        if (dirfd == AT_FDCWD_VALUE)
            snprintf(link, sizeof link, "/proc/%d/cwd", tid);
        else
            snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, (int)dirfd);
        ssize_t n = readlink(link, base, sizeof base - 1);
        if (n < 0)
            return -errno;
        base[n] = 0;
        snprintf(joined, sizeof joined, "%s/%s", base, path);
    }
    if (real_path(in_root, tid, joined, out) == 0)
        return 0;
    /* the last component may not exist yet: resolve its directory */
    char *slash = strrchr(joined, '/');
    if (!slash)
        return -ENOENT;
    *slash = 0;
    const char *dir = joined[0] ? joined : "/";
    char resolved[PATH_MAX];
    int rc = real_path(in_root, tid, dir, resolved);
    if (rc < 0)
        return rc;
    if (snprintf(out, PATH_MAX, "%s/%s", strcmp(resolved, "/") ? resolved : "", slash + 1) >=
        PATH_MAX)
        return -ENAMETOOLONG;
    return 0;
}

static int rule_matches(const struct path_rule *r, const char *path)
{
    if (r->is_prefix) {
        if (r->len == 1 && r->pattern[0] == '/')
            return 1;
        return strncmp(path, r->pattern, r->len) == 0 &&
               (path[r->len] == 0 || path[r->len] == '/');
    }
    return fnmatch(r->pattern, path, 0) == 0;
}

uint64_t paths_open_flags(struct task *t, const struct veil_sysdesc *d)
{
    uint64_t open_flags = 0;
    if (d->open_flags_arg >= 0)
        open_flags = t->args[d->open_flags_arg];
    else if (d->open_flags_ptr >= 0 &&
             veil_read_mem(t->tid, t->args[d->open_flags_ptr], &open_flags, sizeof open_flags) !=
                 sizeof open_flags)
        open_flags = WRITE_OPEN_FLAGS; /* unreadable: the kernel fails it; assume a write */
    return open_flags;
}

int paths_call_writes(struct task *t, const struct veil_sysdesc *d)
{
    return (d->flags & VEIL_F_MUTATES) || (paths_open_flags(t, d) & WRITE_OPEN_FLAGS);
}

/* -errno of the first rule a canonical path breaks, else 0. */
int paths_rule_errno(struct veil_engine *e, const char *canon, int writes)
{
    for (uint32_t r = 0; r < e->npath_rules; r++) {
        const struct path_rule *rule = &e->path_rules[r];
        if (rule->writes_only && !writes)
            continue;
        if (rule_matches(rule, canon))
            return -rule->err;
    }
    return 0;
}

/* -errno of the first rule a path argument of this call breaks, else 0. */
int paths_check(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d)
{
    int writes = paths_call_writes(t, d);
    for (int i = 0; i < VEIL_MAX_ARGS; i++) {
        if (!(d->path_args & (1u << i)) || t->args[i] == 0)
            continue;
        char path[PATH_MAX], canon[PATH_MAX];
        int trunc = 0;
        if (veil_read_cstr(t->tid, t->args[i], path, sizeof path, &trunc) < 0 || trunc)
            continue; /* the kernel will fail it with EFAULT / ENAMETOOLONG */
        int64_t dirfd = (i > 0 && (d->dirfd_args & (1u << (i - 1))))
                            ? (int64_t)(int32_t)t->args[i - 1]
                            : AT_FDCWD_VALUE;
        if (path[0] == 0 || canonical(e->mountns.on, t->tid, dirfd, path, canon) < 0)
            continue;
        int rc = paths_rule_errno(e, canon, writes);
        if (rc < 0)
            return rc;
    }
    return 0;
}
