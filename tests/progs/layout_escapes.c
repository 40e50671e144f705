/* layout_escapes: attempts to reach host files from inside a veil guest layout.
 * Every attempt prints "LABEL = OK <first line of the file>" or "LABEL = ENAME".
 * The tests plant a host-only file (outside the guest root) whose first line is a
 * unique marker, and check that the marker never appears in the output.
 *
 *   layout_escapes openat2 HOSTONLY          openat2 with RESOLVE_IN_ROOT/BENEATH
 *   layout_escapes proc HOSTONLY             /proc/self/root, /proc/PID/root|cwd, fd links
 *   layout_escapes dotdot HOSTONLY           chdir("..") above the root, relative climbs
 *   layout_escapes toctou GUEST HOSTONLY N MARKER
 *                                            a thread flips the path buffer between GUEST
 *                                            and HOSTONLY while the main thread opens it N
 *                                            times; prints "host=H guest=G errors=E"
 *   layout_escapes privileged DIR            mount/umount2/pivot_root/swapon/
 *                                            name_to_handle_at/io_uring_setup on DIR
 *   layout_escapes gethandle PATH            (run natively) print PATH's file handle in hex
 *   layout_escapes byhandle HEX              open_by_handle_at(open("/"), HEX)
 *   layout_escapes exec PATH                 execv(PATH): prints the errno if it fails
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/io_uring.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/swap.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* print the result of an open: the fd's first line, or the errno */
static void report_fd(const char *label, int fd)
{
    if (fd < 0) {
        printf("%s = %s\n", label, ename(errno));
        return;
    }
    char buf[512];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    if (n < 0) {
        printf("%s = OK read:%s\n", label, ename(errno));
    } else {
        buf[n] = 0;
        buf[strcspn(buf, "\n")] = 0;
        printf("%s = OK %s\n", label, buf);
    }
    close(fd);
}

static void report_link(const char *label, const char *path)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof buf - 1);
    if (n < 0) {
        printf("%s = %s\n", label, ename(errno));
        return;
    }
    buf[n] = 0;
    printf("%s = OK %s\n", label, buf);
}

