/* Group-stop under PTRACE_SEIZE, as gdb and strace see it: the tracer stops a
 * seized child with SIGSTOP, lets the signal through (group-stop), LISTENs,
 * sends SIGCONT, and prints each wait status it gets. */
#include <signal.h>
#include <stdio.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

static int next_status(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, __WALL) < 0)
        ;
    printf("status %#x\n", status);
    return status;
}

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        for (;;)
            pause();
    }
    if (ptrace(PTRACE_SEIZE, pid, 0L, 0L) < 0) {
        perror("PTRACE_SEIZE");
        return 2;
    }
    kill(pid, SIGSTOP);
    next_status(pid);                                /* signal-delivery-stop: SIGSTOP */
    ptrace(PTRACE_CONT, pid, 0L, (long)SIGSTOP);
    next_status(pid);                                /* group-stop */
    if (ptrace(PTRACE_LISTEN, pid, 0L, 0L) < 0)
        perror("PTRACE_LISTEN");
    kill(pid, SIGCONT);
    next_status(pid);                                /* the listening tracee wakes up */
    ptrace(PTRACE_CONT, pid, 0L, 0L);
    next_status(pid);                                /* SIGCONT's delivery */
    ptrace(PTRACE_CONT, pid, 0L, (long)SIGCONT);
    kill(pid, SIGKILL);
    next_status(pid);
    return 0;
}
