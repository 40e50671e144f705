/*
 * The fake identity's answers, served at the stop without Python (veil.identity
 * decides every value; this file only serves them):
 *  - opens of the identity's files (/proc/sys/kernel/hostname...) go to the copies
 *    veil wrote (the path argument rewritten below the red zone, put back at exit);
 *  - uname's fields, sched_getaffinity's mask (N CPUs), the get*id calls while the
 *    ids are the same in every thread;
 *  - stat results show the owners of the ownership database ((dev, inode) table).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "arch.h"
#include "internal.h"

#define NR_OPEN 2
#define NR_STAT 4
#define NR_FSTAT 5
#define NR_LSTAT 6
#define NR_UNAME 63
#define NR_GETUID 102
#define NR_GETGID 104
#define NR_GETEUID 107
#define NR_GETEGID 108
#define NR_GETRESUID 118
#define NR_GETRESGID 120
#define NR_SCHED_GETAFFINITY 204
#define NR_OPENAT 257
#define NR_NEWFSTATAT 262
#define NR_STATX 332
#define NR_OPENAT2 437
#define RED_ZONE 128

int veil_identity_add_file(struct veil_engine *e, const char *guest, const char *host)
{
    struct identity *id = &e->identity;
    struct served_file *n = realloc(id->files, (id->nfiles + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    id->files = n;
    n[id->nfiles].guest = strdup(guest);
    n[id->nfiles].host = strdup(host);
    if (!n[id->nfiles].guest || !n[id->nfiles].host) {
        free(n[id->nfiles].guest);
        free(n[id->nfiles].host);
        return -ENOMEM;
    }
    id->nfiles++;
    return 0;
}

int veil_identity_set_uts(struct veil_engine *e, int field, const char *value)
{
    if (field < 0 || field >= VEIL_UTS_FIELDS)
        return -EINVAL;
    struct identity *id = &e->identity;
    if (!value) {
        id->uts_set &= (uint8_t)~(1u << field);
        return 0;
    }
    if (strlen(value) >= VEIL_UTS_LEN)
        return -EINVAL;
    memset(id->uts[field], 0, VEIL_UTS_LEN);
    memcpy(id->uts[field], value, strlen(value));
    id->uts_set |= (uint8_t)(1u << field);
    return 0;
}

void veil_identity_set_cpus(struct veil_engine *e, int cpus)
{
    e->identity.cpus = cpus;
}

void veil_identity_set_ids(struct veil_engine *e, const uint32_t *ids)
{
    struct identity *id = &e->identity;
    id->ids_on = ids != NULL;
    if (ids)
        memcpy(id->ids, ids, sizeof id->ids);
}

void veil_identity_set_owners(struct veil_engine *e, uint32_t real_uid, uint32_t real_gid,
                              uint32_t uid, uint32_t gid, int eacces_asks)
{
    struct identity *id = &e->identity;
    id->owners_on = 1;
    id->real_uid = real_uid;
    id->real_gid = real_gid;
    id->uid = uid;
    id->gid = gid;
    id->eacces_asks = eacces_asks;
}

static uint64_t owner_hash(uint64_t dev, uint64_t ino)
{
    uint64_t h = (dev * 0x9E3779B97F4A7C15ull) ^ (ino * 0xC2B2AE3D27D4EB4Full);
    return h ^ (h >> 29);
}

/* the slot of (dev, ino), or the empty slot where it would go */
static struct owner *owner_slot(struct identity *id, uint64_t dev, uint64_t ino)
{
    uint32_t mask = id->cap_owners - 1;
    for (uint32_t i = (uint32_t)owner_hash(dev, ino) & mask;; i = (i + 1) & mask) {
        struct owner *o = &id->owners[i];
        if (!o->used || (o->dev == dev && o->ino == ino))
            return o;
    }
}

static int owners_grow(struct identity *id)
{
    uint32_t ncap = id->cap_owners ? id->cap_owners * 2 : 64;
    struct owner *old = id->owners;
    uint32_t oldcap = id->cap_owners;
    id->owners = calloc(ncap, sizeof *id->owners);
    if (!id->owners) {
        id->owners = old;
        return -ENOMEM;
    }
    id->cap_owners = ncap;
    for (uint32_t i = 0; i < oldcap; i++)
        if (old[i].used)
            *owner_slot(id, old[i].dev, old[i].ino) = old[i];
    free(old);
    return 0;
}

