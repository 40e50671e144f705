/* A non-leader thread calls execve(/bin/true): the kernel kills the other
 * threads and the execing thread takes over the leader's tid. */
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *worker(void *arg)
{
    (void)arg;
    usleep(10000);
    execl("/bin/true", "true", (char *)0);
    _exit(126);
}

int main(void)
{
    pthread_t t;
    if (pthread_create(&t, NULL, worker, NULL) != 0)
        return 1;
    for (;;)
        pause();
}
