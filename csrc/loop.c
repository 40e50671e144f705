/*
 * The waitpid loop: spawn/attach, classify every stop, settle what the
 * action table allows in C, hand the rest to Python with the tracee stopped.
 * ptrace(2) "Stopped states" is the reference for the classification.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "arch.h"
#include "internal.h"

#define SEIZE_OPTIONS                                                                    \
    (PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEEXEC | PTRACE_O_TRACEEXIT |                   \
     PTRACE_O_TRACESECCOMP | PTRACE_O_EXITKILL)
#define FOLLOW_OPTIONS (PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE)

#define SYSCALL_TRAP (SIGTRAP | 0x80)

struct veil_engine *veil_new(uint32_t ring_bytes)
{
    struct veil_engine *e = calloc(1, sizeof *e);
    if (!e)
        return NULL;
    if (ring_bytes < 2 * RING_RECORD_MAX)
        ring_bytes = 2 * RING_RECORD_MAX;
    e->ring.buf = malloc(ring_bytes);
    if (!e->ring.buf) {
        free(e);
        return NULL;
    }
    e->ring.cap = ring_bytes;
    e->use_seccomp = 1;
    e->follow = 1;
    e->affinity = -2;
    e->pinned_cpu = -1;
    e->last_pin_cpu = -1;
    e->strsize = 32;
    e->main_pid = -1;
    e->main_status = -1;
    e->spawn_err_fd = -1;
    e->stdio[0] = e->stdio[1] = e->stdio[2] = -1;
    e->child_umask = -1;
    return e;
}

void veil_free(struct veil_engine *e)
{
    if (!e)
        return;
    tasks_free(&e->tasks);
    paths_free(e);
    layout_free(e);
    mountns_free(e);
    caps_free(e);
    sockfd_free(e);
    filter_free(e);
    identity_free(e);
    guest_free(e);
    if (e->spawn_err_fd >= 0)
        close(e->spawn_err_fd);
    spawn_free(e);
    free(e->ring.buf);
    free(e);
}

struct veil_sysdesc *veil_table(struct veil_engine *e)
{
    return e->table;
}

struct veil_sysdesc *veil_foreign(struct veil_engine *e)
{
    return &e->foreign;
}

void veil_set_options(struct veil_engine *e, int seccomp, int follow, int affinity_cpu,
                      uint32_t strsize)
{
    e->use_seccomp = seccomp;
    e->follow = follow;
    e->affinity = affinity_cpu;
    e->strsize = strsize;
}

const uint8_t *veil_ring(struct veil_engine *e, uint32_t *used)
{
    *used = e->ring.used;
    return e->ring.buf;
}

void veil_ring_reset(struct veil_engine *e)
{
    e->ring.used = 0;
    e->stats.ring_drains++;
}

void veil_get_stats(struct veil_engine *e, struct veil_stats *out)
{
    *out = e->stats;
}

int veil_main_status(struct veil_engine *e)
{
    return e->main_status;
}

/* Under the seccomp filter children are always traced: they inherit it, and a
   SECCOMP_RET_TRACE with no tracer fails the call with ENOSYS; without follow
   they are only kept silent (T_SILENT).  Without the filter and without follow
   they are let go, as strace without -f does. */
static unsigned options_for(struct veil_engine *e)
{
    return SEIZE_OPTIONS | (e->follow || e->use_seccomp ? FOLLOW_OPTIONS : 0);
}

static struct task *track(struct veil_engine *e, int32_t tid, int32_t pid, uint32_t flags)
{
    struct task *t = tasks_find(&e->tasks, tid);
    if (t)
        return t;
    t = tasks_add(&e->tasks, tid);
    if (!t)
        return NULL;
    t->pid = pid;
    t->flags = flags;
    e->stats.tasks_seen++;
    placement_update(e);
    return t;
}

static void untrack(struct veil_engine *e, int32_t tid)
{
    struct task *t = tasks_find(&e->tasks, tid);
    if (t && (t->flags & T_GUEST))
        e->guest_tasks--;
    tasks_remove(&e->tasks, tid);
    placement_update(e);
}

/* --- spawn --------------------------------------------------------------- */

