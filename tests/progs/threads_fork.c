/* 50 threads, each forks, execs /bin/true and waits for its child.
 * Prints every child pid on stdout (one a line) so the test can check that
 * each of them has an exit line in the trace. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#define N 50
static pid_t kids[N];

static void *worker(void *arg)
{
    long i = (long)arg;
    pid_t p = fork();
    if (p == 0) {
        execl("/bin/true", "true", (char *)0);
        _exit(127);
    }
    kids[i] = p;
    int status;
    if (p < 0 || waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        kids[i] = -1;
    return NULL;
}

int main(void)
{
    pthread_t t[N];
    for (long i = 0; i < N; i++)
        if (pthread_create(&t[i], NULL, worker, (void *)i) != 0)
            return 1;
    for (int i = 0; i < N; i++)
        pthread_join(t[i], NULL);
    int bad = 0;
    for (int i = 0; i < N; i++) {
        if (kids[i] <= 0)
            bad = 1;
        printf("%d\n", (int)kids[i]);
    }
    return bad ? 2 : 0;
}
