/*
 * The traced program's process, up to its execve(2).
 *
 * fork(2) copies the page tables of veil's ~15 MB of Python and write-protects
 * every page of it: the fork, then a fault at the first write to each page
 * afterwards, cost ~2 ms of a short run (more on a VM, where faults are dear).
 * Unless the child needs a process of its own (needs_fork), it is made as
 * posix_spawn(3) makes its children: clone(2) with CLONE_VM, on a stack of its
 * own.  Unlike posix_spawn's there is no CLONE_VFORK: the tracer thread must go
 * on and PTRACE_SEIZE the child before it goes on.  Until its execve the child
 * shares veil's memory with the threads that keep running, so it
 *   - writes only to its own mapping (struct child below, its copies of argv,
 *     the environment and the paths, and its stack), and reads that and the
 *     engine's settings (veil_free kills it first if it has not exec'd yet);
 *   - makes raw system calls: glibc's wrappers write errno, which lives in the
 *     tracer thread's TLS (the child has no TLS of its own);
 *   - starts with every signal blocked and sets each caught one back to SIG_DFL
 *     before it unblocks them: a handler of veil's must not run in it.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/filter.h>
#include <linux/seccomp.h>

#include "arch.h"
#include "internal.h"

#define CHILD_STACK (64 * 1024)

struct child {
    struct veil_engine *e;
    const char *path;
    char **argv;
    char **envp;
    const char *cwd;
    int go_rd, go_wr, err_rd, err_wr, ns_ready_wr, ns_mapped_rd;
    uint64_t mask;         /* the signal mask the program starts with */
};

/* the kernel's struct sigaction (rt_sigaction(2)), not glibc's */
struct ksigaction {
    unsigned long handler;
    unsigned long flags;
    unsigned long restorer;
    uint64_t mask;
};

static long sys(long nr, long a, long b, long c, long d)
{
    return veil_arch_raw_syscall(nr, a, b, c, d, 0);
}

static __attribute__((noreturn)) void child_fail(const struct child *c, long err)
{
    int value = (int)err;
    sys(SYS_write, c->err_wr, (long)&value, sizeof value, 0);
    for (;;)
        sys(SYS_exit_group, 127, 0, 0, 0);
}

/* Every caught signal back to SIG_DFL (execve would do it, but a signal may come
   before), and the ignored SIGPIPE and SIGXFSZ too: Python ignores them, a
   program started from a shell would not. */
static void default_handlers(void)
{
    for (long sig = 1; sig <= 64; sig++) {
        struct ksigaction old, dfl = {(unsigned long)SIG_DFL, 0, 0, 0};
        if (sig == SIGKILL || sig == SIGSTOP
            || sys(SYS_rt_sigaction, sig, 0, (long)&old, sizeof old.mask) < 0)
            continue;
        int ignored_by_python = sig == SIGPIPE || sig == SIGXFSZ;
        if (old.handler == (unsigned long)SIG_DFL
            || (old.handler == (unsigned long)SIG_IGN && !ignored_by_python))
            continue;
        sys(SYS_rt_sigaction, sig, (long)&dfl, 0, sizeof dfl.mask);
    }
}

static long install_filter(const struct veil_engine *e)
{
    struct sock_fprog prog = {(unsigned short)e->prog_len, (struct sock_filter *)e->prog};
    /* Without CAP_SYS_ADMIN the kernel insists on no_new_privs, which means a
       setuid program run under veil will not gain its privileges. */
    long rc = sys(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (long)&prog, 0);
    if (rc != -EACCES)
        return rc;
    rc = sys(SYS_prctl, PR_SET_NO_NEW_PRIVS, 1, 0, 0);
    return rc < 0 ? rc : sys(SYS_prctl, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, (long)&prog, 0);
}