/* close the fds of `fds` that are open (>= 0) */
static void close_all(const int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

int veil_spawn(struct veil_engine *e, const char *path, char *const argv[],
               char *const envp[], const char *cwd, const void *bpf, uint32_t bpf_len,
               int32_t *pid_out)
{
    int go[2], err[2];
    if (pipe2(go, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(err, O_CLOEXEC) < 0) {
        int saved = errno;
        close(go[0]);
        close(go[1]);
        return -saved;
    }
    if (!e->use_seccomp)
        bpf = NULL;
    int kept = filter_keep(e, bpf, bpf_len);
    if (kept < 0) {
        close(go[0]);
        close(go[1]);
        close(err[0]);
        close(err[1]);
        return kept;
    }
    placement_pin(e, 0);
    /* the mount engine's user namespace: the child says when it made it, veil
       writes its id maps and says so (mountns.c) */
    int ns_ready[2] = {-1, -1}, ns_mapped[2] = {-1, -1};
    int userns = e->mountns.on && e->mountns.userns;
    if (userns && (pipe2(ns_ready, O_CLOEXEC) < 0 || pipe2(ns_mapped, O_CLOEXEC) < 0)) {
        int saved = errno;
        close_all((int[]){go[0], go[1], err[0], err[1], ns_ready[0], ns_ready[1]}, 6);
        return -saved;
    }

    struct spawn_spec spec = {path, argv, envp, cwd, {go[0], go[1]}, {err[0], err[1]},
                              {ns_ready[0], ns_ready[1]}, {ns_mapped[0], ns_mapped[1]}};
    pid_t pid = spawn_child(e, &spec);
    if (pid < 0) {
        close_all((int[]){go[0], go[1], err[0], err[1], ns_ready[0], ns_ready[1], ns_mapped[0],
                          ns_mapped[1]}, 8);
        return pid;
    }
    close(go[0]);
    close(err[1]);
    close_all((int[]){ns_ready[1], ns_mapped[0]}, 2);
    if (ptrace(PTRACE_SEIZE, pid, 0L, (long)options_for(e)) < 0) {
        int saved = errno;
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close_all((int[]){go[1], err[0], ns_ready[0], ns_mapped[1]}, 4);
        return -saved;
    }
    e->main_pid = pid;
    struct task *t = track(e, pid, pid, 0);
    if (!t) {
        kill(pid, SIGKILL);
        close_all((int[]){go[1], err[0], ns_ready[0], ns_mapped[1]}, 4);
        return -ENOMEM;
    }
    if (!e->use_seccomp && !(e->mountns.on && e->mountns.pidns))
        t->flags |= T_EXECS_NEXT;
    if (e->pinned_cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(e->pinned_cpu, &one);
        sched_setaffinity(pid, sizeof one, &one);
    }
    int rc = write(go[1], "g", 1) == 1 ? 0 : -errno;
    close(go[1]);
    if (userns && rc == 0)
        rc = mountns_map_child(&e->mountns, pid, ns_ready[0], ns_mapped[1]);
    close_all((int[]){ns_ready[0], ns_mapped[1]}, 2);
    /* The child's exec failure (if any) arrives on err[0]; the fd is kept
       non-blocking and read once the child has exited. */
    if (fcntl(err[0], F_SETFL, O_NONBLOCK) < 0 && rc == 0)
        rc = -errno;
    e->spawn_err_fd = err[0];
    *pid_out = pid;
    return rc;
}

void veil_set_decorate(struct veil_engine *e, int level)
{
    e->decorate = level;
}

void veil_set_umask(struct veil_engine *e, int mask)
{
    e->child_umask = mask;
}

int veil_add_rlimit(struct veil_engine *e, int resource, uint64_t soft, uint64_t hard)
{
    if (e->nlimits >= (int)(sizeof e->limits / sizeof e->limits[0]))
        return -E2BIG;
    e->limits[e->nlimits].resource = resource;
    e->limits[e->nlimits].soft = soft;
    e->limits[e->nlimits].hard = hard;
    e->nlimits++;
    return 0;
}

void veil_set_stdio(struct veil_engine *e, int in, int out, int err)
{
    e->stdio[0] = in;
    e->stdio[1] = out;
    e->stdio[2] = err;
}

int veil_spawn_error(struct veil_engine *e)
{
    int child_errno = 0;
    if (e->spawn_err_fd < 0)
        return 0;
    if (read(e->spawn_err_fd, &child_errno, sizeof child_errno) != sizeof child_errno)
        child_errno = 0;
    return child_errno;
}

static void on_gone(struct veil_engine *e, int32_t tid, int status);

/* --- attach / detach ----------------------------------------------------- */

static int attach_threads(struct veil_engine *e, int32_t pid)
{
    char path[64];
    int added;
    /* threads may be created while we attach: list again until nothing new */
    do {
        added = 0;
        snprintf(path, sizeof path, "/proc/%d/task", pid);
        DIR *d = opendir(path);
        if (!d)
            return -errno;
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            int32_t tid = (int32_t)atoi(de->d_name);
            if (tid <= 0 || tasks_find(&e->tasks, tid))
                continue;
            if (ptrace(PTRACE_SEIZE, tid, 0L, (long)(options_for(e) & ~PTRACE_O_EXITKILL)) < 0) {
                if (errno == ESRCH)
                    continue;
                int saved = errno;
                closedir(d);
                return -saved;
            }
            if (ptrace(PTRACE_INTERRUPT, tid, 0L, 0L) < 0 && errno != ESRCH) {
                int saved = errno;
                closedir(d);
                return -saved;
            }
            track(e, tid, pid, T_ATTACHED);
            ring_event(e, VEIL_R_ATTACHED, pid, tid, 0, 0, NULL, 0);
            added = 1;
        }
        if (closedir(d) < 0)
            return -errno;
    } while (added);
    return 0;
}

int veil_attach(struct veil_engine *e, int32_t pid)
{
    e->use_seccomp = 0;
    if (e->main_pid < 0)
        e->main_pid = pid;
    return attach_threads(e, pid);
}

/* Stop every tracee and detach it, leaving it running as before. */
int veil_detach_all(struct veil_engine *e)
{
    int rc = paths_release_held(e, 1);
    if (rc < 0)
        return rc;
    for (uint32_t i = 0; i < e->tasks.cap; i++) {
        struct task *t = tasks_at(&e->tasks, i);
        if (t && !(t->flags & T_HELD))
            ptrace(PTRACE_INTERRUPT, t->tid, 0L, 0L); /* ESRCH: its exit is coming */
    }
    for (uint32_t i = 0; i < e->tasks.cap; i++) {
        struct task *t = tasks_at(&e->tasks, i);
        if (t && (t->flags & T_HELD)) {
            ptrace(PTRACE_DETACH, t->tid, 0L, 0L);
            ring_event(e, VEIL_R_DETACHED, t->pid, t->tid, 0, 0, NULL, 0);
            untrack(e, t->tid);
            i = (uint32_t)-1; /* table changed: rescan */
        }
    }
    while (e->tasks.count > 0) {
        int status;
        int32_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        struct task *t = tasks_find(&e->tasks, tid);
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            on_gone(e, tid, status);
            continue;
        }
        int sig = WSTOPSIG(status);
        int event = (unsigned)status >> 16;
        /* a signal-delivery stop: hand the signal back as we leave */
        int inject = (event == 0 && sig != SYSCALL_TRAP) ? sig : 0;
        ptrace(PTRACE_DETACH, tid, 0L, (long)inject);
        if (t) {
            ring_event(e, VEIL_R_DETACHED, t->pid, tid, 0, 0, NULL, 0);
            untrack(e, tid);
        }
    }
    return 0;
}

