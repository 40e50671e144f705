/* drop_ids DIR HOSTDIR MARKER N: a root program that drops to uid and gid 65534
 * (issue 17, route 4: veil skipped pinning when the fsuid was not 0).  As root it
 * makes DIR (mode 0777), DIR/rootfile, DIR/f, DIR/d/target and DIR/d.sym (a
 * symlink to HOSTDIR), the last three owned by 65534, and stats and chmods
 * DIR/rootfile.  A child drops (setgroups, setresgid, setresuid: no open after
 * that, which walks the host path) and runs stat, chmod, mkdir, rename, unlink,
 * rmdir in DIR ("NAME = ok" or "NAME = ENAME"); then a thread keeps exchanging d
 * and d.sym (as symlink_swap does) while it stats d/target N times: "stat host=H
 * guest=G errors=E flips=F", H > 0 when a stat reached HOSTDIR/target (longer
 * than the guest's).  The parent, still root, then stats and chmods DIR/rootfile
 * again ("root after = ok"): another id's pinned paths must not break its own. */
#include "esc.h"
#include "swap.h"
#include <grp.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/fsuid.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>


static int make(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return -1;
    ssize_t n = (ssize_t)strlen(text);
    int rc = write(fd, text, (size_t)n) == n ? 0 : -1;
    return close(fd) < 0 ? -1 : rc;
}

static void ok(const char *label, int rc)
{
    if (rc < 0)
        printf("%s = %s\n", label, ename(errno));
    else
        printf("%s = ok\n", label);
    fflush(stdout);
}

static int root_calls(const char *file)
{
    struct stat st;
    return stat(file, &st) < 0 || chmod(file, 0640) < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    if (argc < 5)
        return 2;
    const char *dir = argv[1], *hostdir = argv[2], *marker = argv[3];
    long rounds = atol(argv[4]), host = 0, guest = 0, err = 0;
    char rootfile[4200], f[4200], g[4200], m[4200], target[4300];
    snprintf(rootfile, sizeof rootfile, "%s/rootfile", dir);
    snprintf(f, sizeof f, "%s/f", dir);
    snprintf(g, sizeof g, "%s/g", dir);
    snprintf(m, sizeof m, "%s/m", dir);
    snprintf(d, sizeof d, "%s/d", dir);
    snprintf(dsym, sizeof dsym, "%s/d.sym", dir);
    snprintf(target, sizeof target, "%s/target", d);
    if ((mkdir(dir, 0777) < 0 && errno != EEXIST) || chmod(dir, 0777) < 0 ||
        (mkdir(d, 0755) < 0 && errno != EEXIST) || make(rootfile, "root\n") < 0 ||
        make(f, "f\n") < 0 || make(target, "guest\n") < 0 || (unlink(dsym) < 0 && errno != ENOENT) ||
        symlink(hostdir, dsym) < 0 || chown(f, 65534, 65534) < 0 || chown(d, 65534, 65534) < 0 ||
        lchown(dsym, 65534, 65534) < 0) {
        ok("setup", -1);
        return 1;
    }
    ok("root before", root_calls(rootfile));
    pid_t pid = fork();
    if (pid < 0) {
        ok("fork", -1);
        return 1;
    }
    if (pid == 0) {
        if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
            setresuid(65534, 65534, 65534) < 0) {
            ok("drop", -1);
            _exit(1);
        }
        uid_t r, e, s;
        if (getresuid(&r, &e, &s) < 0 || r != 65534 || e != 65534 || s != 65534 ||
            setfsuid((uid_t)-1) != 65534) {
            ok("drop", -1);
            _exit(1);
        }
        ok("drop", 0);
        struct stat st;
        ok("stat", stat(f, &st) < 0 ? -1 : st.st_uid == 65534 ? 0 : (errno = EUCLEAN, -1));
        ok("chmod", chmod(f, 0600));
        ok("mkdir", mkdir(m, 0755));
        ok("rename", rename(f, g));
        ok("unlink", unlink(g));
        ok("rmdir", rmdir(m));
        pthread_t th;
        if (pthread_create(&th, NULL, swapper, NULL) != 0) {
            ok("thread", -1);
            _exit(1);
        }
        int first_err = 0;
        for (long i = 0; i < rounds; i++) {
            if (stat(target, &st) < 0) {
                if (err++ == 0)
                    first_err = errno;
            } else if (st.st_size == (off_t)strlen(marker) + 1)
                host++;
            else
                guest++;
        }
        atomic_store(&stop, 1);
        pthread_join(th, NULL);
        printf("stat host=%ld guest=%ld errors=%ld flips=%ld\n", host, guest, err, flips);
        printf("first stat error = %s\n", err ? ename(first_err) : "none");
        fflush(stdout);
        _exit(0);
    }
    int status;
    if (waitpid(pid, &status, 0) < 0) {
        ok("wait", -1);
        return 1;
    }
    ok("root after", root_calls(rootfile));
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
