/* Makes i386 (int 0x80) and x32 system calls from an x86_64 process: a
   tracer must name them by their own ABI's table, not as x86_64 calls. */
#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>

int main(void)
{
    long ret;
    /* i386 getpid is 20 (x86_64's 20 is writev) */
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");
    printf("i386 getpid=%ld real=%ld\n", ret, (long)getpid());
    /* x32 getpid: 0x40000000 | 39; ENOSYS if the kernel lacks x32 */
    __asm__ volatile("syscall" : "=a"(ret) : "a"(0x40000000L | 39L) : "rcx", "r11", "memory");
    printf("x32 getpid=%ld\n", ret);
    return 0;
}
