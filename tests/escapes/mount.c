/* mount DIR: calls that change the mount table or reach files by handle, not by
 * path (nothing to translate).  DIR is an empty directory of the guest.
 * Natively (in a private mount namespace, as root or in a user namespace):
 * mount, bind, umount2 and fsopen = ESCAPED.  Under veil: EPERM, reported.
 * The bind is recursive: in a user namespace the kernel refuses (EINVAL) to
 * bind a tree that has submounts, such as /, without MS_REC. */
#include "esc.h"
#include <linux/io_uring.h>
#include <sys/mount.h>
#include <sys/syscall.h>

int main(int argc, char **argv)
{
    if (argc < 2)
        return 2;
    say("mount tmpfs", mount("none", argv[1], "tmpfs", 0, NULL), "a tmpfs mounted");
    umount2(argv[1], MNT_DETACH);
    say("mount bind /", mount("/", argv[1], NULL, MS_BIND | MS_REC, NULL), "the host's / bound in");
    say("umount2", umount2(argv[1], MNT_DETACH), "unmounted");
    long fs = syscall(SYS_fsopen, "tmpfs", 0);
    say("fsopen", fs, "a new file system context");
    say("open_tree", syscall(SYS_open_tree, AT_FDCWD, "/", 1 /* OPEN_TREE_CLONE */),
        "a detached copy of /");
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    say("io_uring_setup", syscall(SYS_io_uring_setup, 4, &p), "a ring whose ops never stop");
    return 0;
}
