/* PTRACE_PEEKSIGINFO on a traced child: it blocks SIGUSR1 and SIGUSR2, queues
 * SIGUSR1 to itself (its thread's queue) and SIGUSR2 with a value to its
 * process (the shared queue), then stops.  Prints what each queue holds, as
 * "thread: SIG..." and "shared: SIG(value)...", and the errno of a bad flag. */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef PTRACE_PEEKSIGINFO_SHARED
#define PTRACE_PEEKSIGINFO_SHARED 1
#endif

struct peek_args {
    unsigned long long off;
    unsigned int flags;
    int nr;
};

static void show(pid_t pid, const char *name, unsigned flags)
{
    siginfo_t si[8];
    struct peek_args a = {0, flags, 8};
    long n = ptrace(PTRACE_PEEKSIGINFO, pid, &a, si);
    printf("%s:", name);
    if (n < 0)
        printf(" error %s", strerror(errno));
    for (long i = 0; i < n; i++) {
        printf(" %d", si[i].si_signo);
        if (si[i].si_code == SI_QUEUE)
            printf("(%d)", si[i].si_value.sival_int);
    }
    printf("\n");
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGUSR1);
        sigaddset(&set, SIGUSR2);
        if (ptrace(PTRACE_TRACEME, 0L, 0L, 0L) < 0 || sigprocmask(SIG_BLOCK, &set, NULL) < 0)
            _exit(3);
        raise(SIGUSR1);
        sigqueue(getpid(), SIGUSR2, (union sigval){.sival_int = 9});
        raise(SIGSTOP);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status)) {
        printf("no stop: %#x\n", status);
        return 1;
    }
    show(pid, "thread", 0);
    show(pid, "shared", PTRACE_PEEKSIGINFO_SHARED);
    show(pid, "badflag", 2);
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return 0;
}