int veil_identity_set_owner(struct veil_engine *e, const struct veil_owner *row)
{
    struct identity *id = &e->identity;
    if (2 * (id->nowners + 1) > id->cap_owners) {
        int rc = owners_grow(id);
        if (rc < 0)
            return rc;
    }
    struct owner *o = owner_slot(id, row->dev, row->ino);
    if (!o->used)
        id->nowners++;
    o->used = 1;
    o->dev = row->dev;
    o->ino = row->ino;
    o->row = *row;
    return 0;
}

void veil_identity_open_asks(struct veil_engine *e, int asks)
{
    e->identity.open_asks = asks;
}

void veil_identity_mount_files(struct veil_engine *e, int on)
{
    e->identity.mount_files = on;
}

/* In the spawned child without a layout: a mount namespace of its own (host mounts
   still propagate in) where each served file is bound over its guest path, so an
   open costs no stop.  0, or -1 with errno set. */
/* In the program's child before its execve: a mount namespace of its own, the
   files bound over their guest paths.  Raw calls: the child may share veil's
   memory (spawn.c).  0 or -errno. */
long identity_child_mounts(const struct veil_engine *e)
{
    const struct identity *id = &e->identity;
    if (!id->mount_files)
        return 0;
    long rc = identity_mount_namespace();
    for (uint32_t i = 0; rc == 0 && i < id->nfiles; i++)
        rc = veil_arch_raw_syscall(SYS_mount, (long)id->files[i].host, (long)id->files[i].guest,
                                   0, MS_BIND, 0);
    return rc;
}

/* A mount namespace whose mounts do not reach the host's (and the host's still
   reach it): 0 or -errno */
long identity_mount_namespace(void)
{
    long rc = veil_arch_raw_syscall(SYS_unshare, CLONE_NEWNS, 0, 0, 0, 0);
    return rc < 0 ? rc : veil_arch_raw_syscall(SYS_mount, 0, (long)"/", 0, MS_REC | MS_SLAVE, 0);
}

void identity_free(struct veil_engine *e)
{
    struct identity *id = &e->identity;
    for (uint32_t i = 0; i < id->nfiles; i++) {
        free(id->files[i].guest);
        free(id->files[i].host);
    }
    free(id->files);
    free(id->owners);
    memset(id, 0, sizeof *id);
}

/* the path as os.path.normpath() makes it, for absolute paths ("" otherwise) */
static void normalized(const char *path, char *out, size_t cap)
{
    size_t len = 0;
    out[0] = 0;
    if (path[0] != '/')
        return;
    while (*path) {
        while (*path == '/')
            path++;
        const char *end = strchrnul(path, '/');
        size_t n = (size_t)(end - path);
        if (n == 0 || (n == 1 && path[0] == '.')) {
            /* nothing */
        } else if (n == 2 && path[0] == '.' && path[1] == '.') {
            while (len > 0 && out[len] != '/')
                len--;
            out[len] = 0;
        } else if (len + 1 + n < cap) {
            out[len++] = '/';
            memcpy(out + len, path, n);
            len += n;
            out[len] = 0;
        }
        path = end;
    }
    if (len == 0)
        strcpy(out, "/");
}

/* Would the caller's modes refuse this open?  veil (the same user) checks the
   access the flags need on the path as the caller names it (after the layout's
   translation), from the caller's root, cwd or dirfd; a file to create needs
   its directory writable. */
static int open_refused(struct task *t, int arg)
{
    uint64_t flags = t->args[t->nr == NR_OPEN ? 1 : 2];
    if (t->nr == NR_OPENAT2 && veil_read_mem(t->tid, t->args[2], &flags, 8) != 8)
        return 1;
    char path[PATH_MAX], where[PATH_MAX + 64];
    int truncated = 0;
    if (veil_read_cstr(t->tid, t->args[arg], path, sizeof path, &truncated) < 0 || truncated ||
        !path[0])
        return 0; /* the kernel's own error */
    if (path[0] == '/')
        snprintf(where, sizeof where, "/proc/%d/root%s", t->tid, path);
    else if (t->nr == NR_OPEN || (int32_t)t->args[0] == AT_FDCWD)
        snprintf(where, sizeof where, "/proc/%d/cwd/%s", t->tid, path);
    else
        snprintf(where, sizeof where, "/proc/%d/fd/%d/%s", t->tid, (int32_t)t->args[0], path);
    int need = (flags & O_ACCMODE) == O_WRONLY ? W_OK : (flags & O_ACCMODE) == O_RDWR
                                                            ? R_OK | W_OK : R_OK;
    if (flags & O_TRUNC)
        need |= W_OK;
    if (flags & O_PATH)
        need = F_OK;
    int at = flags & O_NOFOLLOW ? AT_SYMLINK_NOFOLLOW : 0;
    if (faccessat(AT_FDCWD, where, need, at) == 0)
        return 0;
    if (errno != ENOENT)
        return 1;
    if (!(flags & O_CREAT))
        return 0; /* ENOENT whoever asks */
    char *slash = strrchr(where, '/');
    *slash = 0;
    return faccessat(AT_FDCWD, where, W_OK | X_OK, 0) != 0;
}