void veil_kill_all(struct veil_engine *e)
{
    for (uint32_t i = 0; i < e->tasks.cap; i++) {
        const struct task *t = tasks_at(&e->tasks, i);
        if (t)
            kill(t->tid, SIGKILL);
    }
    while (e->tasks.count > 0) {
        int status;
        int32_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            on_gone(e, tid, status);
            continue;
        }
        /* a killed tracee still stops at PTRACE_EVENT_EXIT (and a child
           born meanwhile at its first stop): let it go on to die */
        if (!tasks_find(&e->tasks, tid)) {
            track(e, tid, tid, 0);
            kill(tid, SIGKILL);
        }
        ptrace(PTRACE_CONT, tid, 0L, 0L);
    }
}

/* --- the loop ------------------------------------------------------------ */

int resume_task(struct veil_engine *e, struct task *t, int sig)
{
    if (t->flags & T_REPORT_HOLD)
        return 0; /* paths_release_held() resumes it */
    if (t->flags & T_GUEST) {
        int kind = guest_wants(t);
        if (kind)
            return guest_hold(e, t, kind, sig); /* the guest tracer decides */
    }
    if (!sig && t->pending_sig) { /* arrived while veil ran a call in the thread */
        sig = t->pending_sig;
        t->pending_sig = 0;
    }
    int req = (!e->use_seccomp || (t->flags & T_ATTACHED) || (t->flags & T_WANT_EXIT))
                  ? PTRACE_SYSCALL
                  : PTRACE_CONT;
    if (t->flags & T_GUEST_SYSCALL)
        req = PTRACE_SYSCALL;
    if (t->flags & T_GUEST_STEP)
        req = PTRACE_SINGLESTEP;
    if (ptrace(req, t->tid, 0L, (long)sig) < 0)
        return errno == ESRCH ? 0 : -errno; /* killed while stopped: its exit follows */
    return 0;
}

static const struct veil_sysdesc *desc_for(struct veil_engine *e, struct task *t)
{
    if (t->arch == VEIL_ARCH_X86_64 && t->nr >= 0 && t->nr < VEIL_NR_MAX)
        return &e->table[t->nr];
    return &e->foreign;
}

static void fill_event(struct veil_event *ev, int kind, struct task *t, int64_t ret, uint64_t ts)
{
    ev->kind = kind;
    ev->pid = t->pid;
    ev->tid = t->tid;
    ev->arch = t->arch;
    ev->nr = t->nr;
    memcpy(ev->args, t->args, sizeof t->args);
    /* hooks see the call as the program made it (guest paths), not the layout's rewrite */
    for (int i = 0; i < VEIL_MAX_ARGS; i++)
        if (t->saved_mask & (1u << i))
            ev->args[i] = t->saved_args[i];
    ev->ret = ret;
    ev->ts_ns = ts;
    ev->sp = t->sp;
    ev->scratch = t->scratch_low ? t->scratch_low : (t->sp - 128) & ~(uint64_t)15;
}

/* Thread group of a task first seen through a clone event or its own stop. */
static int32_t tgid_of(int32_t tid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/status", tid);
    if (veil_read_proc(path, buf, sizeof buf) < 0)
        return tid;
    char *p = strstr(buf, "\nTgid:");
    return p ? (int32_t)atoi(p + 6) : tid;
}

/*
 * Skip the call the thread is entering; it returns `value`.  At a seccomp
 * stop this takes no further stop: the kernel returns what the tracer put in
 * the return register of a skipped call (seccomp(2), SECCOMP_RET_TRACE).
 * After a PTRACE_SYSCALL entry stop the value is set at the exit stop.
 */
