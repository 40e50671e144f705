/*
 * What the kernel's exec handlers (x86_64) make of a file, decided from the
 * fields they read and nothing else:
 *
 *   binfmt_misc    its rules (checked first: the kernel puts it first), as
 *                  /proc/sys/fs/binfmt_misc shows them to veil
 *   binfmt_script  the "#!" line in the first BINPRM_BUF_SIZE bytes, split as
 *                  fs/binfmt_script.c load_script splits it
 *   binfmt_elf     e_machine EM_X86_64 (EI_CLASS, EI_DATA, EI_VERSION are never
 *                  read), e_type, e_phentsize, e_phnum, e_phoff, the FIRST
 *                  PT_INTERP with its stated size, NUL-terminated
 *   compat (ia32)  the same through Elf32 structures for EM_386 / EM_486
 *
 * Wherever the kernel could go another way than veil sees (a header binfmt_elf
 * rejects with ENOEXEC, which hands the file to compat_binfmt_elf, which takes
 * EM_X86_64 as x32 on kernels built with it; an interpreter path the kernel
 * would refuse or read otherwise; a rule of binfmt_misc), the exec is refused:
 * the kernel would resolve an interpreter on the host.  After a successful
 * exec, exec_verify checks that the kernel ran the file veil checked, with an
 * interpreter only where veil let it load one (a file rewritten between
 * veil's look and the kernel's, or a handler veil cannot see).
 */
#include <dirent.h>
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define BUF_SIZE 256     /* BINPRM_BUF_SIZE: what the kernel reads of the file */
#define PHDRS_MAX 4096   /* load_elf_phdrs: size <= 65536 and <= ELF_MIN_ALIGN (4 KiB) */
#define MISC_DIR "/proc/sys/fs/binfmt_misc"
#ifndef EM_486
#define EM_486 6
#endif

static int refuse(struct exec_format *f, int err, const char *why)
{
    f->why = why;
    return -err;
}

/* --- binfmt_misc ---------------------------------------------------------------- */

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* "LABEL hexbytes" line of a rule: its bytes, or -1 */
static int hex_field(const char *rule, const char *label, unsigned char *out, int cap)
{
    const char *p = strstr(rule, label);
    if (!p)
        return -1;
    p += strlen(label);
    int n = 0;
    while (hexval(p[0]) >= 0 && hexval(p[1]) >= 0) {
        if (n == cap)
            return -1;
        out[n++] = (unsigned char)(hexval(p[0]) * 16 + hexval(p[1]));
        p += 2;
    }
    return *p == '\n' || *p == 0 ? n : -1;
}

/* 1: the rule (the text of its file) takes the file, 0: not; an enabled rule
   veil cannot read counts as taking it */
static int rule_takes(const char *rule, const unsigned char *buf, const char *name)
{
    if (strncmp(rule, "enabled\n", 8) != 0)
        return 0;
    const char *ext = strstr(rule, "\nextension .");
    if (ext) {
        /* fs/binfmt_misc.c check_file: what follows the last '.' of the name */
        ext += strlen("\nextension .");
        const char *dot = strrchr(name, '.');
        size_t len = strcspn(ext, "\n");
        return dot && strlen(dot + 1) == len && strncmp(dot + 1, ext, len) == 0;
    }
    const char *off = strstr(rule, "\noffset ");
    unsigned char magic[BUF_SIZE], mask[BUF_SIZE];
    int n = hex_field(rule, "\nmagic ", magic, BUF_SIZE);
    if (!off || n < 0)
        return 1;
    long o = strtol(off + strlen("\noffset "), NULL, 10);
    if (o < 0 || o + n > BUF_SIZE)
        return 1;
    memset(mask, 0xff, sizeof mask);
    if (strstr(rule, "\nmask ") && hex_field(rule, "\nmask ", mask, BUF_SIZE) != n)
        return 1;
    for (int j = 0; j < n; j++)
        if ((buf[o + j] ^ magic[j]) & mask[j])
            return 0;
    return 1;
}

