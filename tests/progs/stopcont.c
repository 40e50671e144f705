/* Prints "ready", then sleeps ~1.5 s in short steps (so a SIGSTOP/SIGCONT
 * from outside lands while it runs), then exits 0. */
#include <stdio.h>
#include <time.h>

int main(void)
{
    printf("ready\n");
    fflush(stdout);
    struct timespec ts = {0, 50 * 1000 * 1000};
    for (int i = 0; i < 30; i++)
        nanosleep(&ts, NULL);
    return 0;
}