static int settle_at_entry(struct veil_engine *e, struct task *t, int64_t value,
                           uint32_t how, uint64_t ts)
{
    int rc = veil_arch_skip_syscall(t->tid);
    if (rc < 0)
        return rc == -ESRCH ? 0 : rc;
    const struct veil_sysdesc *d = desc_for(e, t);
    if ((t->flags & T_SECCOMP_ENTRY) && !(d->flags & VEIL_F_PY_EXIT) &&
        !(t->flags & T_RESTORE) && !t->nheld) {
        rc = veil_arch_set_return(t->tid, value);
        if (rc < 0)
            return rc == -ESRCH ? 0 : rc;
        if (t->flags & T_RECORDING)
            capture_exit(e, t, value, ts);
        t->flags &= ~(T_IN_SYSCALL | T_WANT_EXIT | T_RECORDING | T_DENY | T_EMULATE);
        return resume_task(e, t, 0);
    }
    t->exit_value = value;
    t->flags |= how | T_WANT_EXIT;
    return resume_task(e, t, 0);
}

static int on_syscall_entry(struct veil_engine *e, struct task *t,
                            const struct __ptrace_syscall_info *si, int from_seccomp,
                            struct veil_event *ev)
{
    uint64_t ts = now_ns();
    int64_t nr = (int64_t)(from_seccomp ? si->seccomp.nr : si->entry.nr);
    const uint64_t *args = from_seccomp ? si->seccomp.args : si->entry.args;
    t->arch = (uint8_t)veil_arch_classify(si->arch, &nr);
    t->nr = nr;
    t->sp = si->stack_pointer;
    memcpy(t->args, args, sizeof t->args);
    t->flags &= ~(T_IN_SYSCALL | T_WANT_EXIT | T_RECORDING | T_DENY | T_EMULATE | T_SECCOMP_ENTRY);
    if (from_seccomp)
        t->flags |= T_SECCOMP_ENTRY;

    const struct veil_sysdesc *d = desc_for(e, t);
    if (!(d->flags & VEIL_F_STOP) && !from_seccomp)
        return resume_task(e, t, 0); /* no-seccomp mode: not ours */

    t->flags |= T_IN_SYSCALL;
    if (from_seccomp && e->prog) {
        /* what veil's own program says, whatever data the stop carries (filter.c) */
        uint32_t act = filter_run(e, si);
        uint32_t action = act & SECCOMP_RET_ACTION_FULL;
        if (action == SECCOMP_RET_TRACE && (act & VEIL_TRACE_REFUSE)) {
            uint32_t arch = si->arch;
            ring_event(e, VEIL_R_DENIED, t->pid, t->tid, act & 0xfff, (int64_t)si->seccomp.nr,
                       &arch, sizeof arch);
            return settle_at_entry(e, t, -(int64_t)(act & 0xfff), T_DENY, ts);
        }
        if (action == SECCOMP_RET_ERRNO)
            return settle_at_entry(e, t, -(int64_t)(act & SECCOMP_RET_DATA), T_DENY, ts);
        if (action != SECCOMP_RET_TRACE && action != SECCOMP_RET_ALLOW &&
            action != SECCOMP_RET_LOG) {
            kill(t->pid, SIGKILL);
            return 0;
        }
    }
    if ((d->flags & VEIL_F_TRANSLATE) && e->layout.active) {
        int gone_status = 0;
        int rc = layout_prepare(e, t, &gone_status); /* veil's scratch area (layout.c) */
        if (rc == -ESRCH) {
            on_gone(e, t->tid, gone_status);
            return 0;
        }
        if (rc > 0) { /* mapped in place of the call, which starts again */
            t->flags &= ~(T_IN_SYSCALL | T_SECCOMP_ENTRY);
            if (t->flags & T_GUEST)
                t->flags |= T_GUEST_RESTART;
            return resume_task(e, t, 0);
        }
    }
    if (d->flags & VEIL_F_KILL) {
        ring_event(e, VEIL_R_DENIED, t->pid, t->tid, -1, nr, NULL, 0);
        kill(t->pid, SIGKILL);
        return 0;
    }
    if ((d->flags & VEIL_F_RECORD) && !(t->flags & T_SILENT) &&
        (d->sockfd_arg < 0 || fd_is_socket(t->tid, t->args[d->sockfd_arg]))) {
        capture_entry(e, t, ts);
        t->flags |= T_RECORDING | T_WANT_EXIT;
    }
    if (d->flags & (VEIL_F_EXIT | VEIL_F_PY_EXIT))
        t->flags |= T_WANT_EXIT;
    if ((d->flags & VEIL_F_TRANSLATE) && e->layout.active) {
        int64_t value = 0;
        int rc = layout_enter(e, t, d, &value);
        if (rc == LAYOUT_RESTARTED) { /* it makes its call again */
            t->flags &= ~(T_IN_SYSCALL | T_SECCOMP_ENTRY);
            return resume_task(e, t, 0);
        }
        if (rc == LAYOUT_GONE) {
            on_gone(e, t->tid, t->gone_status);
            return 0;
        }
        if (rc < 0)
            return settle_at_entry(e, t, rc, T_DENY, ts);
        if (rc > 0)
            return settle_at_entry(e, t, value, T_EMULATE, ts);
    } else if ((d->flags & VEIL_F_PATHS) && e->npath_rules) {
        int rc = paths_check(e, t, d);
        if (rc < 0)
            return settle_at_entry(e, t, rc, T_DENY, ts);
    }
    if (d->flags & VEIL_F_TARGETS) {
        int rc = targets_check(e, t, d);
        if (rc < 0) {
            uint32_t arch = veil_arch_native_audit(); /* only native calls have the flag */
            ring_event(e, VEIL_R_DENIED, t->pid, t->tid, -rc, nr, &arch, sizeof arch);
            return settle_at_entry(e, t, rc, T_DENY, ts);
        }
    }
    if ((d->flags & VEIL_F_DENY) && !(d->flags & VEIL_F_PY_ENTER))
        return settle_at_entry(e, t, -(int64_t)d->deny_errno, T_DENY, ts);
    t->flags &= ~T_ID_ASKED;
    if ((d->flags & VEIL_F_IDENTITY) && !(d->flags & VEIL_F_DENY)) {
        int64_t value = 0;
        int asks = 0; /* identity.c hands the stop to Python's on-request hooks */
        if (identity_enter(e, t, &value, &asks) > 0)
            return settle_at_entry(e, t, value, T_EMULATE, ts);
        if (asks && (d->flags & VEIL_F_ID_ASKS))
            t->flags |= T_ID_ASKED | T_WANT_EXIT;
    }
    if ((d->flags & VEIL_F_GUEST) && !e->guest_calls && !(d->flags & VEIL_F_DENY))
        return resume_task(e, t, 0); /* no guest tracer: nothing to emulate */
    if (d->flags & VEIL_F_DENY) {
        veil_arch_skip_syscall(t->tid);
        t->exit_value = -(int64_t)d->deny_errno;
        t->flags |= T_DENY | T_WANT_EXIT;
    }
    if ((d->flags & VEIL_F_PY_ENTER) || (t->flags & T_ID_ASKED)) {
        t->flags |= T_HELD;
        fill_event(ev, VEIL_EV_ENTER, t, 0, ts);
        return 1;
    }
    return resume_task(e, t, 0);
}

