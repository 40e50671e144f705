/* sibling GUEST HOSTONLY MARKER N: a child (a sibling: veil traces it too) opens
 * GUEST N times with raw system calls, its path in a buffer the parent keeps
 * rewriting to HOSTONLY with process_vm_writev, and below its stack pointer the
 * parent writes "////...HOSTONLY" the same way.  The parent also tries to
 * ptrace the child.
 * Prints "ptrace attach = ...", "process_vm_writev scratch = ..." and the child's
 * "host=H guest=G errors=E".
 * Natively: ptrace attach = ESCAPED (a parent may trace its child: it becomes its
 * tracer).  Under veil: ptrace attach/seize = EMULATED (veil emulates ptrace for a
 * guest tracer and stays the child's tracer), writes into veil's scratch area =
 * EFAULT, host=0. */
#include "esc.h"
#include "race.h"
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>

#define SPAN 16384
static char path[4096], buf[512];
static char area[SPAN];
static long counts[3]; /* host, guest, errors */

/* ESCAPED if the caller became the child's tracer (its TracerPid), EMULATED if
   the call succeeded and the child's tracer is still someone else */
static void say_tracer(const char *label, long rc, pid_t child)
{
    if (rc < 0) {
        say(label, rc, "");
        return;
    }
    char where[64], text[2048];
    snprintf(where, sizeof where, "/proc/%d/status", (int)child);
    int fd = open(where, O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, text, sizeof text - 1) : -1;
    if (fd >= 0)
        close(fd);
    text[n > 0 ? n : 0] = 0;
    const char *tracer = strstr(text, "TracerPid:");
    if (tracer && atoi(tracer + 10) == getpid())
        printf("%s = ESCAPED a second tracer on the child\n", label);
    else
        printf("%s = EMULATED\n", label);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *guest = argv[1], *hostonly = argv[2], *marker = argv[3];
    long n = atol(argv[4]);
    int info[2], res[2], go[2];
    if (pipe(info) < 0 || pipe(res) < 0 || pipe(go) < 0)
        return 1;
    snprintf(path, sizeof path, "%s", guest);
    pid_t child = fork();
    if (child == 0) {
        uintptr_t sp = stack_pointer();
        if (write(info[1], &sp, sizeof sp) != sizeof sp)
            _exit(1);
        long mlen = (long)strlen(marker);
        /* the parent's probes need this child alive: its loop waits for them */
        char ready;
        while (raw3(SYS_read, go[0], (long)&ready, 1) == -EINTR)
            ;
        for (long i = 0; i < n; i++) {
            long fd = raw3(SYS_openat, AT_FDCWD, (long)path, O_RDONLY);
            if (fd < 0) {
                counts[2]++;
                continue;
            }
            long got = raw3(SYS_read, fd, (long)buf, sizeof buf);
            raw3(SYS_close, fd, 0, 0);
            counts[got > 0 && holds(buf, got, marker, mlen) ? 0 : 1]++;
        }
        /* the parent may still write below our stack pointer: no libc call */
        raw3(SYS_write, res[1], (long)counts, sizeof counts);
        raw3(SYS_exit, 0, 0, 0);
    }
    uintptr_t sp = 0;
    if (read(info[0], &sp, sizeof sp) != sizeof sp)
        return 1;
    long rc = ptrace(PTRACE_ATTACH, child, 0, 0);
    say_tracer("ptrace attach", rc, child);
    if (rc == 0) {
        waitpid(child, NULL, __WALL);
        ptrace(PTRACE_DETACH, child, 0, 0);
    }
    say_tracer("ptrace seize", ptrace(PTRACE_SEIZE, child, 0, 0), child);
    char c = 'x';
    struct iovec one = {&c, 1}, at = {(void *)0x200000000ul, 1};
    say("process_vm_writev scratch", process_vm_writev(child, &one, 1, &at, 1, 0),
        "veil's scratch area written");
    if (write(go[1], "g", 1) != 1)
        return 1;
    char *high = area + SPAN;
    scribble(area, high, hostonly, strlen(hostonly));
    uintptr_t below = ((sp - 128) & ~(uintptr_t)15) - SPAN;
    size_t glen = strlen(guest) + 1, hlen = strlen(hostonly) + 1;
    for (unsigned i = 0; waitpid(child, NULL, WNOHANG) == 0; i++) {
        struct iovec src = {(i & 1) ? (void *)hostonly : (void *)guest, (i & 1) ? hlen : glen};
        struct iovec dst = {path, src.iov_len};
        process_vm_writev(child, &src, 1, &dst, 1, 0);
        struct iovec s2 = {area, SPAN}, d2 = {(void *)below, SPAN};
        process_vm_writev(child, &s2, 1, &d2, 1, 0);
    }
    if (read(res[0], counts, sizeof counts) != sizeof counts)
        return 1;
    printf("host=%ld guest=%ld errors=%ld\n", counts[0], counts[1], counts[2]);
    return 0;
}
