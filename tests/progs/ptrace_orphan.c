/* A tracer that dies with its tracee stopped: the kernel lets the tracee go on.
   The child asks its parent to trace it and stops; the parent sees the stop and
   kills itself; the child prints once it runs again. */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
            return 1;
        raise(SIGSTOP);
        usleep(200000);
        printf("child runs on\n");
        return 0;
    }
    int status;
    if (waitpid(pid, &status, 0) != pid || !WIFSTOPPED(status))
        return 1;
    printf("parent saw the child stop (%s) and dies\n", strsignal(WSTOPSIG(status)));
    kill(getpid(), SIGKILL);
    return 0;
}
