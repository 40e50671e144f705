/* Decoding corpus: mmap/mprotect/munmap/brk/mremap/madvise/msync/mlock,
 * mincore.  Deterministic (addresses are normalised).  Prints nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int main(void)
{
    void *cur = sbrk(0);
    brk((char *)cur + 8192);
    brk(cur);
    char *a = mmap(NULL, 16384, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(a, 4096, PROT_READ);
    mprotect(a + 4096, 4096, PROT_NONE);
    mprotect(a, 4096, PROT_READ | PROT_WRITE | PROT_EXEC | PROT_GROWSDOWN);
    madvise(a, 8192, MADV_DONTNEED);
    madvise(a, 8192, MADV_WILLNEED);
    madvise(a, 8192, 12345);
    msync(a, 4096, MS_ASYNC | MS_INVALIDATE);
    mlock(a + 8192, 4096);
    munlock(a + 8192, 4096);
    mlock2(a + 8192, 4096, MLOCK_ONFAULT);
    unsigned char vec[4];
    mincore(a, 16384, vec);
    char *b = mremap(a, 16384, 32768, MREMAP_MAYMOVE);
    munmap(b, 32768);
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    void *c = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    munmap(c, 4096);
    mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_POPULATE | MAP_NORESERVE, fd, 4096);
    mmap(NULL, 4096, PROT_READ, MAP_SHARED, -1, 0);               /* EBADF */
    mmap((void *)0x100000000, 4096, PROT_READ | PROT_WRITE,
         MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE | MAP_STACK, -1, 0);
    munmap((void *)1, 4096);                                        /* EINVAL */
    close(fd);
    return 0;
}
