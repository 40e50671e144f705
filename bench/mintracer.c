/*
 * mintracer: the floor for veil's benchmarks.
 *
 * A minimal ptrace tracer that runs a command, follows every child, stops
 * the tracee where a tracer has to stop it, reads the syscall registers once
 * per syscall stop with PTRACE_GET_SYSCALL_INFO, and does nothing else. Its
 * cost is the price of the stops themselves; anything a real tracer pays on
 * top of it is its own overhead.
 *
 *   mintracer [--seccomp] [--stats] [--] CMD [ARG...]
 *
 * Default mode: PTRACE_SYSCALL everywhere, so every syscall stops twice
 * (entry and exit).
 *
 * --seccomp: the child installs a seccomp filter that returns
 * SECCOMP_RET_TRACE for every syscall; the tracer resumes with PTRACE_CONT
 * and, after each seccomp stop, with PTRACE_SYSCALL so that it also gets the
 * syscall-exit stop. The same two stops per syscall, reached through seccomp
 * (the shape veil's engine uses when every syscall is subscribed).
 *
 * --stats: print the number of stops taken to stderr at the end.
 *
 * The exit status is the command's (128+N if it was killed by signal N).
 *
 * Linux x86_64, kernel >= 5.3 (PTRACE_GET_SYSCALL_INFO).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* PID_MAX_LIMIT on 64-bit kernels: one byte of per-thread state per pid. */
#define PID_LIMIT (4 * 1024 * 1024)

/* Per-thread flag (seccomp mode): the thread was resumed from a seccomp stop
 * and we are waiting for its syscall-exit stop, so every resume until then
 * must be PTRACE_SYSCALL, not PTRACE_CONT (fork/exec event stops and signal
 * stops can come in between). */
static unsigned char in_syscall[PID_LIMIT];

static int use_seccomp;
static int print_stats;

static unsigned long n_entry, n_exit, n_seccomp, n_event, n_signal, n_group;

static void die(const char *what)
{
    fprintf(stderr, "mintracer: %s: %s\n", what, strerror(errno));
    exit(125);
}

static void usage(void)
{
    fprintf(stderr, "usage: mintracer [--seccomp] [--stats] [--] CMD [ARG...]\n");
    exit(2);
}

/* Resume a tracee. ESRCH means it died under us (SIGKILL, exit_group from
 * another thread): its exit is reported by waitpid later, so that is fine. */
static void resume(int request, pid_t pid, int sig)
{
    if (ptrace(request, pid, 0L, (long)sig) != 0 && errno != ESRCH)
        die("ptrace resume");
}

/* The one register read per syscall stop. Returns 0 if the tracee vanished. */
static int read_info(pid_t pid, struct __ptrace_syscall_info *info)
{
    long n = ptrace(PTRACE_GET_SYSCALL_INFO, pid, (void *)sizeof(*info), info);
    if (n < 0) {
        if (errno == ESRCH)
            return 0;
        die("PTRACE_GET_SYSCALL_INFO");
    }
    if ((size_t)n < offsetof(struct __ptrace_syscall_info, entry)) {
        fprintf(stderr, "mintracer: short PTRACE_GET_SYSCALL_INFO (%ld)\n", n);
        exit(125);
    }
    return 1;
}

static void install_filter(void)
{
    struct sock_filter insns[] = {
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRACE),
    };
    struct sock_fprog prog = {
        .len = sizeof(insns) / sizeof(insns[0]),
        .filter = insns,
    };

    /* Without CAP_SYS_ADMIN the kernel asks for no_new_privs first. */
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) == 0)
        return;
    if (errno != EACCES)
        die("seccomp(SET_MODE_FILTER)");
    if (prctl(PR_SET_NO_NEW_PRIVS, 1L, 0L, 0L, 0L) != 0)
        die("prctl(PR_SET_NO_NEW_PRIVS)");
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        die("seccomp(SET_MODE_FILTER)");
}

static pid_t spawn(char **argv)
{
    int gate[2];
    char c;
    ssize_t r;
    pid_t pid;
    long opts = PTRACE_O_TRACESYSGOOD | PTRACE_O_TRACEFORK |
                PTRACE_O_TRACEVFORK | PTRACE_O_TRACECLONE |
                PTRACE_O_TRACEEXEC | PTRACE_O_EXITKILL;

    if (use_seccomp)
        opts |= PTRACE_O_TRACESECCOMP;
    if (pipe2(gate, O_CLOEXEC) != 0)
        die("pipe2");
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        /* Wait until the parent has seized us, so that nothing of the
         * command (and, in seccomp mode, no filtered syscall) runs untraced. */
        if (close(gate[1]) != 0)
            die("child: close");
        do
            r = read(gate[0], &c, 1);
        while (r < 0 && errno == EINTR);
        if (r != 0) {
            fprintf(stderr, "mintracer: child: parent went away\n");
            _exit(125);
        }
        if (use_seccomp)
            install_filter();
        execvp(argv[0], argv);
        fprintf(stderr, "mintracer: exec %s: %s\n", argv[0], strerror(errno));
        _exit(127);
    }
    if (close(gate[0]) != 0)
        die("close");
    if (ptrace(PTRACE_SEIZE, pid, 0L, opts) != 0)
        die("PTRACE_SEIZE");
    /* Seized tracees run on; stop it once so that the main loop can resume
     * it with PTRACE_SYSCALL (the loop treats this like any EVENT_STOP). */
    if (ptrace(PTRACE_INTERRUPT, pid, 0L, 0L) != 0)
        die("PTRACE_INTERRUPT");
    if (close(gate[1]) != 0)
        die("close");
    return pid;
}

