/* Prints its pid, then loops on nanosleep/getppid forever.
 * argv[1] = number of extra threads doing the same (default 0). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

static void loop(void)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    for (;;) {
        nanosleep(&ts, NULL);
        getppid();
    }
}

static void *worker(void *arg)
{
    (void)arg;
    loop();
    return NULL;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 0;
    for (int i = 0; i < n; i++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, NULL) != 0)
            return 1;
    }
    printf("%d\n", (int)getpid());
    fflush(stdout);
    loop();
    return 0;
}
