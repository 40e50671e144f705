/* seccomp_allow CMD [ARG...]: run CMD under a one-instruction seccomp filter
 * that allows every call.  It stops nothing; what it costs against native is
 * the kernel's price for having any filter at all (the syscall entry takes
 * the slow path that runs seccomp), the floor for "calls outside the policy"
 * under veil run, which must install a filter to see the calls inside it. */
#define _GNU_SOURCE
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct sock_filter allow[] = {BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW)};
    struct sock_fprog prog = {1, allow};

    if (argc < 2) {
        fprintf(stderr, "usage: seccomp_allow CMD [ARG...]\n");
        return 2;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        perror("seccomp_allow: PR_SET_NO_NEW_PRIVS");
        return 1;
    }
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
        perror("seccomp_allow: seccomp");
        return 1;
    }
    execvp(argv[1], argv + 1);
    perror("seccomp_allow: exec");
    return 127;
}