/* An open of one of the served files: its path argument points at the copy's,
   written below the red zone; the caller's register is put back at the exit. */
static void serve_file(struct veil_engine *e, struct task *t)
{
    struct identity *id = &e->identity;
    int arg = t->nr == NR_OPEN ? 0 : 1;
    char path[PATH_MAX], canon[PATH_MAX];
    int truncated = 0;
    if (veil_read_cstr(t->tid, t->args[arg], path, sizeof path, &truncated) < 0 || truncated)
        return; /* the kernel's own answer (EFAULT, ENAMETOOLONG) */
    normalized(path, canon, sizeof canon);
    for (uint32_t i = 0; i < id->nfiles; i++) {
        if (strcmp(canon, id->files[i].guest) != 0)
            continue;
        const char *host = id->files[i].host;
        size_t len = strlen(host) + 1;
        uint64_t below = t->scratch_low ? t->scratch_low : t->sp - RED_ZONE;
        uint64_t at = (below - len) & ~(uint64_t)15;
        if (veil_write_mem(t->tid, at, host, len) != (long)len ||
            veil_arch_set_arg(t->tid, arg, at) < 0)
            return;
        t->scratch_low = at;
        if (!(t->saved_mask & (1u << arg))) {
            t->saved_args[arg] = t->args[arg];
            t->saved_mask |= (uint8_t)(1u << arg);
        }
        t->args[arg] = at;
        t->flags |= T_RESTORE | T_WANT_EXIT;
        return;
    }
}

static int put_u32s(struct task *t, const uint32_t *values)
{
    for (int i = 0; i < 3; i++)
        if (veil_write_mem(t->tid, t->args[i], &values[i], 4) != 4)
            return -EFAULT;
    return 0;
}

/* Does Python see this open (VEIL_ID_ASK_*)? */
static int open_asks(struct identity *id, struct task *t, int arg)
{
    if (id->open_asks & VEIL_ID_ASK_PROC) {
        char head[8];
        int truncated = 0;
        if (veil_read_cstr(t->tid, t->args[arg], head, sizeof head, &truncated) >= 0 &&
            strncmp(head, "/proc/", 6) == 0)
            return 1;
    }
    return (id->open_asks & VEIL_ID_ASK_REFUSED) && open_refused(t, arg);
}

/* At the entry of a VEIL_F_IDENTITY call: 1 with *value if the call is answered
   here (not made), else 0: it goes on (perhaps with a served file's path), and
   *asks says whether Python's on-request hooks must see it. */
int identity_enter(struct veil_engine *e, struct task *t, int64_t *value, int *asks)
{
    struct identity *id = &e->identity;
    *asks = 0;
    if (t->arch != VEIL_ARCH_X86_64)
        return 0;
    switch (t->nr) {
    case NR_OPEN:
    case NR_OPENAT:
    case NR_OPENAT2:
        *asks = id->open_asks && open_asks(id, t, t->nr == NR_OPEN ? 0 : 1);
        if (id->nfiles)
            serve_file(e, t);
        return 0;
    case NR_GETUID: case NR_GETEUID: case NR_GETGID: case NR_GETEGID:
        if (!id->ids_on)
            return 0;
        *value = id->ids[t->nr == NR_GETUID ? 0 : t->nr == NR_GETEUID ? 1
                         : t->nr == NR_GETGID ? 3 : 4];
        return 1;
    case NR_GETRESUID:
    case NR_GETRESGID:
        if (!id->ids_on)
            return 0;
        *value = put_u32s(t, id->ids + (t->nr == NR_GETRESUID ? 0 : 3));
        return 1;
    default:
        return 0;
    }
}

/* uname at exit: the fields veil fakes */
static void fake_uname(struct identity *id, struct task *t, int64_t ret)
{
    if (ret != 0 || !t->args[0])
        return;
    for (int i = 0; i < VEIL_UTS_FIELDS; i++)
        if (id->uts_set & (1u << i))
            veil_write_mem(t->tid, t->args[0] + (uint64_t)i * VEIL_UTS_LEN, id->uts[i],
                           VEIL_UTS_LEN);
}

