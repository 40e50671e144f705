/*
 * Signals to veil while the loop runs.
 *
 * INT/TERM/HUP/QUIT: when veil spawned the tracee, a signal that another
 * process sent to veil (si_code <= 0) is forwarded to the tracee, so
 * `kill -TERM <veil>` acts as it would without veil.  The same signal typed
 * at the terminal (si_code SI_KERNEL) already reached the tracee, which is in
 * the same foreground process group, so it is not sent twice.  In attach
 * mode the signal asks the loop to detach.
 *
 * A periodic timer interrupts a blocking waitpid so that records of a tracee
 * that then blocks for a long time are still drained and printed promptly.
 */
#include <errno.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

volatile sig_atomic_t veil_flush_requested;
volatile sig_atomic_t veil_stop_requested;

static volatile sig_atomic_t forward_pid;
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
#define NFWD (int)(sizeof forwarded / sizeof forwarded[0])
static struct sigaction saved[NFWD];
static struct sigaction saved_timer;
static timer_t flush_timer;
static int timer_armed;
static int installed;

static int flush_signal(void)
{
    return SIGRTMIN + VEIL_FLUSH_SIGNAL_OFFSET;
}

static void on_forwarded(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    int saved_errno = errno;
    if (forward_pid > 0) {
        if (si->si_code <= 0)
            kill(forward_pid, sig);
    } else {
        veil_stop_requested = 1;
    }
    errno = saved_errno;
}

static void on_flush_timer(int sig)
{
    (void)sig;
    veil_flush_requested = 1;
}

/* the main process changed (the mount engine's pid namespace: its init started the
   program): forwarded signals go to the program */
void signals_main_changed(struct veil_engine *e)
{
    if (forward_pid > 0)
        forward_pid = e->main_pid;
}

int veil_signals_install(struct veil_engine *e, int forward)
{
    struct sigaction sa;
    if (installed)
        return 0;
    veil_stop_requested = 0;
    veil_flush_requested = 0;
    forward_pid = forward ? e->main_pid : 0;

    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_forwarded;
    sa.sa_flags = SA_SIGINFO; /* no SA_RESTART: waitpid returns EINTR */
    sigemptyset(&sa.sa_mask);
    for (int i = 0; i < NFWD; i++) {
        if (sigaction(forwarded[i], NULL, &saved[i]) < 0)
            return -errno;
        /* a signal ignored when veil started (nohup, background job) stays ignored */
        if (saved[i].sa_handler == SIG_IGN && forward)
            continue;
        if (sigaction(forwarded[i], &sa, NULL) < 0)
            return -errno;
    }

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_flush_timer;
    sigemptyset(&sa.sa_mask);
    if (sigaction(flush_signal(), &sa, &saved_timer) < 0)
        return -errno;
    /* aimed at this thread: the one blocked in waitpid (veil may run its
       loop in a worker thread while another thread formats the records) */
    struct sigevent sev;
    memset(&sev, 0, sizeof sev);
    sev.sigev_notify = SIGEV_THREAD_ID;
    sev.sigev_signo = flush_signal();
    sev._sigev_un._tid = gettid();
    if (timer_create(CLOCK_MONOTONIC, &sev, &flush_timer) < 0)
        return -errno;
    struct itimerspec its = {{0, 100 * 1000 * 1000}, {0, 100 * 1000 * 1000}};
    if (timer_settime(flush_timer, 0, &its, NULL) < 0) {
        int err = errno;
        timer_delete(flush_timer);
        return -err;
    }
    timer_armed = 1;
    installed = 1;
    return 0;
}

void veil_signals_restore(struct veil_engine *e)
{
    (void)e;
    if (!installed)
        return;
    if (timer_armed && timer_delete(flush_timer) == 0)
        timer_armed = 0;
    sigaction(flush_signal(), &saved_timer, NULL);
    for (int i = 0; i < NFWD; i++)
        sigaction(forwarded[i], &saved[i], NULL);
    forward_pid = 0;
    installed = 0;
}
