/* getppid N: a syscall-heavy loop of N raw getppid() calls.
 * syscall(SYS_getppid) is used so that no libc caching can hide a call. */
#define _GNU_SOURCE
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 1, 200000);
    long ppid = syscall(SYS_getppid);
    double start = bench_now();

    for (long i = 0; i < n; i++) {
        if (syscall(SYS_getppid) != ppid) {
            fprintf(stderr, "getppid: parent changed\n");
            return 1;
        }
    }
    bench_loop_done(start);
    return 0;
}
