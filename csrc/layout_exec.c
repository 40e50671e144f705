/*
 * execve(at) of a guest program: the script interpreters and the dynamic
 * loader are found in the guest, the new argv is built in the scratch area;
 * after the exec, the process's view (exe, title, argv, auxv) is put right.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/prctl.h>

#include "arch.h"
#include "layout.h"

#define AT_EMPTY_PATH_FLAG 0x1000
#define AT_SYMLINK_NOFOLLOW_FLAG 0x100
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
    int is_execve = t->nr == __NR_execve;
    uint64_t argv = t->args[is_execve ? 1 : 2], envp = t->args[is_execve ? 2 : 3];
    uint64_t flags = is_execve ? 0 : t->args[4] & ~(uint64_t)AT_EMPTY_PATH_FLAG;
    int rc = is_execve ? veil_arch_set_nr(t->tid, __NR_execveat) : 0;
    if (rc == 0)
        rc = set_arg(t, 0, (uint64_t)(int64_t)AT_FDCWD_VALUE);
    if (rc == 0)
        rc = set_arg(t, 1, path);
    if (rc == 0)
        rc = set_arg(t, 2, argv);
    if (rc == 0)
        rc = set_arg(t, 3, envp);
    if (rc == 0)
        rc = set_arg(t, 4, flags | AT_SYMLINK_NOFOLLOW_FLAG);
    if (rc < 0)
        return rc;
    t->flags |= (is_execve ? T_NEW_NR : 0) | T_RACE_ELOOP;
    return 0;
}

/* One execve(at) as veil translates it: what the caller asked for, the file the
   kernel is to run now, and the argv entries put before the caller's argv[1..]. */
struct exec_job {
    int pidx, aidx;              /* the path and argv arguments */
    int by_fd;                   /* execveat(fd, "", AT_EMPTY_PATH): fexecve */
    char path[PATH_MAX];         /* the caller's path (/dev/fd/N for fexecve) */
    char native[PATH_MAX];       /* the host path of the call as made (resolve_arg) */
    char title[sizeof ((struct proc_view *)0)->title]; /* TASK_COMM_LEN: the task's name */
    char script_arg[PATH_MAX];   /* the path binfmt_script passes the next interpreter */
    struct resolved prog;        /* the file the kernel is to run */
    struct exec_plan plan, next; /* the argv prefix, and the next one being built */
    struct exec_format fmt;      /* prog as the kernel's handlers read it (elfcheck.c) */
    int loader_of;               /* e_machine of the program whose loader prog now is */
    int takes_argv0;             /* that loader takes --argv0 */
};

/* The program the caller names: 0, 1 (no path: leave the call to the kernel) or -errno. */
static int exec_find_program(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                             struct exec_job *j)
{
    int rc = read_path(t, j->pidx, j->path);
    if (rc < 0)
        return rc;
    j->by_fd = j->path[0] == 0 && t->nr == __NR_execveat && (t->args[4] & AT_EMPTY_PATH_FLAG);
    if (j->by_fd) {
        /* fexecve: the program is the file the fd holds (a memfd too); the loader
           and a script's interpreter still come from the guest */
        int fd = (int)(int32_t)t->args[0];
        snprintf(j->prog.host, PATH_MAX, "/proc/%d/fd/%d", t->tid, fd);
        snprintf(j->path, sizeof j->path, "/dev/fd/%d", fd); /* what binfmt_script passes */
        /* the loader opens the program by name after the exec, when a close-on-exec
           fd is gone: name the file itself where it has a guest path */
        char target[PATH_MAX];
        if (read_link(j->prog.host, target) < 0 || target[0] != '/' ||
            host_to_view(e, t->pid, target, j->prog.guest) < 0)
            snprintf(j->prog.guest, PATH_MAX, "/proc/self/fd/%d", fd);
        j->native[0] = 0;
        return 0;
    }
    if (j->path[0] == 0)
        return 1;
    int follow = t->nr == __NR_execve ? 1 : !(t->args[4] & AT_SYMLINK_NOFOLLOW_FLAG);
    rc = resolve_arg(e, t, dirfd_of(d, t, j->pidx), j->path, follow, &j->prog, j->native);
    if (rc == 0)
        rc = check_rules(e, t, d, j->prog.guest);
    if (rc == 0)
        rc = exec_caller_may(t, j->prog.host);
    return rc;
}

