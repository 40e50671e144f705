/* getuid N [filter]: N x {getuid, geteuid}: what a fake identity costs when the
   filter answers.  With "filter", first install a seccomp filter that allows
   everything: the kernel's own cost of running under any filter (the floor). */
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 100000;
    if (argc > 2 && strcmp(argv[2], "filter") == 0) {
        struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
        struct sock_fprog prog = {1, allow};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 ||
            prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog) != 0) {
            perror("getuid: seccomp");
            return 2;
        }
    }
    long sum = 0;
    for (long i = 0; i < n; i++)
        sum += syscall(SYS_getuid) + syscall(SYS_geteuid);
    return sum == 0 ? 0 : 1;
}
