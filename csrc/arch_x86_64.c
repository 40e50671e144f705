/* x86_64 register access.  The only file that knows user_regs_struct. */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/user.h>
#include <linux/audit.h>

#include "arch.h"
#include "engine.h"

#define X32_SYSCALL_BIT 0x40000000

uint32_t veil_arch_native_audit(void)
{
    return AUDIT_ARCH_X86_64;
}

int veil_arch_classify(uint32_t audit_arch, int64_t *nr)
{
    if (audit_arch == AUDIT_ARCH_I386)
        return VEIL_ARCH_I386;
    if (audit_arch == AUDIT_ARCH_X86_64 && (*nr & X32_SYSCALL_BIT)) {
        *nr &= ~(int64_t)X32_SYSCALL_BIT;
        return VEIL_ARCH_X32;
    }
    return VEIL_ARCH_X86_64;
}

/* orig_rax is the syscall number the kernel dispatches on; -1 matches no
   syscall, so the kernel skips it and leaves rax (-ENOSYS) as the result. */
int veil_arch_skip_syscall(pid_t tid)
{
    if (ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, orig_rax), -1L) < 0)
        return -errno;
    return 0;
}

int veil_arch_set_return(pid_t tid, int64_t value)
{
    if (ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, rax), value) < 0)
        return -errno;
    return 0;
}

/* At a seccomp stop the tracer may change the call (seccomp(2): the filters are
   run again on the new one, where RET_TRACE then allows it).  At the exit stop,
   putting the old number back makes a restarted call (-ERESTARTSYS) the old one. */
int veil_arch_set_nr(pid_t tid, int64_t nr)
{
    if (ptrace(PTRACE_POKEUSER, tid, offsetof(struct user_regs_struct, orig_rax), nr) < 0)
        return -errno;
    return 0;
}

/* At a syscall-exit stop: make the thread run call nr again once resumed (rip back
   over the 2-byte `syscall` instruction, the number in rax and orig_rax). */
int veil_arch_restart(pid_t tid, int64_t nr)
{
    struct user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, 0L, &regs) < 0)
        return -errno;
    regs.rip -= 2;
    regs.rax = regs.orig_rax = (unsigned long long)nr;
    if (ptrace(PTRACE_SETREGS, tid, 0L, &regs) < 0)
        return -errno;
    return 0;
}

/* the x86_64 syscall argument registers, in order */
static const size_t arg_offsets[6] = {
    offsetof(struct user_regs_struct, rdi), offsetof(struct user_regs_struct, rsi),
    offsetof(struct user_regs_struct, rdx), offsetof(struct user_regs_struct, r10),
    offsetof(struct user_regs_struct, r8),  offsetof(struct user_regs_struct, r9),
};

int veil_arch_set_arg(pid_t tid, int idx, uint64_t value)
{
    if (idx < 0 || idx > 5)
        return -EINVAL;
    if (ptrace(PTRACE_POKEUSER, tid, arg_offsets[idx], value) < 0)
        return -errno;
    return 0;
}

/* Let the thread run with regs (nr, args) until `stops` syscall stops, then read
   the result.  Signals that stop it meanwhile go to *pending_sig (delivered by the
   caller); a death gives -ESRCH and *gone_status. */
static int run_call(pid_t tid, struct user_regs_struct regs, long nr, const uint64_t args[6],
                    int stops, int64_t *result, int *pending_sig, int *gone_status)
{
    regs.orig_rax = (unsigned long long)nr;
    regs.rdi = args[0], regs.rsi = args[1], regs.rdx = args[2];
    regs.r10 = args[3], regs.r8 = args[4], regs.r9 = args[5];
    if (ptrace(PTRACE_SETREGS, tid, 0L, &regs) < 0)
        return -errno;
    for (int seen = 0; seen < stops;) {
        if (ptrace(PTRACE_SYSCALL, tid, 0L, 0L) < 0)
            return -errno;
        int status;
        /* EINTR: veil's flush timer or a forwarded signal, whose handlers only
           set flags.  Giving up here would leave the thread running our call
           while the loop takes it for still stopped at its own (seen: a
           process's first path call under a layout failing now and then) */
        pid_t w;
        while ((w = waitpid(tid, &status, __WALL)) < 0 && errno == EINTR)
            ;
        if (w < 0)
            return -errno;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            *gone_status = status;
            return -ESRCH;
        }
        if (WIFSTOPPED(status) && WSTOPSIG(status) == (SIGTRAP | 0x80))
            seen++;
        else if (WIFSTOPPED(status) && (status >> 16) == 0 && !*pending_sig)
            *pending_sig = WSTOPSIG(status); /* delivered once we are done */
    }
    if (ptrace(PTRACE_GETREGS, tid, 0L, &regs) < 0)
        return -errno;
    *result = (int64_t)regs.rax;
    return 0;
}

/*
 * Run one syscall in a thread held at a syscall-exit stop, then put every
 * register back: rip is moved back over the 2-byte `syscall` instruction
 * the thread just returned from, so it executes it again with our number
 * and arguments (an entry stop, then an exit stop).
 */
int veil_arch_inject_syscall(pid_t tid, long nr, const uint64_t args[6], int64_t *result,
                             int *pending_sig, int *gone_status)
{
    struct user_regs_struct saved, regs;
    if (ptrace(PTRACE_GETREGS, tid, 0L, &saved) < 0)
        return -errno;
    regs = saved;
    regs.rax = (unsigned long long)nr;
    regs.rip -= 2;
    int rc = run_call(tid, regs, nr, args, 2, result, pending_sig, gone_status);
    if (rc < 0)
        return rc;
    if (ptrace(PTRACE_SETREGS, tid, 0L, &saved) < 0)
        return -errno;
    return 0;
}

/*
 * At a seccomp stop: run syscall nr(args) in place of the one the thread is
 * entering, then set the thread up to make its own call again: rip goes back
 * over the `syscall` instruction with the caller's number in rax, so once
 * resumed it stops at that call's seccomp stop anew.  Resuming from a seccomp
 * stop with PTRACE_SYSCALL gives the exit stop of the call (the entry stop
 * came first; ptrace(2), "Syscall-stops").
 */
int veil_arch_replace_and_restart(pid_t tid, long nr, const uint64_t args[6], int64_t *result,
                                  int *pending_sig, int *gone_status)
{
    struct user_regs_struct saved;
    if (ptrace(PTRACE_GETREGS, tid, 0L, &saved) < 0)
        return -errno;
    int rc = run_call(tid, saved, nr, args, 1, result, pending_sig, gone_status);
    if (rc < 0)
        return rc;
    saved.rip -= 2;
    saved.rax = saved.orig_rax;
    if (ptrace(PTRACE_SETREGS, tid, 0L, &saved) < 0)
        return -errno;
    return 0;
}

long veil_arch_raw_syscall(long nr, long a, long b, long c, long d, long e)
{
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8)
                     : "rcx", "r11", "memory");
    return ret;
}