/* How to resume a thread that is not at a syscall stop. */
static int plain_resume(pid_t pid)
{
    if (!use_seccomp)
        return PTRACE_SYSCALL;
    return in_syscall[pid] ? PTRACE_SYSCALL : PTRACE_CONT;
}

static int loop(pid_t root)
{
    struct __ptrace_syscall_info info;
    int root_status = -1;
    int status;
    pid_t pid;

    for (;;) {
        pid = waitpid(-1, &status, __WALL);
        if (pid < 0) {
            if (errno == EINTR)
                continue;
            if (errno == ECHILD)
                break;
            die("waitpid");
        }
        if (pid >= PID_LIMIT) {
            fprintf(stderr, "mintracer: pid %d out of range\n", (int)pid);
            exit(125);
        }
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
            in_syscall[pid] = 0;
            if (pid == root)
                root_status = status;
            continue;
        }
        if (!WIFSTOPPED(status))
            continue;

        int sig = WSTOPSIG(status);
        int event = (unsigned)status >> 16;

        if (sig == (SIGTRAP | 0x80)) {
            /* syscall-entry or syscall-exit stop */
            if (read_info(pid, &info)) {
                if (info.op == PTRACE_SYSCALL_INFO_ENTRY)
                    n_entry++;
                else
                    n_exit++;
            }
            if (use_seccomp) {
                in_syscall[pid] = 0;
                resume(PTRACE_CONT, pid, 0);
            } else {
                resume(PTRACE_SYSCALL, pid, 0);
            }
        } else if (sig == SIGTRAP && event == PTRACE_EVENT_SECCOMP) {
            n_seccomp++;
            read_info(pid, &info);
            in_syscall[pid] = 1;
            resume(PTRACE_SYSCALL, pid, 0);
        } else if (event == PTRACE_EVENT_STOP) {
            if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN ||
                sig == SIGTTOU) {
                /* group-stop: stay stopped, but keep reporting */
                n_group++;
                resume(PTRACE_LISTEN, pid, 0);
            } else {
                /* first stop of a new child, or our PTRACE_INTERRUPT */
                n_event++;
                resume(plain_resume(pid), pid, 0);
            }
        } else if (sig == SIGTRAP && event != 0) {
            /* fork / vfork / clone / exec events */
            n_event++;
            if (event == PTRACE_EVENT_EXEC) {
                /* exec from a non-leader thread: it now has the leader's
                 * pid, and its old tid is gone without an exit report */
                unsigned long former;
                if (ptrace(PTRACE_GETEVENTMSG, pid, 0L, &former) != 0) {
                    if (errno != ESRCH)
                        die("PTRACE_GETEVENTMSG");
                } else if ((pid_t)former != pid && former < PID_LIMIT) {
                    in_syscall[pid] = in_syscall[former];
                    in_syscall[former] = 0;
                }
            }
            resume(plain_resume(pid), pid, 0);
        } else {
            /* signal-delivery stop: hand the signal on */
            n_signal++;
            resume(plain_resume(pid), pid, sig);
        }
    }

    if (print_stats)
        fprintf(stderr,
                "mintracer: %lu syscall-entry, %lu syscall-exit, %lu seccomp, "
                "%lu event, %lu signal, %lu group stops\n",
                n_entry, n_exit, n_seccomp, n_event, n_signal, n_group);
    if (root_status < 0) {
        fprintf(stderr, "mintracer: lost the exit status of pid %d\n", (int)root);
        return 125;
    }
    if (WIFEXITED(root_status))
        return WEXITSTATUS(root_status);
    return 128 + WTERMSIG(root_status);
}

int main(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seccomp") == 0)
            use_seccomp = 1;
        else if (strcmp(argv[i], "--stats") == 0)
            print_stats = 1;
        else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else if (argv[i][0] == '-')
            usage();
        else
            break;
    }
    if (i >= argc)
        usage();
    return loop(spawn(&argv[i]));
}