/* sched_getaffinity at exit: exactly N CPUs, the first N the kernel set, then
   the next ones up (a count above the host's) while the mask has room */
static void fake_affinity(struct identity *id, struct task *t, int64_t ret)
{
    uint8_t mask[1024];
    if (ret <= 0 || ret > (int64_t)sizeof mask)
        return;
    if (veil_read_mem(t->tid, t->args[2], mask, (size_t)ret) != ret)
        return;
    int kept = 0;
    for (int64_t i = 0; i < ret * 8; i++) {
        uint8_t bit = (uint8_t)(1u << (i % 8));
        if (mask[i / 8] & bit) {
            if (kept < id->cpus)
                kept++;
            else
                mask[i / 8] &= (uint8_t)~bit;
        }
    }
    for (int64_t i = 0; i < ret * 8 && kept < id->cpus; i++) {
        uint8_t bit = (uint8_t)(1u << (i % 8));
        if (!(mask[i / 8] & bit)) {
            mask[i / 8] |= bit;
            kept++;
        }
    }
    veil_write_mem(t->tid, t->args[2], mask, (size_t)ret);
}

static uint32_t shown_id(uint32_t real, uint32_t from, uint32_t to, int64_t set)
{
    return set >= 0 ? (uint32_t)set : real == from ? to : real;
}

/* a stat-family result at exit: the owners (and faked device types) of the
   database; 1 if Python must see the stop (its own cases: a file veil chmod'ed
   for a moment, a failure it does again as root) */
static int fake_stat(struct identity *id, struct task *t, int64_t ret)
{
    if (ret == -EACCES && id->eacces_asks)
        return 1;
    if (ret != 0)
        return 0;
    int x = t->nr == NR_STATX;
    uint64_t buf = t->args[t->nr == NR_NEWFSTATAT ? 2 : x ? 4 : 1];
    uint8_t raw[144];
    if (!buf || veil_read_mem(t->tid, buf, raw, sizeof raw) != (long)sizeof raw)
        return 0;
    uint32_t u32[36];
    memcpy(u32, raw, sizeof raw);
    uint64_t dev, ino;
    int uid_at = x ? 20 : 28;
    if (x) {
        dev = makedev(u32[34], u32[35]);
        memcpy(&ino, raw + 32, 8);
    } else {
        memcpy(&dev, raw, 8);
        memcpy(&ino, raw + 8, 8);
    }
    const struct veil_owner *row = NULL;
    if (id->cap_owners) {
        struct owner *o = owner_slot(id, dev, ino);
        if (o->used)
            row = &o->row;
    }
    if (row && row->asks)
        return 1;
    uint32_t ids[2] = {u32[uid_at / 4], u32[uid_at / 4 + 1]};
    uint32_t shown[2] = {shown_id(ids[0], id->real_uid, id->uid, row ? row->uid : -1),
                         shown_id(ids[1], id->real_gid, id->gid, row ? row->gid : -1)};
    if (memcmp(ids, shown, sizeof ids) != 0)
        veil_write_mem(t->tid, buf + (uint64_t)uid_at, shown, sizeof shown);
    if (row && row->type) {
        if (x) {
            uint16_t mode;
            memcpy(&mode, raw + 28, 2);
            mode = (uint16_t)((mode & 07777) | row->type);
            uint32_t rdev[2] = {major(row->rdev), minor(row->rdev)};
            veil_write_mem(t->tid, buf + 28, &mode, 2);
            veil_write_mem(t->tid, buf + 128, rdev, sizeof rdev);
        } else {
            uint32_t mode = (u32[6] & 07777) | row->type;
            veil_write_mem(t->tid, buf + 24, &mode, 4);
            veil_write_mem(t->tid, buf + 40, &row->rdev, 8);
        }
    }
    return 0;
}

/* At the exit of a VEIL_F_IDENTITY call the kernel made: the results patched;
   1 if Python's on-request hooks must see the stop (VEIL_F_ID_ASKS). */
int identity_exit(struct veil_engine *e, struct task *t, int64_t ret)
{
    struct identity *id = &e->identity;
    if (t->arch != VEIL_ARCH_X86_64)
        return 0;
    switch (t->nr) {
    case NR_UNAME:
        fake_uname(id, t, ret);
        return 0;
    case NR_SCHED_GETAFFINITY:
        if (id->cpus > 0)
            fake_affinity(id, t, ret);
        return 0;
    case NR_STAT: case NR_FSTAT: case NR_LSTAT: case NR_NEWFSTATAT: case NR_STATX:
        return id->owners_on ? fake_stat(id, t, ret) : 0;
    default:
        return 0;
    }
}
