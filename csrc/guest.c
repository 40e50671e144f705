/*
 * Guest tracers: the stops of a thread that a tracer inside the guest traces
 * (T_GUEST) are queued for Python, the thread held, instead of being resumed
 * by veil.  Python (src/veil/guest_ptrace.py) answers the guest tracer's wait
 * and ptrace calls from them, and resumes the thread with veil_guest_resume.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>

#include "internal.h"

#define SYSCALL_TRAP (SIGTRAP | 0x80)

/* The VEIL_G_* kind of the thread's current stop if the guest tracer sees it, else 0. */
int guest_wants(struct task *t)
{
    int status = t->stop_status;
    if (t->flags & T_GUEST_PASS) {
        t->flags &= ~T_GUEST_PASS;
        return 0;
    }
    if (!WIFSTOPPED(status))
        return 0;
    int sig = WSTOPSIG(status), event = (unsigned)status >> 16;
    if (sig == SYSCALL_TRAP) {
        if (t->stop_op == PTRACE_SYSCALL_INFO_ENTRY && (t->flags & T_GUEST_RESTART))
            return 0; /* cleared at its seccomp stop (loop.c) */
        if (!(t->flags & T_GUEST_SYSCALL))
            return 0;
        return t->stop_op == PTRACE_SYSCALL_INFO_ENTRY  ? VEIL_G_SYSCALL_ENTRY
               : t->stop_op == PTRACE_SYSCALL_INFO_EXIT ? VEIL_G_SYSCALL_EXIT
                                                        : 0;
    }
    if (event == PTRACE_EVENT_SECCOMP) /* handed over before veil's work (loop.c), or veil's own */
        return 0;
    return event ? VEIL_G_EVENT : VEIL_G_SIGNAL;
}

/* A new entry at the end of the queue for task t, NULL when memory is short. */
static struct veil_guest_stop *queue_stop(struct veil_engine *e, const struct task *t,
                                          int kind, int status)
{
    if (e->guest_head == e->guest_len)
        e->guest_head = e->guest_len = 0;
    if (e->guest_len == e->guest_cap) {
        uint32_t cap = e->guest_cap ? 2 * e->guest_cap : 16;
        struct veil_guest_stop *q = realloc(e->guest_queue, cap * sizeof *q);
        if (!q)
            return NULL;
        e->guest_queue = q;
        e->guest_cap = cap;
    }
    struct veil_guest_stop *s = &e->guest_queue[e->guest_len++];
    memset(s, 0, sizeof *s);
    s->pid = t->pid;
    s->tid = t->tid;
    s->kind = kind;
    s->status = status;
    return s;
}

/* Hold the thread at its current stop and queue it for Python; sig is the
   signal veil would have delivered. */
int guest_hold(struct veil_engine *e, struct task *t, int kind, int sig)
{
    struct veil_guest_stop *s = queue_stop(e, t, kind, t->stop_status);
    if (!s)
        return -ENOMEM;
    s->sig = sig;
    if (kind == VEIL_G_EVENT) {
        unsigned long msg = 0;
        s->event = (unsigned)t->stop_status >> 16;
        if (ptrace(PTRACE_GETEVENTMSG, t->tid, 0L, &msg) < 0 && errno != ESRCH)
            return -errno;
        s->msg = msg;
    }
    t->flags |= T_HELD;
    return 0;
}

int guest_gone(struct veil_engine *e, struct task *t, int status)
{
    return queue_stop(e, t, VEIL_G_GONE, status) ? 0 : -ENOMEM;
}

/* The oldest queued stop as an event: 1, or 0 when none is queued. */
int guest_pop(struct veil_engine *e, struct veil_event *ev)
{
    if (e->guest_head == e->guest_len)
        return 0;
    const struct veil_guest_stop *s = &e->guest_queue[e->guest_head++];
    ev->kind = VEIL_EV_GUEST;
    ev->pid = s->pid;
    ev->tid = s->tid;
    ev->nr = s->kind;
    ev->ret = s->status;
    ev->args[0] = (uint64_t)s->sig;
    ev->args[1] = (uint64_t)s->event;
    ev->args[2] = s->msg;
    ev->ts_ns = now_ns();
    return 1;
}

void guest_free(struct veil_engine *e)
{
    free(e->guest_queue);
    e->guest_queue = NULL;
    e->guest_head = e->guest_len = e->guest_cap = 0;
}
