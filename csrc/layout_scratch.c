/*
 * Where a call's rewritten arguments go in the tracee: veil's read-only
 * scratch area (mapped in each process before its first translated call), or
 * below the stack pointer; and the guard that keeps the area as veil mapped it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch.h"
#include "layout.h"

#define SCRATCH_MAX (256u * 1024u) /* how far below sp new strings may go */
#define SCRATCH_SLOTS 128
#define SLOT_BYTES (VEIL_SCRATCH_SIZE / SCRATCH_SLOTS)

/* veil's fd of the process's /proc/PID/mem (scratch_init), closed */
void mem_fd_close(struct proc_view *p)
{
    if (p->mem_fd1)
        close(p->mem_fd1 - 1);
    p->mem_fd1 = 0;
}

/* a slot no call in flight uses: the caller's last one, or one whose owner is gone
   or no longer inside a call */
static int scratch_slot(struct veil_engine *e, struct task *t)
{
    struct layout *L = &e->layout;
    if (t->scratch_slot && L->slot_owner[t->scratch_slot - 1] == t->tid)
        return t->scratch_slot - 1;
    for (int k = 0; k < SCRATCH_SLOTS; k++) {
        int32_t owner = L->slot_owner[k];
        struct task *o = owner ? tasks_find(&e->tasks, owner) : NULL;
        if (!o || o->scratch_slot != k + 1 || !(o->flags & T_IN_SYSCALL)) {
            L->slot_owner[k] = t->tid;
            t->scratch_slot = k + 1;
            return k;
        }
    }
    return -1;
}

/* Where this call's rewritten arguments go: a slot of veil's read-only area, else
   (not mapped: no room at its address, or an old kernel) below the stack pointer,
   which the program's other threads can write; under pin_paths (--strict) not at
   all (the call fails). */
int scratch_init(struct veil_engine *e, struct scratch *s, struct task *t)
{
    struct proc_view *pv = proc_find(&e->layout, t->pid);
    int slot = pv && pv->scratch == 1 ? scratch_slot(e, t) : -1;
    s->tid = t->tid;
    s->forced = slot >= 0;
    if (slot >= 0 && !pv->mem_fd1) {
        /* bound to this address space (proc(5)): closed when it execs or is gone */
        char mem[64];
        snprintf(mem, sizeof mem, "/proc/%d/mem", t->tid);
        int fd = open(mem, O_WRONLY | O_CLOEXEC);
        pv->mem_fd1 = fd >= 0 ? fd + 1 : 0;
    }
    s->mem_fd = pv ? pv->mem_fd1 - 1 : -1;
    if (slot >= 0) {
        s->floor = VEIL_SCRATCH_BASE + (uint64_t)slot * SLOT_BYTES;
        s->top = s->floor + SLOT_BYTES;
        return 0;
    }
    s->top = (t->sp - RED_ZONE) & ~(uint64_t)15;
    s->floor = s->top - SCRATCH_MAX;
    if (e->layout.pin_paths) {
        s->floor = s->top; /* nothing fits */
        return -ENOMEM;
    }
    return 0;
}

/* copy data into the tracee; 0 if it does not fit or cannot be written */
uint64_t scratch_put(struct scratch *s, const void *data, size_t len)
{
    if (len > s->top - s->floor)
        return 0;
    uint64_t at = (s->top - len) & ~(uint64_t)15;
    long n = !s->forced        ? veil_write_mem(s->tid, at, data, len)
             : s->mem_fd >= 0 ? (long)pwrite(s->mem_fd, data, len, (off_t)at)
                              : veil_write_mem_force(s->tid, at, data, len);
    if (at < s->floor || n != (long)len)
        return 0;
    s->top = at;
    return at;
}

/* EEXIST: is what is there the area, mapped while the memory was shared (a vfork
   child's, CLONE_VM)?  A private read-only anonymous mapping of exactly its range
   no thread can write, whoever made it (mmap over the range is refused). */
