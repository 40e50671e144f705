/* N x {getuid, geteuid}: what a fake identity costs when the filter answers. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += syscall(SYS_getuid) + syscall(SYS_geteuid);
    return sum == 0 ? 0 : 1;
}
