/*
 * The mount layout engine: the spawned child builds the guest's tree in a mount
 * namespace of its own (in a user namespace of its own unless veil is root and not
 * strict) from bind mounts, pivots into it, then execs as usual.  Path calls then
 * reach the kernel unchanged: the kernel resolves them in the guest's tree.
 *
 * Every host tree is cloned (open_tree(2), Linux 5.2) before anything is mounted,
 * so that no later step looks a host path up; guest paths are looked up inside the
 * new root (openat2(2) RESOLVE_IN_ROOT, Linux 5.6), so that a guest symlink cannot
 * send a mount outside it.
 */
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

/* the directory of the host's tree the new root is attached to while it is built */
static const char *const STAGES[] = {"/tmp", "/mnt", "/run", "/var/tmp"};

int veil_mountns_begin(struct veil_engine *e, const char *root, int userns, uint32_t uid_inside,
                       uint32_t gid_inside)
{
    struct mountns *m = &e->mountns;
    char *copy = strdup(root);
    if (!copy)
        return -ENOMEM;
    free(m->root);
    m->root = copy;
    m->on = 1;
    m->userns = userns;
    m->uid_inside = uid_inside;
    m->gid_inside = gid_inside;
    return 0;
}

void veil_mountns_pidns(struct veil_engine *e, int on)
{
    e->mountns.pidns = on;
}

_Static_assert(VEIL_NS_IPC == CLONE_NEWIPC && VEIL_NS_UTS == CLONE_NEWUTS &&
                   VEIL_NS_CGROUP == CLONE_NEWCGROUP, "VEIL_NS_* are the kernel's flags");

int veil_mountns_unshare(struct veil_engine *e, int clone_flags, int new_session)
{
    if (clone_flags & ~(CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP))
        return -EINVAL;
    e->mountns.unshare = clone_flags;
    e->mountns.new_session = new_session;
    return 0;
}

static int replace_copy(char **slot, const char *text)
{
    char *copy = NULL;
    if (text && !(copy = strdup(text)))
        return -ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

int veil_mountns_uts(struct veil_engine *e, const char *hostname, const char *domainname)
{
    int rc = replace_copy(&e->mountns.hostname, hostname);
    return rc < 0 ? rc : replace_copy(&e->mountns.domainname, domainname);
}

int veil_mountns_binfmt(struct veil_engine *e, const char *rule)
{
    int rc = replace_copy(&e->mountns.binfmt, rule);
    if (rc < 0)
        return rc;
    /* binfmt_misc's register file is root's in the namespace: a user's own ids
       mapped to others leave it unwritable (its owner unmapped, CAP_DAC_OVERRIDE
       does not apply), so the child is first root and then the user (enter_nested) */
    e->mountns.nested = rule && geteuid() != 0;
    return 0;
}

int veil_mountns_add(struct veil_engine *e, const char *host, const char *guest, int flags)
{
    struct mountns *m = &e->mountns;
    struct mount_step *n = realloc(m->steps, (m->nsteps + 1) * sizeof *n);
    if (!n)
        return -ENOMEM;
    m->steps = n;
    struct mount_step *s = &n[m->nsteps];
    s->host = host ? strdup(host) : NULL;
    s->guest = strdup(guest);
    s->flags = flags;
    s->tree = -1;
    if (!s->guest || (host && !s->host)) {
        free(s->host);
        free(s->guest);
        return -ENOMEM;
    }
    m->nsteps++;
    return 0;
}

void mountns_free(struct veil_engine *e)
{
    struct mountns *m = &e->mountns;
    for (int i = 0; i < m->nsteps; i++) {
        free(m->steps[i].host);
        free(m->steps[i].guest);
    }
    free(m->steps);
    free(m->root);
    free(m->binfmt);
    free(m->hostname);
    free(m->domainname);
    memset(m, 0, sizeof *m);
}

static int write_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, text, strlen(text));
    int rc = n == (ssize_t)strlen(text) ? 0 : (n < 0 ? -errno : -EIO);
    if (close(fd) < 0 && rc == 0)
        rc = -errno;
    return rc;
}

