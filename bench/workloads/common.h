/* Shared helpers for the bench workloads: parse the iteration count. */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

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

#endif
