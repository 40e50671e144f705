/*
 * AF_UNIX socket names: a path the program binds or connects to is translated
 * like any other path (and shortened through veil's fds where it would not
 * fit sun_path); a name the kernel reports back is shown in the guest's view.
 */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "layout.h"

/*
 * A name for host path `host` short enough for sun_path, for bind: ALIAS/NAME,
 * where ALIAS is veil's fd of the directory (kept open: the kernel stores the name,
 * and getsockname shows it later).  1 and `out`; 0: no alias (the caller cannot
 * walk veil's fds, or NAME itself is too long); -errno.
 */
static int sun_alias(struct veil_engine *e, struct task *t, const char *host, char *out,
                     size_t cap)
{
    struct layout *L = &e->layout;
    const char *cut = strrchr(host, '/');
    if (!cut || cut == host || !cut[1] || !can_read_our_fds(e, t))
        return 0;
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%.*s", (int)(cut - host), host);
    struct sun_dir *d = NULL;
    for (uint32_t i = 0; i < L->nsun_dirs && !d; i++)
        if (strcmp(L->sun_dirs[i].host, dir) == 0)
            d = &L->sun_dirs[i];
    if (!d) {
        struct sun_dir *grown = realloc(L->sun_dirs, (L->nsun_dirs + 1) * sizeof *grown);
        if (!grown)
            return -ENOMEM;
        L->sun_dirs = grown;
        int fd = open_nosym(dir, O_PATH_FLAG | 0200000 /* O_DIRECTORY */);
        if (fd < 0)
            return fd; /* the kernel would fail the walk the same way */
        char fds[64], alias[96];
        caps_fd_dir(e, fds, sizeof fds);
        snprintf(alias, sizeof alias, "%s/%d", fds, fd);
        d = &L->sun_dirs[L->nsun_dirs];
        d->fd = fd;
        d->alias = strdup(alias);
        d->host = strdup(dir);
        if (!d->alias || !d->host) {
            free(d->alias);
            free(d->host);
            close(fd);
            return -ENOMEM;
        }
        L->nsun_dirs++;
    }
    int n = snprintf(out, cap, "%s%s", d->alias, cut);
    return n > 0 && (size_t)n < cap;
}

/* The host path an AF_UNIX name the kernel reports stands for (an alias of
   sun_alias, or the name itself). */
static const char *sun_host(struct veil_engine *e, const char *name, char *buf)
{
    const struct layout *L = &e->layout;
    for (uint32_t i = 0; i < L->nsun_dirs; i++) {
        size_t n = strlen(L->sun_dirs[i].alias);
        if (strncmp(name, L->sun_dirs[i].alias, n) == 0 && name[n] == '/') {
            if (snprintf(buf, PATH_MAX, "%s%s", L->sun_dirs[i].host, name + n) >= PATH_MAX)
                return name;
            return buf;
        }
    }
    return name;
}

/*
 * The host address for an AF_UNIX sockaddr the caller passes in: 1 and
 * `out`/`outlen` if it names a path, 0 if it is no AF_UNIX path (abstract,
 * another family: the kernel takes it as it is), -errno.
 */
static int unix_name_in(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                        struct scratch *s, uint64_t addr, uint64_t len, int binding, struct sockaddr_un *out,
                        uint32_t *outlen)
{
    if (!addr || len <= offsetof(struct sockaddr_un, sun_path) || len > sizeof *out)
        return 0;
    if (veil_read_mem(t->tid, addr, out, len) != (long)len || out->sun_family != AF_UNIX)
        return 0;
    size_t plen = len - offsetof(struct sockaddr_un, sun_path);
    if (out->sun_path[0] == 0)
        return 0; /* abstract: no file system name */
    char path[sizeof out->sun_path + 1];
    memcpy(path, out->sun_path, plen);
    path[plen] = 0;
    struct resolved r;
    int rc = resolve_arg(e, t, AT_FDCWD_VALUE, path, !binding, &r, NULL);
    if (rc < 0)
        return rc;
    rc = check_rules(e, t, d, r.guest);
    if (rc < 0)
        return rc;
    const char *host = r.host;
    char pinned[PATH_MAX];
    int too_long = strlen(host) >= sizeof out->sun_path;
    if ((e->layout.pin_paths || too_long) && !binding) {
        /* connect/sendto walk the name again: through the socket file veil opened
           (a magic link to it; a name stays short).  bind makes the name: through
           veil's fd of its directory (sun_alias), which getsockname shows back. */
        rc = pin_path(e, t, s, r.host, 1, pinned);
        if (rc < 0)
            return rc;
        if (rc > 0)
            host = pinned;
    } else if (too_long || e->layout.pin_paths) {
        rc = sun_alias(e, t, r.host, pinned, sizeof out->sun_path);
        if (rc < 0)
            return rc;
        if (rc > 0)
            host = pinned;
    }
    size_t hn = strlen(host);
    if (hn >= sizeof out->sun_path)
        return -ENAMETOOLONG;
    memcpy(out->sun_path, host, hn + 1);
    *outlen = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + hn + 1);
    return 1;
}