/* uid_map/gid_map of the child's new user namespace, written by veil: a process
   that has just made the namespace has no capability left in the parent one, and
   mapping more than its own ids needs CAP_SETUID there (user_namespaces(7)).  veil
   as root maps every id to itself; a user maps its own ids to uid_inside and
   gid_inside, and must first give setgroups(2) up (an unprivileged gid_map needs it). */
static int map_ids(const struct mountns *m, pid_t pid)
{
    char path[64], line[64];
    int rc;
    if (geteuid() == 0) {
        snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
        if ((rc = write_file(path, "0 0 4294967295")) < 0)
            return rc;
        snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
        return write_file(path, "0 0 4294967295");
    }
    snprintf(path, sizeof path, "/proc/%d/setgroups", pid);
    if ((rc = write_file(path, "deny")) < 0)
        return rc;
    snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
    snprintf(line, sizeof line, "%u %u 1", m->nested ? 0 : m->uid_inside, (unsigned)geteuid());
    if ((rc = write_file(path, line)) < 0)
        return rc;
    snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
    snprintf(line, sizeof line, "%u %u 1", m->nested ? 0 : m->gid_inside, (unsigned)getegid());
    return write_file(path, line);
}

/* In the child, root of its first user namespace, once the tree is built: a second
   user namespace in which it has the user's ids, uid_inside and gid_inside (root's
   own ids of the first one: no capability there needed).  `proc_self` is the
   child's /proc/self, opened while the host's /proc was in sight. */