static int on_syscall_exit(struct veil_engine *e, struct task *t,
                           const struct __ptrace_syscall_info *si, struct veil_event *ev)
{
    uint64_t ts = now_ns();
    if (!(t->flags & T_IN_SYSCALL)) {
        t->flags &= ~T_WANT_EXIT;
        return resume_task(e, t, 0);
    }
    int64_t ret = si->exit.rval;
    const struct veil_sysdesc *d = desc_for(e, t);
    if ((d->flags & VEIL_F_TRANSLATE) && e->layout.active && !(t->flags & (T_DENY | T_EMULATE)))
        layout_exit(e, t, d, ret); /* before the restore: a new program keeps its registers */
    if (t->nheld && layout_close_held(e, t) == LAYOUT_GONE) {
        on_gone(e, t->tid, t->gone_status);
        return 0;
    }
    if (t->flags & T_RESTORE) {
        for (int i = 0; i < VEIL_MAX_ARGS; i++)
            if (t->saved_mask & (1u << i))
                veil_arch_set_arg(t->tid, i, t->saved_args[i]);
        t->saved_mask = 0;
        t->flags &= ~T_RESTORE;
    }
    if (t->flags & (T_DENY | T_EMULATE)) {
        ret = t->exit_value;
        veil_arch_set_return(t->tid, ret);
    }
    if (t->arch == VEIL_ARCH_X86_64 && t->nr == __NR_getdents64 && e->layout.proc_scope &&
        !(t->flags & (T_DENY | T_EMULATE))) {
        int64_t shown = targets_proc_listing(e, t, ret);
        if (shown != ret) {
            ret = shown;
            veil_arch_set_return(t->tid, ret);
        }
    }
    if (t->arch == VEIL_ARCH_X86_64 && t->nr == __NR_sched_getaffinity)
        placement_fix_affinity_result(e, t, ret);
    if (t->arch == VEIL_ARCH_X86_64 && t->nr == __NR_sched_setaffinity)
        placement_note_own_mask(e, t, ret);
    int asks = (t->flags & T_ID_ASKED) != 0; /* identity.c hands the stop to Python */
    if ((d->flags & VEIL_F_IDENTITY) && !(t->flags & (T_DENY | T_EMULATE)))
        asks = (identity_exit(e, t, ret) && (d->flags & VEIL_F_ID_ASKS)) || asks;
    t->flags &= ~T_ID_ASKED;
    if (t->flags & T_RECORDING)
        capture_exit(e, t, ret, ts);
    t->flags &= ~(T_IN_SYSCALL | T_WANT_EXIT | T_RECORDING | T_DENY | T_EMULATE);
    if (d->flags & VEIL_F_FDS_IN) {
        int gone_status = 0;
        if (fdintake_after_recv(e, t, ret, &gone_status) == -ESRCH) {
            on_gone(e, t->tid, gone_status);
            return 0;
        }
    }
    if ((d->flags & VEIL_F_NEWFD) && t->arch == VEIL_ARCH_X86_64 && ret >= 0) {
        int gone_status = 0;
        if (sockfd_after_exit(e, t, ret, &t->pending_sig, &gone_status) == -ESRCH) {
            on_gone(e, t->tid, gone_status);
            return 0;
        }
    }
    if ((d->flags & VEIL_F_PY_EXIT) || asks) {
        t->flags |= T_HELD;
        fill_event(ev, VEIL_EV_EXIT, t, ret, ts);
        return 1;
    }
    return resume_task(e, t, 0);
}

