/* SIGUSR1 handler; raise() (tgkill: SI_TKILL) then kill(getpid()) (SI_USER). */
#include <signal.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t count;

static void handler(int sig)
{
    (void)sig;
    count++;
}

int main(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGUSR1, &sa, NULL) != 0)
        return 1;
    raise(SIGUSR1);
    kill(getpid(), SIGUSR1);
    return count == 2 ? 0 : 2;
}
