/*
 * strace-style text lines for the common fixed-shape calls, formatted from the
 * ring records in C (textfmt.c).  Python (veil.output.textfast) compiles each
 * syscall's plan from the syscall table's argument kinds and fills the texts
 * that depend on one value only (flag sets, enums, errno results, st_mode) as
 * the Python decoders print them; anything else is handed back to Python.
 * Besides calls, C writes the lines of SIGCHLD and of a task's end, and
 * formats an execve across its exec event and a fork across its new task's.
 */
#ifndef VEIL_TEXTFMT_H
#define VEIL_TEXTFMT_H

#include <stddef.h>
#include <stdint.h>

/* plan ops: one per printed argument */
#define VEIL_TF_INT     1  /* s32 */
#define VEIL_TF_UINT    2  /* u32 */
#define VEIL_TF_LONG    3  /* s64 */
#define VEIL_TF_ULONG   4  /* u64 */
#define VEIL_TF_HEX     5  /* 0 or 0x... */
#define VEIL_TF_PTR     6  /* NULL or 0x... */
#define VEIL_TF_FD      7  /* s32, AT_FDCWD */
#define VEIL_TF_MODE    8  /* %#03o of u32 */
#define VEIL_TF_PATH    9  /* quoted capture, whole */
#define VEIL_TF_STR    10  /* quoted capture, cut at strsize */
#define VEIL_TF_INBUF  11  /* quoted capture of count bytes */
#define VEIL_TF_OUTBUF 12  /* quoted capture of ret bytes */
#define VEIL_TF_MEMO   13  /* text of (nr, arg, value) from the memo */
#define VEIL_TF_ARGV   14  /* ["a", "b"] */
#define VEIL_TF_ENVP   15  /* 0x... / * N vars * / */
#define VEIL_TF_STAT   16  /* {st_mode=..., st_size=N, ...} */
#define VEIL_TF_MODE_IF_CREAT 17 /* mode, only if the flags argument (param) creates */
#define VEIL_TF_RLIMIT     18 /* {rlim_cur=..., rlim_max=...} read from the capture */
#define VEIL_TF_OUT_RLIMIT 19 /* the same, written by the call: its address if it failed */
#define VEIL_TF_WSTATUS    20 /* wait4's status: [text of the memo's (nr, arg, status)] */
#define VEIL_TF_NULL       21 /* NULL; anything else is printed by Python */
#define VEIL_TF_ARCH_ADDR  22 /* arch_prctl's addr, as its code (argument param) says */
#define VEIL_TF_CLONE      23 /* clone's named arguments (x86_64 order) */
#define VEIL_TF_STATX      24 /* {stx_mask=..., stx_attributes=..., stx_mode=..., stx_size=N, ...} */

/* result kinds */
#define VEIL_TF_RET_INT  1
#define VEIL_TF_RET_HEX  2
#define VEIL_TF_RET_FD   3
#define VEIL_TF_RET_NONE 4

/* the memo's nr for signal lines (no syscall has it): slot 0 a signal's name, slot 1
   a SIGCHLD si_code */
#define VEIL_TF_NR_SIGNAL 1023
#define VEIL_TF_SLOT_SIGNAME 0
#define VEIL_TF_SLOT_CLD_CODE 1

/* memo slots beyond the argument indexes */
#define VEIL_TF_SLOT_STX_MASK 252  /* value: a statx result's stx_mask */
#define VEIL_TF_SLOT_STX_ATTRS 253 /* value: its stx_attributes */
#define VEIL_TF_SLOT_ERRNO 254 /* value: the result (-errno) */
#define VEIL_TF_SLOT_FMODE 255 /* value: st_mode */

/* veil_tf_run's status */
#define VEIL_TF_END      0  /* every record up to end formatted */
#define VEIL_TF_PYTHON   1  /* the record at *pos is for Python */
#define VEIL_TF_MISS     2  /* a memo text is missing: *miss_nr, *miss_slot, *miss_value */
#define VEIL_TF_FULL     3  /* out is full: write it out and call again */
#define VEIL_TF_NOPLAN   4  /* no plan yet for *miss_nr: give one (or VEIL_TF_NONE) */
#define VEIL_TF_EVENT    5  /* lines up to *pos written; the task event at offset *miss_value */
/* (a new task, or an end) wants Python's bookkeeping, not its line */
#define VEIL_TF_ADOPT    6  /* the record at *pos is for Python and touches the call C */
/* cut for thread *miss_nr: Python takes the call over first (veil_tf_take) */

#define VEIL_TF_NONE   255  /* veil_tf_plan's nops for a call Python prints */
#define VEIL_TF_NO_SPLIT 255 /* veil_tf_plan's split for a call whose cut Python writes */

/* prefix modes */
#define VEIL_TF_PREFIX_NONE 0
#define VEIL_TF_PREFIX_TID  1  /* "1234  " (-o with -f) */
#define VEIL_TF_PREFIX_PID  2  /* "[pid  1234] " */

struct veil_tf;

struct veil_tf *veil_tf_new(int strsize, int column, int quiet);
void veil_tf_free(struct veil_tf *tf);
int veil_tf_plan(struct veil_tf *tf, int nr, const char *name, int nops, const uint8_t *ops,
                 const uint8_t *argidx, const uint8_t *params, int ret_kind, int split);
/* The call C cut for thread tid: the size of its ENTER record (0: none), and the
   record itself, which C then forgets (Python finishes the call); 0, or -1. */
size_t veil_tf_open_size(const struct veil_tf *tf, int32_t tid);
int veil_tf_take(struct veil_tf *tf, int32_t tid, uint8_t *out, size_t cap);
int veil_tf_memo(struct veil_tf *tf, int nr, int slot, uint64_t value, const char *text);
int veil_tf_run(struct veil_tf *tf, const uint8_t *buf, size_t *pos, size_t end,
                int prefix_mode, const int32_t *blocked, int nblocked,
                char *out, size_t outcap, size_t *outlen,
                int *miss_nr, int *miss_slot, uint64_t *miss_value);

#endif
