/* scratch_guard: veil's read-only scratch area (VEIL_SCRATCH_BASE, 4 MiB) holds the
 * translated paths the kernel is about to read; the program must not be able to
 * write there by any way: mprotect/pkey_mprotect, munmap, mmap(MAP_FIXED) over it,
 * mremap onto it, madvise, a writable /proc/self/mem, process_vm_writev, and
 * userfaultfd (UFFDIO_MOVE takes pages out of a range, the handler fills them),
 * and PTRACE_POKEDATA into a child that stopped itself for its parent (a real
 * POKE writes through page protections; veil emulates the guest's ptrace).
 * Under veil: EPERM for the mapping calls and userfaultfd (the syscall, and
 * UFFDIO_API on /dev/userfaultfd), EACCES for /proc/self/mem (reported),
 * EFAULT for process_vm_writev (the page is read-only), EIO for the POKE (and
 * the PEEK: the area is not the program's).  Natively there is no
 * such area: not run. */
#include "esc.h"
#include <stdint.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define BASE 0x200000000ul
#define SIZE 0x400000ul

int main(void)
{
    say("mprotect", mprotect((void *)BASE, 4096, PROT_READ | PROT_WRITE), "made writable");
    say("mprotect below", mprotect((void *)(BASE - 4096), 8192, PROT_READ | PROT_WRITE),
        "made writable");
    say("munmap", munmap((void *)(BASE + SIZE - 4096), 4096), "unmapped");
    void *m = mmap((void *)BASE, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS |
                   MAP_FIXED, -1, 0);
    say("mmap fixed", m == MAP_FAILED ? -1 : 0, "replaced");
    void *other = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void *moved = mremap(other, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, (void *)BASE);
    say("mremap onto", moved == MAP_FAILED ? -1 : 0, "a writable page moved over it");
    say("madvise", madvise((void *)BASE, 4096, MADV_DONTNEED), "dropped");
    say("open /proc/self/mem rw", open("/proc/self/mem", O_RDWR), "writes through protections");
    int ro = open("/proc/self/mem", O_RDONLY);
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", ro);
    say("reopen mem fd rw", open(link, O_RDWR), "writes through protections");
    char c = 'x';
    struct iovec local = {&c, 1}, remote = {(void *)BASE, 1};
    say("process_vm_writev", process_vm_writev(getpid(), &local, 1, &remote, 1, 0),
        "written");
    pid_t child = fork();
    if (child == 0) {
        if (ptrace(PTRACE_TRACEME, 0, 0, 0) == 0)
            raise(SIGSTOP);
        _exit(0);
    }
    int status;
    if (child > 0 && waitpid(child, &status, 0) == child && WIFSTOPPED(status)) {
        errno = 0;
        long word = ptrace(PTRACE_PEEKDATA, child, (void *)BASE, 0);
        say("ptrace peek", errno ? -1 : word, "read veil's area");
        say("ptrace poke", ptrace(PTRACE_POKEDATA, child, (void *)BASE, (void *)0x41L),
            "written");
        kill(child, SIGKILL);
        waitpid(child, &status, 0);
    } else {
        say("ptrace traceme", -1, "");
    }
    long uffd = syscall(SYS_userfaultfd, O_CLOEXEC);
    say("userfaultfd", uffd, "a userfaultfd");
    int dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        long fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC);
        struct uffdio_api api = {.api = UFFD_API};
        say("UFFDIO_API", fd < 0 ? -1 : ioctl((int)fd, UFFDIO_API, &api), "a userfaultfd");
    }
    return 0;
}
