/* Ignores SIGTERM; on SIGINT writes "got SIGINT\n" to the file argv[1] and
 * exits 0.  Prints "ready\n" once its handlers are in place. */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_int;

static void on_int(int sig)
{
    (void)sig;
    got_int = 1;
}

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    signal(SIGTERM, SIG_IGN);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_int;
    sigaction(SIGINT, &sa, NULL);
    printf("ready\n");
    fflush(stdout);
    while (!got_int)
        pause();
    int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 3;
    write(fd, "got SIGINT\n", 11);
    close(fd);
    return 0;
}