/* a rule of binfmt_misc that takes the file (buf: its first BUF_SIZE bytes) */
static int misc_takes(const unsigned char *buf, const char *name)
{
    char text[PATH_MAX + 1024];
    if (veil_read_proc(MISC_DIR "/status", text, sizeof text) < 0)
        return 0; /* not mounted here: no rule to see (exec_verify still checks) */
    if (strncmp(text, "enabled", 7) != 0)
        return 0;
    DIR *d = opendir(MISC_DIR);
    if (!d)
        return 1;
    int taken = 0;
    struct dirent *de;
    while (!taken && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || strcmp(de->d_name, "status") == 0 ||
            strcmp(de->d_name, "register") == 0)
            continue;
        char path[PATH_MAX];
        snprintf(path, sizeof path, MISC_DIR "/%s", de->d_name);
        if (veil_read_proc(path, text, sizeof text) < 0)
            continue; /* removed meanwhile */
        taken = rule_takes(text, buf, name);
    }
    if (closedir(d) < 0)
        return 1;
    return taken;
}

/* --- binfmt_script ------------------------------------------------------------- */

static int spacetab(char c)
{
    return c == ' ' || c == '\t';
}

static char *non_spacetab(char *first, char *last)
{
    for (; first <= last; first++)
        if (!spacetab(*first))
            return first;
    return NULL;
}

static char *terminator(char *first, char *last)
{
    for (; first <= last; first++)
        if (spacetab(*first) || !*first)
            return first;
    return NULL;
}

/* load_script's reading of buf (BUF_SIZE bytes, zero-padded past the file's end) */
static int script(char *buf, struct exec_format *f)
{
    char *buf_end = buf + BUF_SIZE - 1;
    char *i_end = NULL;
    for (char *p = buf; p <= buf_end && *p; p++) /* strnchr stops at a NUL */
        if (*p == '\n') {
            i_end = p;
            break;
        }
    if (!i_end) {
        i_end = non_spacetab(buf + 2, buf_end);
        if (!i_end)
            return refuse(f, ENOEXEC, "a #! line of only blanks");
        if (!terminator(i_end, buf_end))
            return refuse(f, ENOEXEC, "a #! interpreter path longer than the 256 bytes "
                                      "the kernel reads");
        i_end = buf_end;
    }
    while (spacetab(i_end[-1]))
        i_end--;
    char *i_name = non_spacetab(buf + 2, i_end);
    if (!i_name || i_name == i_end)
        return refuse(f, ENOEXEC, "a #! line without an interpreter");
    char *i_arg = NULL, *i_sep = terminator(i_name, i_end);
    if (i_sep && *i_sep)
        i_arg = non_spacetab(i_sep, i_end);
    *i_end = 0;
    if (i_arg)
        *i_sep = 0;
    f->kind = EXEC_SCRIPT;
    snprintf(f->interp, sizeof f->interp, "%s", i_name);
    f->has_arg = i_arg != NULL;
    snprintf(f->arg, sizeof f->arg, "%s", i_arg ? i_arg : "");
    return 0;
}

/* --- binfmt_elf and compat_binfmt_elf ------------------------------------------- */

#define WHY_HDR "an ELF header binfmt_elf rejects (compat_binfmt_elf, x32 on some kernels, " \
                "would read it otherwise)"

