/* x86_64 register access.  The only file that knows user_regs_struct. */
#include <errno.h>
#include <stddef.h>
#include <sys/ptrace.h>
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
