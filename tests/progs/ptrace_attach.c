/* PTRACE_ATTACH (or PTRACE_SEIZE with "seize") to a process, as gdb -p and
   strace -p do: prints whether the kernel (or veil) let it, and the first stop.
   Usage: ptrace_attach PID [seize]  (PID "parent": the caller's parent) */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int seize = argc > 2 && strcmp(argv[2], "seize") == 0;
    pid_t pid = strcmp(argv[1], "parent") == 0 ? getppid() : atoi(argv[1]);
    long rc = seize ? ptrace(PTRACE_SEIZE, pid, NULL, (void *)PTRACE_O_TRACESYSGOOD)
                    : ptrace(PTRACE_ATTACH, pid, NULL, NULL);
    if (rc < 0) {
        printf("attach: %s\n", strerror(errno));
        return 1;
    }
    if (seize && ptrace(PTRACE_INTERRUPT, pid, NULL, NULL) < 0) {
        printf("interrupt: %s\n", strerror(errno));
        return 1;
    }
    int status;
    if (waitpid(pid, &status, __WALL) != pid) {
        printf("waitpid: %s\n", strerror(errno));
        return 1;
    }
    printf("attach: ok, stopped %d by %s, event %d\n", WIFSTOPPED(status),
           strsignal(WSTOPSIG(status)), status >> 16);
    errno = 0;
    long word = ptrace(PTRACE_PEEKUSER, pid, NULL, NULL); /* user_regs_struct.r15 */
    printf("peek: %s\n", errno ? strerror(errno) : "ok");
    (void)word;
    if (ptrace(PTRACE_DETACH, pid, NULL, NULL) < 0)
        printf("detach: %s\n", strerror(errno));
    kill(pid, SIGKILL);
    return 0;
}
