/* Decoding corpus (run with -f): clone3, clone, fork, vfork, wait4, waitid,
 * execve, execveat, exit statuses.  Every child's work is waited for before
 * the parent goes on, so the order of lines does not depend on timing.
 * argv[1] == "child" is the program exec'd by itself; prints nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "child") == 0)
        return argc;

    int st;
    pid_t p = fork();
    if (p == 0)
        _exit(3);
    wait4(p, &st, 0, NULL);

    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.exit_signal = SIGCHLD;
    p = syscall(SYS_clone3, &ca, sizeof ca);
    if (p == 0)
        syscall(SYS_exit, 7);
    siginfo_t si;
    memset(&si, 0, sizeof si); /* waitid does not fill si_utime/si_stime: no stack bytes */
    waitid(P_PID, p, &si, WEXITED);

    int pidfd = -1;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_PIDFD | CLONE_CLEAR_SIGHAND;
    ca.pidfd = (uint64_t)(uintptr_t)&pidfd;
    ca.exit_signal = SIGCHLD;
    p = syscall(SYS_clone3, &ca, sizeof ca);
    if (p == 0) {
        kill(getpid(), SIGKILL);
        _exit(0);
    }
    waitid(P_PIDFD, pidfd, &si, WEXITED | __WALL);
    close(pidfd);

    syscall(SYS_clone3, NULL, sizeof ca);     /* EFAULT */
    syscall(SYS_clone3, &ca, 4);              /* EINVAL */

    p = vfork();
    if (p == 0) {
        char *args[] = {argv[0], "child", "x", NULL};
        execve(argv[0], args, environ);
        _exit(127);
    }
    waitpid(p, &st, 0);

    p = fork();
    if (p == 0) {
        int d = open("/proc/self/exe", O_RDONLY | O_CLOEXEC);
        char *args[] = {"dec_proc", "child", NULL};
        char *env[] = {"A=1", "B=2", NULL};
        syscall(SYS_execveat, d, "", args, env, AT_EMPTY_PATH);
        _exit(126);
    }
    waitpid(p, &st, __WALL);

    p = fork();
    if (p == 0) {
        char *args[] = {"/nonexistent", NULL};
        execve("/nonexistent/prog", args, environ);
        raise(SIGTERM);
        _exit(1);
    }
    struct rusage ru;
    wait4(p, &st, 0, NULL);
    (void)ru;
    wait4(-1, &st, WNOHANG, NULL);  /* ECHILD */
    waitid(P_ALL, 0, &si, WEXITED | WNOHANG); /* ECHILD */
    return 0;
}
