/* Path rules: canonicalise the paths a call names, match them against a table. */
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"

#define WRITE_OPEN_FLAGS (01 | 02 | 0100 | 01000) /* O_WRONLY O_RDWR O_CREAT O_TRUNC */
#define AT_FDCWD_VALUE (-100)

static int same_why(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* one more path in an exact rule's table */
static int exact_add(struct path_rule *r, const char *path)
{
    if (r->nexact == r->cap_exact) {
        uint32_t ncap = r->cap_exact ? r->cap_exact * 2 : 16;
        char **n = realloc(r->exact, ncap * sizeof *n);
        if (!n)
            return -ENOMEM;
        r->exact = n;
        r->cap_exact = ncap;
    }
    r->exact[r->nexact] = strdup(path);
    if (!r->exact[r->nexact])
        return -ENOMEM;
    r->nexact++;
    r->sorted = 0;
    return 0;
}

int veil_add_path_rule(struct veil_engine *e, const char *pattern, int match, int err, int flags,
                       const char *why)
{
    if (match < VEIL_PATH_GLOB || match > VEIL_PATH_EXACT || err < 0)
        return -EINVAL;
    struct path_rule *last = e->npath_rules ? &e->path_rules[e->npath_rules - 1] : NULL;
    if (match == VEIL_PATH_EXACT && last && last->match == VEIL_PATH_EXACT && last->err == err &&
        last->flags == flags && same_why(last->why, why))
        return exact_add(last, pattern);
    if (e->npath_rules == e->cap_path_rules) {
        uint32_t ncap = e->cap_path_rules ? e->cap_path_rules * 2 : 8;
        struct path_rule *n = realloc(e->path_rules, ncap * sizeof *n);
        if (!n)
            return -ENOMEM;
        e->path_rules = n;
        e->cap_path_rules = ncap;
    }
    struct path_rule *r = &e->path_rules[e->npath_rules];
    memset(r, 0, sizeof *r);
    r->match = match;
    r->err = err;
    r->flags = flags;
    if (why && !(r->why = strdup(why)))
        return -ENOMEM;
    int rc = 0;
    if (match == VEIL_PATH_EXACT)
        rc = exact_add(r, pattern);
    else if (!(r->pattern = strdup(pattern)))
        rc = -ENOMEM;
    if (rc < 0) {
        free(r->why);
        return rc;
    }
    r->len = strlen(pattern);
    e->npath_rules++;
    return 0;
}

void paths_free(struct veil_engine *e)
{
    for (uint32_t i = 0; i < e->npath_rules; i++) {
        struct path_rule *r = &e->path_rules[i];
        for (uint32_t j = 0; j < r->nexact; j++)
            free(r->exact[j]);
        free(r->exact);
        free(r->pattern);
        free(r->why);
    }
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

static int compare_paths(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int rule_matches(struct path_rule *r, const char *path)
{
    if (r->match == VEIL_PATH_EXACT) {
        if (!r->sorted) {
            qsort(r->exact, r->nexact, sizeof *r->exact, compare_paths);
            r->sorted = 1;
        }
        return bsearch(&path, r->exact, r->nexact, sizeof *r->exact, compare_paths) != NULL;
    }
    if (r->match == VEIL_PATH_PREFIX) {
        if (r->len == 1 && r->pattern[0] == '/')
            return 1;
        return strncmp(path, r->pattern, r->len) == 0 &&
               (path[r->len] == 0 || path[r->len] == '/');
    }
    return fnmatch(r->pattern, path, 0) == 0;
}

/* Whether the canonical path (its directories' symlinks resolved) names something
   in the caller's tree. */
static int path_exists(struct veil_engine *e, struct task *t, const char *canon)
{
    char host[PATH_MAX];
    struct stat st;
    if (e->mountns.on)
        return resolve_in_root(t->tid, canon, host) == 0;
    if (e->layout.active) {
        if (layout_to_host(e, canon, host) < 0)
            return 0;
        canon = host;
    }
    return lstat(canon, &st) == 0;
}

/* a VEIL_R_DENIED record: "PATH: why" */
static void report_refusal(struct veil_engine *e, struct task *t, int err, const char *canon,
                           const char *why)
{
    struct {
        uint32_t arch;
        char text[PATH_MAX + 256];
    } p;
    p.arch = veil_arch_native_audit();
    int n = snprintf(p.text, sizeof p.text, "%s: %s", canon, why);
    if (n < 0)
        return;
    uint32_t len = (uint32_t)n < sizeof p.text ? (uint32_t)n : (uint32_t)sizeof p.text - 1;
    ring_event(e, VEIL_R_DENIED, t->pid, t->tid, err, t->nr, &p, (uint32_t)sizeof p.arch + len + 1);
    /* the task waits until veil has shown the refusal, so that the line comes before
       what the program prints about its failed call */
    if (!(t->flags & T_REPORT_HOLD)) {
        t->flags |= T_REPORT_HOLD;
        e->report_holds++;
    }
    veil_flush_requested = 1;
}

int paths_release_held(struct veil_engine *e, int now)
{
    if (!e->report_holds || (e->ring.used && !now))
        return 0;
    e->report_holds = 0;
    for (uint32_t i = 0; i < e->tasks.cap; i++) {
        struct task *t = tasks_at(&e->tasks, i);
        if (!t || !(t->flags & T_REPORT_HOLD))
            continue;
        t->flags &= ~T_REPORT_HOLD;
        int rc = resume_task(e, t, 0);
        if (rc < 0)
            return rc;
    }
    return 0;
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

int paths_rule_errno(struct veil_engine *e, struct task *t, const char *canon, int writes)
{
    for (uint32_t i = 0; i < e->npath_rules; i++) {
        struct path_rule *rule = &e->path_rules[i];
        if ((rule->flags & VEIL_PATH_WRITES) && !writes)
            continue;
        if (!rule_matches(rule, canon))
            continue;
        if ((rule->flags & VEIL_PATH_EXISTING) && !path_exists(e, t, canon))
            continue;
        if (rule->err && rule->why)
            report_refusal(e, t, rule->err, canon, rule->why);
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
        int rc = paths_rule_errno(e, t, canon, writes);
        if (rc < 0)
            return rc;
    }
    return 0;
}
