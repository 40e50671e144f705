/* caps_probe: what the capabilities of a program under `veil run --strict` let it
 * do (issue 17: the guest must not keep host root's powers).
 *
 *   caps_probe status          the Cap* and NoNewPrivs lines of /proc/self/status
 *   caps_probe power PID       one line per privileged act: "NAME ok" or "NAME ENAME"
 *       sys_admin       unshare(CLONE_NEWNS) (no user namespace)     CAP_SYS_ADMIN
 *       dac_read_search open_by_handle_at of "/"                     CAP_DAC_READ_SEARCH
 *       net_admin       setsockopt(SO_RCVBUFFORCE)                   CAP_NET_ADMIN
 *       sys_nice        setpriority(PRIO_PROCESS, 0, -5)             CAP_SYS_NICE
 *       ptrace_read     readlink /proc/PID/cwd (ptrace read access)  CAP_SYS_PTRACE (as root)
 *       chown           fchown of a file made here to 4242:4242      CAP_CHOWN (Docker keeps it)
 *   caps_probe reach PID       "ptrace_seize ..." and "process_vm_readv ..." against PID
 *   caps_probe drop UID PROG   become UID (setgroups, setgid, setuid), then exec PROG euid
 *   caps_probe euid            "euid N" (a setuid-root copy shows whether exec granted it)
 *
 * Each act runs in a child of its own, so one that works changes nothing for the
 * next.  The exit status is 0 unless the arguments are malformed or exec fails.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

static int act(const char *name, int (*fn)(const char *), const char *arg)
{
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        errno = 0;
        int rc = fn(arg);
        if (rc == 0)
            printf("%s ok\n", name);
        else
            printf("%s %s\n", name, strerrorname_np(errno) ? strerrorname_np(errno) : "E?");
        fflush(stdout);
        _exit(0);
    }
    int st;
    waitpid(pid, &st, 0);
    return 0;
}

static int sys_admin(const char *arg)
{
    (void)arg;
    return unshare(CLONE_NEWNS);
}

static int dac_read_search(const char *arg)
{
    (void)arg;
    struct {
        struct file_handle fh;
        unsigned char room[128];
    } h;
    int mount_id;
    h.fh.handle_bytes = sizeof h.room;
    if (name_to_handle_at(AT_FDCWD, "/", &h.fh, &mount_id, 0) < 0)
        return -1;
    int fd = open_by_handle_at(AT_FDCWD, &h.fh, O_RDONLY | O_DIRECTORY);
    return fd < 0 ? -1 : 0;
}

static int net_admin(const char *arg)
{
    (void)arg;
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    int size = 1 << 20;
    return s < 0 ? -1 : setsockopt(s, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size);
}

static int sys_nice(const char *arg)
{
    (void)arg;
    return setpriority(PRIO_PROCESS, 0, -5);
}

static int ptrace_read(const char *pid)
{
    char path[64], out[4096];
    snprintf(path, sizeof path, "/proc/%s/cwd", pid);
    return readlink(path, out, sizeof out) < 0 ? -1 : 0;
}

static int do_chown(const char *arg)
{
    (void)arg;
    char path[] = "/tmp/caps_probe.XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0)
        return -1;
    unlink(path);
    return fchown(fd, 4242, 4242);
}

static int seize(const char *pid)
{
    /* the tracer's exit detaches it */
    return ptrace(PTRACE_SEIZE, atoi(pid), 0L, 0L) < 0 ? -1 : 0;
}

static int vm_read(const char *pid)
{
    char buf[8];
    struct iovec local = {buf, sizeof buf};
    /* the address need not be mapped: a refused call fails before it is looked
       at (EPERM, ESRCH), a permitted one with EFAULT at worst */
    struct iovec remote = {(void *)0x400000, sizeof buf};
    ssize_t n = process_vm_readv(atoi(pid), &local, 1, &remote, 1, 0);
    return n < 0 && errno != EFAULT ? -1 : 0;
}

static void status(void)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) {
        perror("/proc/self/status");
        exit(1);
    }
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "Cap", 3) == 0 || strncmp(line, "NoNewPrivs:", 11) == 0)
            fputs(line, stdout);
    fclose(f);
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "status") == 0) {
        status();
    } else if (argc >= 3 && strcmp(argv[1], "power") == 0) {
        act("sys_admin", sys_admin, NULL);
        act("dac_read_search", dac_read_search, NULL);
        act("net_admin", net_admin, NULL);
        act("sys_nice", sys_nice, NULL);
        act("ptrace_read", ptrace_read, argv[2]);
        act("chown", do_chown, NULL);
    } else if (argc >= 3 && strcmp(argv[1], "reach") == 0) {
        act("ptrace_seize", seize, argv[2]);
        act("process_vm_readv", vm_read, argv[2]);
    } else if (argc >= 4 && strcmp(argv[1], "drop") == 0) {
        uid_t uid = (uid_t)atoi(argv[2]);
        if (setgroups(0, NULL) < 0 || setgid(uid) < 0 || setuid(uid) < 0) {
            perror("drop");
            return 1;
        }
        execl(argv[3], argv[3], "euid", (char *)NULL);
        perror(argv[3]);
        return 127;
    } else if (argc >= 2 && strcmp(argv[1], "euid") == 0) {
        printf("euid %d\n", (int)geteuid());
    } else {
        fprintf(stderr, "usage: caps_probe status | power PID | reach PID | drop UID PROG | euid\n");
        return 2;
    }
    return 0;
}
