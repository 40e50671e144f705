/* Shared helpers for the bench workloads: parse the iteration count; time
 * the loop itself (BENCH_LOOP set: "bench: loop S s" on stderr), which leaves
 * out every tracer's start-up and shut-down.  clock_gettime is a vDSO call:
 * no tracer stops at it. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long bench_count(int argc, char **argv, int idx, long dflt)
{
    char *end;
    long n;

    if (argc <= idx)
        return dflt;
    errno = 0;
    n = strtol(argv[idx], &end, 10);
    if (errno != 0 || *end != '\0' || end == argv[idx] || n < 0) {
        fprintf(stderr, "%s: bad count '%s'\n", argv[0], argv[idx]);
        exit(2);
    }
    return n;
}

static inline double bench_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void bench_loop_done(double start)
{
    double seconds = bench_now() - start;

    if (getenv("BENCH_LOOP"))
        fprintf(stderr, "bench: loop %.9f s\n", seconds);
}

#endif
