/* strace's start-up probe of PTRACE_SEIZE, N times (argv[1], default 100): fork a
 * child that pauses, seize it, SIGKILL it; natively the next wait status is its
 * death (SEIZE makes no stop).  Prints "unexpected N of M" and exits 1 if any
 * wait reported something else (each such status on stderr). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100, bad = 0;
    for (int i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("fork");
            return 2;
        }
        if (pid == 0) {
            pause();
            _exit(0);
        }
        if (ptrace(PTRACE_SEIZE, pid, 0L, 0L) != 0) {
            perror("PTRACE_SEIZE");
            return 2;
        }
        if (kill(pid, SIGKILL) != 0) {
            perror("kill");
            return 2;
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
            ;
        if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL) {
            bad++;
            fprintf(stderr, "wait status %#x\n", status);
        }
    }
    printf("unexpected %d of %d\n", bad, n);
    return bad != 0;
}
