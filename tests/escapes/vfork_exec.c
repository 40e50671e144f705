/* vfork_exec GUEST HOSTONLY N: vfork + execve N times while a second thread
 * flips the program path between GUEST and HOSTONLY and scribbles
 * "////...HOSTONLY" below the stack pointer the vfork child runs on (it shares
 * the parent's memory).  HOSTONLY is a host-only static program that exits 42;
 * GUEST exits 0.  vfork and execve are raw system calls (no stack use).
 * Prints "host=H guest=G failed=F".
 * Natively the flipped path runs HOSTONLY (host>0).  Under veil: host=0. */
#include "esc.h"
#include "race.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#define SPAN 4096
static char path[4096];
static const char *guest, *hostonly;
static atomic_int armed, busy, stop;
static _Atomic uintptr_t parent_sp;

static void *flipper(void *arg)
{
    (void)arg;
    size_t hlen = strlen(hostonly);
    for (unsigned i = 0; !atomic_load(&stop); i++) {
        const char *src = (i & 1) ? hostonly : guest;
        size_t n = strlen(src) + 1;
        for (size_t k = 0; k < n; k++)
            ((volatile char *)path)[k] = src[k];
        atomic_store(&busy, 1);
        if (atomic_load(&armed)) {
            char *high = (char *)((atomic_load(&parent_sp) - 128) & ~(uintptr_t)15);
            scribble(high - SPAN, high, hostonly, hlen);
        }
        atomic_store(&busy, 0);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc < 4)
        return 2;
    guest = argv[1];
    hostonly = argv[2];
    long n = atol(argv[3]), host = 0, ok = 0, failed = 0;
    snprintf(path, sizeof path, "%s", guest);
    static char *args[2];
    static char *env[1];
    args[0] = path;
    pthread_t th;
    pthread_create(&th, NULL, flipper, NULL);
    for (long i = 0; i < n; i++) {
        long pid;
        atomic_store(&parent_sp, stack_pointer());
        atomic_store(&armed, 1);
        /* vfork; the child execs at once, on no stack of its own */
        register long r10 __asm__("r10") = 0;
        __asm__ volatile("syscall\n\t"
                         "test %%rax, %%rax\n\t"
                         "jnz 1f\n\t"
                         "mov $59, %%eax\n\t"
                         "syscall\n\t"
                         "mov $60, %%eax\n\t"
                         "mov $127, %%edi\n\t"
                         "syscall\n"
                         "1:"
                         : "=a"(pid)
                         : "a"((long)SYS_vfork), "D"(path), "S"(args), "d"(env), "r"(r10)
                         : "rcx", "r11", "memory");
        atomic_store(&armed, 0);
        while (atomic_load(&busy)) /* no call on the scribbled stack before it stops */
            ;
        int st = 0;
        if (pid < 0 || waitpid((pid_t)pid, &st, 0) < 0) {
            failed++;
            continue;
        }
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
        if (code == 42)
            host++;
        else if (code == 0)
            ok++;
        else
            failed++;
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    printf("host=%ld guest=%ld failed=%ld\n", host, ok, failed);
    return 0;
}
