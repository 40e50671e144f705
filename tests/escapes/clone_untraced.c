/* clone_untraced HOSTONLY MARKER: a child made with CLONE_UNTRACED is not
 * traced, so nothing translates its paths: it opens HOSTONLY on the host.
 * Natively: clone and clone3 = ESCAPED.  Under veil: EPERM, reported. */
#include "esc.h"
#include <linux/sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <sys/wait.h>

static void child(const char *label, const char *path, const char *marker)
{
    say_fd(label, open(path, O_RDONLY), marker);
    _exit(0);
}

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    long pid = syscall(SYS_clone, CLONE_UNTRACED | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0)
        child("clone child", argv[1], argv[2]);
    if (pid < 0)
        say("clone", -1, "");
    else
        waitpid((pid_t)pid, NULL, 0);
    struct clone_args ca;
    memset(&ca, 0, sizeof ca);
    ca.flags = CLONE_UNTRACED;
    ca.exit_signal = SIGCHLD;
    pid = syscall(SYS_clone3, &ca, sizeof ca);
    if (pid == 0)
        child("clone3 child", argv[1], argv[2]);
    if (pid < 0)
        say("clone3", -1, "");
    else
        waitpid((pid_t)pid, NULL, 0);
    return 0;
}
