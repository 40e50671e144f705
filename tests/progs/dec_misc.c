/* Decoding corpus: uname, prctl, arch_prctl, set_tid_address, getrandom,
 * prlimit64, sched_*, the id calls, futex, clock and time structs.
 * Deterministic (no timing-dependent values are printed).  Prints nothing. */
#define _GNU_SOURCE
#include <asm/prctl.h>
#include <linux/futex.h>
#include <sched.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>

int main(void)
{
    struct utsname u;
    uname(&u);
    syscall(SYS_uname, NULL);

    char name[16];
    prctl(PR_SET_NAME, "veil-dec");
    prctl(PR_GET_NAME, name);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    int sig = -1;
    prctl(PR_GET_PDEATHSIG, &sig);
    prctl(PR_SET_DUMPABLE, 1);
    prctl(PR_GET_DUMPABLE);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    prctl(PR_CAPBSET_READ, 0 /* CAP_CHOWN */);
    prctl(PR_SET_CHILD_SUBREAPER, 0);
    prctl(PR_GET_KEEPCAPS);
    prctl(PR_GET_CHILD_SUBREAPER, &sig);
    prctl(PR_SET_TIMERSLACK, 50000);
    prctl(0x7777, 1, 2, 3, 4);

    unsigned long fs = 0;
    syscall(SYS_arch_prctl, ARCH_GET_FS, &fs);
    syscall(SYS_arch_prctl, 0x9999, 0);
    syscall(SYS_set_tid_address, NULL);

    unsigned char rnd[4];
    getrandom(rnd, 0, GRND_NONBLOCK);
    getrandom(NULL, 4, GRND_RANDOM | GRND_NONBLOCK); /* EFAULT */

    struct rlimit rl, old;
    getrlimit(RLIMIT_STACK, &rl);
    rl.rlim_cur = 4 * 1024 * 1024;
    prlimit(0, RLIMIT_STACK, &rl, &old);
    prlimit(0, RLIMIT_CORE, NULL, &old);
    struct rlimit inf = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_CORE, &inf);
    prlimit(0, 99, NULL, &old);

    struct sched_param sp = {0};
    sched_getscheduler(0);
    sched_getparam(0, &sp);
    sched_setscheduler(0, SCHED_BATCH, &sp);
    sched_setscheduler(0, SCHED_OTHER, &sp);
    sched_get_priority_max(SCHED_FIFO);
    sched_get_priority_min(SCHED_RR);
    sched_yield();
    cpu_set_t cs;
    CPU_ZERO(&cs);
    CPU_SET(0, &cs);
    sched_setaffinity(0, sizeof cs, &cs);
    sched_setscheduler(0, 77, &sp);
    struct {
        uint32_t size, policy;
        uint64_t flags;
        int32_t nice;
        uint32_t prio;
        uint64_t runtime, deadline, period;
        uint32_t umin, umax;
    } attr = {0};
    syscall(SYS_sched_getattr, 0, &attr, sizeof attr, 0);
    attr.size = 48;
    attr.policy = SCHED_BATCH;
    attr.nice = 0;
    syscall(SYS_sched_setattr, 0, &attr, 0);
    syscall(SYS_sched_getattr, 0, &attr, 48, 0);
    attr.policy = SCHED_OTHER;
    syscall(SYS_sched_setattr, 0, &attr, 0);
    syscall(SYS_sched_setparam, 0, &sp);
    struct timespec rr;
    sched_rr_get_interval(0, &rr);

    getuid(); geteuid(); getgid(); getegid();
    uid_t r, e, s;
    getresuid(&r, &e, &s);
    gid_t gr, ge, gs;
    getresgid(&gr, &ge, &gs);
    setresuid(-1, -1, -1);
    setresgid(-1, -1, -1);
    setuid(getuid());
    setgid(getgid());
    setreuid(-1, -1);
    setregid(-1, -1);
    syscall(SYS_setfsuid, -1);
    syscall(SYS_setfsgid, -1);
    gid_t groups[4];
    int ng = getgroups(0, NULL);
    getgroups(ng < 4 ? ng : 4, groups);
    getpgrp();
    getpgid(0);
    getsid(0);
    setpgid(0, 0);
    getppid();

    uint32_t fut = 0;
    syscall(SYS_futex, &fut, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    syscall(SYS_futex, &fut, FUTEX_WAKE, INT32_MAX, NULL, NULL, 0);
    struct timespec ft = {0, 0};
    syscall(SYS_futex, &fut, FUTEX_WAIT_PRIVATE, 1, &ft, NULL, 0); /* EAGAIN: value is 0 */
    syscall(SYS_futex, &fut, FUTEX_WAIT, 0, &ft, NULL, 0);         /* ETIMEDOUT */
    syscall(SYS_futex, &fut, FUTEX_WAIT_BITSET_PRIVATE | FUTEX_CLOCK_REALTIME, 1, NULL, NULL,
            FUTEX_BITSET_MATCH_ANY);
    uint32_t fut2 = 0;
    syscall(SYS_futex, &fut, FUTEX_CMP_REQUEUE_PRIVATE, 1, 2, &fut2, 0);
    syscall(SYS_futex, &fut, FUTEX_WAKE_OP_PRIVATE, 1, 1, &fut2,
            FUTEX_OP(FUTEX_OP_ADD, 1, FUTEX_OP_CMP_GT, 0));
    syscall(SYS_futex, &fut, FUTEX_REQUEUE, 1, 1, &fut2, 0);
    syscall(SYS_futex, &fut, 99, 1, NULL, NULL, 0);

    struct timespec res;
    clock_getres(CLOCK_MONOTONIC, &res);
    struct timespec sl = {0, 1};
    nanosleep(&sl, NULL);
    clock_nanosleep(CLOCK_MONOTONIC, 0, &sl, NULL);
    struct timespec past = {1, 0};
    clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &past, NULL);
    syscall(SYS_clock_gettime, 12345, NULL);
    umask(022);
    umask(027);
    return 0;
}