static int child_main(void *arg)
{
    const struct child *c = arg;
    const struct veil_engine *e = c->e;
    char go;
    long rc;
    default_handlers();
    sys(SYS_rt_sigprocmask, SIG_SETMASK, (long)&c->mask, 0, sizeof c->mask);
    sys(SYS_close, c->go_wr, 0, 0, 0);
    sys(SYS_close, c->err_rd, 0, 0, 0);
    if (sys(SYS_read, c->go_rd, (long)&go, 1, 0) != 1)
        for (;;)
            sys(SYS_exit_group, 127, 0, 0, 0);
    /* a new 0, 1 or 2 that is one of the others: moved above 2 first, so that
       placing one does not overwrite another still to be placed */
    long fds[3];
    for (int i = 0; i < 3; i++) {
        fds[i] = e->stdio[i];
        if (fds[i] >= 0 && fds[i] < 3 && fds[i] != i
            && (fds[i] = sys(SYS_fcntl, fds[i], F_DUPFD_CLOEXEC, 3, 0)) < 0)
            child_fail(c, -fds[i]);
    }
    for (int i = 0; i < 3; i++)
        if (fds[i] >= 0 && fds[i] != i && (rc = sys(SYS_dup3, fds[i], i, 0, 0)) < 0)
            child_fail(c, -rc);
    if (e->mountns.on) { /* a forked child (needs_fork): libc calls, errno its own */
        int step;
        int failed = mountns_enter((struct veil_engine *)e, c->cwd, c->ns_ready_wr,
                                   c->ns_mapped_rd, &step);
        if (failed < 0)
            child_fail(c, -failed | VEIL_SPAWN_MOUNTNS | ((step + 1) << VEIL_SPAWN_STEP_SHIFT));
    } else if ((rc = identity_child_mounts(e)) < 0
               || (c->cwd && (rc = sys(SYS_chdir, (long)c->cwd, 0, 0, 0)) < 0)) {
        child_fail(c, -rc);
    }
    if (e->child_umask >= 0)
        sys(SYS_umask, e->child_umask, 0, 0, 0);
    for (int i = 0; i < e->nlimits; i++) {
        struct rlimit rl = {e->limits[i].soft, e->limits[i].hard};
        if ((rc = sys(SYS_prlimit64, 0, e->limits[i].resource, (long)&rl, 0)) < 0)
            child_fail(c, -rc);
    }
    if ((rc = ids_apply(e)) < 0)
        child_fail(c, -rc);
    if (e->prog && (rc = install_filter(e)) < 0)
        child_fail(c, -rc);
    if ((rc = caps_apply(e)) < 0) /* after the filter: it may need CAP_SYS_ADMIN */
        child_fail(c, -rc);
    /* Without the filter no stop comes before the execve ends: a SIGSTOP first, which
       veil suppresses and from which it resumes the child to its next syscall (T_EXECS_NEXT).
       The init of a pid namespace of its own would not get it (pid_namespaces(7)). */
    if (!e->use_seccomp && !(e->mountns.on && e->mountns.pidns))
        sys(SYS_kill, sys(SYS_getpid, 0, 0, 0, 0), SIGSTOP, 0, 0);
    rc = sys(SYS_execve, (long)c->path, (long)c->argv, (long)c->envp, 0);
    if (rc == -ENOEXEC) {
        /* a command file without #!: run by the shell, as execvp and PRoot do */
        int argc = 0;
        while (c->argv[argc])
            argc++;
        char *shell_argv[argc + 3];
        shell_argv[0] = (char *)"/bin/sh";
        shell_argv[1] = (char *)c->path;
        for (int i = 1; i < argc; i++)
            shell_argv[i + 1] = c->argv[i];
        shell_argv[argc > 0 ? argc + 1 : 2] = NULL;
        if (sys(SYS_execve, (long)"/bin/sh", (long)shell_argv, (long)c->envp, 0) < 0)
            rc = -ENOEXEC;
    }
    child_fail(c, -rc);
}

/* The bytes of the strings of `strv` (their count in *count) */
static size_t strv_bytes(char *const strv[], int *count)
{
    size_t size = 0;
    int n = 0;
    for (; strv[n]; n++)
        size += strlen(strv[n]) + 1;
    *count = n;
    return size;
}

static char *str_copy(const char *s, char **at)
{
    size_t len = strlen(s) + 1;
    char *out = memcpy(*at, s, len);
    *at += len;
    return out;
}

/* out[] (n + 1 pointers) points at copies of strv's strings, made at *at */
static void strv_copy(char *const strv[], int n, char **out, char **at)
{
    for (int i = 0; i < n; i++)
        out[i] = str_copy(strv[i], at);
    out[n] = NULL;
}

/* Linux before 5.16 kills every process that shares the memory of one that dumps
   core (a SIGQUIT from the terminal before the child's execve would end veil too) */
static int old_kernel(void)
{
    static int old = -1;
    if (old < 0) {
        struct utsname u;
        int major = 0, minor = 0;
        old = uname(&u) < 0 || sscanf(u.release, "%d.%d", &major, &minor) != 2
              || major < 5 || (major == 5 && minor < 16);
    }
    return old;
}

