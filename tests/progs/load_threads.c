/* 200 threads, each making CALLS getppid() calls (and a short nanosleep
 * every 50), while the main thread forks KIDS children that exec /bin/true
 * (argv[1] = CALLS, default 200; argv[2] = KIDS, default 20).  Prints
 * "kid PID" for every child and "calls N" with the threads' total, so that a
 * test can check the trace saw each of them. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define THREADS 200
static int calls = 200;
static pthread_barrier_t start;

static void *worker(void *arg)
{
    (void)arg;
    struct timespec ts = {0, 1000 * 1000};
    pthread_barrier_wait(&start);
    for (int i = 0; i < calls; i++) {
        syscall(SYS_getppid);
        if (i % 50 == 49)
            nanosleep(&ts, NULL);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    calls = argc > 1 ? atoi(argv[1]) : 200;
    int kids = argc > 2 ? atoi(argv[2]) : 20;
    pthread_t t[THREADS];
    if (pthread_barrier_init(&start, NULL, THREADS + 1) != 0)
        return 1;
    for (int i = 0; i < THREADS; i++)
        if (pthread_create(&t[i], NULL, worker, NULL) != 0)
            return 1;
    pthread_barrier_wait(&start);
    int bad = 0;
    for (int k = 0; k < kids; k++) {
        pid_t p = fork();
        if (p == 0) {
            execl("/bin/true", "true", (char *)0);
            _exit(127);
        }
        int status;
        if (p < 0 || waitpid(p, &status, 0) != p || !WIFEXITED(status) || WEXITSTATUS(status))
            bad = 1;
        printf("kid %d\n", (int)p);
    }
    for (int i = 0; i < THREADS; i++)
        pthread_join(t[i], NULL);
    printf("calls %d\n", THREADS * calls);
    return bad ? 2 : 0;
}
