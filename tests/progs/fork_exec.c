/* fork + exec /bin/true + wait4; a second child exits with 3.
 * The parent exits 0 if both statuses were as expected. */
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
    int status;
    pid_t p = fork();
    if (p < 0)
        return 1;
    if (p == 0) {
        execl("/bin/true", "true", (char *)0);
        _exit(127);
    }
    if (wait4(p, &status, 0, NULL) != p || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return 2;

    p = fork();
    if (p < 0)
        return 1;
    if (p == 0)
        _exit(3);
    if (wait4(p, &status, 0, NULL) != p || !WIFEXITED(status) || WEXITSTATUS(status) != 3)
        return 4;
    return 0;
}