static int on_syscall_stop(struct veil_engine *e, struct task *t, int seccomp_event,
                           struct veil_event *ev)
{
    struct __ptrace_syscall_info si;
    e->stats.syscall_stops++;
    long n = ptrace(PTRACE_GET_SYSCALL_INFO, t->tid, (void *)sizeof si, &si);
    if (n < 0)
        return errno == ESRCH ? 0 : -errno;
    t->stop_op = si.op;
    switch (si.op) {
    case PTRACE_SYSCALL_INFO_SECCOMP:
        /* the guest tracer may want it (its own filter's): it sees it first,
           unless veil made the call start again after it saw it */
        if (t->flags & T_GUEST_RESTART)
            t->flags &= ~T_GUEST_RESTART;
        else if ((t->flags & T_GUEST_SECCOMP) && !(t->flags & T_GUEST_PASS))
            return guest_hold(e, t, VEIL_G_SECCOMP, 0);
        return on_syscall_entry(e, t, &si, 1, ev);
    case PTRACE_SYSCALL_INFO_ENTRY:
        /* a guest tracer's PTRACE_SYSCALL stop: it sees the call before veil's
           filter stop changes anything (the filter's stop follows) */
        if (e->use_seccomp && (t->flags & T_GUEST))
            return resume_task(e, t, 0);
        return on_syscall_entry(e, t, &si, 0, ev);
    case PTRACE_SYSCALL_INFO_EXIT:
        return on_syscall_exit(e, t, &si, ev);
    default:
        (void)seccomp_event;
        return resume_task(e, t, 0);
    }
}

static int on_event_stop(struct veil_engine *e, struct task *t, int event, int sig)
{
    unsigned long msg = 0;
    switch (event) {
    case PTRACE_EVENT_FORK:
    case PTRACE_EVENT_VFORK:
    case PTRACE_EVENT_CLONE: {
        if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &msg) < 0)
            return errno == ESRCH ? 0 : -errno;
        int32_t child = (int32_t)msg;
        int32_t child_pid = event == PTRACE_EVENT_CLONE ? tgid_of(child) : child;
        /* the child's own first stop may already have been seen */
        struct task *c = tasks_find(&e->tasks, child);
        int newborn = c && (c->flags & T_NEWBORN);
        if (c)
            c->pid = child_pid;
        else
            c = track(e, child, child_pid, t->flags & T_ATTACHED);
        if (c && (t->flags & T_GUEST) && !(c->flags & T_GUEST)) {
            c->flags |= T_GUEST; /* Python drops it unless the guest tracer follows children */
            e->guest_tasks++;
        }
        if (c && (t->flags & T_ATTACHED))
            c->flags |= T_ATTACHED;
        if (c && !e->follow)
            c->flags |= T_SILENT;
        if (c)
            c->flags |= t->flags & T_OWN_MASK; /* the mask is inherited */
        if (e->mountns.pidns && !e->mountns.init_forked && t->pid == e->main_pid) {
            /* the pid namespace's init started the program: it is the main process */
            e->mountns.init_forked = 1;
            e->mountns.init_pid = e->main_pid;
            e->main_pid = child_pid;
            signals_main_changed(e);
        }
        layout_forked(e, t->pid, child_pid);
        sockfd_forked(e, t->pid, child_pid);
        if (!(t->flags & T_SILENT) && e->follow)
            ring_event(e, VEIL_R_NEWTASK, t->pid, t->tid, child,
                   event == PTRACE_EVENT_FORK ? 1 : event == PTRACE_EVENT_VFORK ? 2 : 3,
                   &child_pid, sizeof child_pid);
        int rc = resume_task(e, t, 0);
        if (newborn && rc == 0) { /* its first stop waited for this event */
            c->flags &= ~T_NEWBORN;
            rc = resume_task(e, c, 0);
        }
        return rc;
    }
    case PTRACE_EVENT_EXEC: {
        if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &msg) < 0)
            return errno == ESRCH ? 0 : -errno;
        t->flags &= ~T_EXECS_NEXT;
        spawn_execd(e, t->pid);
        int32_t former = (int32_t)msg;
        if (former != t->tid) {
            /* exec in a non-leader thread: it now carries the leader's tid
               and the other threads are gone without an exit report */
            struct task *old = tasks_find(&e->tasks, former);
            if (old) {
                struct task moved = *old;
                untrack(e, former);
                t = tasks_find(&e->tasks, moved.pid);
                if (t) {
                    moved.tid = t->tid;
                    *t = moved;
                }
            }
            for (uint32_t i = 0; t && i < e->tasks.cap; i++) {
                struct task *o = tasks_at(&e->tasks, i);
                if (o && o->pid == t->pid && o->tid != t->tid) {
                    untrack(e, o->tid);
                    i = (uint32_t)-1; /* table changed: rescan */
                }
            }
        }
        if (!t)
            return 0;
        if (!(t->flags & T_SILENT))
            ring_event(e, VEIL_R_EXEC, t->pid, t->tid, former, 0, NULL, 0);
        return resume_task(e, t, 0);
    }
    case PTRACE_EVENT_EXIT:
        return resume_task(e, t, 0);
    case PTRACE_EVENT_SECCOMP:
        return 1; /* handled by caller */
    case PTRACE_EVENT_STOP:
        if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
            /* group-stop: stay stopped but let us see SIGCONT */
            if (!(t->flags & T_SILENT))
                ring_event(e, VEIL_R_STOPPED, t->pid, t->tid, sig, 0, NULL, 0);
            if (t->flags & T_GUEST) { /* the guest tracer sees it and chooses LISTEN or not */
                int kind = guest_wants(t);
                if (kind)
                    return guest_hold(e, t, kind, 0);
            }
            t->flags |= T_LISTENING;
            if (ptrace(PTRACE_LISTEN, t->tid, 0L, 0L) < 0 && errno != ESRCH)
                return -errno;
            return 0;
        }
        /* new child's first stop, or PTRACE_INTERRUPT, or LISTEN woken up */
        t->flags &= ~T_LISTENING;
        return resume_task(e, t, 0);
    }
    return resume_task(e, t, 0);
}

