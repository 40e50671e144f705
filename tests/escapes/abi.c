/* abi HOSTONLY: open HOSTONLY through the i386 (int 0x80) and x32 system call
 * ABIs, which a translator that only knows x86_64 numbers would pass untranslated.
 * Natively: int80 = ESCAPED (x32 needs CONFIG_X86_X32_ABI, else ENOSYS).
 * Under veil: both ENOSYS, reported ("veil: refused i386 syscall 5 ..."). */
#include "esc.h"

static char path[4096]; /* in .bss: below 4 GiB in this non-PIE static program */

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    snprintf(path, sizeof path, "%s", argv[1]);
    long fd;
    /* i386 open is 5; int 0x80 takes 32-bit pointers */
    __asm__ volatile("int $0x80" : "=a"(fd) : "a"(5L), "b"(path), "c"(0L) : "memory");
    if (fd < 0)
        errno = (int)-fd, fd = -1;
    say_fd("int80 open", (int)fd, argv[2]);
    /* x32 open is 0x40000000 | 2 */
    __asm__ volatile("syscall" : "=a"(fd) : "a"(0x40000000L | 2L), "D"(path), "S"(0L)
                     : "rcx", "r11", "memory");
    if (fd < 0)
        errno = (int)-fd, fd = -1;
    say_fd("x32 open", (int)fd, argv[2]);
    return 0;
}
