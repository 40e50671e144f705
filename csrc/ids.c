/*
 * The user a spawned program runs as (veil trace -u USER, strace's -u).
 * Mechanism only: which uid, gid and groups is Python's.  Applied in the child
 * before the seccomp filter, so that the id changes are not traced; the filter
 * then needs no_new_privs (install_filter sets it), so a setuid program keeps
 * the user's ids, as it would under any tracer that is not root.
 */
#include <errno.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"

int veil_set_ids(struct veil_engine *e, uint32_t uid, uint32_t gid, const uint32_t *groups,
                 int ngroups)
{
    if (ngroups < 0 || ngroups > VEIL_MAX_GROUPS)
        return -EINVAL;
    e->run_as = 1;
    e->run_uid = uid;
    e->run_gid = gid;
    e->run_ngroups = ngroups;
    for (int i = 0; i < ngroups; i++)
        e->run_groups[i] = groups[i];
    return 0;
}

/* In the child, before execve: 0 or -errno.  Raw calls, as the child's others
   (spawn.c): the kernel's set*id change the calling task only (glibc's signal
   every thread of the caller's process). */
long ids_apply(const struct veil_engine *e)
{
    if (!e->run_as)
        return 0;
    /* run_groups is uint32_t[], as the kernel's gid_t */
    long rc = veil_arch_raw_syscall(SYS_setgroups, e->run_ngroups, (long)e->run_groups, 0, 0, 0);
    if (rc == 0)
        rc = veil_arch_raw_syscall(SYS_setresgid, e->run_gid, e->run_gid, e->run_gid, 0, 0);
    if (rc == 0)
        rc = veil_arch_raw_syscall(SYS_setresuid, e->run_uid, e->run_uid, e->run_uid, 0, 0);
    return rc;
}