/* Forget what an earlier exec of the process left pending; the kernel names the
   task after the last component of the path it was given. */
static void exec_start(struct veil_engine *e, struct task *t, struct exec_job *j)
{
    struct proc_view *pv = proc_find(&e->layout, t->pid);
    if (pv) {
        replace_str(&pv->pending_exe, NULL);
        pv->pending_title[0] = 0;
        pv->pending_swap = 0;
    }
    const char *base = strrchr(j->path, '/');
    base = base ? base + 1 : j->path;
    memcpy(j->title, base, strnlen(base, sizeof j->title - 1));
    snprintf(j->script_arg, sizeof j->script_arg, "%s", j->path);
}

/* j->prog as the kernel's handlers read it; what they would refuse or read
   otherwise is refused.  0 or -errno. */
static int exec_check_file(struct veil_engine *e, struct task *t, struct exec_job *j)
{
    struct exec_format *fmt = &j->fmt;
    int fd = open(j->prog.host, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return -errno;
    int rc = exec_write_busy(fd); /* the kernel's check of each file it would open */
    if (rc == 0)
        rc = exec_format(fd, j->prog.host, fmt);
    if (rc == 0 && j->loader_of &&
        (fmt->kind != EXEC_ELF || (fmt->machine == EM_X86_64) != (j->loader_of == EM_X86_64)))
        rc = -ELIBBAD, fmt->why = "its ELF interpreter is no ELF file for its machine";
    else if (rc == 0 && j->loader_of && fmt->has_interp)
        rc = -ELIBBAD, fmt->why = "its ELF interpreter has a PT_INTERP of its own";
    if (rc == 0 && fmt->kind == EXEC_ELF)
        rc = exec_expect(t, fd);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    if (rc < 0 && fmt->why)
        layout_report(e, t, -rc, fmt->why);
    return rc;
}

/* binfmt_script: argv = interp [arg] script argv[1..], and the interpreter is
   the file to run next.  0 or -errno. */
static int exec_through_script(struct veil_engine *e, struct task *t, struct exec_job *j)
{
    struct exec_plan *next = &j->next;
    memset(next, 0, sizeof *next);
    if (push_arg(next, j->fmt.interp) < 0 ||
        (j->fmt.has_arg && push_arg(next, j->fmt.arg) < 0) || push_arg(next, j->script_arg) < 0)
        return -E2BIG;
    for (int i = j->plan.drop_argv0 ? 1 : 0; i < j->plan.nprefix; i++)
        if (push_arg(next, j->plan.prefix[i]) < 0)
            return -E2BIG;
    next->drop_argv0 = 1;
    j->plan = *next;
    snprintf(j->script_arg, sizeof j->script_arg, "%s", j->fmt.interp);
    int rc = resolve_arg(e, t, AT_FDCWD_VALUE, j->fmt.interp, 1, &j->prog, NULL);
    return rc < 0 ? rc : exec_caller_may(t, j->prog.host);
}

/* The argv[0] the program would get: the prefix's, or the caller's own. */
static void exec_argv0(struct task *t, const struct exec_job *j, char *out, size_t cap)
{
    out[0] = 0;
    if (j->plan.nprefix) {
        snprintf(out, cap, "%s", j->plan.prefix[0]);
        return;
    }
    uint64_t p0 = 0;
    int trunc;
    if (t->args[j->aidx] && veil_read_mem(t->tid, t->args[j->aidx], &p0, 8) == 8 && p0)
        veil_read_cstr(t->tid, p0, out, cap, &trunc);
}

/*
 * A dynamic ELF: the kernel would load its PT_INTERP from the host.  1: it finds
 * the guest's loader at the same host path (the kernel runs the program as it
 * is); 0: the guest's loader is the file to run next, as `ld.so [--argv0 ARGV0]
 * PROGRAM ARGS` (it opens PROGRAM by its guest path, through veil); -errno.
 */
static int exec_through_loader(struct veil_engine *e, struct task *t, struct exec_job *j,
                               int depth)
{
    const char *ld = j->fmt.interp;
    struct resolved loader;
    int rc = resolve_arg(e, t, AT_FDCWD_VALUE, ld, 1, &loader, NULL);
    if (rc < 0)
        return rc;
    /* the kernel follows the host's symlinks (/lib64/ld-linux-x86-64.so.2 is one
       on Debian): what it would load, compared with the guest's loader */
    char host_ld[PATH_MAX];
    if (realpath(ld, host_ld) && strcmp(loader.host, host_ld) == 0) {
        exec_allow_interp(t, loader.host);
        return 1;
    }
    const char *lost = exec_setid_lost(j->prog.host);
    if (lost)
        layout_report(e, t, -1, lost);
    struct exec_plan *next = &j->next;
    memset(next, 0, sizeof *next);
    char argv0[PATH_MAX];
    exec_argv0(t, j, argv0, sizeof argv0);
    if (push_arg(next, ld) < 0)
        return -E2BIG;
    j->takes_argv0 = loader_takes_argv0(loader.host);
    if (j->takes_argv0 && (push_arg(next, "--argv0") < 0 || push_arg(next, argv0) < 0))
        return -E2BIG;
    /* the loader names the program after the path it opens (AT_EXECFN): the
       caller's own where it opens the same file from here */
    const char *path = j->path;
    int as_given = depth == 0 && !j->by_fd && strchr(path, '/') &&
                   (path[0] == '/' || t->nr == __NR_execve ||
                    (int)t->args[0] == AT_FDCWD_VALUE);
    if (push_arg(next, as_given ? path : j->prog.guest) < 0)
        return -E2BIG;
    for (int i = 1; i < j->plan.nprefix; i++)
        if (push_arg(next, j->plan.prefix[i]) < 0)
            return -E2BIG;
    next->drop_argv0 = 1;
    j->plan = *next;
    struct proc_view *pv = proc_get(&e->layout, t->pid);
    if (pv)
        replace_str(&pv->pending_exe, j->prog.guest);
    strcpy(j->prog.host, loader.host);
    j->loader_of = j->fmt.machine; /* checked as the kernel checks an interpreter, and more */
    return 0;
}

/* Each file the kernel would open, in turn, until the one it must run itself:
   the program, its #! interpreters, the guest's loader.  0 or -errno. */
static int exec_follow_chain(struct veil_engine *e, struct task *t, struct exec_job *j)
{
    for (int depth = 0;; depth++) {
        int rc = exec_check_file(e, t, j);
        if (rc < 0)
            return rc;
        if (j->loader_of)
            return 0; /* the guest's loader, run as the program */
        if (j->fmt.kind == EXEC_SCRIPT) {
            if (depth >= EXEC_MAX_SCRIPTS)
                return -ELOOP;
            rc = exec_through_script(e, t, j);
            if (rc < 0)
                return rc;
            continue;
        }
        if (!j->fmt.has_interp)
            return 0; /* static: the kernel loads no interpreter */
        rc = exec_through_loader(e, t, j, depth);
        if (rc != 0)
            return rc < 0 ? rc : 0;
    }
}

/* The new argv in the scratch area: the prefix, then the caller's argv[1..]. */
static int exec_put_argv(struct veil_engine *e, struct task *t, struct scratch *s,
                         const struct exec_job *j)
{
    uint64_t old[1024];
    size_t nold = 0;
    if (t->args[j->aidx]) {
        for (;;) {
            if (nold == sizeof old / sizeof old[0])
                return -E2BIG;
            if (veil_read_mem(t->tid, t->args[j->aidx] + nold * 8, &old[nold], 8) != 8)
                return -EFAULT;
            if (old[nold] == 0)
                break;
            nold++;
        }
    }
    uint64_t vec[1024 + PREFIX_MAX];
    size_t n = 0;
    for (int i = 0; i < j->plan.nprefix; i++) {
        uint64_t at = scratch_put(s, j->plan.prefix[i], strlen(j->plan.prefix[i]) + 1);
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
    int rc = set_arg(t, j->aidx, at);
    if (rc < 0)
        return rc;
    struct proc_view *pv = proc_get(&e->layout, t->pid);
    if (pv) {
        memcpy(pv->pending_title, j->title, sizeof j->title);
        pv->pending_swap = j->loader_of && j->takes_argv0;
    }
    return 0;
}

/* The path the kernel gets: the file to run, pinned under pin_paths (--strict). */
static int exec_put_path(struct veil_engine *e, struct task *t, struct scratch *s,
                         const struct exec_job *j)
{
    int rc;
    if (j->by_fd) {
        /* execveat(fd, "", AT_EMPTY_PATH) becomes execveat(AT_FDCWD, interpreter, 0) */
        rc = set_arg(t, 0, (uint64_t)(int64_t)AT_FDCWD_VALUE);
        if (rc == 0)
            rc = set_arg(t, 4, 0);
        if (rc < 0)
            return rc;
    }
    char padded[PATH_MAX]; /* room for the caller's path in AT_EXECFN */
    struct proc_view *pv = proc_get(&e->layout, t->pid);
    const char *host_base = strrchr(j->prog.host, '/');
    if (!j->plan.nprefix && host_base &&
        strncmp(host_base + 1, j->title, sizeof j->title - 1) != 0) {
        /* a symlink's target runs (/bin/sh -> dash): the kernel would name it "sh" */
        pv = proc_get(&e->layout, t->pid);
        if (pv)
            memcpy(pv->pending_title, j->title, sizeof j->title);
    }
    if (e->layout.pin_paths && !j->prog.kernel_link && filter_lets(e, __NR_execveat) &&
        !plain_calls(e, t)) {
        char pinned[PATH_MAX];
        rc = pin_path(e, t, s, j->prog.host, 0, pinned);
        if (rc == -ELOOP)
            layout_report(e, t, ELOOP, RACE_REPORT);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return exec_nofollow(t, s, execview_pad(pv, j->path, pinned, padded));
    }
    return put_path_arg(s, t, j->pidx, execview_pad(pv, j->path, j->prog.host, padded));
}

/*
 * execve(at) of a guest program.  The kernel would look for a script's
 * interpreter and an ELF's PT_INTERP on the host, so veil finds them in the
 * guest and starts what the kernel has to start itself: the interpreter
 * (with the script's guest path as its argument, as binfmt_script does) and,
 * for a dynamic ELF whose loader is not at the same place on the host, the
 * guest's loader run as a program (`ld.so --argv0 ARGV0 PROGRAM ARGS`).
 */
int translate_exec(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                   struct scratch *s)
{
    t->flags |= T_WANT_EXIT; /* a new address space: its scratch area is mapped again */
    t->exec_want = 0;        /* until the file the kernel is to run has been checked */
    struct exec_job *j = calloc(1, sizeof *j); /* two plans: too large for the stack */
    if (!j)
        return -ENOMEM;
    j->pidx = t->nr == __NR_execve ? 0 : 1;
    j->aidx = j->pidx + 1;
    int rc = exec_find_program(e, t, d, j);
    if (rc == 0) {
        exec_start(e, t, j);
        rc = exec_follow_chain(e, t, j);
    }
    if (rc == 0 && j->plan.nprefix)
        rc = exec_put_argv(e, t, s, j);
    else if (rc == 0 && (j->by_fd || strcmp(j->prog.host, j->native) == 0))
        rc = 1; /* the kernel runs the same file with no interpreter to find */
    if (rc == 0)
        rc = exec_put_path(e, t, s, j);
    free(j);
    return rc > 0 ? 0 : rc;
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
            layout_report(e, t, EACCES, why);
            if (kill(t->pid, SIGKILL) < 0 && errno != ESRCH)
                layout_report(e, t, errno, "killing it failed");
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

/*
 * After an exec through an interpreter or the loader: the process, at its first
 * translated calls, names itself after the program (prctl PR_SET_NAME) and
 * points its argument strings at the program's own (PR_SET_MM_MAP, which needs
 * no privilege when it keeps the exe file; its break is asked first).  One call
 * per stop, each in place of the program's, which then starts again (1).  A
 * refusal leaves the loader's view.
 */
int retitle(struct veil_engine *e, struct task *t, struct proc_view *pv, int *gone_status)
{
    uint64_t at = ((t->sp - RED_ZONE) & ~(uint64_t)15) - 256, args[6] = {0};
    long nr = __NR_brk;
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
        nr = __NR_prctl;
        args[0] = PR_SET_MM, args[1] = PR_SET_MM_MAP, args[2] = at, args[3] = sizeof map;
    } else if (step == 2) {
        size_t len = strlen(pv->title) + 1;
        if (len == 1 || veil_write_mem(t->tid, at, pv->title, len) != (long)len) {
            pv->title[0] = 0;
            return 0;
        }
        pv->title[0] = 0;
        nr = __NR_prctl;
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