/* first PT_INTERP of the program headers (phdrs, n of them, 64- or 32-bit) */
static int interp(int fd, const unsigned char *phdrs, unsigned n, int is64, struct exec_format *f)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t off, size;
        uint32_t type;
        if (is64) {
            Elf64_Phdr ph;
            memcpy(&ph, phdrs + i * sizeof ph, sizeof ph);
            type = ph.p_type, off = ph.p_offset, size = ph.p_filesz;
        } else {
            Elf32_Phdr ph;
            memcpy(&ph, phdrs + i * sizeof ph, sizeof ph);
            type = ph.p_type, off = ph.p_offset, size = ph.p_filesz;
        }
        if (type != PT_INTERP)
            continue;
        if (size < 2 || size > PATH_MAX)
            return refuse(f, ENOEXEC, "a PT_INTERP size the kernel rejects");
        if (off > (uint64_t)INT64_MAX)
            return refuse(f, ENOEXEC, "a PT_INTERP offset beyond any file");
        ssize_t got = pread(fd, f->interp, (size_t)size, (off_t)off);
        if (got < 0)
            return refuse(f, errno, "its PT_INTERP cannot be read");
        if ((uint64_t)got != size)
            return refuse(f, ENOEXEC, "a PT_INTERP beyond the end of the file");
        if (f->interp[size - 1] != 0)
            return refuse(f, ENOEXEC, "a PT_INTERP path that is not NUL-terminated");
        f->has_interp = 1;
        if (f->interp[0] == 0)
            return -ENOENT; /* open_exec("") */
        return 0;
    }
    return 0;
}

static int elf(int fd, const unsigned char *buf, struct exec_format *f)
{
    uint16_t type, machine, phentsize, phnum;
    uint64_t phoff;
    memcpy(&type, buf + offsetof(Elf64_Ehdr, e_type), sizeof type);
    memcpy(&machine, buf + offsetof(Elf64_Ehdr, e_machine), sizeof machine);
    f->kind = EXEC_ELF;
    f->machine = machine;
    int is64 = machine == EM_X86_64;
    if (is64) {
        Elf64_Ehdr eh;
        memcpy(&eh, buf, sizeof eh);
        phentsize = eh.e_phentsize, phnum = eh.e_phnum, phoff = eh.e_phoff;
    } else if (machine == EM_386 || machine == EM_486) {
        Elf32_Ehdr eh;
        memcpy(&eh, buf, sizeof eh);
        phentsize = eh.e_phentsize, phnum = eh.e_phnum, phoff = eh.e_phoff;
    } else {
        return refuse(f, ENOEXEC, "an ELF file for a machine binfmt_elf does not run here");
    }
    if (type != ET_EXEC && type != ET_DYN)
        return refuse(f, ENOEXEC, "an ELF file that is neither ET_EXEC nor ET_DYN");
    size_t size = (size_t)phentsize * phnum;
    if (phentsize != (is64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr)) || size == 0 ||
        size > PHDRS_MAX || phoff > (uint64_t)INT64_MAX)
        return refuse(f, ENOEXEC, WHY_HDR);
    unsigned char phdrs[PHDRS_MAX];
    ssize_t got = pread(fd, phdrs, size, (off_t)phoff);
    if (got < 0)
        return refuse(f, errno, "its program headers cannot be read");
    if ((size_t)got != size)
        return refuse(f, ENOEXEC, WHY_HDR);
    return interp(fd, phdrs, phnum, is64, f);
}

/* --- the decision ---------------------------------------------------------------- */

int exec_format(int fd, const char *name, struct exec_format *f)
{
    f->kind = f->machine = f->has_interp = f->has_arg = 0;
    f->why = NULL;
    f->interp[0] = f->arg[0] = 0;
    struct stat st;
    if (fstat(fd, &st) < 0)
        return refuse(f, errno, "veil cannot see the file the kernel would run");
    if (!S_ISREG(st.st_mode))
        return -EACCES; /* do_open_execat */
    unsigned char buf[BUF_SIZE + 1];
    memset(buf, 0, sizeof buf);
    ssize_t n = pread(fd, buf, BUF_SIZE, 0);
    if (n < 0)
        return refuse(f, errno, "veil cannot read the file the kernel would run");
    if (misc_takes(buf, name))
        return refuse(f, EACCES, "a binfmt_misc rule takes this file: the kernel would "
                                 "start its interpreter from the host");
    if (buf[0] == '#' && buf[1] == '!')
        return script((char *)buf, f);
    if (memcmp(buf, ELFMAG, SELFMAG) == 0)
        return elf(fd, buf, f);
    return -ENOEXEC; /* no handler takes it: the kernel says the same */
}

