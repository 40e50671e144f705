/*
 * What an exec through the guest's loader (or a script's interpreter) must
 * still look like to the program: the kernel's checks on the file it never
 * opens for exec itself, and the auxiliary vector the program reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include "internal.h"

/*
 * ETXTBSY as do_open_execat would give it: the file is open for writing
 * somewhere.  A read lease is refused (EAGAIN) exactly while the inode is open
 * for writing; taking one needs the file's owner or CAP_LEASE, and a file
 * system with leases: where veil cannot ask, 0.  A writer that opens the file
 * in the instant veil holds the lease breaks it with SIGURG, which veil ignores.
 */
int exec_write_busy(int fd)
{
    if (fcntl(fd, F_SETSIG, SIGURG) < 0)
        return 0;
    if (fcntl(fd, F_SETLEASE, F_RDLCK) < 0)
        return errno == EAGAIN ? -ETXTBSY : 0;
    if (fcntl(fd, F_SETLEASE, F_UNLCK) < 0)
        return -errno;
    return 0;
}
