/* PTRACE_SYSEMU, as user-mode kernels use it: the tracer sees each syscall
 * entry of its child, answers it itself (the kernel never runs the call) and
 * lets the child go on.  The child's getppid() and getuid() return what the
 * tracer put in rax (4242, 4343); its write() is executed by the tracer
 * (PEEKDATA of the text) and answered with the length.  Prints what the
 * child saw and the calls the tracer answered. */
#define _GNU_SOURCE
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/reg.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    setvbuf(stdout, NULL, _IONBF, 0);
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return 2;
    pid_t pid = fork();
    if (pid < 0)
        return 2;
    if (pid == 0) {
        close(pipefd[0]);
        if (ptrace(PTRACE_TRACEME, 0L, 0L, 0L) < 0)
            _exit(3);
        raise(SIGSTOP);
        long a = syscall(SYS_getppid);
        long b = syscall(SYS_getuid);
        long c = syscall(SYS_write, 1, "emulated\n", 9);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "child saw %ld %ld %ld\n", a, b, c);
        /* a real call once the tracer stops emulating */
        if (write(pipefd[1], msg, (size_t)n) != n)
            _exit(4);
        _exit(0);
    }
    close(pipefd[1]);
    int status;
    waitpid(pid, &status, 0);               /* the SIGSTOP */
    for (int answered = 0; answered < 3; answered++) {
        if (ptrace(PTRACE_SYSEMU, pid, 0L, 0L) < 0) {
            perror("PTRACE_SYSEMU");
            kill(pid, SIGKILL);
            return 1;
        }
        waitpid(pid, &status, 0);
        if (!WIFSTOPPED(status) || WSTOPSIG(status) != SIGTRAP) {
            printf("unexpected status %#x\n", status);
            kill(pid, SIGKILL);
            return 1;
        }
        struct user_regs_struct regs;
        ptrace(PTRACE_GETREGS, pid, 0L, &regs);
        printf("entry %lld rax %lld\n", regs.orig_rax, regs.rax);
        if (regs.orig_rax == SYS_getppid)
            regs.rax = 4242;
        else if (regs.orig_rax == SYS_getuid)
            regs.rax = 4343;
        else if (regs.orig_rax == SYS_write) {
            char text[16] = {0};
            for (size_t i = 0; i < regs.rdx && i < 8; i += 8) {
                long word = ptrace(PTRACE_PEEKDATA, pid, (void *)(regs.rsi + i), 0L);
                memcpy(text + i, &word, 8);
            }
            printf("tracer writes for it: %.8s\n", text);
            regs.rax = regs.rdx;
        }
        ptrace(PTRACE_SETREGS, pid, 0L, &regs);
    }
    ptrace(PTRACE_CONT, pid, 0L, 0L);       /* from here its calls run */
    char buf[128];
    ssize_t n = read(pipefd[0], buf, sizeof buf - 1);
    if (n > 0) {
        buf[n] = 0;
        fputs(buf, stdout);
    }
    waitpid(pid, &status, 0);
    printf("child exit %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