/* --- the caller's right to exec ------------------------------------------------------ */

#define GROUPS_MAX 65536 /* NGROUPS_MAX */

struct fs_ids {
    unsigned fsuid, fsgid;
    int ngroups;
    gid_t groups[GROUPS_MAX];
};

/* the task's fsuid, fsgid and groups from /proc/TID/status */
static int ids_of(int32_t tid, struct fs_ids *ids)
{
    static char buf[GROUPS_MAX * 11 + 4096];
    char path[64];
    unsigned a, b, c;
    snprintf(path, sizeof path, "/proc/%d/status", tid);
    if (veil_read_proc(path, buf, sizeof buf) < 0)
        return -ESRCH;
    const char *uid = strstr(buf, "\nUid:"), *gid = strstr(buf, "\nGid:");
    const char *groups = strstr(buf, "\nGroups:");
    if (!uid || !gid || !groups || sscanf(uid + 5, "%u %u %u %u", &a, &b, &c, &ids->fsuid) != 4 ||
        sscanf(gid + 5, "%u %u %u %u", &a, &b, &c, &ids->fsgid) != 4)
        return -EIO;
    const char *p = groups + 8;
    char *end;
    ids->ngroups = 0;
    for (;;) {
        unsigned long g = strtoul(p, &end, 10);
        if (end == p || ids->ngroups == GROUPS_MAX)
            break;
        ids->groups[ids->ngroups++] = (gid_t)g;
        p = end;
    }
    return 0;
}

/* faccessat(X_OK, AT_EACCESS) as the task: this thread takes its fs ids and groups
   for the call (setfsuid and the raw setgroups change this thread's credentials
   only) and gives its own back */
static int access_as(const struct fs_ids *ids, const char *host)
{
    static struct fs_ids own;
    own.ngroups = getgroups(GROUPS_MAX, own.groups);
    if (own.ngroups < 0)
        return -errno;
    int same_groups = own.ngroups == ids->ngroups &&
                      memcmp(own.groups, ids->groups, (size_t)own.ngroups * sizeof(gid_t)) == 0;
    if (same_groups && ids->fsuid == geteuid() && ids->fsgid == getegid())
        return faccessat(AT_FDCWD, host, X_OK, AT_EACCESS) < 0 ? -errno : 0;
    /* EPERM: a user namespace whose setgroups is denied; veil checks as itself */
    if (!same_groups && syscall(SYS_setgroups, (size_t)ids->ngroups, ids->groups) < 0)
        return errno == EPERM ? (faccessat(AT_FDCWD, host, X_OK, AT_EACCESS) < 0 ? -errno : 0)
                              : -errno;
    unsigned old_gid = (unsigned)syscall(SYS_setfsgid, ids->fsgid);
    unsigned old_uid = (unsigned)syscall(SYS_setfsuid, ids->fsuid);
    int rc = faccessat(AT_FDCWD, host, X_OK, AT_EACCESS) < 0 ? -errno : 0;
    syscall(SYS_setfsuid, old_uid);
    syscall(SYS_setfsgid, old_gid);
    /* the ids switched, or the same ones: setfs*id say nothing else */
    if (!same_groups && syscall(SYS_setgroups, (size_t)own.ngroups, own.groups) < 0) {
        perror("veil: restoring its own groups");
        abort(); /* a tracer with the guest's groups must not go on */
    }
    return rc;
}

