/*
 * Placement: keep veil on the tracee's core while the traced tree has one
 * runnable task.  Every ptrace stop is a pair of context switches; when
 * tracer and tracee sit on different cores each one wakes an idle core, which
 * costs several times the switch itself on small VMs (~40 us against ~7 us
 * per stop here).  With two runnable tasks or more the tree gets veil's
 * original CPUs back so it runs in parallel: placement never serializes them.
 *
 * Which tasks are runnable is sampled, not followed call by call: stopping
 * every wait4, poll or read to count sleepers costs two stops per call, paid
 * by every program.  While the tree has two tasks or more, the loop reads the
 * state letter of each one from /proc/TID/stat, at most every SAMPLE_NS,
 * counting R (running or waiting for a CPU) and t (stopped for veil: it runs
 * as soon as veil resumes it).  A moving average of those counts, with
 * hysteresis, decides, so that the instant after a fork (parent and child
 * both runnable until the parent reaches wait4) does not unpin the tree.
 * A tree of one task is never sampled: it costs nothing.
 *
 * The core the tree shares is chosen when it is pinned and then followed:
 * if, over a window, the loop thread waited for that core (runnable, not
 * running: someone else's work is there) for more than a fifth of the
 * time, and another CPU veil may use was idle for a third of it or more,
 * the tree moves there.  Without that, a busy neighbour on the pinned core
 * halves the tree's speed while the other core may be idle (the scheduler
 * cannot move what is pinned); when every core is busy, it stays.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "internal.h"

#define WINDOW_NS 100000000ull
#define FIRST_WINDOW_NS 20000000ull /* the first: a wrong start is paid for briefly */
#define CROWDED_DIV 5u /* waited more than 1/CROWDED_DIV of a window: move */
#define SAMPLE_NS 5000000ull /* between two samples of the tree's states */
#define AVG_ONE 16u           /* runnable_avg's unit: one task */
#define APART_AVG (AVG_ONE * 3 / 2)    /* at or above: the tree runs apart */
#define TOGETHER_AVG (AVG_ONE * 5 / 4) /* below: together again */

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
    for (uint32_t i = 0; i < e->tasks.cap; i++) {
        const struct task *t = tasks_at(&e->tasks, i);
        if (t && !(t->flags & T_OWN_MASK))
            set_mask(t->tid, &one);
    }
    if (e->pinned_cpu != cpu)
        e->stats.placement_moves++;
    e->pinned_cpu = cpu;
    e->last_pin_cpu = cpu;
}

static void unpin(struct veil_engine *e)
{
    for (uint32_t i = 0; i < e->tasks.cap; i++) {
        const struct task *t = tasks_at(&e->tasks, i);
        if (t && !(t->flags & T_OWN_MASK))
            set_mask(t->tid, &e->orig_mask);
    }
    set_mask(0, &e->orig_mask);
    e->pinned_cpu = -1;
    e->stats.placement_moves++;
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
    e->runnable_avg = AVG_ONE;
    pin_to(e, cpu);
}

/* Nanoseconds the calling thread has been runnable but waiting for a CPU
   (the second field of /proc/thread-self/schedstat); 0 if unknown. */
static uint64_t runqueue_wait_ns(void)
{
    char buf[96];
    if (veil_read_proc("/proc/thread-self/schedstat", buf, sizeof buf) < 0)
        return 0;
    unsigned long long run, wait;
    if (sscanf(buf, "%llu %llu", &run, &wait) != 2)
        return 0;
    return wait;
}

/* Idle ticks (idle + iowait) of each cpu < 64 from /proc/stat into idle[];
   0 on success. */
static int read_idle(uint64_t idle[64])
{
    char buf[8192];
    if (veil_read_proc("/proc/stat", buf, sizeof buf) < 0)
        return -1;
    memset(idle, 0, 64 * sizeof idle[0]);
    for (char *line = strchr(buf, '\n'); line && strncmp(line + 1, "cpu", 3) == 0;
         line = strchr(line + 1, '\n')) {
        unsigned cpu;
        unsigned long long f[5];
        if (sscanf(line + 4, "%u %llu %llu %llu %llu %llu", &cpu, &f[0], &f[1], &f[2], &f[3],
                   &f[4]) == 6 && cpu < 64)
            idle[cpu] = f[3] + f[4];
    }
    return 0;
}

/* End of a window while pinned: if the shared core was crowded and another
   CPU of veil's own mask was mostly free, take the tree there. */
