/* scratch_hammer GUEST HOSTONLY MARKER N: the main thread opens GUEST N times
 * with raw system calls while a second thread keeps filling the memory below
 * the main thread's stack pointer with "////...HOSTONLY": where a tracer writes
 * the translated path under the stack pointer, the kernel then reads the
 * helper's path instead.  Prints "host=H guest=G errors=E".
 * Under veil: host=0 (the translated path lies on a page the guest cannot
 * write).  Natively nothing is translated: not run. */
#include "esc.h"
#include "race.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/syscall.h>

#define SPAN 65536
static atomic_int stop, done;
static _Atomic uintptr_t victim_sp;
static const char *hostonly;

static void *hammer(void *arg)
{
    (void)arg;
    uintptr_t sp;
    while (!(sp = atomic_load(&victim_sp)))
        ;
    char *high = (char *)(((sp - 128) & ~(uintptr_t)15));
    size_t plen = strlen(hostonly);
    while (!atomic_load(&stop))
        scribble(high - SPAN, high, hostonly, plen);
    atomic_store(&done, 1);
    return NULL;
}

static char buf[512];

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *guest = argv[1], *marker = argv[3];
    hostonly = argv[2];
    long n = atol(argv[4]), mlen = (long)strlen(marker), host = 0, ok = 0, err = 0;
    pthread_t th;
    pthread_create(&th, NULL, hammer, NULL);
    atomic_store(&victim_sp, stack_pointer());
    for (long i = 0; i < n; i++) {
        long fd = raw3(SYS_openat, AT_FDCWD, (long)guest, O_RDONLY);
        if (fd < 0) {
            err++;
            continue;
        }
        long got = raw3(SYS_read, fd, (long)buf, sizeof buf);
        raw3(SYS_close, fd, 0, 0);
        if (got > 0 && holds(buf, got, marker, mlen))
            host++;
        else
            ok++;
    }
    atomic_store(&stop, 1);
    while (!atomic_load(&done)) /* no call below the scribbled stack before it stops */
        ;
    pthread_join(th, NULL);
    printf("host=%ld guest=%ld errors=%ld\n", host, ok, err);
    return 0;
}
