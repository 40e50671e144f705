/*
 * The kernel walks what veil checked.
 *
 * veil resolves every symlink itself and hands the kernel a canonical host path
 * with none left, but the kernel walks that path again: a directory of the
 * guest swapped for a symlink to "/" in between (another thread, another
 * process) would take the call out of the guest.  Opens become
 * openat2(RESOLVE_NO_SYMLINKS), so that such a swap fails the call (ELOOP: veil
 * makes it again, translated anew, up to RACE_RETRIES times, then reports
 * it).  With pin_paths, other calls get /proc/VEIL/fd/N[/NAME]: N is the
 * file, or the directory that holds NAME, opened by veil the same way; the
 * kernel starts from what veil opened.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/seccomp.h>

#include "arch.h"
#include "layout.h"

#define O_TMPFILE_FLAG 020000000
#define O_LARGEFILE_FLAG 0100000
#define VALID_OPEN_FLAGS 037777703 /* fs/fcntl.c VALID_OPEN_FLAGS on x86_64 (O_* up to __O_TMPFILE) */
#define O_PATH_FLAGS (O_PATH_FLAG | 0200000 /* O_DIRECTORY */ | O_NOFOLLOW_FLAG | 02000000)

struct open_how64 {
    uint64_t flags, mode, resolve;
};

/* openat2(2) is Linux 5.6; fd or -errno */
int open_nosym(const char *path, uint64_t flags)
{
    struct open_how64 how = {flags | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS};
    long fd = syscall(__NR_openat2, AT_FDCWD_VALUE, path, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

int have_openat2(void)
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
    how.resolve = RESOLVE_NO_SYMLINKS;
    return how;
}

void pins_close(struct layout *L, int32_t tid, int32_t pid)
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

/* Can the caller walk /proc/VEIL/fd (ptrace read access: the same fsuid)?  Known
   per process until it execs or changes its ids (VEIL_L_CREDS). */
int can_read_our_fds(struct veil_engine *e, struct task *t)
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
 * pin_path() for a caller that cannot walk veil's fds: veil runs as root and the
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
                layout_report(e, t, -ENOSYS, "the program's own seccomp filter refuses openat2: veil "
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
        layout_report(e, t, EAGAIN, "the program kept changing the fds veil had it open for its call");
        return -EAGAIN;
    }
    struct open_how64 how = {open_flags | O_CLOEXEC, 0, RESOLVE_NO_SYMLINKS};
    uint64_t path_at = scratch_put(s, dir, strlen(dir) + 1);
    uint64_t how_at = path_at ? scratch_put(s, &how, sizeof how) : 0;
    if (!how_at)
        return -ENOMEM;
    rc = unrewrite_args(t);
    if (rc < 0)
        return rc;
    uint64_t args[6] = {(uint64_t)(int64_t)AT_FDCWD_VALUE, path_at, how_at, sizeof how, 0, 0};
    int64_t got = 0;
    rc = veil_arch_replace_and_restart(t->tid, __NR_openat2, args, &got, &t->pending_sig,
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
        int rc = veil_arch_inject_syscall(t->tid, __NR_close, args, &got, &t->pending_sig,
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
int pin_path(struct veil_engine *e, struct task *t, struct scratch *s, const char *host,
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
int filter_lets(struct veil_engine *e, int nr)
{
    struct __ptrace_syscall_info si;
    memset(&si, 0, sizeof si);
    si.arch = veil_arch_native_audit();
    si.seccomp.nr = nr;
    uint32_t act = filter_run(e, &si) & SECCOMP_RET_ACTION_FULL;
    return act == SECCOMP_RET_TRACE || act == SECCOMP_RET_ALLOW;
}

/* open/openat/creat of `host` become openat2(AT_FDCWD, host, RESOLVE_NO_SYMLINKS) */
int open_as_openat2(struct veil_engine *e, struct task *t, struct scratch *s,
                           const char *host, uint64_t flags, uint64_t mode)
{
    struct open_how64 how = open_how_of(flags, mode);
    if (!filter_lets(e, __NR_openat2))
        return put_path_arg(s, t, 1 - (t->nr == __NR_open || t->nr == __NR_creat), host);
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
    int rc = veil_arch_set_nr(t->tid, __NR_openat2);
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
int plain_calls(struct veil_engine *e, struct task *t)
{
    struct proc_view *pv = proc_find(&e->layout, t->pid);
    return pv && pv->plain_calls;
}

void paths_exit(struct veil_engine *e, struct task *t, int64_t ret)
{
    if ((t->flags & T_NEW_NR) && ret == -ENOSYS) {
        /* openat2/execveat refused by the program's own filter (it does not know
           them): the call again, as the program made it, translated as before */
        struct proc_view *pv = proc_get(&e->layout, t->pid);
        if (pv && !pv->plain_calls && veil_arch_restart(t->tid, t->nr) == 0) {
            pv->plain_calls = 1;
            layout_report(e, t, -ENOSYS, "the program's own seccomp filter refuses openat2/"
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
            layout_report(e, t, ELOOP, RACE_REPORT);
    } else {
        t->race_retries = 0;
    }
    t->flags &= ~(T_NEW_NR | T_RACE_ELOOP);
    if (e->layout.npins)
        pins_close(&e->layout, t->tid, 0);
}
