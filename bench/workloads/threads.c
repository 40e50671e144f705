/* threads N [T]: T threads (default 2), each doing N raw getppid() calls.
 * The multi-threaded case: with T >= 2 more than one tracee thread can be
 * runnable at once, so a tracer that pins itself to one core pays for it. */
#define _GNU_SOURCE
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "common.h"

static long iterations;

static void *worker(void *arg)
{
    long ppid = syscall(SYS_getppid);

    (void)arg;
    for (long i = 0; i < iterations; i++) {
        if (syscall(SYS_getppid) != ppid)
            return (void *)1;
    }
    return NULL;
}

int main(int argc, char **argv)
{
    long nthreads = bench_count(argc, argv, 2, 2);
    pthread_t tids[64];
    int rc = 0;
    double start = bench_now();

    iterations = bench_count(argc, argv, 1, 100000);
    if (nthreads < 1 || nthreads > 64) {
        fprintf(stderr, "threads: thread count must be 1..64\n");
        return 2;
    }
    for (long t = 0; t < nthreads; t++) {
        int err = pthread_create(&tids[t], NULL, worker, NULL);
        if (err != 0) {
            fprintf(stderr, "threads: pthread_create: %s\n", strerror(err));
            return 1;
        }
    }
    for (long t = 0; t < nthreads; t++) {
        void *res;
        int err = pthread_join(tids[t], &res);
        if (err != 0) {
            fprintf(stderr, "threads: pthread_join: %s\n", strerror(err));
            return 1;
        }
        if (res != NULL)
            rc = 1;
    }
    bench_loop_done(start);
    return rc;
}
