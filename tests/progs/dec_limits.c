/* Decoding corpus: the calls the text trace's C formatter prints with ops of
 * their own (tests/test_textfast.py): rlimits (set, read, infinite, multiples
 * of 1024, failures), arch_prctl codes, wait4 statuses and options, and clone
 * with the flags that name more arguments.  Each child is reaped after a
 * pause, so its wait4 is one line whatever the timing. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static void pause_a_little(void)
{
    struct timespec ts = {0, 30 * 1000 * 1000};
    nanosleep(&ts, NULL);
}

static void reap(pid_t p, int options)
{
    int st;
    pause_a_little();
    syscall(SYS_wait4, p, &st, options, NULL);
}

int main(void)
{
    struct rlimit old, set;
    syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, &old);
    set = old;
    syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, &set, &old);
    set.rlim_cur = 8 * 1024 * 1024;
    set.rlim_max = RLIM_INFINITY;
    syscall(SYS_prlimit64, 0, RLIMIT_STACK, NULL, &old);
    syscall(SYS_prlimit64, 0, RLIMIT_CORE, NULL, &old);
    syscall(SYS_prlimit64, 0, RLIMIT_NPROC, NULL, &old);
    syscall(SYS_prlimit64, 0, 99, NULL, &old);                    /* EINVAL */
    syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, NULL, (void *)8);    /* EFAULT */
    syscall(SYS_prlimit64, 0, RLIMIT_NOFILE, (void *)8, NULL);    /* EFAULT */
    syscall(SYS_getrlimit, RLIMIT_DATA, &old);
    syscall(SYS_setrlimit, RLIMIT_DATA, &old);
    syscall(SYS_setrlimit, RLIMIT_DATA, NULL);                    /* EFAULT */
    syscall(SYS_getrlimit, RLIMIT_AS, (void *)8);                 /* EFAULT */

    unsigned long fs = 0, gs = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    syscall(SYS_arch_prctl, ARCH_GET_GS, &gs);
    syscall(SYS_arch_prctl, ARCH_SET_FS, fs);
    syscall(SYS_arch_prctl, ARCH_GET_FS, (void *)8);              /* EFAULT */
    syscall(SYS_arch_prctl, ARCH_GET_CPUID, 0);
    syscall(SYS_arch_prctl, 0x9999, 0x1234);                      /* EINVAL */

    pid_t p = fork();
    if (p == 0)
        _exit(3);
    reap(p, 0);
    p = fork();
    if (p == 0) {
        pause();
        _exit(0);
    }
    kill(p, SIGKILL);
    reap(p, __WALL);
    p = fork();
    if (p == 0) {
        raise(SIGSTOP);
        _exit(0);
    }
    reap(p, WUNTRACED);
    kill(p, SIGCONT);
    reap(p, WCONTINUED);
    kill(p, SIGKILL);
    reap(p, 0);
    int st;
    syscall(SYS_wait4, -1, &st, WNOHANG, NULL);                   /* ECHILD */
    syscall(SYS_wait4, -1, NULL, WNOHANG, NULL);
    struct rusage ru;
    p = fork();
    if (p == 0)
        _exit(0);
    pause_a_little();
    syscall(SYS_wait4, p, &st, 0, &ru);                           /* rusage: Python's */

    pid_t ptid = 0;
    p = syscall(SYS_clone, CLONE_PARENT_SETTID | SIGCHLD, 0, &ptid, 0, 0);
    if (p == 0)
        _exit(0);
    reap(p, 0);
    p = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (p == 0)
        _exit(0);
    reap(p, 0);
    pid_t ctid = 0;
    p = syscall(SYS_clone, CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | CLONE_SETTLS | SIGCHLD,
                0, 0, &ctid, fs);                                 /* the same TLS */
    if (p == 0)
        _exit(0);
    reap(p, 0);
    syscall(SYS_clone, CLONE_SIGHAND | CLONE_PARENT_SETTID | SIGCHLD, 0, &ptid, 0, 0); /* EINVAL */
    return 0;
}
