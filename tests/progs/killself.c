/* Kills itself with the signal named by argv[1]: SEGV (default) or KILL. */
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    int sig = SIGSEGV;
    if (argc > 1 && strcmp(argv[1], "KILL") == 0)
        sig = SIGKILL;
    raise(sig);
    return 1;
}
