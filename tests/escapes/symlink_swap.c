/* symlink_swap DIR HOSTDIR MARKER N OP: a thread keeps exchanging DIR/d (a guest
 * directory holding "target") with DIR/d.sym, a symlink to the absolute HOSTDIR
 * (renameat2 RENAME_EXCHANGE: atomic), while the main thread runs OP on
 * DIR/d/target N times.  A tracer that resolves the path itself and hands the
 * kernel the host path loses the race whenever the swap lands between its walk
 * and the kernel's: the kernel follows d to HOSTDIR.
 *   OP open:   open+read; stat: stat (the host file is longer than the guest's);
 *   chmod:     chmod 0600 (the host file's mode must not change);
 *   unlink:    unlink d/victim (only the host has one: it must survive);
 *   mkdir:     mkdir+rmdir d/made (must never appear in HOSTDIR);
 *   exec:      fork + execve d/prog (the guest's is a copy of this program, which
 *              exits 2 when run without arguments; HOSTDIR/prog exits 42).
 * Prints "OP host=H guest=G errors=E".  Natively (no confinement) host>0 shows
 * that the swap does land during the calls.  Under veil: host=0. */
#include "esc.h"
#include "swap.h"
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>


int main(int argc, char **argv)
{
    if (argc < 6)
        return 2;
    const char *dir = argv[1], *hostdir = argv[2], *marker = argv[3], *op = argv[5];
    long n = atol(argv[4]), host = 0, guest = 0, err = 0;
    char target[4300], file[4300];
    snprintf(d, sizeof d, "%s/d", dir);
    snprintf(dsym, sizeof dsym, "%s/d.sym", dir);
    struct stat was;
    if (lstat(d, &was) == 0 && S_ISLNK(was.st_mode)) {
        /* a run that ended after an odd number of swaps: d.sym is the directory */
        unlink(d);
        rename(dsym, d);
    }
    mkdir(d, 0755);
    snprintf(file, sizeof file, "%s/target", d);
    FILE *f = fopen(file, "w");
    if (!f || fputs("guest\n", f) < 0 || fclose(f) != 0) {
        say("setup", -1, "");
        return 1;
    }
    unlink(dsym);
    if (symlink(hostdir, dsym) < 0) {
        say("symlink", -1, "");
        return 1;
    }
    const char *leaf = strcmp(op, "unlink") == 0  ? "victim"
                       : strcmp(op, "mkdir") == 0 ? "made"
                       : strcmp(op, "exec") == 0  ? "prog"
                                                  : "target";
    if (strcmp(op, "exec") == 0) { /* d/prog: a copy of this program */
        char prog[4300], buf[65536];
        snprintf(prog, sizeof prog, "%s/prog", d);
        int in = open("/proc/self/exe", O_RDONLY), out = open(prog, O_WRONLY | O_CREAT | O_TRUNC,
                                                             0755);
        ssize_t got;
        while (in >= 0 && out >= 0 && (got = read(in, buf, sizeof buf)) > 0)
            if (write(out, buf, (size_t)got) != got)
                return 1;
        if (in < 0 || out < 0 || close(out) < 0) {
            say("copy", -1, "");
            return 1;
        }
        close(in);
    }
    snprintf(target, sizeof target, "%s/%s", d, leaf);
    pthread_t th;
    pthread_create(&th, NULL, swapper, NULL);
    for (long i = 0; i < n; i++) {
        char buf[256];
        struct stat st;
        long rc;
        if (strcmp(op, "open") == 0) {
            int fd = open(target, O_RDONLY);
            rc = fd;
            if (fd >= 0) {
                ssize_t got = read(fd, buf, sizeof buf - 1);
                close(fd);
                buf[got > 0 ? got : 0] = 0;
                rc = strstr(buf, marker) ? 1 : 0;
            }
        } else if (strcmp(op, "stat") == 0) {
            rc = stat(target, &st);
            if (rc == 0)
                rc = st.st_size == (off_t)strlen(marker) + 1;
        } else if (strcmp(op, "chmod") == 0) {
            rc = chmod(target, 0600);
        } else if (strcmp(op, "unlink") == 0) {
            rc = unlink(target);
            if (rc == 0)
                rc = 1; /* only the host has a victim */
        } else if (strcmp(op, "exec") == 0) {
            pid_t pid = fork();
            if (pid == 0) {
                char *args[] = {target, NULL};
                execv(target, args);
                _exit(127);
            }
            int status = 0;
            rc = pid < 0 || waitpid(pid, &status, 0) < 0 ? -1 : WEXITSTATUS(status) == 42 ? 1
                 : WEXITSTATUS(status) == 2                                             ? 0
                                                                                        : -1;
        } else {
            rc = mkdir(target, 0755);
            if (rc == 0 && rmdir(target) < 0)
                rc = -1;
        }
        if (rc < 0)
            err++;
        else if (rc == 1)
            host++;
        else
            guest++;
    }
    atomic_store(&stop, 1);
    pthread_join(th, NULL);
    if (flips % 2) /* d back to the directory, for the next run */
        syscall(SYS_renameat2, AT_FDCWD, d, AT_FDCWD, dsym, RENAME_EXCHANGE);
    printf("%s host=%ld guest=%ld errors=%ld flips=%ld\n", op, host, guest, err, flips);
    return 0;
}
