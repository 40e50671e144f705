/* untraced_clone: clone(CLONE_UNTRACED) a child that prints, then a plain fork;
   prints "clone=<errno name or ok> fork=ok". */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        _exit(0);
    const char *clone_result = pid < 0 ? (errno == EPERM ? "EPERM" : strerror(errno)) : "ok";
    if (pid > 0)
        waitpid((pid_t)pid, NULL, 0);
    pid_t f = fork();
    if (f == 0)
        _exit(0);
    waitpid(f, NULL, 0);
    printf("clone=%s fork=%s\n", clone_result, f > 0 ? "ok" : "failed");
    return 0;
}
