/* memfd_exec PROGRAM: copy PROGRAM (a dynamic ELF whose PT_INTERP the guest does
 * not have, e.g. a host binary dropped into the guest) into a memfd and run it
 * with execveat(fd, "", AT_EMPTY_PATH).  The kernel would load PT_INTERP from the
 * host's tree: the host's loader would run.
 * Natively: the program runs ("ESCAPED ..." is its own output).
 * Under veil: execveat = ENOENT (the loader is looked for in the guest).
 * memfd_exec PROGRAM path: execv("/proc/self/fd/N") instead (a static guest
 * program must run that way too, under --strict as well). */
#include "esc.h"
#include <sys/mman.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    int in = open(argv[1], O_RDONLY);
    int mfd = memfd_create("copy", argc > 2 ? 0 : MFD_CLOEXEC);
    if (in < 0 || mfd < 0) {
        say("copy", -1, "");
        return 1;
    }
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        if (write(mfd, buf, (size_t)n) != n)
            return 1;
    close(in);
    char *args[] = {argv[1], NULL};
    char *env[] = {NULL};
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", mfd);
    if (argc > 2 && strcmp(argv[2], "path") == 0)
        execve(link, args, env);
    else
        syscall(SYS_execveat, mfd, "", args, env, AT_EMPTY_PATH);
    say("execveat", -1, "");
    return 0;
}
