/* Threads created in waves while earlier ones are still alive and others have
 * exited: the tracer's task table grows and shrinks under it.  argv[1] waves
 * (default 4) of argv[2] threads (default 100); each thread makes one getppid
 * and exits.  Prints "threads N". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

static void *worker(void *arg)
{
    (void)arg;
    syscall(SYS_getppid);
    return NULL;
}

int main(int argc, char **argv)
{
    int waves = argc > 1 ? atoi(argv[1]) : 4, per = argc > 2 ? atoi(argv[2]) : 100, total = 0;
    pthread_t *t = calloc((size_t)per, sizeof *t);
    if (!t)
        return 1;
    for (int w = 0; w < waves; w++) {
        for (int i = 0; i < per; i++)
            if (pthread_create(&t[i], NULL, worker, NULL) != 0) {
                perror("pthread_create");
                return 1;
            }
        for (int i = 0; i < per; i++)
            pthread_join(t[i], NULL);
        total += per;
    }
    printf("threads %d\n", total);
    return 0;
}
