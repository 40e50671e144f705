/* Two threads that compute without syscalls for argv[1] ms, then exit;
   with argv[2] "calls", each calls getppid at every turn of its loop instead
   (a tree that stops often, both threads runnable).
   Writes "ready\n" on stdout first, so a test can look at it meanwhile. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static long ms;
static int calls;

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts); /* vDSO: no syscall, no stop */
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void *spin(void *arg)
{
    volatile unsigned long x = 0;
    double end = now_ms() + ms;
    while (now_ms() < end) {
        x++;
        if (calls)
            syscall(SYS_getppid); /* raw: no libc caching */
    }
    return arg;
}

int main(int argc, char **argv)
{
    pthread_t a, b;
    ms = argc > 1 ? atol(argv[1]) : 1000;
    calls = argc > 2 && strcmp(argv[2], "calls") == 0;
    if (pthread_create(&a, NULL, spin, NULL) || pthread_create(&b, NULL, spin, NULL))
        return 1;
    if (write(1, "ready\n", 6) != 6)
        return 1;
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    return 0;
}
