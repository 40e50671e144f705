/* Decoding corpus: rt_sigaction, rt_sigprocmask, rt_sigpending, sigaltstack,
 * kill/tgkill/tkill, signal delivery, rt_sigreturn and the restart codes
 * (ERESTARTSYS, ERESTARTNOHAND, ERESTART_RESTARTBLOCK, restart_syscall).
 * The interrupting signals come from a 200 ms timer while the program is
 * blocked, so the order of events does not depend on timing.  Prints nothing. */
#define _GNU_SOURCE
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int pipefd[2];

static void on_alarm(int sig)
{
    (void)sig;
    write(pipefd[1], "!", 1);
}

static void on_usr(int sig, siginfo_t *si, void *uc)
{
    (void)sig; (void)si; (void)uc;
}

static void arm(void)
{
    struct itimerval it = {{0, 0}, {0, 200000}};
    setitimer(ITIMER_REAL, &it, NULL);
}

int main(void)
{
    pipe(pipefd);
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaddset(&sa.sa_mask, SIGINT);
    sigaction(SIGALRM, &sa, &old);
    struct sigaction su;
    memset(&su, 0, sizeof su);
    su.sa_sigaction = on_usr;
    su.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
    sigfillset(&su.sa_mask);
    sigaction(SIGUSR1, &su, NULL);
    signal(SIGPIPE, SIG_IGN);
    sigaction(SIGPIPE, NULL, &old);
    sigaction(SIGKILL, &su, NULL); /* EINVAL */
    syscall(SYS_rt_sigaction, SIGUSR2, NULL, NULL, 8);

    sigset_t set, prev;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigaddset(&set, SIGRTMIN);
    sigaddset(&set, SIGRTMAX);
    sigprocmask(SIG_BLOCK, &set, &prev);
    sigprocmask(SIG_UNBLOCK, &set, NULL);
    sigprocmask(SIG_SETMASK, &prev, NULL);
    sigprocmask(SIG_BLOCK, NULL, &prev);
    sigfillset(&set);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    sigprocmask(99, &set, NULL); /* EINVAL */
    sigpending(&set);

    stack_t ss = {.ss_sp = malloc(65536), .ss_size = 65536, .ss_flags = 0};
    stack_t oss;
    sigaltstack(NULL, &oss);
    sigaltstack(&ss, NULL);

    kill(getpid(), SIGUSR1);
    syscall(SYS_tgkill, getpid(), getpid(), SIGUSR1);
    syscall(SYS_tkill, getpid(), 0);
    kill(getpid(), 0);
    kill(-1, 99); /* EINVAL */

    /* read interrupted: ERESTARTSYS, the handler writes, read restarts */
    char c;
    arm();
    read(pipefd[0], &c, 1);

    /* sleep interrupted: ERESTART_RESTARTBLOCK and restart_syscall */
    arm();
    struct timespec ts = {0, 400000000};
    nanosleep(&ts, NULL);

    /* pause interrupted by a handled signal: ERESTARTNOHAND */
    arm();
    pause();
    read(pipefd[0], &c, 1);
    read(pipefd[0], &c, 1);
    read(pipefd[0], &c, 0);

    /* an ignored signal still stops a traced sleep: restart_syscall */
    signal(SIGALRM, SIG_IGN);
    arm();
    nanosleep(&ts, NULL);
    return 0;
}
