/*
 * Placement: keep veil on the tracee's core while the traced tree has one
 * runnable task (tasks asleep in wait4, poll, nanosleep... do not count).  Every ptrace stop is a pair of context switches; when tracer and
 * tracee sit on different cores each one wakes an idle core, which costs
 * several times the switch itself on small VMs.  With more than one task the
 * tree gets all of veil's original CPUs back so it can run in parallel.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

static int set_mask(pid_t tid, const cpu_set_t *m)
{
    return sched_setaffinity(tid, sizeof *m, m) < 0 ? -errno : 0;
}

static void pin_to(struct veil_engine *e, int cpu)
{
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (set_mask(0, &one) < 0)
        return;
    for (uint32_t i = 0; i < e->tasks.cap; i++)
        if (e->tasks.slots[i].tid)
            set_mask(e->tasks.slots[i].tid, &one);
    e->pinned_cpu = cpu;
    e->last_pin_cpu = cpu;
}

static void unpin(struct veil_engine *e)
{
    for (uint32_t i = 0; i < e->tasks.cap; i++)
        if (e->tasks.slots[i].tid)
            set_mask(e->tasks.slots[i].tid, &e->orig_mask);
    set_mask(0, &e->orig_mask);
    e->pinned_cpu = -1;
}

/* Called before the first task exists (tid 0) in the parent: pin veil. */
void placement_pin(struct veil_engine *e, int32_t tid)
{
    (void)tid;
    if (e->affinity == -1)
        return;
    if (sched_getaffinity(0, sizeof e->orig_mask, &e->orig_mask) < 0) {
        e->affinity = -1;
        return;
    }
    int cpu = e->affinity >= 0 ? e->affinity : sched_getcpu();
    if (cpu < 0 || (e->affinity == -2 && CPU_COUNT(&e->orig_mask) < 2)) {
        e->affinity = -1;
        return;
    }
    pin_to(e, cpu);
}

void placement_update(struct veil_engine *e)
{
    if (e->affinity != -2)
        return;
    uint32_t runnable = e->tasks.count - e->blocked;
    if (runnable > 1 && e->pinned_cpu >= 0)
        unpin(e);
    else if (runnable <= 1 && e->tasks.count > 0 && e->pinned_cpu < 0) {
        int cpu = sched_getcpu();
        if (cpu >= 0)
            pin_to(e, cpu);
    }
}

/* sched_getaffinity(pid, size, mask) returned the one-CPU mask we set; the
   program should see the CPUs it would have had without veil. */
void placement_fix_affinity_result(struct veil_engine *e, struct task *t, int64_t ret)
{
    cpu_set_t seen;
    if (e->affinity == -1 || ret <= 0 || e->last_pin_cpu < 0)
        return;
    size_t n = (size_t)ret < sizeof seen ? (size_t)ret : sizeof seen;
    CPU_ZERO(&seen);
    if (veil_read_mem(t->tid, t->args[2], &seen, n) != (long)n)
        return;
    /* leave alone a mask the program chose itself */
    if (CPU_COUNT(&seen) != 1 || !CPU_ISSET(e->last_pin_cpu, &seen))
        return;
    veil_write_mem(t->tid, t->args[2], &e->orig_mask, n);
}

void placement_set_blocked(struct veil_engine *e, struct task *t, int blocked)
{
    if (blocked == !!(t->flags & T_BLOCKED))
        return;
    if (blocked) {
        t->flags |= T_BLOCKED;
        e->blocked++;
    } else {
        t->flags &= ~T_BLOCKED;
        e->blocked--;
    }
    placement_update(e);
}
