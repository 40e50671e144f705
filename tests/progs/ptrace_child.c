/* A parent that traces its child as strace does: the child asks for it
   (PTRACE_TRACEME) and stops itself; the parent follows its system calls with
   PTRACE_SYSCALL and prints what it saw (number and first argument, read with
   PTRACE_GETREGS, PTRACE_GET_SYSCALL_INFO and PTRACE_PEEKDATA), then lets it go.
   Usage: ptrace_child [detach]  (detach: PTRACE_DETACH instead of PTRACE_CONT) */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what)
{
    printf("%s: %s\n", what, strerror(errno));
    fflush(stdout);
    exit(1);
}

/* the NUL-terminated string at addr in the child, word by word */
static void peek_string(pid_t pid, unsigned long addr, char *out, size_t cap)
{
    size_t n = 0;
    while (n + sizeof(long) < cap) {
        errno = 0;
        long word = ptrace(PTRACE_PEEKDATA, pid, (void *)(addr + n), NULL);
        if (errno)
            break;
        memcpy(out + n, &word, sizeof word);
        if (memchr(&word, 0, sizeof word))
            return;
        n += sizeof word;
    }
    out[n] = 0;
}

int main(int argc, char **argv)
{
    int detach = argc > 1 && strcmp(argv[1], "detach") == 0;
    setvbuf(stdout, NULL, _IONBF, 0);
    pid_t pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        if (ptrace(PTRACE_TRACEME, 0, NULL, NULL) < 0)
            die("PTRACE_TRACEME");
        raise(SIGSTOP);
        int fd = open("/etc/hostname", O_RDONLY);
        if (fd >= 0)
            close(fd);
        getppid();
        _exit(7);
    }
    int status;
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    printf("first stop: %s %s\n", WIFSTOPPED(status) ? "stopped" : "not stopped",
           WIFSTOPPED(status) ? strsignal(WSTOPSIG(status)) : "");
    if (ptrace(PTRACE_SETOPTIONS, pid, NULL, (void *)PTRACE_O_TRACESYSGOOD) < 0)
        die("PTRACE_SETOPTIONS");
    int entering = 1, getppid_seen = 0;
    while (!getppid_seen) {
        if (ptrace(PTRACE_SYSCALL, pid, NULL, NULL) < 0)
            die("PTRACE_SYSCALL");
        if (waitpid(pid, &status, 0) != pid)
            die("waitpid");
        if (!WIFSTOPPED(status) || WSTOPSIG(status) != (SIGTRAP | 0x80)) {
            printf("unexpected status %#x\n", status);
            return 1;
        }
        struct user_regs_struct regs;
        if (ptrace(PTRACE_GETREGS, pid, NULL, &regs) < 0)
            die("PTRACE_GETREGS");
        struct __ptrace_syscall_info info;
        if (ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof info, &info) < 0)
            die("PTRACE_GET_SYSCALL_INFO");
        if (entering) {
            if (info.op != PTRACE_SYSCALL_INFO_ENTRY || info.entry.nr != regs.orig_rax)
                printf("entry: info says op %d nr %llu, registers %llu\n", info.op,
                       (unsigned long long)info.entry.nr, (unsigned long long)regs.orig_rax);
            printf("enter %llu", (unsigned long long)regs.orig_rax);
            if (regs.orig_rax == SYS_openat) {
                char path[256];
                peek_string(pid, regs.rsi, path, sizeof path);
                printf(" \"%s\"", path);
            }
            getppid_seen = regs.orig_rax == SYS_getppid;
        } else {
            if (info.op != PTRACE_SYSCALL_INFO_EXIT)
                printf("exit: info says op %d\n", info.op);
            long long ret = (long long)regs.rax;
            printf(" = %s\n", regs.orig_rax == SYS_getppid
                                 ? (ret == getpid() ? "parent" : "not the parent")
                                 : ret < 0 ? strerror((int)-ret) : "ok");
        }
        entering = !entering;
    }
    /* at the entry of getppid: let it run its course */
    if (ptrace(detach ? PTRACE_DETACH : PTRACE_CONT, pid, NULL, NULL) < 0)
        die(detach ? "PTRACE_DETACH" : "PTRACE_CONT");
    printf("\n");
    if (waitpid(pid, &status, 0) != pid)
        die("waitpid");
    printf("child exited %d\n", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
}
