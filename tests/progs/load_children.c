/* N short-lived children (argv[1], default 500), at most 50 alive at once:
 * child i exits with status i % 200, every 10th after exec'ing
 * "/bin/sh -c 'exit S'".  The parent checks every status, prints
 * "kid PID STATUS" for each and exits 0 if all were as expected. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 500;
    int *want = calloc((size_t)n, sizeof *want);
    pid_t *pids = calloc((size_t)n, sizeof *pids);
    if (!want || !pids)
        return 1;
    int alive = 0, bad = 0, done = 0;
    for (int i = 0; i < n || alive > 0;) {
        if (i < n && alive < 50) {
            pid_t p = fork();
            if (p < 0)
                return 1;
            if (p == 0) {
                if (i % 10 == 0) {
                    char code[32];
                    snprintf(code, sizeof code, "exit %d", i % 200);
                    execl("/bin/sh", "sh", "-c", code, (char *)0);
                }
                _exit(i % 200);
            }
            pids[i] = p;
            want[i] = i % 200;
            alive++;
            i++;
            continue;
        }
        int status;
        pid_t p = wait(&status);
        if (p < 0)
            return 1;
        alive--;
        done++;
        for (int j = 0; j < n; j++)
            if (pids[j] == p) {
                if (!WIFEXITED(status) || WEXITSTATUS(status) != want[j])
                    bad = 1;
                printf("kid %d %d\n", (int)p, WEXITSTATUS(status));
                pids[j] = 0;
                break;
            }
    }
    return bad || done != n ? 2 : 0;
}