static int on_signal_stop(struct veil_engine *e, struct task *t, int sig)
{
    siginfo_t si;
    if (ptrace(PTRACE_GETSIGINFO, t->tid, 0L, &si) < 0) {
        if (errno == ESRCH)
            return 0;
        /* EINVAL: a group-stop seen as a signal stop (not under SEIZE) */
        return resume_task(e, t, 0);
    }
    if ((t->flags & T_EXECS_NEXT) && sig == SIGSTOP && si.si_pid == t->pid) {
        t->flags &= ~T_EXECS_NEXT;
        return resume_task(e, t, 0);
    }
    if (!(t->flags & T_SILENT))
        ring_event(e, VEIL_R_SIGNAL, t->pid, t->tid, sig, 0, &si, sizeof si);
    return resume_task(e, t, sig);
}

static void on_gone(struct veil_engine *e, int32_t tid, int status)
{
    struct task *t = tasks_find(&e->tasks, tid);
    int32_t pid = t ? t->pid : tid;
    if (t && (t->flags & T_SILENT))
        ;
    else if (WIFEXITED(status))
        ring_event(e, VEIL_R_EXITED, pid, tid, WEXITSTATUS(status), 0, NULL, 0);
    else
        ring_event(e, VEIL_R_KILLED, pid, tid, WTERMSIG(status) | (WCOREDUMP(status) ? 0x80 : 0),
                   0, NULL, 0);
    if (tid == e->main_pid)
        e->main_status = status;
    spawn_execd(e, tid);
    if (t && (t->flags & (T_GUEST | T_GUEST_TRACER)))
        guest_gone(e, t, status);
    if (tid == pid) {
        layout_gone(e, pid);
        sockfd_gone(e, pid);
    }
    if (t)
        untrack(e, tid);
}

int veil_next(struct veil_engine *e, struct veil_event *ev)
{
    memset(ev, 0, sizeof *ev);
    int held = paths_release_held(e, 0);
    if (held < 0)
        return held;
    for (;;) {
        if (e->ring.used + RING_RECORD_MAX > e->ring.cap) {
            ev->kind = VEIL_EV_DRAIN;
            return VEIL_EV_DRAIN;
        }
        if (veil_flush_requested && e->ring.used > 0) {
            veil_flush_requested = 0;
            ev->kind = VEIL_EV_DRAIN;
            return VEIL_EV_DRAIN;
        }
        if (veil_stop_requested) {
            veil_stop_requested = 0;
            ev->kind = VEIL_EV_INTERRUPTED;
            return VEIL_EV_INTERRUPTED;
        }
        if (e->has_deferred) {
            *ev = e->deferred;
            e->has_deferred = 0;
            return ev->kind;
        }
        if (guest_pop(e, ev))
            return VEIL_EV_GUEST;
        if (e->tasks.count == 0) {
            placement_release(e);
            ev->kind = e->ring.used ? VEIL_EV_DRAIN : VEIL_EV_NONE;
            return ev->kind;
        }
        int status;
        int32_t tid = waitpid(-1, &status, __WALL);
        if (tid < 0) {
            if (errno == EINTR) {
                placement_tick(e, now_ns());
                continue;
            }
            if (errno == ECHILD) {
                /* nothing left to wait for: forget what we still track */
                tasks_free(&e->tasks);
                continue;
            }
            return -errno;
        }
        e->stats.stops++;
        if ((e->stats.stops & 7) == 0)
            placement_tick(e, now_ns());
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            on_gone(e, tid, status);
            continue;
        }
        if (!WIFSTOPPED(status))
            continue;
        struct task *t = tasks_find(&e->tasks, tid);
        if (!t) {
            /* a new child reporting before its parent's fork event */
            t = track(e, tid, tgid_of(tid), e->follow ? 0 : T_SILENT);
            if (!t)
                return -ENOMEM;
            if (e->guest_tasks > 0) { /* its parent may be a guest tracer's: wait for the event */
                t->stop_status = status;
                t->flags |= T_NEWBORN;
                continue;
            }
        }
        t->stop_status = status;
        int sig = WSTOPSIG(status);
        int event = (unsigned)status >> 16;
        int rc;
        if (sig == SYSCALL_TRAP)
            rc = on_syscall_stop(e, t, 0, ev);
        else if (event == PTRACE_EVENT_SECCOMP)
            rc = on_syscall_stop(e, t, 1, ev);
        else if (event != 0)
            rc = on_event_stop(e, t, event, sig);
        else
            rc = on_signal_stop(e, t, sig);
        if (rc < 0)
            return rc;
        if (rc > 0)
            return ev->kind;
    }
}

