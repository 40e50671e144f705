/* spawn_many N PROGRAM: two processes each posix_spawn (vfork) PROGRAM N
 * times and wait for it.  A vfork child often stops, execs and makes its
 * first calls before a tracer has seen its parent's vfork event.  Prints
 * "spawn_many: 2N ok" and exits 0 only if every child exited 0. */
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int spawn_n(long n, char *prog)
{
    for (long i = 0; i < n; i++) {
        char *argv[] = {prog, NULL};
        pid_t pid;
        int status, err = posix_spawn(&pid, prog, NULL, NULL, argv, environ);
        if (err != 0) {
            fprintf(stderr, "spawn_many: posix_spawn: error %d\n", err);
            return 1;
        }
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
            fprintf(stderr, "spawn_many: child %d ended with status 0x%x\n", pid, status);
            return 1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = atol(argv[1]);
    pid_t other = fork();
    if (other < 0)
        return 1;
    int rc = spawn_n(n, argv[2]);
    if (other == 0)
        _exit(rc);
    int status;
    if (waitpid(other, &status, 0) != other || !WIFEXITED(status) || WEXITSTATUS(status))
        rc = 1;
    if (rc == 0)
        printf("spawn_many: %ld ok\n", 2 * n);
    return rc;
}
