/* chroot_escape HOSTONLY MARKER: the classic way out of a chroot(2) jail for a
 * privileged process: chroot into a subdirectory (the cwd stays outside it),
 * climb with "..", chroot("."), then open HOSTONLY.
 * In a real chroot jail (natively, as root): ESCAPED.
 * Under veil (chroot is emulated inside the guest): ENOENT. */
#include "esc.h"
#include <sys/stat.h>

int main(int argc, char **argv)
{
    if (argc < 3)
        return 2;
    mkdir("/veil-jail", 0755);
    if (chdir("/") < 0 || chroot("/veil-jail") < 0) {
        say("chroot", -1, "");
        return 1;
    }
    for (int i = 0; i < 64; i++)
        if (chdir("..") < 0)
            break;
    if (chroot(".") < 0)
        say("chroot .", -1, "");
    say_fd("open after chroot escape", open(argv[1], O_RDONLY), argv[2]);
    char cwd[4096];
    printf("getcwd = %s\n", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
    return 0;
}
