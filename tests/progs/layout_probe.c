/* layout_probe: path operations, one output line per operation, for comparing a
 * guest tree seen through veil with the same tree under a real chroot.
 *
 *   layout_probe OP ARG... [OP ARG...]...
 *
 * OPs (argument count fixed per op):
 *   open P        first line of P                     stat P / lstat P  file type
 *   readlink P    the link's literal content          access P          F_OK
 *   ls P          sorted entries of a directory        mkdir P / rmdir P / unlink P
 *   write P TEXT  create/truncate P, write TEXT        rename A B / link A B / symlink T L
 *   chdir P       chdir                                cwd               getcwd()
 *   fdpath P      open P, readlink /proc/self/fd/N     exe               readlink /proc/self/exe
 *   chmod P MODE  (octal)                              truncate P        truncate to 0
 *   exec P ARG    fork + execv(P, {P, ARG}): "exit N" or the errno of execv
 *   fchdirdot P   open P as a directory, fchdir to it, print getcwd()
 *   openat P REL  openat(open(P, O_DIRECTORY), REL): first line
 *
 * Results: "OP ARG = OK[ detail]" or "OP ARG = ENAME" (strerrorname_np).
 * The exit status is 0 unless the arguments are malformed.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    static char buf[32];
    if (n)
        return n;
    snprintf(buf, sizeof buf, "E%d", e);
    return buf;
}

static void first_line_fd(int fd, char *out, size_t n)
{
    ssize_t r = read(fd, out, n - 1);
    if (r < 0) {
        snprintf(out, n, "read:%s", ename(errno));
        return;
    }
    out[r] = 0;
    char *nl = strchr(out, '\n');
    if (nl)
        *nl = 0;
}

static const char *type_of(mode_t m)
{
    if (S_ISREG(m)) return "file";
    if (S_ISDIR(m)) return "dir";
    if (S_ISLNK(m)) return "symlink";
    if (S_ISSOCK(m)) return "socket";
    if (S_ISCHR(m)) return "chr";
    if (S_ISBLK(m)) return "blk";
    if (S_ISFIFO(m)) return "fifo";
    return "other";
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static char pre[2 * PATH_MAX + 64];
#define FAIL() printf("%s= %s\n", pre, ename(errno))

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    char buf[PATH_MAX + 256];
    for (int i = 1; i < argc;) {
        const char *op = argv[i++];
        const char *a = i < argc ? argv[i] : NULL;
        const char *b = i + 1 < argc ? argv[i + 1] : NULL;
#define NEED(n) do { if (i + (n) > argc) { fprintf(stderr, "%s: missing argument\n", op); return 2; } } while (0)
        if (!strcmp(op, "cwd") || !strcmp(op, "exe")) {
            snprintf(pre, sizeof pre, "%s ", op);
            if (!strcmp(op, "cwd")) {
                if (getcwd(buf, sizeof buf))
                    printf("%s= OK %s\n", pre, buf);
                else
                    FAIL();
            } else {
                ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
                if (n >= 0) {
                    buf[n] = 0;
                    printf("%s= OK %s\n", pre, buf);
                } else
                    FAIL();
            }
            continue;
        }
        int two = !strcmp(op, "write") || !strcmp(op, "rename") || !strcmp(op, "link") ||
                  !strcmp(op, "symlink") || !strcmp(op, "chmod") || !strcmp(op, "exec") ||
                  !strcmp(op, "openat");
        NEED(two ? 2 : 1);
        if (two)
            snprintf(pre, sizeof pre, "%s %s %s ", op, a, b);
        else
            snprintf(pre, sizeof pre, "%s %s ", op, a);
        i += two ? 2 : 1;
        struct stat st;
        if (!strcmp(op, "open")) {
            int fd = open(a, O_RDONLY);
            if (fd < 0) { FAIL(); continue; }
            first_line_fd(fd, buf, 512);
            close(fd);
            printf("%s= OK %s\n", pre, buf);
        } else if (!strcmp(op, "openat")) {
            int d = open(a, O_RDONLY | O_DIRECTORY);
            if (d < 0) { printf("%s= dir:%s\n", pre, ename(errno)); continue; }
            int fd = openat(d, b, O_RDONLY);
            if (fd < 0) { FAIL(); close(d); continue; }
            first_line_fd(fd, buf, 512);
            close(fd);
            close(d);
            printf("%s= OK %s\n", pre, buf);
        } else if (!strcmp(op, "stat") || !strcmp(op, "lstat")) {
            int r = op[0] == 's' ? stat(a, &st) : lstat(a, &st);
            if (r < 0) { FAIL(); continue; }
            printf("%s= OK %s\n", pre, type_of(st.st_mode));
        } else if (!strcmp(op, "readlink")) {
            ssize_t n = readlink(a, buf, sizeof buf - 1);
            if (n < 0) { FAIL(); continue; }
            buf[n] = 0;
            printf("%s= OK %s\n", pre, buf);
        } else if (!strcmp(op, "access")) {
            if (access(a, F_OK) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "ls")) {
            DIR *d = opendir(a);
            if (!d) { FAIL(); continue; }
            char *names[4096];
            int n = 0;
            struct dirent *e;
            while ((e = readdir(d)) && n < 4096)
                if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
                    names[n++] = strdup(e->d_name);
            closedir(d);
            qsort(names, n, sizeof *names, cmp);
            printf("%s= OK", pre);
            for (int k = 0; k < n; k++) {
                printf(" %s", names[k]);
                free(names[k]);
            }
            printf("\n");
        } else if (!strcmp(op, "mkdir")) {
            if (mkdir(a, 0755) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "rmdir")) {
            if (rmdir(a) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "unlink")) {
            if (unlink(a) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "write")) {
            int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) { FAIL(); continue; }
            ssize_t w = write(fd, b, strlen(b));
            close(fd);
            if (w < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "rename")) {
            if (rename(a, b) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "link")) {
            if (link(a, b) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "symlink")) {
            if (symlink(a, b) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "chmod")) {
            if (chmod(a, strtol(b, NULL, 8)) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "truncate")) {
            if (truncate(a, 0) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "chdir")) {
            if (chdir(a) < 0) { FAIL(); continue; }
            printf("%s= OK\n", pre);
        } else if (!strcmp(op, "fchdirdot")) {
            int d = open(a, O_RDONLY | O_DIRECTORY);
            if (d < 0 || fchdir(d) < 0) { FAIL(); if (d >= 0) close(d); continue; }
            close(d);
            if (!getcwd(buf, sizeof buf)) { FAIL(); continue; }
            printf("%s= OK %s\n", pre, buf);
        } else if (!strcmp(op, "fdpath")) {
            int fd = open(a, O_RDONLY);
            if (fd < 0) { FAIL(); continue; }
            char lnk[64];
            snprintf(lnk, sizeof lnk, "/proc/self/fd/%d", fd);
            ssize_t n = readlink(lnk, buf, sizeof buf - 1);
            int e = errno;
            close(fd);
            if (n < 0) { errno = e; FAIL(); continue; }
            buf[n] = 0;
            printf("%s= OK %s\n", pre, buf);
        } else if (!strcmp(op, "exec")) {
            int p[2];
            if (pipe2(p, O_CLOEXEC) < 0) { FAIL(); continue; }
            fflush(stdout);
            pid_t pid = fork();
            if (pid == 0) {
                char *args[] = {(char *)a, (char *)b, NULL};
                execv(a, args);
                int e = errno;
                if (write(p[1], &e, sizeof e) < 0) {}
                _exit(127);
            }
            close(p[1]);
            int e = 0, st2 = 0;
            ssize_t got = read(p[0], &e, sizeof e);
            close(p[0]);
            waitpid(pid, &st2, 0);
            if (got == (ssize_t)sizeof e) { errno = e; FAIL(); continue; }
            printf("%s= exit %d\n", pre, WIFEXITED(st2) ? WEXITSTATUS(st2) : 128 + WTERMSIG(st2));
        } else {
            fprintf(stderr, "unknown op %s\n", op);
            return 2;
        }
    }
    return 0;
}