int exec_caller_may(struct task *t, const char *host)
{
    struct stat st;
    if (stat(host, &st) < 0)
        return -errno;
    if (!S_ISREG(st.st_mode))
        return -EACCES; /* do_open_execat: a directory too */
    if (geteuid() != 0) /* the task cannot have other ids than veil's (no privilege) */
        return faccessat(AT_FDCWD, host, X_OK, AT_EACCESS) < 0 ? -errno : 0;
    static struct fs_ids ids;
    int rc = ids_of(t->tid, &ids);
    return rc < 0 ? rc : access_as(&ids, host);
}

/* --- after the exec ----------------------------------------------------------------- */

int exec_expect(struct task *t, int fd)
{
    struct stat st;
    t->exec_want = 0;
    if (fstat(fd, &st) < 0)
        return -errno;
    t->exec_dev = st.st_dev;
    t->exec_ino = st.st_ino;
    t->exec_want = EXEC_CHECKED;
    return 0;
}

static uint64_t hash(const char *s)
{
    uint64_t h = 14695981039346656037ull; /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 1099511628211ull;
    return h;
}

void exec_allow_interp(struct task *t, const char *host)
{
    t->exec_want |= EXEC_INTERP;
    t->exec_interp = hash(host);
}

/* NULL if the files the process has mapped are what the exec was to map: the
   program's segments only (one file), or those and the interpreter veil let the
   kernel load (by its path).  AT_BASE cannot tell: it is 0 for an ET_EXEC
   interpreter. */
static const char *mapped(const struct task *t, uint8_t want)
{
    char path[64], exe[PATH_MAX], buf[16384];
    snprintf(path, sizeof path, "/proc/%d/exe", t->pid);
    ssize_t len = readlink(path, exe, sizeof exe - 1);
    if (len < 0)
        return "killed: veil cannot see which file the kernel ran";
    exe[len] = 0;
    snprintf(path, sizeof path, "/proc/%d/maps", t->pid);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return "killed: veil cannot see what the kernel mapped";
    size_t have = 0;
    ssize_t n;
    while (have < sizeof buf - 1 && (n = read(fd, buf + have, sizeof buf - 1 - have)) > 0)
        have += (size_t)n;
    if (close(fd) < 0 || have == 0 || have == sizeof buf - 1)
        return "killed: veil cannot see what the kernel mapped";
    buf[have] = 0;
    unsigned maj, min, maj0 = 0, min0 = 0;
    unsigned long ino, ino0 = 0;
    int at, files = 0;
    char *next;
    for (char *line = buf; *line; line = next) {
        next = line + strcspn(line, "\n");
        if (*next)
            *next++ = 0;
        if (sscanf(line, "%*s %*s %*s %x:%x %lu%n", &maj, &min, &ino, &at) != 3)
            return "killed: veil cannot see what the kernel mapped";
        if (ino == 0)
            continue; /* anonymous, [stack], [vdso] */
        const char *name = line + at + strspn(line + at, " ");
        if (!(want & EXEC_INTERP)) {
            if (files && (maj != maj0 || min != min0 || ino != ino0))
                return "killed: the kernel loaded an ELF interpreter veil did not find in the "
                       "file (changed meanwhile)";
            maj0 = maj, min0 = min, ino0 = ino, files = 1;
        } else if (strcmp(name, exe) != 0 && hash(name) != t->exec_interp) {
            return "killed: the kernel loaded another ELF interpreter than veil found "
                   "(changed meanwhile)";
        }
    }
    return NULL;
}

const char *exec_verify(struct task *t)
{
    uint8_t want = t->exec_want;
    t->exec_want = 0;
    if (!(want & EXEC_CHECKED))
        return "killed: an exec veil did not check";
    char path[64];
    struct stat st;
    snprintf(path, sizeof path, "/proc/%d/exe", t->pid);
    if (stat(path, &st) < 0)
        return "killed: veil cannot see which file the kernel ran";
    if (st.st_dev != t->exec_dev || st.st_ino != t->exec_ino)
        return "killed: the kernel ran another file than the one veil checked "
               "(changed meanwhile, or a handler veil cannot see)";
    return mapped(t, want);
}
