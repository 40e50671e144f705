/* kill_veil [native]: the tracer is the parent; signalling, tracing or reading it
 * would end or take over the confinement.  Signal 0 only checks the permission.
 * Natively (the parent is the test): kill/tgkill/pidfd_open/process_vm_readv =
 * ESCAPED.  Under veil: all EPERM, reported. */
#include "esc.h"
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>

int main(int argc, char **argv)
{
    pid_t veil = getppid();
    say("kill", kill(veil, 0), "the tracer can be signalled");
    say("kill group", kill(0, 0), "the tracer's process group can be signalled");
    say("tgkill", syscall(SYS_tgkill, veil, veil, 0), "the tracer's thread can be signalled");
    long pfd = syscall(SYS_pidfd_open, veil, 0);
    say("pidfd_open", pfd, "a pidfd of the tracer");
    if (pfd >= 0)
        close((int)pfd);
    char buf[8], maps[64];
    unsigned long start = 0; /* the tracer's first mapping */
    snprintf(maps, sizeof maps, "/proc/%d/maps", (int)veil);
    FILE *f = fopen(maps, "r");
    if (f) {
        if (fscanf(f, "%lx", &start) != 1)
            start = 0;
        fclose(f);
    }
    struct iovec local = {buf, sizeof buf}, remote = {(void *)start, sizeof buf};
    say("process_vm_readv", process_vm_readv(veil, &local, 1, &remote, 1, 0),
        "the tracer's memory read");
    if (argc < 2 || strcmp(argv[1], "native") != 0) /* seizing the test runner: no */
        say("ptrace seize", ptrace(PTRACE_SEIZE, veil, 0, 0), "the tracer traced");
    return 0;
}
