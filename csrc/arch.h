/* Per-architecture register access used by the loop (see arch_*.c). */
#ifndef VEIL_ARCH_H
#define VEIL_ARCH_H

#include <stdint.h>
#include <sys/types.h>

/* audit arch of the tracer's own ABI and of the compat ABIs we recognise */
uint32_t veil_arch_native_audit(void);
/* map an audit arch + nr to VEIL_ARCH_*; strips the x32 bit from *nr */
int veil_arch_classify(uint32_t audit_arch, int64_t *nr);

/* Turn the current syscall into a no-op (at entry): the kernel then returns -ENOSYS
   unless the return value is set at exit. */
int veil_arch_skip_syscall(pid_t tid);
int veil_arch_set_return(pid_t tid, int64_t value);
int veil_arch_set_arg(pid_t tid, int idx, uint64_t value);
/* at a seccomp stop: make it another call; at its exit stop: the caller's again */
int veil_arch_set_nr(pid_t tid, int64_t nr);
/* at an exit stop: the thread makes call nr again (with its registers) once resumed */
int veil_arch_restart(pid_t tid, int64_t nr);
/* at a syscall-exit stop: run syscall nr(args) in the thread, registers kept */
int veil_arch_inject_syscall(pid_t tid, long nr, const uint64_t args[6], int64_t *result,
                             int *pending_sig, int *gone_status);

/* at a seccomp stop: run syscall nr(args) instead, then leave the thread about to
   make its own call again (it stops at that call's entry once resumed) */
int veil_arch_replace_and_restart(pid_t tid, long nr, const uint64_t args[6], int64_t *result,
                                  int *pending_sig, int *gone_status);

/* a system call made without glibc (no errno, no TLS): its result, or -errno */
long veil_arch_raw_syscall(long nr, long a, long b, long c, long d, long e);

#endif
