/* Shared by the escape programs: each attempt prints one line,
 *   LABEL = ESCAPED <what it reached>     the attack worked
 *   LABEL = ENAME                          the call failed with that errno
 *   LABEL = CONTAINED <what it got>        it ran, but inside the guest
 * tests/test_escapes.py says which outcome each label must get, natively and
 * under `veil run -r ROOT --strict`. */
#ifndef ESC_H
#define ESC_H
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static inline const char *ename(int e)
{
    const char *n = strerrorname_np(e);
    return n ? n : "E?";
}

/* the result of a call that returns -1/errno on failure */
static inline void say(const char *label, long rc, const char *escaped)
{
    if (rc < 0)
        printf("%s = %s\n", label, ename(errno));
    else
        printf("%s = ESCAPED %s\n", label, escaped);
    fflush(stdout);
}

/* an fd's first line: ESCAPED if it holds `marker`, else CONTAINED */
static inline void say_fd(const char *label, int fd, const char *marker)
{
    if (fd < 0) {
        printf("%s = %s\n", label, ename(errno));
        fflush(stdout);
        return;
    }
    char buf[256];
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    buf[n > 0 ? n : 0] = 0;
    buf[strcspn(buf, "\n")] = 0;
    printf("%s = %s %s\n", label, marker && strstr(buf, marker) ? "ESCAPED" : "CONTAINED", buf);
    fflush(stdout);
}

#ifdef ESC_SECCOMP
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
/* the program's own filter (no_new_privs first, as an unprivileged one must) */
static inline long own_filter(struct sock_filter *f, size_t n, unsigned flags)
{
    struct sock_fprog prog = {(unsigned short)n, f};
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, flags, &prog);
}
#endif
#endif
