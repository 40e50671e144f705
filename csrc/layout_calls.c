/*
 * The per-call translations: every path argument from the guest's view to the
 * host's, openat2's RESOLVE_* flags, getcwd, readlink and chroot answered in the
 * guest's view; and layout_enter/layout_exit, which dispatch on the call's
 * layout_op.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "arch.h"
#include "layout.h"

/* a VEIL_R_DENIED record with why as its text; err < 0: a notice, nothing refused */
void layout_report(struct veil_engine *e, struct task *t, int err, const char *why)
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

int read_path(struct task *t, int idx, char *out)
{
    int trunc = 0;
    long n = veil_read_cstr(t->tid, t->args[idx], out, PATH_MAX, &trunc);
    if (n < 0)
        return (int)n;
    return trunc ? -ENAMETOOLONG : 0;
}

int64_t dirfd_of(const struct veil_sysdesc *d, struct task *t, int idx)
{
    if (idx > 0 && (d->dirfd_args & (1u << (idx - 1))))
        return (int64_t)(int32_t)t->args[idx - 1];
    return AT_FDCWD_VALUE;
}

int check_rules(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
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
        int is_open = d->open_flags_arg >= 0 || t->nr == __NR_creat;
        if (is_open &&
            (rc = writes_proc_mem(e, t, r.host, t->nr == __NR_creat ? 1 : open_flags)) < 0)
            return rc;
        if (is_open && !r.kernel_link && have_openat2() && !plain_calls(e, t)) {
            if (t->nr == __NR_creat)
                return open_as_openat2(e, t, s, r.host, 0100 | 01 | 01000, t->args[1]);
            return open_as_openat2(e, t, s, r.host, open_flags, t->args[d->open_flags_arg + 1]);
        }
        const char *give = r.host;
        char pinned[PATH_MAX];
        if (e->layout.pin_paths && !is_open && !r.kernel_link) {
            rc = pin_path(e, t, s, r.host, follows(d, t, i, open_flags), pinned);
            for (int again = 0; rc == -ELOOP && again < RACE_RETRIES; again++) {
                rc = resolve_arg(e, t, dirfd_of(d, t, i), path, follows(d, t, i, open_flags),
                                 &r, native);
                if (rc == 0)
                    rc = check_rules(e, t, d, r.guest);
                if (rc == 0)
                    rc = r.kernel_link ? 0 : pin_path(e, t, s, r.host,
                                                 follows(d, t, i, open_flags), pinned);
            }
            if (rc == -ELOOP)
                layout_report(e, t, ELOOP, RACE_REPORT);
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
    rc = resolve_path(e, t->pid, t->tid, root, start, path, follow, &r);
    if (rc < 0)
        return rc;
    if (scoped && r.magic)
        return -EXDEV;
    if ((how.resolve & RESOLVE_BENEATH) && strcmp(start, "/") != 0 &&
        !path_under(r.guest, start, strlen(start)))
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
        layout_report(e, t, ENOMEM, "veil's read-only scratch area is not mapped in the process, "
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
