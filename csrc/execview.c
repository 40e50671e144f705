/*
 * What an exec through the guest's loader (or a script's interpreter) must
 * still look like to the program: the kernel's checks on the file it never
 * opens for exec itself, and the auxiliary vector the program reads.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
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

/*
 * A set-user-ID (or set-group-ID, with g+x) program started through the guest's
 * loader: the kernel takes the ids to grant from the file it execs, the loader,
 * so the program runs with its caller's ids, as on a nosuid mount (and as under
 * PRoot).  The reason, for veil's report, or NULL where the kernel would not
 * have granted anything either.
 */
const char *exec_setid_lost(const char *host)
{
    struct stat st;
    struct statvfs vfs;
    if (stat(host, &st) < 0 || statvfs(host, &vfs) < 0 || (vfs.f_flag & ST_NOSUID))
        return NULL;
    if (!(st.st_mode & S_ISUID) && (st.st_mode & (S_ISGID | S_IXGRP)) != (S_ISGID | S_IXGRP))
        return NULL;
    return "a setuid or setgid program started through the guest's loader runs with its "
           "caller's ids, as on a nosuid mount";
}