static void follow_free_core(struct veil_engine *e, uint64_t span)
{
    uint64_t wait = runqueue_wait_ns(), idle[64];
    uint64_t waited = wait >= e->window_wait ? wait - e->window_wait : 0;
    e->window_wait = wait;
    if (e->pinned_cpu < 0 || read_idle(idle) < 0)
        return;
    int best = -1;
    uint64_t best_idle = 0;
    for (int cpu = 0; cpu < 64; cpu++) {
        uint64_t d = idle[cpu] >= e->cpu_idle[cpu] ? idle[cpu] - e->cpu_idle[cpu] : 0;
        e->cpu_idle[cpu] = idle[cpu];
        if (cpu != e->pinned_cpu && CPU_ISSET(cpu, &e->orig_mask) && d > best_idle) {
            best = cpu;
            best_idle = d;
        }
    }
    /* idle ticks are of 1/USER_HZ s; the window is span ns */
    long hz = sysconf(_SC_CLK_TCK);
    uint64_t ticks = span * (uint64_t)(hz > 0 ? hz : 100) / 1000000000ull;
    if (wait != 0 && waited * CROWDED_DIV >= span && best >= 0 && best_idle * 3 >= ticks)
        pin_to(e, best);
}

void placement_update(struct veil_engine *e)
{
    if (e->affinity != -2)
        return;
    if (e->tasks.count == 0)
        return;
    if (e->tasks.count == 1) {
        e->parallel = 0;
        e->runnable_avg = AVG_ONE;
    }
    if (e->parallel && e->pinned_cpu >= 0)
        unpin(e);
    else if (!e->parallel && e->pinned_cpu < 0) {
        int cpu = sched_getcpu();
        if (cpu >= 0)
            pin_to(e, cpu);
    }
}

/* 1 if task tid is runnable or stopped for veil (state R or t), else 0. */
static unsigned task_runnable(int32_t tid)
{
    char path[40], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)tid);
    if (veil_read_proc(path, buf, sizeof buf) < 0)
        return 0;
    const char *end = strrchr(buf, ')'); /* the name may hold spaces and ')' */
    if (!end || end[1] != ' ')
        return 0;
    return end[2] == 'R' || end[2] == 't';
}

/* Count the runnable tasks of a tree of two or more, fold the count into
   the moving average and let placement follow it. */
static void sample_runnable(struct veil_engine *e, uint64_t now)
{
    uint32_t n = e->tasks.count;
    /* a big tree is sampled less often: each task costs a read */
    uint64_t gap = SAMPLE_NS * (n > 32 ? n / 32 : 1);
    if (n < 2 || now - e->last_sample < gap)
        return;
    e->last_sample = now;
    e->stats.placement_samples++;
    unsigned runnable = 0; /* two are enough to decide: stop reading there */
    for (uint32_t i = 0; i < e->tasks.cap && runnable < 2; i++) {
        const struct task *t = tasks_at(&e->tasks, i);
        /* a thread a guest tracer holds waits for that tracer, not for veil */
        int guest_held = (t && (t->flags & T_HELD) && (t->flags & T_GUEST));
        if (t && !guest_held && !(t->flags & (T_LISTENING | T_OWN_MASK)))
            runnable += task_runnable(t->tid);
    }
    /* avg += (sample - avg) / 4, in 1/AVG_ONE units */
    e->runnable_avg = e->runnable_avg - e->runnable_avg / 4 + runnable * AVG_ONE / 4;
    int was = e->parallel;
    if (e->runnable_avg >= APART_AVG)
        e->parallel = 1;
    else if (e->runnable_avg < TOGETHER_AVG)
        e->parallel = 0;
    if (was != e->parallel)
        placement_update(e);
}

/* The tree is gone: veil's thread gets its own mask back (a program that
   runs veil.run() keeps its CPUs). */
void placement_release(struct veil_engine *e)
{
    if (e->pinned_cpu >= 0)
        unpin(e);
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

/* Called at every stop and when the flush timer interrupts waitpid. */
void placement_tick(struct veil_engine *e, uint64_t now)
{
    if (e->affinity != -2)
        return;
    sample_runnable(e, now);
    if (e->window_start == 0) {
        e->window_start = now;
        e->window_wait = runqueue_wait_ns();
        read_idle(e->cpu_idle); /* left as it was if unreadable: no move follows */
        return;
    }
    uint64_t span = now - e->window_start;
    if (span < (e->windows ? WINDOW_NS : FIRST_WINDOW_NS))
        return;
    e->windows++;
    e->window_start = now;
    follow_free_core(e, span);
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
