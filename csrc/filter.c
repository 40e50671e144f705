/*
 * veil's own seccomp program, run again by veil at each seccomp stop.
 *
 * The kernel runs every filter of the thread's stack and keeps the most
 * restrictive action; between two SECCOMP_RET_TRACE results it keeps the one
 * of the newest filter (kernel/seccomp.c, seccomp_run_filters: "<" keeps the
 * first of equal actions, newest first).  A program that stacks its own
 * filter can thus make the kernel report veil's TRACE stop with the data of
 * its own filter, or stop a call veil's filter lets pass.  So the data of a
 * stop is never trusted: veil runs its own program (the one Python compiled
 * and veil installed) on the call's seccomp_data and acts on that result.
 *
 * Only the classic BPF veil's compiler emits is understood; anything else
 * (or a jump out of the program) gives SECCOMP_RET_KILL_PROCESS.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <linux/filter.h>
#include <sys/ptrace.h>
#include <linux/seccomp.h>

#include "internal.h"

int filter_keep(struct veil_engine *e, const void *bpf, uint32_t len)
{
    free(e->prog);
    e->prog = NULL;
    e->prog_len = 0;
    if (!bpf || !len)
        return 0;
    e->prog = malloc((size_t)len * sizeof(struct sock_filter));
    if (!e->prog)
        return -ENOMEM;
    memcpy(e->prog, bpf, (size_t)len * sizeof(struct sock_filter));
    e->prog_len = len;
    return 0;
}

void filter_free(struct veil_engine *e)
{
    free(e->prog);
    e->prog = NULL;
    e->prog_len = 0;
}

/* struct seccomp_data as 32-bit words: nr, arch, ip (2), args (12) */
static void data_words(const struct __ptrace_syscall_info *si, uint32_t w[16])
{
    w[0] = (uint32_t)si->seccomp.nr;
    w[1] = si->arch;
    w[2] = (uint32_t)si->instruction_pointer;
    w[3] = (uint32_t)(si->instruction_pointer >> 32);
    for (int i = 0; i < 6; i++) {
        w[4 + 2 * i] = (uint32_t)si->seccomp.args[i];
        w[5 + 2 * i] = (uint32_t)(si->seccomp.args[i] >> 32);
    }
}

uint32_t filter_run(const struct veil_engine *e, const struct __ptrace_syscall_info *si)
{
    const struct sock_filter *p = e->prog;
    uint32_t w[16], a = 0;
    if (!p)
        return SECCOMP_RET_ALLOW;
    data_words(si, w);
    for (uint32_t pc = 0; pc < e->prog_len; pc++) {
        const struct sock_filter *f = &p[pc];
        uint32_t skip;
        switch (f->code) {
        case BPF_LD | BPF_W | BPF_ABS:
            if (f->k % 4 || f->k / 4 >= 16)
                return SECCOMP_RET_KILL_PROCESS;
            a = w[f->k / 4];
            continue;
        case BPF_ALU | BPF_AND | BPF_K:
            a &= f->k;
            continue;
        case BPF_RET | BPF_K:
            return f->k;
        case BPF_JMP | BPF_JA:
            skip = f->k;
            break;
        case BPF_JMP | BPF_JEQ | BPF_K:
            skip = a == f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGT | BPF_K:
            skip = a > f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JGE | BPF_K:
            skip = a >= f->k ? f->jt : f->jf;
            break;
        case BPF_JMP | BPF_JSET | BPF_K:
            skip = (a & f->k) ? f->jt : f->jf;
            break;
        default:
            return SECCOMP_RET_KILL_PROCESS;
        }
        if (skip >= e->prog_len - pc)
            return SECCOMP_RET_KILL_PROCESS;
        pc += skip;
    }
    return SECCOMP_RET_KILL_PROCESS; /* fell off the end */
}