/* Whether the child needs a process of its own until its execve (see the top):
   the mount engine's namespaces (mountns.c makes them with libc's calls); new ids
   (the kernel makes the memory of a task whose euid changes not dumpable: veil's
   too, if shared); the ptrace layout engine (it maps its scratch area into the
   child at its first execve's stop: into veil, if shared) */
static int needs_fork(const struct veil_engine *e)
{
    return e->mountns.on || e->run_as || e->layout.active || e->spawn_mem != NULL
           || old_kernel();
}

pid_t spawn_child(struct veil_engine *e, const struct spawn_spec *s)
{
    struct child local = {e, s->path, (char **)s->argv, (char **)s->envp, s->cwd,
                          s->go[0], s->go[1], s->err[0], s->err[1], s->ns_ready[1],
                          s->ns_mapped[0], 0};
    sigset_t all, old;
    sigfillset(&all);
    /* the child starts with every signal blocked (child_main unblocks them) */
    int rc = pthread_sigmask(SIG_BLOCK, &all, &old);
    if (rc != 0)
        return -rc;
    memcpy(&local.mask, &old, sizeof local.mask);
    pid_t pid;
    if (needs_fork(e)) {
        /* a pid namespace is made with its user namespace, at the fork (clone(2)) */
        pid = e->mountns.on && e->mountns.pidns
                  ? (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWPID | SIGCHLD, 0, 0, 0, 0)
                  : fork();
        if (pid == 0)
            child_main(&local);
    } else {
        int argc, envc;
        size_t strings = strv_bytes(s->argv, &argc) + strv_bytes(s->envp, &envc)
                         + strlen(s->path) + 1 + (s->cwd ? strlen(s->cwd) + 1 : 0);
        size_t vectors = (size_t)(argc + 1 + envc + 1) * sizeof(char *);
        /* the stack also holds the shell's argv of a command file without #! */
        size_t size = (sizeof local + vectors + strings + CHILD_STACK
                       + (size_t)(argc + 3) * sizeof(char *) + 4095) & ~(size_t)4095;
        char *mem = mmap(NULL, size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
        if (mem == MAP_FAILED) {
            int saved = errno;
            pthread_sigmask(SIG_SETMASK, &old, NULL);
            return -saved;
        }
        /* the child, its vectors, then the strings (the mapping is page-aligned) */
        struct child *c = (struct child *)mem;
        *c = local;
        c->argv = (char **)(mem + sizeof *c);
        c->envp = c->argv + argc + 1;
        char *at = (char *)(c->envp + envc + 1);
        c->path = str_copy(s->path, &at);
        c->cwd = s->cwd ? str_copy(s->cwd, &at) : NULL;
        strv_copy(s->argv, argc, c->argv, &at);
        strv_copy(s->envp, envc, c->envp, &at);
        /* the stack grows down to the strings; x86_64's ABI wants it 16-aligned */
        char *top = (char *)(((uintptr_t)(mem + size)) & ~(uintptr_t)15);
        pid = clone(child_main, top, CLONE_VM | SIGCHLD, c);
        if (pid > 0) {
            e->spawn_mem = mem;
            e->spawn_mem_size = size;
            e->spawn_pid = pid;
        } else {
            int saved = errno;
            munmap(mem, size);
            errno = saved;
        }
    }
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return pid < 0 ? -saved : pid;
}

int spawn_probe(int (*fn)(void *), void *arg)
{
    /* the caller is suspended until the child ends (CLONE_VFORK): its stack here */
    char stack[16384] __attribute__((aligned(16)));
    sigset_t all, old;
    sigfillset(&all);
    int rc = pthread_sigmask(SIG_BLOCK, &all, &old);
    if (rc != 0)
        return -rc;
    pid_t pid = clone(fn, stack + sizeof stack, CLONE_VM | CLONE_VFORK | SIGCHLD, arg);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (pid < 0)
        return -saved;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -ECHILD;
}

void spawn_execd(struct veil_engine *e, pid_t pid)
{
    if (pid == e->spawn_pid)
        e->spawn_pid = 0;
}

void spawn_free(struct veil_engine *e)
{
    if (e->spawn_pid > 0) {
        /* still before its execve (veil ends early): it reads the engine and the
           mapping freed next, so it ends first */
        kill(e->spawn_pid, SIGKILL);
        while (waitpid(e->spawn_pid, NULL, __WALL) < 0 && errno == EINTR)
            ;
        e->spawn_pid = 0;
    }
    if (e->spawn_mem)
        munmap(e->spawn_mem, e->spawn_mem_size);
    e->spawn_mem = NULL;
}
