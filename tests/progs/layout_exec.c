/* layout_exec [-u UID] [-w] [-e] [-b] [-0 ARGV0] PROG ARGS...: exec PROG and, when the
   exec fails, print "exec: ERRNAME" (exit 0) -- the error as the caller of
   execve sees it.  layout_exec -p: print "uid R euid E gid R egid E" (a setuid copy
   shows what exec granted).
   -u UID  drop to UID (and gid UID, no supplementary groups) first
   -w      hold PROG open for writing across the exec (ETXTBSY)
   -e      execveat(AT_FDCWD, PROG, ..., 0) instead of execve
   -b      add an argument of 200 KiB (more than MAX_ARG_STRLEN: E2BIG)
   -0 ARGV0  run PROG with argv[0] ARGV0 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    int i = 1, hold = 0, at = 0, big = 0;
    char *argv0 = NULL;
    if (argc == 2 && strcmp(argv[1], "-p") == 0) {
        printf("uid %u euid %u gid %u egid %u\n", (unsigned)getuid(), (unsigned)geteuid(),
               (unsigned)getgid(), (unsigned)getegid());
        return 0;
    }
    for (; i < argc && argv[i][0] == '-'; i++) {
        if (strcmp(argv[i], "-u") == 0 && i + 1 < argc) {
            uid_t id = (uid_t)atoi(argv[++i]);
            if (setgroups(0, NULL) < 0 || setresgid(id, id, id) < 0 || setresuid(id, id, id) < 0) {
                perror("dropping ids");
                return 1;
            }
        } else if (strcmp(argv[i], "-w") == 0) {
            hold = 1;
        } else if (strcmp(argv[i], "-e") == 0) {
            at = 1;
        } else if (strcmp(argv[i], "-0") == 0 && i + 1 < argc) {
            argv0 = argv[++i];
        } else if (strcmp(argv[i], "-b") == 0) {
            big = 1;
        } else {
            break;
        }
    }
    if (i >= argc) {
        fprintf(stderr, "usage: layout_exec [-u UID] [-w] [-e] [-b] [-0 ARGV0] PROG ARGS...\n");
        return 2;
    }
    if (hold && open(argv[i], O_WRONLY) < 0) {
        perror("open for writing");
        return 1;
    }
    char *prog = argv[i];
    if (argv0)
        argv[i] = argv0;
    char **args = argv + i;
    if (big) {
        size_t n = (size_t)(argc - i);
        args = calloc(n + 2, sizeof *args);
        char *huge = malloc(200 * 1024 + 1);
        if (!args || !huge)
            return 1;
        memcpy(args, argv + i, n * sizeof *args);
        memset(huge, 'x', 200 * 1024);
        huge[200 * 1024] = 0;
        args[n] = huge;
    }
    if (at)
        syscall(SYS_execveat, AT_FDCWD, prog, args, environ, 0);
    else
        execve(prog, args, environ);
    printf("exec: %s\n", strerrorname_np(errno));
    return 0;
}
