/* Prints its argv[0] and the machine uname reports, then execs argv[1..] if given:
   built for another architecture, it shows how a program of that architecture ran. */
#include <stdio.h>
#include <sys/utsname.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    struct utsname u;
    if (uname(&u) < 0) {
        perror("uname");
        return 1;
    }
    printf("%s on %s\n", argv[0], u.machine);
    fflush(stdout);
    if (argc > 1) {
        execv(argv[1], argv + 1);
        perror("execv");
        return 127;
    }
    return 0;
}