static int openat2_(int dirfd, const char *path, unsigned long long resolve)
{
    struct open_how how = {.flags = O_RDONLY, .resolve = resolve};
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

static int do_openat2(const char *hostonly)
{
    char up[PATH_MAX];
    snprintf(up, sizeof up, "../../../../../../..%s", hostonly);
    int root = open("/", O_PATH | O_DIRECTORY);
    if (root < 0) {
        printf("open / = %s\n", ename(errno));
        return 1;
    }
    struct { const char *label; int dirfd; const char *path; unsigned long long resolve; } t[] = {
        {"in_root etc/os-release", root, "etc/os-release", RESOLVE_IN_ROOT},
        {"in_root /etc/os-release", root, "/etc/os-release", RESOLVE_IN_ROOT},
        {"in_root ../../etc/os-release", root, "../../../../etc/os-release", RESOLVE_IN_ROOT},
        {"in_root hostonly", root, hostonly, RESOLVE_IN_ROOT},
        {"in_root ../hostonly", root, up, RESOLVE_IN_ROOT},
        {"beneath etc/os-release", root, "etc/os-release", RESOLVE_BENEATH},
        {"beneath ../hostonly", root, up, RESOLVE_BENEATH},
        {"cwd hostonly", AT_FDCWD, hostonly, 0},
        {"cwd ../hostonly", AT_FDCWD, up, 0},
        {"no_magiclinks /proc/self/root/etc/os-release", AT_FDCWD, "/proc/self/root/etc/os-release",
         RESOLVE_NO_MAGICLINKS},
        {"in_root etc/guest-only-file", root, "etc/guest-only-file", RESOLVE_IN_ROOT},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        report_fd(t[i].label, openat2_(t[i].dirfd, t[i].path, t[i].resolve));
    return 0;
}

static int do_proc(const char *hostonly)
{
    char p[PATH_MAX + 64];
    report_fd("self/root/etc/os-release", open("/proc/self/root/etc/os-release", O_RDONLY));
    report_link("readlink self/root", "/proc/self/root");
    snprintf(p, sizeof p, "/proc/self/root%s", hostonly);
    report_fd("self/root/hostonly", open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/self/root/../../../..%s", hostonly);
    report_fd("self/root/../hostonly", open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/1/root%s", hostonly);
    report_fd("1/root/hostonly", open(p, O_RDONLY));
    report_fd("1/root/etc/os-release", open("/proc/1/root/etc/os-release", O_RDONLY));
    snprintf(p, sizeof p, "/proc/%d/root%s", (int)getppid(), hostonly);
    report_fd("ppid/root/hostonly", open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/%d/cwd/../../../../../..%s", (int)getppid(), hostonly);
    report_fd("ppid/cwd/../hostonly", open(p, O_RDONLY));
    if (chdir("/") == 0) {
        snprintf(p, sizeof p, "/proc/self/cwd/../../../../..%s", hostonly);
        report_fd("self/cwd/../hostonly", open(p, O_RDONLY));
    }
    int d = open("/", O_RDONLY | O_DIRECTORY);
    snprintf(p, sizeof p, "/proc/self/fd/%d/../../../../..%s", d, hostonly);
    report_fd("self/fd/N/../hostonly", open(p, O_RDONLY));
    snprintf(p, sizeof p, "/proc/self/fd/%d", d);
    report_link("readlink self/fd/rootfd", p);
    snprintf(p, sizeof p, "/proc/thread-self/root%s", hostonly);
    report_fd("thread-self/root/hostonly", open(p, O_RDONLY));
    return 0;
}

static int do_dotdot(const char *hostonly)
{
    char p[PATH_MAX + 64], cwd[PATH_MAX];
    if (chdir("/") < 0)
        printf("chdir / = %s\n", ename(errno));
    for (int i = 0; i < 20; i++)
        if (chdir("..") < 0)
            printf("chdir .. = %s\n", ename(errno));
    printf("getcwd = %s\n", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
    report_fd("etc/os-release after cd ..", open("etc/os-release", O_RDONLY));
    snprintf(p, sizeof p, ".%s", hostonly);
    report_fd("relative hostonly after cd ..", open(p, O_RDONLY));
    snprintf(p, sizeof p, "/..%s", hostonly);
    report_fd("/..hostonly", open(p, O_RDONLY));
    int d = open("/", O_RDONLY | O_DIRECTORY);
    snprintf(p, sizeof p, "../../../../..%s", hostonly);
    report_fd("openat(rootfd, ../hostonly)", openat(d, p, O_RDONLY));
    report_fd("openat(rootfd, ../etc/os-release)", openat(d, "../../../etc/os-release", O_RDONLY));
    int t = open("/tmp", O_RDONLY | O_DIRECTORY);
    if (t >= 0 && fchdir(t) == 0) {
        for (int i = 0; i < 10; i++)
            if (chdir("..") < 0)
                break;
        printf("getcwd after fchdir(/tmp) and cd .. = %s\n", getcwd(cwd, sizeof cwd) ? cwd : ename(errno));
    }
    /* a symlink to "/" and to a deep "../.." made at run time */
    unlink("/tmp/veil-esc-up");
    unlink("/tmp/veil-esc-root");
    if (symlink("../../../../../../../../..", "/tmp/veil-esc-up") < 0)
        printf("symlink up = %s\n", ename(errno));
    if (symlink("/", "/tmp/veil-esc-root") < 0)
        printf("symlink root = %s\n", ename(errno));
    snprintf(p, sizeof p, "/tmp/veil-esc-up%s", hostonly);
    report_fd("via ../ symlink hostonly", open(p, O_RDONLY));
    report_fd("via ../ symlink etc/os-release", open("/tmp/veil-esc-up/etc/os-release", O_RDONLY));
    report_fd("via / symlink etc/os-release", open("/tmp/veil-esc-root/etc/os-release", O_RDONLY));
    snprintf(p, sizeof p, "/tmp/veil-esc-root/..%s", hostonly);
    report_fd("via / symlink ../hostonly", open(p, O_RDONLY));
    unlink("/tmp/veil-esc-up");
    unlink("/tmp/veil-esc-root");
    return 0;
}

/* --- TOCTOU ---------------------------------------------------------------- */

static char pathbuf[PATH_MAX];
static char guest_path[PATH_MAX], host_path[PATH_MAX];
static atomic_int stop_flip;
static atomic_long flips;

static void *flipper(void *arg)
{
    (void)arg;
    size_t gl = strlen(guest_path) + 1, hl = strlen(host_path) + 1;
    /* each state is held for a varying while (~0.1-2 us), so that a reader sees
     * whole strings and does not lock into one phase: natively the kernel then opens
     * each of the two paths a good part of the time */
    unsigned spin = 1;
    while (!atomic_load_explicit(&stop_flip, memory_order_relaxed)) {
        spin = spin * 1103515245u + 12345u;
        int a = 50 + (int)((spin >> 8) % 600), b = 50 + (int)((spin >> 20) % 600);
        memcpy(pathbuf, host_path, hl);
        for (volatile int k = 0; k < a; k++)
            ;
        memcpy(pathbuf, guest_path, gl);
        for (volatile int k = 0; k < b; k++)
            ;
        atomic_fetch_add_explicit(&flips, 1, memory_order_relaxed);
    }
    return NULL;
}

static int do_toctou(const char *g, const char *h, long n, const char *marker)
{
    snprintf(guest_path, sizeof guest_path, "%s", g);
    snprintf(host_path, sizeof host_path, "%s", h);
    snprintf(pathbuf, sizeof pathbuf, "%s", g);
    pthread_t th;
    if (pthread_create(&th, NULL, flipper, NULL) != 0) {
        printf("pthread_create failed\n");
        return 1;
    }
    /* do not start before the flipper runs (it may share this CPU) */
    while (atomic_load(&flips) < 1000)
        ;
    long host = 0, guest = 0, errors = 0;
    int first_errno = 0;
    size_t ml = strlen(marker);
    char buf[256];
    for (long i = 0; i < n; i++) {
        /* a short sleep lets the flipper run even when both threads share a CPU */
        struct timespec ts = {0, 1000};
        nanosleep(&ts, NULL);
        int fd = open(pathbuf, O_RDONLY);
        if (fd < 0) {
            if (!errors++)
                first_errno = errno;
            continue;
        }
        ssize_t r = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (r >= (ssize_t)ml && memcmp(buf, marker, ml) == 0)
            host++;
        else
            guest++;
    }
    atomic_store(&stop_flip, 1);
    pthread_join(th, NULL);
    printf("host=%ld guest=%ld errors=%ld\n", host, guest, errors);
    if (errors)
        printf("first error = %s\n", ename(first_errno));
    return host ? 1 : 0;
}

/* --- privileged calls -------------------------------------------------------- */

static void result(const char *label, long r)
{
    if (r < 0)
        printf("%s = %s\n", label, ename(errno));
    else
        printf("%s = OK %ld\n", label, r);
}

static int do_privileged(const char *dir)
{
    char sub[PATH_MAX + 16];
    snprintf(sub, sizeof sub, "%s/old", dir);
    long r = mount("veiltest", dir, "tmpfs", 0, "size=1m");
    result("mount", r);
    if (r == 0)
        umount2(dir, MNT_DETACH); /* do not leave it behind if it was let through */
    result("umount2", umount2(dir, 0));
    result("pivot_root", syscall(SYS_pivot_root, dir, sub));
    result("swapon", swapon(dir, 0));
    result("swapoff", swapoff(dir));
    struct { struct file_handle fh; unsigned char b[128]; } h = {.fh.handle_bytes = 128};
    int mnt = 0;
    result("name_to_handle_at", syscall(SYS_name_to_handle_at, AT_FDCWD, "/etc/os-release", &h.fh, &mnt, 0));
    struct io_uring_params p;
    memset(&p, 0, sizeof p);
    long u = syscall(SYS_io_uring_setup, 4, &p);
    result("io_uring_setup", u);
    if (u >= 0)
        close((int)u);
    return 0;
}

static int do_gethandle(const char *path)
{
    struct { struct file_handle fh; unsigned char b[128]; } h = {.fh.handle_bytes = 128};
    int mnt = 0;
    if (syscall(SYS_name_to_handle_at, AT_FDCWD, path, &h.fh, &mnt, 0) < 0) {
        printf("name_to_handle_at = %s\n", ename(errno));
        return 1;
    }
    printf("%d:", h.fh.handle_type);
    for (unsigned i = 0; i < h.fh.handle_bytes; i++)
        printf("%02x", h.fh.f_handle[i]);
    printf("\n");
    return 0;
}

static int do_byhandle(const char *hex)
{
    struct { struct file_handle fh; unsigned char b[128]; } h;
    memset(&h, 0, sizeof h);
    h.fh.handle_type = atoi(hex);
    const char *x = strchr(hex, ':');
    if (!x)
        return 2;
    x++;
    unsigned n = 0;
    while (x[0] && x[1] && n < 128) {
        unsigned v;
        sscanf(x, "%2x", &v);
        h.fh.f_handle[n++] = (unsigned char)v;
        x += 2;
    }
    h.fh.handle_bytes = n;
    int m = open("/", O_RDONLY | O_DIRECTORY);
    report_fd("open_by_handle_at", (int)syscall(SYS_open_by_handle_at, m, &h.fh, O_RDONLY));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc >= 3 && !strcmp(argv[1], "openat2"))
        return do_openat2(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "proc"))
        return do_proc(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "dotdot"))
        return do_dotdot(argv[2]);
    if (argc >= 6 && !strcmp(argv[1], "toctou"))
        return do_toctou(argv[2], argv[3], atol(argv[4]), argv[5]);
    if (argc >= 3 && !strcmp(argv[1], "privileged"))
        return do_privileged(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "gethandle"))
        return do_gethandle(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "byhandle"))
        return do_byhandle(argv[2]);
    if (argc >= 3 && !strcmp(argv[1], "exec")) {
        execv(argv[2], argv + 2);
        printf("execv %s = %s\n", argv[2], ename(errno));
        return 127;
    }
    fprintf(stderr, "layout_escapes: bad arguments\n");
    return 2;
}
