/* forkexec N: N x { fork; the child execs /bin/true; the parent waitpid }. */
#define _GNU_SOURCE
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common.h"

int main(int argc, char **argv)
{
    long n = bench_count(argc, argv, 1, 500);
    char *const child_argv[] = { "true", NULL };
    char *const child_envp[] = { NULL };

    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0) {
            perror("forkexec: fork");
            return 1;
        }
        if (pid == 0) {
            execve("/bin/true", child_argv, child_envp);
            perror("forkexec: execve /bin/true");
            _exit(127);
        }
        int status;
        pid_t w;
        do
            w = waitpid(pid, &status, 0);
        while (w < 0 && errno == EINTR);
        if (w != pid) {
            perror("forkexec: waitpid");
            return 1;
        }
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
            fprintf(stderr, "forkexec: child failed (status 0x%x)\n", status);
            return 1;
        }
    }
    return 0;
}
