/*
 * What an exec through the guest's loader (or a script's interpreter) must
 * still look like to the program: the kernel's checks on the file it never
 * opens for exec itself, and the auxiliary vector the program reads.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

/* --- the auxiliary vector of a program started through the loader ---------------- */

#define AUXV_TRIES 16 /* translated calls the map waits for the loader's rewrite */

/* the address of the auxiliary vector on the stack that starts at sp (argc), or 0 */
static uint64_t auxv_address(struct task *t, uint64_t sp)
{
    uint64_t words[512], at = sp + 8;
    int nulls = 0; /* argv's NULL, then envp's */
    for (int chunk = 0; chunk < 64; chunk++) {
        /* the stack may end before a whole chunk */
        long got = veil_read_mem(t->tid, at, words, sizeof words);
        if (got < 8)
            return 0;
        for (size_t i = 0; i < (size_t)got / 8; i++)
            if (words[i] == 0 && ++nulls == 2)
                return at + (i + 1) * 8;
        at += (uint64_t)got & ~(uint64_t)7;
    }
    return 0;
}

/* the value of TYPE among the N pairs of vec, and where it is (-1: absent) */
static int auxv_find(const uint64_t *vec, size_t n, uint64_t type)
{
    for (size_t i = 0; i < n && vec[2 * i] != AT_NULL; i++)
        if (vec[2 * i] == type)
            return (int)i;
    return -1;
}

/* the auxv's pairs, AT_NULL included: their count, or 0 */
static size_t auxv_read(struct task *t, uint64_t at, uint64_t *vec, size_t cap)
{
    long got = veil_read_mem(t->tid, at, vec, cap * 16);
    for (size_t i = 0; got > 0 && i < (size_t)got / 16; i++)
        if (vec[2 * i] == AT_NULL)
            return i + 1;
    return 0;
}

/*
 * At the exec stop of the guest's loader run as the program: the kernel gave
 * the loader the auxv of a program with no interpreter (AT_BASE 0).  glibc's
 * loader puts the program's AT_PHDR, AT_PHNUM, AT_ENTRY and AT_EXECFN there
 * once it has mapped it, but leaves AT_BASE: veil sets it to where the kernel
 * loaded the loader, as for a program the kernel gave its interpreter.  The
 * kernel's copy (/proc/PID/auxv) follows at a later call (execview_auxv_ready).
 */
void execview_loader_started(struct task *t, struct proc_view *pv)
{
    uint64_t f[21], vec[2 * AUXV_MAX];
    pv->auxv_sp = 0;
    if (stat_fields(t->pid, f, 28, 48) < 0)
        return;
    uint64_t at = auxv_address(t, f[0]);
    size_t n = at ? auxv_read(t, at, vec, AUXV_MAX) : 0;
    int entry = auxv_find(vec, n, AT_ENTRY), base = auxv_find(vec, n, AT_BASE);
    if (entry < 0)
        return;
    char exe[64];
    Elf64_Ehdr eh;
    snprintf(exe, sizeof exe, "/proc/%d/exe", t->pid);
    int fd = open(exe, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    ssize_t got = pread(fd, &eh, sizeof eh, 0);
    if (close(fd) < 0 || got != (ssize_t)sizeof eh)
        return;
    uint64_t load = vec[2 * entry + 1] - eh.e_entry;
    if (base >= 0 && vec[2 * base + 1] == 0 && eh.e_type == ET_DYN)
        veil_write_mem(t->tid, at + (uint64_t)base * 16 + 8, &load, 8);
    pv->auxv_sp = f[0];
    pv->auxv_entry = vec[2 * entry + 1];
    pv->auxv_tries = AUXV_TRIES;
    if (!pv->arg_start)
        pv->arg_start = f[48 - 28]; /* the map that copies the auxv keeps the args */
}

/* 1 when the map may go on: the loader has rewritten the stack's auxv (AT_ENTRY
   is no longer its own), or it will not (after AUXV_TRIES calls: auxv_sp 0).  The
   loader also moves it down over its own arguments: found again from argc. */
int execview_auxv_ready(struct task *t, struct proc_view *pv)
{
    uint64_t vec[2 * AUXV_MAX], at = auxv_address(t, pv->auxv_sp);
    size_t n = at ? auxv_read(t, at, vec, AUXV_MAX) : 0;
    int entry = auxv_find(vec, n, AT_ENTRY);
    if (entry >= 0 && vec[2 * entry + 1] != pv->auxv_entry)
        return 1;
    if (entry < 0 || --pv->auxv_tries <= 0) {
        pv->auxv_sp = 0;
        return 1;
    }
    return 0;
}

/* the stack's auxv copied to `to` in the task, for PR_SET_MM_MAP: its size in
   bytes, or 0 */
uint32_t execview_auxv_put(struct task *t, struct proc_view *pv, uint64_t to)
{
    uint64_t vec[2 * AUXV_MAX], at = pv->auxv_sp ? auxv_address(t, pv->auxv_sp) : 0;
    size_t n = at ? auxv_read(t, at, vec, AUXV_MAX) : 0;
    pv->auxv_sp = 0;
    int fn = auxv_find(vec, n, AT_EXECFN);
    if (fn >= 0 && pv->execfn_at) {
        /* the loader points it at the program's path among its own arguments */
        vec[2 * fn + 1] = pv->execfn_at;
        veil_write_mem(t->tid, at + (uint64_t)fn * 16 + 8, &pv->execfn_at, 8);
    }
    if (n == 0 || veil_write_mem(t->tid, to, vec, n * 16) != (long)(n * 16))
        return 0;
    return (uint32_t)(n * 16);
}

/* --- AT_EXECFN: the path the caller gave ------------------------------------------ */

/*
 * The kernel copies the path it execs to the top of the new stack and points
 * AT_EXECFN there; veil hands it a host path (or /proc/VEIL/fd/N/NAME), or the
 * loader's.  That path, made at least as long as WANT (the caller's) with
 * leading slashes, which name the same file: the string at the exec stop then
 * has room for WANT (execview_set_execfn).  Returns HOST or BUF.
 */
const char *execview_pad(struct proc_view *pv, const char *want, const char *host, char *buf)
{
    size_t have = strlen(host), need = strlen(want);
    if (!pv || strcmp(host, want) == 0 || need >= PATH_MAX)
        return host;
    free(pv->pending_execfn);
    pv->pending_execfn = strdup(want);
    if (have >= need)
        return host;
    memset(buf, '/', need - have);
    memcpy(buf + need - have, host, have + 1);
    return buf;
}

/* at a successful exec's stop: the caller's path where AT_EXECFN points */
void execview_set_execfn(struct task *t, struct proc_view *pv)
{
    uint64_t f[1], vec[2 * AUXV_MAX];
    char *want = pv->pending_execfn;
    pv->pending_execfn = NULL;
    pv->execfn_at = 0;
    if (!want)
        return;
    uint64_t at = stat_fields(t->pid, f, 28, 28) == 0 ? auxv_address(t, f[0]) : 0;
    size_t n = at ? auxv_read(t, at, vec, AUXV_MAX) : 0;
    int fn = auxv_find(vec, n, AT_EXECFN);
    char old[PATH_MAX];
    long got = fn >= 0 ? veil_read_mem(t->tid, vec[2 * fn + 1], old, sizeof old) : -1;
    size_t len = strlen(want) + 1;
    if (got > 0 && memchr(old, 0, (size_t)got) && strlen(old) + 1 >= len &&
        veil_write_mem(t->tid, vec[2 * fn + 1], want, len) == (long)len)
        pv->execfn_at = vec[2 * fn + 1];
    free(want);
}
