/* fd_text HOSTFILE MARKER: the start directory of a relative path is the text of
 * /proc/self/cwd or /proc/self/fd/N, which need not name that directory:
 *   "deleted cwd": the cwd is removed, its text becomes "/tmp/veil-fdt (deleted)", a name
 *     the program then makes a symlink to "/";
 *   "O_PATH symlink": an O_PATH|O_NOFOLLOW fd of a symlink to "/" used as a dirfd
 *     (the kernel refuses: ENOTDIR).
 * Each then stats and reads HOSTFILE (an absolute host path, given without its
 * leading "/") relative to that start.
 * Natively: the deleted cwd gives ENOENT, the symlink fd ENOTDIR (nothing to escape
 * to: the kernel walks from the directory itself).  Under veil with a layout: the
 * same errors; a host file read = ESCAPED. */
#include "esc.h"
#include <stdlib.h>
#include <sys/stat.h>

static void attempt(const char *label, int dirfd, const char *rel, const char *marker)
{
    char name[128];
    struct stat st;
    snprintf(name, sizeof name, "%s fstatat", label);
    say(name, fstatat(dirfd, rel, &st, 0), "the host file's inode");
    snprintf(name, sizeof name, "%s open", label);
    say_fd(name, openat(dirfd, rel, O_RDONLY), marker);
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    const char *rel = argv[1][0] == '/' ? argv[1] + 1 : argv[1];
    mkdir("/tmp/veil-fdt", 0755);
    if (chdir("/tmp/veil-fdt") != 0 || rmdir("/tmp/veil-fdt") != 0)
        return 3;
    unlink("/tmp/veil-fdt (deleted)");
    if (symlink("/", "/tmp/veil-fdt (deleted)") != 0)
        return 4;
    attempt("deleted cwd", AT_FDCWD, rel, argv[2]);
    unlink("/tmp/veil-fdt (deleted)");
    if (chdir("/") != 0)
        return 5;
    unlink("/tmp/veil-fdt-link");
    if (symlink("/", "/tmp/veil-fdt-link") != 0)
        return 6;
    int fd = open("/tmp/veil-fdt-link", O_PATH | O_NOFOLLOW);
    attempt("O_PATH symlink", fd, rel, argv[2]);
    unlink("/tmp/veil-fdt-link");
    return 0;
}