int veil_resume(struct veil_engine *e, int32_t tid, int verdict, int64_t value)
{
    struct task *t = tasks_find(&e->tasks, tid);
    if (!t || !(t->flags & T_HELD))
        return -ESRCH;
    t->flags &= ~T_HELD;
    int at_entry = (t->flags & T_IN_SYSCALL) != 0;
    switch (verdict) {
    case VEIL_V_ALLOW:
        break;
    case VEIL_V_DENY:
    case VEIL_V_EMULATE:
        if (!at_entry)
            return -EINVAL;
        return settle_at_entry(e, t, verdict == VEIL_V_DENY ? -value : value,
                               verdict == VEIL_V_DENY ? T_DENY : T_EMULATE, now_ns());
    case VEIL_V_SETRET:
        if (at_entry)
            return -EINVAL;
        if (veil_arch_set_return(tid, value) < 0)
            return -errno;
        break;
    case VEIL_V_KILL:
        kill(t->pid, SIGKILL);
        return 0;
    case VEIL_V_DETACH: {
        int32_t pid = t->pid;
        if (ptrace(PTRACE_DETACH, tid, 0L, 0L) < 0 && errno != ESRCH)
            return -errno;
        ring_event(e, VEIL_R_DETACHED, pid, tid, 0, 0, NULL, 0);
        untrack(e, tid);
        return 0;
    }
    default:
        return -EINVAL;
    }
    return resume_task(e, t, 0);
}

int veil_guest_trace(struct veil_engine *e, int32_t tid, int how)
{
    struct task *t = tasks_find(&e->tasks, tid);
    if (!t)
        return -ESRCH;
    if (how & VEIL_GT_TRACER) {
        t->flags |= T_GUEST_TRACER;
        return 0;
    }
    if (how && !(t->flags & T_GUEST)) {
        t->flags |= T_GUEST;
        e->guest_tasks++;
    } else if (!how && (t->flags & T_GUEST)) {
        t->flags &= ~(T_GUEST | T_GUEST_SYSCALL | T_GUEST_STEP | T_GUEST_PASS | T_GUEST_SECCOMP);
        e->guest_tasks--;
    }
    if (how & VEIL_GT_SECCOMP)
        t->flags |= T_GUEST_SECCOMP;
    else
        t->flags &= ~T_GUEST_SECCOMP;
    return 0;
}

void veil_guest_calls(struct veil_engine *e, int on)
{
    e->guest_calls = on;
}

int veil_guest_resume(struct veil_engine *e, int32_t tid, int how, int sig)
{
    struct task *t = tasks_find(&e->tasks, tid);
    if (!t || !(t->flags & T_HELD))
        return -ESRCH;
    t->flags &= ~(T_HELD | T_GUEST_SYSCALL | T_GUEST_STEP);
    if (how == VEIL_GR_SYSCALL)
        t->flags |= T_GUEST_SYSCALL;
    else if (how == VEIL_GR_STEP)
        t->flags |= T_GUEST_STEP;
    else if (how == VEIL_GR_DETACH)
        veil_guest_trace(e, tid, 0);
    if (how == VEIL_GR_LISTEN) {
        t->flags |= T_LISTENING;
        if (ptrace(PTRACE_LISTEN, t->tid, 0L, 0L) < 0 && errno != ESRCH)
            return -errno;
        return 0;
    }
    if (t->flags & T_GUEST)
        t->flags |= T_GUEST_PASS;
    int status = t->stop_status;
    if (WIFSTOPPED(status) && (status >> 16) == PTRACE_EVENT_SECCOMP && t->stop_op ==
        PTRACE_SYSCALL_INFO_SECCOMP) {
        /* the guest tracer saw the seccomp stop first: now veil's own work on it */
        if (sig)
            t->pending_sig = sig;
        struct veil_event ev;
        memset(&ev, 0, sizeof ev);
        int rc = on_syscall_stop(e, t, 1, &ev);
        if (rc > 0) {
            e->deferred = ev;
            e->has_deferred = 1;
        }
        return rc < 0 ? rc : 0;
    }
    return resume_task(e, t, sig);
}

/* Set a stopped thread's argument; the original comes back at the call's exit stop */
int set_arg(struct task *t, int idx, uint64_t value)
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

int veil_set_arg(struct veil_engine *e, int32_t tid, int idx, uint64_t value)
{
    struct task *t = tasks_find(&e->tasks, tid);
    if (!t || !(t->flags & T_HELD) || !(t->flags & T_IN_SYSCALL) || idx < 0 ||
        idx >= VEIL_MAX_ARGS)
        return -EINVAL;
    return set_arg(t, idx, value);
}