/* bind/connect/sendto */
int translate_sockaddr_in(struct veil_engine *e, struct task *t,
                                 const struct veil_sysdesc *d, struct scratch *s)
{
    int ai = d->sock_arg;
    struct sockaddr_un un;
    uint32_t len;
    int binding = t->nr == __NR_bind; /* bind creates the name: never follow it */
    int rc = unix_name_in(e, t, d, s, t->args[ai], t->args[ai + 1], binding, &un, &len);
    if (rc <= 0)
        return rc;
    uint64_t at = scratch_put(s, &un, sizeof un);
    if (!at)
        return -ENOMEM;
    rc = set_arg(t, ai, at);
    return rc < 0 ? rc : set_arg(t, ai + 1, len);
}

/* sendmsg: a copy of the msghdr pointing at the host address */
int translate_msg_in(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                            struct scratch *s)
{
    struct msghdr64 mh;
    int ai = d->sock_arg;
    if (t->nr == __NR_sendmmsg) {
        /* each message's name is read again by the kernel: refuse AF_UNIX paths there */
        uint64_t vlen = t->args[2] < 1024 ? t->args[2] : 1024;
        for (uint64_t i = 0; i < vlen; i++) {
            struct sockaddr_un un;
            uint32_t len;
            if (veil_read_mem(t->tid, t->args[ai] + i * 64, &mh, sizeof mh) != sizeof mh)
                return 0;
            int rc = unix_name_in(e, t, d, s, mh.name, mh.namelen, 0, &un, &len);
            if (rc != 0)
                return rc < 0 ? rc : -EOPNOTSUPP;
        }
        return 0;
    }
    if (veil_read_mem(t->tid, t->args[ai], &mh, sizeof mh) != sizeof mh)
        return 0;
    struct sockaddr_un un;
    uint32_t len;
    int rc = unix_name_in(e, t, d, s, mh.name, mh.namelen, 0, &un, &len);
    if (rc <= 0)
        return rc;
    uint64_t at = scratch_put(s, &un, sizeof un);
    if (!at)
        return -ENOMEM;
    mh.name = at;
    mh.namelen = len;
    at = scratch_put(s, &mh, sizeof mh);
    if (!at)
        return -ENOMEM;
    return set_arg(t, ai, at);
}

/* recvmsg at exit: the sender's AF_UNIX path in the guest's view */
void translate_msg_out(struct veil_engine *e, struct task *t,
                              const struct veil_sysdesc *d, int64_t ret)
{
    struct msghdr64 mh;
    struct sockaddr_un un;
    uint64_t at = t->args[d->sock_arg];
    if (ret < 0 || veil_read_mem(t->tid, at, &mh, sizeof mh) != sizeof mh || !mh.name)
        return;
    size_t cap = t->sock_cap < sizeof un ? t->sock_cap : sizeof un;
    size_t have = mh.namelen < cap ? mh.namelen : cap;
    if (have <= offsetof(struct sockaddr_un, sun_path) || have < mh.namelen ||
        veil_read_mem(t->tid, mh.name, &un, have) != (long)have || un.sun_family != AF_UNIX)
        return;
    size_t plen = have - offsetof(struct sockaddr_un, sun_path);
    char host[sizeof un.sun_path + 1], guest[PATH_MAX], aliased[PATH_MAX];
    memcpy(host, un.sun_path, plen);
    host[plen] = 0;
    if (host[0] != '/' || host_to_view(e, t->pid, sun_host(e, host, aliased), guest) < 0 ||
        strlen(guest) >= sizeof un.sun_path)
        return;
    strcpy(un.sun_path, guest);
    uint32_t full = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + strlen(guest) + 1);
    size_t wrote = full < cap ? full : cap;
    if (veil_write_mem(t->tid, mh.name, &un, wrote) == (long)wrote)
        veil_write_mem(t->tid, at + offsetof(struct msghdr64, namelen), &full, sizeof full);
}

/* At exit: an AF_UNIX address the kernel wrote back (getsockname, accept...). */
void translate_sockaddr_out(struct veil_engine *e, struct task *t,
                                   const struct veil_sysdesc *d, int64_t ret)
{
    int ai = d->sock_arg;
    uint64_t addr = t->args[ai], lenp = t->args[ai + 1];
    uint32_t len;
    struct sockaddr_un un;
    if (ret < 0 || !addr || !lenp || veil_read_mem(t->tid, lenp, &len, sizeof len) != sizeof len)
        return;
    size_t cap = t->sock_cap < sizeof un ? t->sock_cap : sizeof un;
    size_t have = len < cap ? len : cap;
    if (have <= offsetof(struct sockaddr_un, sun_path) ||
        veil_read_mem(t->tid, addr, &un, have) != (long)have || un.sun_family != AF_UNIX)
        return;
    size_t plen = len - offsetof(struct sockaddr_un, sun_path);
    if (plen > sizeof un.sun_path || un.sun_path[0] == 0 || have < len)
        return;
    char host[sizeof un.sun_path + 1], guest[PATH_MAX], aliased[PATH_MAX];
    memcpy(host, un.sun_path, plen);
    host[plen] = 0;
    if (host[0] != '/' || host_to_view(e, t->pid, sun_host(e, host, aliased), guest) < 0)
        return;
    size_t gn = strlen(guest);
    if (gn >= sizeof un.sun_path)
        return;
    memcpy(un.sun_path, guest, gn + 1);
    uint32_t full = (uint32_t)(offsetof(struct sockaddr_un, sun_path) + gn + 1);
    size_t wrote = full < cap ? full : cap;
    if (veil_write_mem(t->tid, addr, &un, wrote) == (long)wrote)
        veil_write_mem(t->tid, lenp, &full, sizeof full);
}
