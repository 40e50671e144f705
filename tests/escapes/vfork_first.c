/* vfork_first FILE PROGRAM: vfork before any other call that names a path; the
 * child execs PROGRAM, so veil's scratch area is first mapped while the memory is
 * shared (it is the parent's once the child has exec'd).  The parent's own calls
 * must then find the area, not fail.
 * Under veil --strict: "open = CONTAINED <FILE's first line>". */
#include "esc.h"
#include <sys/wait.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    pid_t p = vfork();
    if (p == 0) {
        execl(argv[2], argv[2], (char *)0);
        _exit(127);
    }
    int st;
    waitpid(p, &st, 0);
    say_fd("open", open(argv[1], O_RDONLY), NULL);
    return 0;
}
