/* other_process: calls that name a process other than the caller's own tree.
 *   other_process hold SECRET       keeps SECRET in memory, prints "addr=0x..." and
 *                                   waits (a host process the test starts, untraced)
 *   other_process PID ADDR SECRET   aims every call at PID and reads ADDR there
 *   other_process tracer            aims them at the tracer's thread (TracerPid in
 *                                   /proc/self/status: veil's loop thread, not its pid)
 * Natively (PID a process of the same user): every call = ESCAPED, the read
 * shows SECRET.  Under veil run with a layout: all EPERM, reported; under
 * --strict the same, and /proc/PID does not exist (ENOENT). */
#include "esc.h"
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/uio.h>

static char secret[64];

static pid_t tracer_thread(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    pid_t tid = 0;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "TracerPid: %d", &tid) == 1)
            break;
    if (f)
        fclose(f);
    return tid;
}

static unsigned long first_mapping(pid_t pid)
{
    char path[64];
    unsigned long start = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%lx", &start) != 1)
            start = 0;
        fclose(f);
    }
    return start;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "hold") == 0) {
        snprintf(secret, sizeof secret, "%s", argv[2]);
        printf("addr=%p\n", (void *)secret);
        fflush(stdout);
        for (;;)
            pause();
    }
    pid_t target;
    unsigned long addr;
    const char *want = NULL;
    if (argc == 2 && strcmp(argv[1], "tracer") == 0) {
        target = tracer_thread();
        if (!target)
            target = getppid(); /* natively: the test runner */
        addr = first_mapping(target);
    } else if (argc == 4) {
        target = atoi(argv[1]);
        addr = strtoul(argv[2], NULL, 0);
        want = argv[3];
    } else {
        fprintf(stderr, "usage: other_process hold SECRET | PID ADDR SECRET | tracer\n");
        return 2;
    }
    char buf[64] = {0};
    struct iovec local = {buf, sizeof buf - 1}, remote = {(void *)addr, sizeof buf - 1};
    long n = process_vm_readv(target, &local, 1, &remote, 1, 0);
    if (n < 0 || !want)
        say("process_vm_readv", n, "memory read");
    else
        printf("process_vm_readv = %s %s\n", strstr(buf, want) ? "ESCAPED" : "CONTAINED", buf);
    say("kill", kill(target, 0), "signalled");
    say("tkill", syscall(SYS_tkill, target, 0), "signalled");
    say("tgkill", syscall(SYS_tgkill, target, target, 0), "signalled");
    say("sigqueue", syscall(SYS_rt_sigqueueinfo, target, 0, &(siginfo_t){.si_code = SI_QUEUE}),
        "signalled");
    struct rlimit old;
    say("prlimit", syscall(SYS_prlimit64, target, RLIMIT_NOFILE, NULL, &old), "limits read");
    say("setpriority", setpriority(PRIO_PROCESS, (id_t)target, getpriority(PRIO_PROCESS,
                                       (id_t)target)), "priority set");
    cpu_set_t cpus;
    CPU_ZERO(&cpus);
    if (sched_getaffinity(target, sizeof cpus, &cpus) == 0)
        say("sched_setaffinity", sched_setaffinity(target, sizeof cpus, &cpus), "affinity set");
    say("kcmp", syscall(SYS_kcmp, getpid(), target, 0 /* KCMP_FILE */, 0, 0), "compared");
    long pfd = syscall(SYS_pidfd_open, target, 0);
    say("pidfd_open", pfd, "a pidfd");
    if (pfd >= 0)
        close((int)pfd);
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%d", (int)target);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        say("pidfd_send_signal(/proc dir)", syscall(SYS_pidfd_send_signal, dfd, 0, NULL, 0),
            "signalled");
        close(dfd);
    } else {
        say("pidfd_send_signal(/proc dir)", -1, ""); /* /proc/PID itself is out of sight */
    }
    if (argc == 4) /* never seize the test runner */
        say("ptrace seize", ptrace(PTRACE_SEIZE, target, 0, 0), "traced");
    return 0;
}