static int enter_nested(const struct mountns *m, int proc_self)
{
    static const char *const files[] = {"setgroups", "uid_map", "gid_map"};
    char lines[3][32];
    snprintf(lines[0], sizeof lines[0], "deny");
    snprintf(lines[1], sizeof lines[1], "%u 0 1", m->uid_inside);
    snprintf(lines[2], sizeof lines[2], "%u 0 1", m->gid_inside);
    if (unshare(CLONE_NEWUSER) < 0)
        return -errno;
    for (int i = 0; i < 3; i++) {
        int fd = openat(proc_self, files[i], O_WRONLY | O_CLOEXEC);
        if (fd < 0)
            return -errno;
        ssize_t n = write(fd, lines[i], strlen(lines[i]));
        int rc = n == (ssize_t)strlen(lines[i]) ? 0 : (n < 0 ? -errno : -EIO);
        if (close(fd) < 0 && rc == 0)
            rc = -errno;
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* In the child: the new namespaces; with a user namespace, wait until the parent
   (mountns_map_child) has written its id maps. */
static int enter_namespaces(const struct mountns *m, int ready_fd, int mapped_fd)
{
    char c = 0;
    /* with a pid namespace, the child was cloned into its user namespace already */
    if (unshare(CLONE_NEWNS | (m->userns && !m->pidns ? CLONE_NEWUSER : 0)) < 0)
        return -errno;
    if (m->userns && (write(ready_fd, &c, 1) != 1 || read(mapped_fd, &c, 1) != 1))
        return -EPIPE;
    if (m->userns && c != 0)
        return -(int)(unsigned char)c;
    /* made after the maps: then they belong to the new user namespace, whose root
       (the mapped user) may make them */
    if (m->unshare && unshare(m->unshare) < 0)
        return -errno;
    if ((m->unshare & CLONE_NEWUTS) &&
        ((m->hostname && sethostname(m->hostname, strlen(m->hostname)) < 0) ||
         (m->domainname && setdomainname(m->domainname, strlen(m->domainname)) < 0)))
        return -errno;
    /* nothing mounted here reaches the host's namespace, nor the other way */
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
        return -errno;
    return 0;
}

/* In veil: once the child made its user namespace, write its maps; the child gets
   0 or the errno. */
int mountns_map_child(const struct mountns *m, pid_t pid, int ready_fd, int mapped_fd)
{
    char c;
    if (read(ready_fd, &c, 1) != 1)
        return 0; /* the child failed before: its errno comes the usual way */
    int rc = map_ids(m, pid);
    c = (char)(-rc);
    if (write(mapped_fd, &c, 1) != 1)
        return -errno;
    return 0;
}

/* an O_PATH fd of `guest` looked up inside the tree whose root is `rootfd` */
static int open_in_root(int rootfd, const char *guest)
{
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    long fd = syscall(SYS_openat2, rootfd, guest, &how, sizeof how);
    return fd < 0 ? -errno : (int)fd;
}

static int set_readonly(int tree)
{
    struct mount_attr attr = {.attr_set = MOUNT_ATTR_RDONLY};
    if (mount_setattr(tree, "", AT_EMPTY_PATH | AT_RECURSIVE, &attr, sizeof attr) < 0)
        return -errno;
    return 0;
}

static int attach(int tree, int target)
{
    if (move_mount(tree, "", target, "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) < 0)
        return -errno;
    return 0;
}

static int same_kind(int a, int b)
{
    struct stat sa, sb;
    if (fstat(a, &sa) < 0 || fstat(b, &sb) < 0)
        return -errno;
    if (S_ISDIR(sa.st_mode) != S_ISDIR(sb.st_mode))
        return S_ISDIR(sb.st_mode) ? -EISDIR : -ENOTDIR;
    return 0;
}

static int clone_tree(const char *host)
{
    int fd = open_tree(AT_FDCWD, host, OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE);
    return fd < 0 ? -errno : fd;
}

/* a new file system of type `fstype` (its "mode" option `mode`, or none) mounted
   with `attrs` over `target` */
static int new_fs_at(int target, const char *fstype, const char *mode, unsigned attrs)
{
    int fs = fsopen(fstype, FSOPEN_CLOEXEC);
    if (fs < 0)
        return -errno;
    int rc = 0;
    if ((mode && fsconfig(fs, FSCONFIG_SET_STRING, "mode", mode, 0) < 0) ||
        fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        rc = -errno;
    int tree = rc ? -1 : fsmount(fs, FSMOUNT_CLOEXEC, attrs);
    if (!rc && tree < 0)
        rc = -errno;
    close(fs);
    if (rc)
        return rc;
    rc = attach(tree, target);
    close(tree);
    return rc;
}

/* an empty read-only directory (a masked directory) or /dev/null (a masked file)
   over `target` (the host's tree is still the root: /dev/null is the host's) */
static int mask(int target)
{
    struct stat st;
    if (fstat(target, &st) < 0)
        return -errno;
    if (S_ISDIR(st.st_mode))
        return new_fs_at(target, "tmpfs", "0555", MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID |
                                                      MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC);
    int tree = clone_tree("/dev/null");
    if (tree < 0)
        return tree;
    int rc = attach(tree, target);
    close(tree);
    return rc;
}

static int apply_step(struct mount_step *s, int rootfd)
{
    int target = open_in_root(rootfd, s->guest);
    if (target < 0)
        return target;
    int rc = 0;
    if (s->flags & VEIL_MNT_PROCFS) {
        /* the procfs of the caller's pid namespace (it is that namespace's init) */
        rc = new_fs_at(target, "proc", NULL, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                 MOUNT_ATTR_NOEXEC);
    } else if (s->flags & VEIL_MNT_MASK) {
        rc = mask(target);
    } else {
        int tree = s->tree;
        if (tree < 0) /* a read-only path of the guest's tree: a copy of itself */
            tree = open_tree(target, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
                                             AT_EMPTY_PATH);
        if (tree < 0)
            rc = -errno;
        if (!rc)
            rc = same_kind(tree, target);
        if (!rc && (s->flags & VEIL_MNT_RDONLY))
            rc = set_readonly(tree);
        if (!rc)
            rc = attach(tree, target);
        if (tree >= 0)
            close(tree);
        s->tree = -1;
    }
    close(target);
    return rc;
}

/* an O_PATH fd of `guest` if it is a directory of the tree, else -ENOENT */
static int open_dir_in_root(int rootfd, const char *guest)
{
    int fd = open_in_root(rootfd, guest);
    struct stat st;
    if (fd >= 0 && fstat(fd, &st) == 0 && S_ISDIR(st.st_mode))
        return fd;
    if (fd >= 0)
        close(fd);
    return -ENOENT;
}

/* A directory of the guest's tree under which the binfmt_misc instance can stay
   mounted: /dev, else the first directory of the guest's /. */
static int binfmt_home(int rootfd)
{
    int fd = open_dir_in_root(rootfd, "/dev");
    if (fd >= 0)
        return fd;
    int dfd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return -errno;
    DIR *dir = fdopendir(dfd);
    if (!dir) {
        int saved = errno;
        close(dfd);
        return -saved;
    }
    fd = -ENOENT;
    struct dirent *d;
    while (fd == -ENOENT && (d = readdir(dir)) != NULL) {
        if ((d->d_type != DT_DIR && d->d_type != DT_UNKNOWN) || strcmp(d->d_name, ".") == 0 ||
            strcmp(d->d_name, "..") == 0)
            continue;
        char guest[sizeof d->d_name + 1];
        snprintf(guest, sizeof guest, "/%s", d->d_name);
        fd = open_dir_in_root(rootfd, guest);
    }
    closedir(dir);
    return fd;
}

/* the rule registered in a binfmt_misc instance of the child's user namespace;
   the instance lives while it is mounted, so it is mounted at a directory of the
   guest's tree and covered at once by a copy of that directory */
static int register_binfmt(const char *rule, int rootfd)
{
    int home = binfmt_home(rootfd);
    if (home < 0)
        return home;
    int cover = open_tree(home, "", OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | AT_RECURSIVE |
                                        AT_EMPTY_PATH);
    int fs = cover < 0 ? -1 : fsopen("binfmt_misc", FSOPEN_CLOEXEC);
    int rc = fs < 0 ? -errno : 0;
    if (!rc && fsconfig(fs, FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0)
        rc = -errno;
    int tree = rc ? -1 : fsmount(fs, FSMOUNT_CLOEXEC, MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV |
                                                        MOUNT_ATTR_NOEXEC);
    if (!rc && tree < 0)
        rc = -errno;
    int reg = rc ? -1 : openat(tree, "register", O_WRONLY | O_CLOEXEC);
    if (!rc && reg < 0)
        rc = -errno;
    if (!rc) {
        /* F: the kernel opens the interpreter now, in the host's tree */
        ssize_t n = write(reg, rule, strlen(rule));
        if (n != (ssize_t)strlen(rule))
            rc = n < 0 ? -errno : -EIO;
    }
    if (!rc)
        rc = attach(tree, home);
    if (!rc)
        rc = attach(cover, home); /* on top: the guest sees its own directory */
    int fds[] = {reg, tree, fs, cover, home};
    for (size_t i = 0; i < sizeof fds / sizeof fds[0]; i++)
        if (fds[i] >= 0)
            close(fds[i]);
    return rc;
}

/* pid 1 of the program's pid namespace: fork the program (the caller returns in it)
   and wait for it, then end with its status, which ends the namespace.  Signals
   from outside go to the program itself (veil's main process is the program). */
static int become_init(void)
{
    pid_t prog = fork();
    if (prog < 0)
        return -errno;
    if (prog == 0)
        return 0;
    for (;;) {
        int status;
        pid_t w = waitpid(-1, &status, 0);
        if (w == prog)
            _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
        if (w < 0 && errno != EINTR)
            _exit(127);
    }
}

/* In the spawned child: the guest's tree as its root and `cwd` (a guest path) as
   its directory.  0, or -errno; *failed_step is the step that failed (-1: none). */
int mountns_enter(struct veil_engine *e, const char *cwd, int ready_fd, int mapped_fd,
                  int *failed_step)
{
    struct mountns *m = &e->mountns;
    *failed_step = -1;
    int rc = enter_namespaces(m, ready_fd, mapped_fd);
    if (rc < 0)
        return rc;
    int root_tree = clone_tree(m->root);
    if (root_tree < 0)
        return root_tree;
    for (int i = 0; i < m->nsteps; i++) {
        if (m->steps[i].host && (m->steps[i].tree = clone_tree(m->steps[i].host)) < 0) {
            *failed_step = i;
            return m->steps[i].tree;
        }
    }
    const char *stage = NULL;
    for (size_t i = 0; i < sizeof STAGES / sizeof STAGES[0] && !stage; i++) {
        struct stat st;
        if (stat(STAGES[i], &st) == 0 && S_ISDIR(st.st_mode))
            stage = STAGES[i];
    }
    if (!stage)
        return -ENOENT;
    if (move_mount(root_tree, "", AT_FDCWD, stage, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        return -errno;
    close(root_tree);
    int rootfd = open(stage, O_PATH | O_DIRECTORY | O_CLOEXEC);
    if (rootfd < 0)
        return -errno;
    for (int i = 0; i < m->nsteps; i++) {
        if ((rc = apply_step(&m->steps[i], rootfd)) < 0) {
            *failed_step = i;
            return rc;
        }
        if (strcmp(m->steps[i].guest, "/") == 0) {
            /* a new tree is stacked on the root: later steps (and the pivot) go to it,
               and a lookup from the old rootfd would not cross into it */
            close(rootfd);
            if ((rootfd = open(stage, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
                return -errno;
        }
    }
    int inherited[256], ninherited = m->pidns ? fdintake_inherited_dirs(inherited, 256) : 0;
    if (m->binfmt && (rc = register_binfmt(m->binfmt, rootfd)) < 0) {
        *failed_step = m->nsteps;
        return rc;
    }
    int proc_self = -1;
    if (m->nested && (proc_self = open("/proc/self", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        return -errno;
    /* pivot_root(2): with new_root and put_old the same, the old root ends up
       stacked on the new one, and a lazy unmount takes it (and the host) away */
    if (fchdir(rootfd) < 0 || syscall(SYS_pivot_root, ".", ".") < 0 ||
        umount2(".", MNT_DETACH) < 0 || chdir(cwd ? cwd : "/") < 0)
        return -errno;
    close(rootfd);
    if (m->pidns && (rc = fdintake_drop_inherited(inherited, ninherited)) < 0) /* --strict */
        return rc;
    if (m->nested) {
        rc = enter_nested(m, proc_self);
        close(proc_self);
        if (rc < 0)
            return rc;
    }
    if (m->new_session && setsid() < 0) /* as bubblewrap: before its init forks */
        return -errno;
    if (m->pidns && (rc = become_init()) < 0)
        return rc;
    return 0;
}

/* 0 when this process can make a user and mount namespace and clone a tree in it
   (what the mount engine needs), else -errno */
static int probe_mount_namespace(void *unused)
{
    (void)unused;
    long rc = identity_mount_namespace();
    return rc < 0 ? (int)(-rc & 0xff) : 0;
}

int veil_mountns_probe(int userns)
{
    /* without a user namespace: what the identity's bind mounts need, nothing more
       (the mount engine always makes one, mountns.uses_userns) */
    if (!userns) {
        int rc = spawn_probe(probe_mount_namespace, NULL);
        return rc > 0 ? -rc : rc;
    }
    struct mountns m = {.userns = userns, .uid_inside = getuid(), .gid_inside = getgid()};
    int ready[2], mapped[2];
    if (pipe2(ready, O_CLOEXEC) < 0)
        return -errno;
    if (pipe2(mapped, O_CLOEXEC) < 0) {
        int saved = errno;
        close(ready[0]);
        close(ready[1]);
        return -saved;
    }
    pid_t pid = fork();
    if (pid == 0) {
        int rc = enter_namespaces(&m, ready[1], mapped[0]);
        if (rc == 0) {
            int tree = clone_tree("/");
            rc = tree < 0 ? tree : 0;
        }
        _exit(rc < 0 ? (-rc & 0xff) : 0);
    }
    int rc = pid < 0 ? -errno : 0;
    close(ready[1]);
    close(mapped[0]);
    if (pid > 0 && userns)
        rc = mountns_map_child(&m, pid, ready[0], mapped[1]);
    close(ready[0]);
    close(mapped[1]);
    if (pid < 0)
        return rc;
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            return -errno;
    if (rc < 0)
        return rc;
    if (!WIFEXITED(status))
        return -ECHILD;
    return -WEXITSTATUS(status);
}