static int area_there(int32_t tid)
{
    char path[64], line[256], want[96];
    snprintf(path, sizeof path, "/proc/%d/maps", tid);
    snprintf(want, sizeof want, "%llx-%llx r--p 00000000 00:00 0",
             (unsigned long long)VEIL_SCRATCH_BASE,
             (unsigned long long)(VEIL_SCRATCH_BASE + VEIL_SCRATCH_SIZE));
    FILE *f = fopen(path, "re");
    if (!f)
        return 0;
    int found = 0;
    while (!found && fgets(line, sizeof line, f))
        found = strncmp(line, want, strlen(want)) == 0 &&
                strspn(line + strlen(want), " \n") == strlen(line + strlen(want));
    fclose(f);
    return found;
}

/*
 * Before the first translated call of a process (and after each execve): map
 * veil's scratch area read-only in it, in place of the call, which then starts
 * again (1: the thread is set up for that; resume it).  MAP_FIXED_NOREPLACE is
 * Linux 4.17; EEXIST (something of the program's is there) leaves the area
 * unmapped.
 */
int layout_prepare(struct veil_engine *e, struct task *t, int *gone_status)
{
    struct proc_view *pv = proc_get(&e->layout, t->pid);
    if (!pv || !(t->flags & T_SECCOMP_ENTRY) || t->arch != VEIL_ARCH_X86_64)
        return 0;
    if (pv->scratch != 0)
        return pv->title[0] || pv->arg_start ? retitle(e, t, pv, gone_status) : 0;
    uint64_t args[6] = {VEIL_SCRATCH_BASE, VEIL_SCRATCH_SIZE, 1 /* PROT_READ */,
                        0x02 | 0x20 | 0x4000 | 0x100000 /* PRIVATE ANONYMOUS NORESERVE
                                                           FIXED_NOREPLACE */,
                        (uint64_t)-1, 0};
    int64_t got = 0;
    int rc = veil_arch_replace_and_restart(t->tid, __NR_mmap, args, &got, &t->pending_sig,
                                           gone_status);
    if (rc == -ESRCH)
        return rc;
    pv = proc_find(&e->layout, t->pid);
    if (!pv)
        return rc == 0;
    char probe = 0;
    int ours = (uint64_t)got == VEIL_SCRATCH_BASE || (got == -EEXIST && area_there(t->tid));
    pv->scratch = rc == 0 && ours &&
                          veil_write_mem_force(t->tid, VEIL_SCRATCH_BASE, &probe, 1) == 1
                      ? 1
                      : -1;
    return rc == 0;
}

int put_path_arg(struct scratch *s, struct task *t, int idx, const char *host)
{
    uint64_t at = scratch_put(s, host, strlen(host) + 1);
    if (!at)
        return -ENOMEM;
    return set_arg(t, idx, at);
}

/* --- veil's scratch area stays as veil mapped it ------------------------------ */

static int overlaps_scratch(uint64_t addr, uint64_t len)
{
    uint64_t end = addr + len;
    if (end < addr)
        end = UINT64_MAX;
    return addr < VEIL_SCRATCH_BASE + VEIL_SCRATCH_SIZE && end > VEIL_SCRATCH_BASE;
}

/* mmap(hint or MAP_FIXED), munmap, mprotect, pkey_mprotect, madvise, mremap and
   shmat over the area would let the program write what the kernel reads there */
int guard_scratch(struct veil_engine *e, struct task *t)
{
    const uint64_t *a = t->args;
    int hit;
    switch (t->nr) {
    case __NR_mremap: /* the old range, and the new one with MREMAP_FIXED */
        hit = overlaps_scratch(a[0], a[1]) || ((a[3] & 2) && overlaps_scratch(a[4], a[2]));
        break;
    case __NR_shmat: /* its size is the segment's */
        hit = a[1] && overlaps_scratch(a[1], UINT64_MAX - a[1]);
        break;
    case __NR_mmap: /* a hint too, before the area is mapped */
        hit = a[0] && overlaps_scratch(a[0], a[1]);
        break;
    default: /* munmap, mprotect, pkey_mprotect, madvise */
        hit = overlaps_scratch(a[0], a[1]);
        break;
    }
    if (!hit)
        return 0;
    layout_report(e, t, EPERM, "veil's read-only scratch area cannot be remapped, unmapped or "
                        "made writable");
    return -EPERM;
}
