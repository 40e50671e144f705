/*
 * Placement: keep veil on the tracee's core while the traced tree has one
 * runnable task (tasks asleep in wait4, poll, nanosleep... do not count).
 * Every ptrace stop is a pair of context switches; when tracer and tracee sit
 * on different cores each one wakes an idle core, which costs several times
 * the switch itself on small VMs (~40 us against ~7 us per stop here).
 *
 * With more runnable tasks the tree gets veil's original CPUs back so it can
 * run in parallel -- unless it stops so often that it barely runs between
 * stops: then the tasks mostly wait for the tracer, parallelism buys little
 * and every stop would pay the cross-core price.  The stop rate, measured
 * over windows of WINDOW_NS, decides, with hysteresis: above BUSY_RATE stops
 * per second the tree stays on one core, below CALM_RATE it is let go.  (At
 * ~7 us per pinned and ~40 us per unpinned stop, two tasks gain from running
 * apart once they compute more than ~25 us between stops, i.e. below some
 * 25-30k stops per second.)
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
        if (e->tasks.slots[i].tid && !(e->tasks.slots[i].flags & T_OWN_MASK))
            set_mask(e->tasks.slots[i].tid, &one);
    e->pinned_cpu = cpu;
    e->last_pin_cpu = cpu;
}

static void unpin(struct veil_engine *e)
{
    for (uint32_t i = 0; i < e->tasks.cap; i++)
        if (e->tasks.slots[i].tid && !(e->tasks.slots[i].flags & T_OWN_MASK))
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

#define WINDOW_NS 100000000ull
#define BUSY_RATE 20000u
#define CALM_RATE 10000u

void placement_update(struct veil_engine *e)
{
    if (e->affinity != -2)
        return;
    uint32_t runnable = e->tasks.count - e->blocked;
    int together = runnable <= 1 || e->stop_bound;
    if (!together && e->pinned_cpu >= 0)
        unpin(e);
    else if (together && e->tasks.count > 0 && e->pinned_cpu < 0) {
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
    if (e->affinity == -1 || ret <= 0 || e->last_pin_cpu < 0 || (t->flags & T_OWN_MASK))
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

/* Called at every stop and when the flush timer interrupts waitpid. */
void placement_tick(struct veil_engine *e, uint64_t now)
{
    if (e->affinity != -2)
        return;
    if (e->window_start == 0) {
        e->window_start = now;
        e->window_stops = 0;
        return;
    }
    uint64_t span = now - e->window_start;
    if (span < WINDOW_NS)
        return;
    uint64_t rate = e->window_stops * 1000000000ull / span;
    int was = e->stop_bound;
    if (rate >= BUSY_RATE)
        e->stop_bound = 1;
    else if (rate < CALM_RATE)
        e->stop_bound = 0;
    e->window_start = now;
    e->window_stops = 0;
    if (was != e->stop_bound)
        placement_update(e);
}

/* sched_setaffinity(pid, ...) succeeded: that task's mask is the program's now. */
void placement_note_own_mask(struct veil_engine *e, struct task *t, int64_t ret)
{
    if (ret != 0)
        return;
    int32_t target = (int32_t)t->args[0];
    struct task *owner = target == 0 ? t : tasks_find(&e->tasks, target);
    if (owner)
        owner->flags |= T_OWN_MASK;
}
