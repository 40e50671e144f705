/* Tracee memory: process_vm_readv/writev, falling back to /proc/PID/mem. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal.h"

static long proc_mem_io(pid_t tid, uint64_t addr, void *buf, size_t len, int write)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/mem", tid);
    int fd = open(path, (write ? O_WRONLY : O_RDONLY) | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write ? pwrite(fd, buf, len, (off_t)addr) : pread(fd, buf, len, (off_t)addr);
    int saved = errno;
    if (close(fd) < 0 && n >= 0)
        return -errno;
    return n < 0 ? -saved : n;
}

long veil_read_mem(int32_t tid, uint64_t addr, void *buf, size_t len)
{
    if (len == 0)
        return 0;
    struct iovec local = {buf, len};
    struct iovec remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_readv(tid, &local, 1, &remote, 1, 0);
    if (n >= 0)
        return n;
    /* ENOSYS (old kernel) or EPERM (e.g. yama): /proc/PID/mem still works
       for a ptrace-stopped tracee.  EFAULT is a real bad address. */
    if (errno == EFAULT)
        return -EFAULT;
    return proc_mem_io(tid, addr, buf, len, 0);
}

long veil_write_mem(int32_t tid, uint64_t addr, const void *buf, size_t len)
{
    if (len == 0)
        return 0;
    struct iovec local = {(void *)buf, len};
    struct iovec remote = {(void *)(uintptr_t)addr, len};
    ssize_t n = process_vm_writev(tid, &local, 1, &remote, 1, 0);
    if (n >= 0)
        return n;
    /* process_vm_writev honours page protections (EFAULT on read-only
       pages); /proc/PID/mem writes through them (FOLL_FORCE), as ptrace
       POKEDATA does. */
    return proc_mem_io(tid, addr, (void *)buf, len, 1);
}

/* through page protections (FOLL_FORCE): veil's read-only scratch area */
long veil_write_mem_force(int32_t tid, uint64_t addr, const void *buf, size_t len)
{
    return proc_mem_io(tid, addr, (void *)buf, len, 1);
}

/*
 * Read a NUL-terminated string of at most cap-1 bytes.  Reads page by page so
 * that a string ending just before an unmapped page is still read whole.
 * Returns its length (without NUL), or -errno if nothing could be read.
 */
long veil_read_cstr(int32_t tid, uint64_t addr, char *buf, size_t cap, int *truncated)
{
    size_t got = 0;
    *truncated = 0;
    if (cap == 0)
        return 0;
    while (got < cap - 1) {
        size_t page_left = 4096 - ((addr + got) & 4095);
        size_t want = cap - 1 - got;
        if (want > page_left)
            want = page_left;
        long n = veil_read_mem(tid, addr + got, buf + got, want);
        if (n <= 0) {
            if (got == 0)
                return n < 0 ? n : -EFAULT;
            break;
        }
        char *nul = memchr(buf + got, 0, (size_t)n);
        if (nul) {
            got = (size_t)(nul - buf);
            buf[got] = 0;
            return (long)got;
        }
        got += (size_t)n;
        if ((size_t)n < want)
            break;
    }
    buf[got] = 0;
    *truncated = 1;
    return (long)got;
}

/* The start of a small /proc file, NUL-terminated, in buf; its length, or -1. */
ssize_t veil_read_proc(const char *path, char *buf, size_t size)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, size - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    return n;
}
