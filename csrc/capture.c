/* Records into the ring, with tracee memory captured as the action table says. */
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define CAP_HARD_MAX 65536u   /* no single capture exceeds this */
#define CSTR_DEFAULT 4096u    /* PATH_MAX: paths are printed whole, as strace does */
#define STRV_MAX_ELEMS 4096u
#define IOV_MAX_ELEMS 1024u

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint32_t pad8(uint32_t n)
{
    return (n + 7u) & ~7u;
}

uint8_t *ring_reserve(struct ring *r, uint32_t size)
{
    if (r->used + size > r->cap)
        return NULL;
    return r->buf + r->used;
}

void ring_event(struct veil_engine *e, uint16_t type, int32_t pid, int32_t tid,
                int64_t value, int64_t aux, const void *payload, uint32_t plen)
{
    uint32_t size = pad8((uint32_t)sizeof(struct veil_rec) + plen);
    struct veil_rec *rec = (struct veil_rec *)ring_reserve(&e->ring, size);
    if (!rec)
        return; /* cannot happen: next() keeps RING_RECORD_MAX free */
    memset(rec, 0, size);
    rec->size = size;
    rec->type = type;
    rec->pid = pid;
    rec->tid = tid;
    rec->ts_ns = now_ns();
    rec->nr = -1;
    rec->value = value;
    rec->aux = aux;
    if (plen)
        memcpy(rec + 1, payload, plen);
    e->ring.used += size;
    e->stats.records++;
}

static uint32_t clamp_limit(uint32_t limit, uint32_t dflt)
{
    if (limit == 0)
        limit = dflt;
    return limit > CAP_HARD_MAX ? CAP_HARD_MAX : limit;
}

/* A captured buffer: reads what it can, notes a fault if nothing. */
static uint32_t cap_buffer(int32_t tid, uint64_t addr, uint64_t len, uint32_t limit,
                           uint8_t *out, struct veil_cap_hdr *h)
{
    uint64_t want = len < limit ? len : limit;
    h->count = len;
    if (addr == 0 || want == 0) {
        h->fault = addr == 0 && len != 0;
        return 0;
    }
    long n = veil_read_mem(tid, addr, out, (size_t)want);
    if (n < 0) {
        h->fault = 1;
        return 0;
    }
    h->truncated = (uint64_t)n < len;
    return (uint32_t)n;
}

/* argv: element = u16 len, u8 truncated, u8 fault, bytes */
static uint32_t cap_strv(int32_t tid, uint64_t addr, uint32_t limit, uint8_t *out,
                         uint32_t room, struct veil_cap_hdr *h, int count_only)
{
    uint32_t used = 0;
    uint64_t n = 0;
    if (addr == 0) {
        h->fault = 1;
        return 0;
    }
    for (; n < STRV_MAX_ELEMS * (count_only ? 16u : 1u); n++) {
        uint64_t ptr;
        if (veil_read_mem(tid, addr + n * sizeof ptr, &ptr, sizeof ptr) != sizeof ptr) {
            h->fault = 1;
            break;
        }
        if (ptr == 0)
            break;
        if (count_only)
            continue;
        if (used + 4 + limit + 1 > room) {
            h->truncated = 1;
            continue; /* keep counting */
        }
        int trunc = 0;
        long len = veil_read_cstr(tid, ptr, (char *)out + used + 4, limit + 1, &trunc);
        uint8_t *el = out + used;
        if (len < 0) {
            el[0] = el[1] = 0;
            el[2] = 0;
            el[3] = 1;
            used += 4;
            continue;
        }
        if ((uint32_t)len > limit) {
            len = limit;
            trunc = 1;
        }
        el[0] = (uint8_t)(len & 0xff);
        el[1] = (uint8_t)(len >> 8);
        el[2] = (uint8_t)trunc;
        el[3] = 0;
        used += 4 + (uint32_t)len;
    }
    h->count = n;
    return used;
}

/* iovecs: u32 niov, then per iov {u64 base, u64 len, u32 captured, u32 pad},
   then the captured bytes of each, in order.  total caps the bytes per call. */
static uint32_t cap_iov(int32_t tid, uint64_t addr, uint64_t niov, uint64_t total,
                        uint32_t limit, uint8_t *out, struct veil_cap_hdr *h)
{
    struct iovec iov[64];
    uint64_t n = niov > IOV_MAX_ELEMS ? IOV_MAX_ELEMS : niov;
    if (n > 64)
        n = 64;
    if (addr == 0 || n == 0) {
        h->fault = addr == 0 && niov != 0;
        return 0;
    }
    if (veil_read_mem(tid, addr, iov, n * sizeof iov[0]) != (long)(n * sizeof iov[0])) {
        h->fault = 1;
        return 0;
    }
    uint32_t meta = 8 + (uint32_t)n * 24;
    uint32_t used = meta;
    uint32_t head[2] = {(uint32_t)n, (uint32_t)(niov > n) | VEIL_IOV_FULL_LEN};
    memcpy(out, head, sizeof head);
    uint64_t left = total;
    for (uint64_t i = 0; i < n; i++) {
        uint8_t *m = out + 8 + i * 24;
        uint64_t base = (uint64_t)(uintptr_t)iov[i].iov_base, len = iov[i].iov_len;
        uint64_t avail = len < left ? len : left;
        left -= avail;
        uint64_t want = avail < limit ? avail : limit;
        if (used + want > meta + CAP_HARD_MAX)
            want = 0;
        long got = want ? veil_read_mem(tid, base, out + used, (size_t)want) : 0;
        if (got < 0)
            got = 0;
        uint32_t g = (uint32_t)got;
        uint32_t moved = avail > UINT32_MAX ? UINT32_MAX : (uint32_t)avail;
        memcpy(m, &base, 8);
        memcpy(m + 8, &len, 8);
        memcpy(m + 16, &g, 4);
        memcpy(m + 20, &moved, 4);
        used += g;
    }
    h->count = total;
    return used;
}

static int is_entry_kind(uint8_t k)
{
    return k == VEIL_CAP_CSTR || k == VEIL_CAP_BUF_ARG || k == VEIL_CAP_FIXED_IN ||
           k == VEIL_CAP_STRV || k == VEIL_CAP_PTRV_LEN || k == VEIL_CAP_IOV_IN ||
           k == VEIL_CAP_LEN_IN || k == VEIL_CAP_FDPATH || k == VEIL_CAP_SP_FIXED ||
           k == VEIL_CAP_FIXED_INOUT || k == VEIL_CAP_MSGHDR_IN || k == VEIL_CAP_DEREF_IN;
}

/* the msghdr, u32 name_len, u32 control_len, the name, the control data,
   then the iovec block as cap_iov writes it */
static uint32_t cap_fdpath(struct veil_engine *e, int32_t tid, int64_t fd, uint8_t *out,
                           uint32_t limit, struct veil_cap_hdr *h, int describe);

#define FD_PATHS_MARK 0x53504446u /* "FDPS": what the SCM_RIGHTS fds name follows */

/* -y: for each fd passed in SCM_RIGHTS messages of a control buffer, u32 len
   + what it names (in the process whose fds they are at this stop) */
static uint32_t cap_rights_paths(struct veil_engine *e, int32_t tid, const uint8_t *ctl,
                                 uint32_t len, uint8_t *out, uint32_t room)
{
    uint32_t used = 8, count = 0, pos = 0;
    while (pos + 16 <= len) {
        uint64_t clen;
        int32_t level, type;
        memcpy(&clen, ctl + pos, 8);
        memcpy(&level, ctl + pos + 8, 4);
        memcpy(&type, ctl + pos + 12, 4);
        if (clen < 16)
            break;
        uint64_t end = pos + clen < len ? pos + clen : len;
        if (level == SOL_SOCKET && type == SCM_RIGHTS) {
            for (uint64_t k = pos + 16; k + 4 <= end && used + 4 + 4096 < room; k += 4) {
                int32_t fd;
                memcpy(&fd, ctl + k, 4);
                struct veil_cap_hdr sub;
                memset(&sub, 0, sizeof sub);
                uint32_t n = cap_fdpath(e, tid, fd, out + used + 4, 4096, &sub, 0);
                memcpy(out + used, &n, 4);
                used += 4 + n;
                count++;
            }
        }
        pos += (uint32_t)((clen + 7) & ~7ull);
    }
    uint32_t mark = FD_PATHS_MARK;
    memcpy(out, &mark, 4);
    memcpy(out + 4, &count, 4);
    return count ? used : 0;
}

static uint32_t cap_msghdr(struct veil_engine *e, int32_t tid, uint64_t addr, uint64_t total,
                           uint32_t limit, uint8_t *out, uint32_t room, struct veil_cap_hdr *h)
{
    struct msghdr64 m;
    if (addr == 0 || veil_read_mem(tid, addr, &m, sizeof m) != (long)sizeof m) {
        h->fault = 1;
        return 0;
    }
    memcpy(out, &m, sizeof m);
    uint32_t used = sizeof m + 8;
    uint32_t name_len = m.name ? (m.namelen < 128 ? m.namelen : 128) : 0;
    uint32_t control_len = m.control ? (m.controllen < 4096 ? (uint32_t)m.controllen : 4096) : 0;
    if (name_len && veil_read_mem(tid, m.name, out + used, name_len) != (long)name_len)
        name_len = 0;
    used += name_len;
    if (control_len && veil_read_mem(tid, m.control, out + used, control_len) != (long)control_len)
        control_len = 0;
    used += control_len;
    memcpy(out + sizeof m, &name_len, 4);
    memcpy(out + sizeof m + 4, &control_len, 4);
    struct veil_cap_hdr ih;
    memset(&ih, 0, sizeof ih);
    if (room > used + 8 + 64 * 24 + CAP_HARD_MAX)
        used += cap_iov(tid, m.iov, m.iovlen, total, limit, out + used, &ih);
    else
        return used;
    uint32_t ctl_at = (uint32_t)sizeof m + 8 + name_len;
    if (e->decorate >= 1 && control_len && room > used + 16)
        used += cap_rights_paths(e, tid, out + ctl_at, control_len, out + used, room - used);
    h->count = total;
    return used;
}

static uint32_t cap_deref(int32_t tid, uint64_t base, uint8_t param, uint32_t limit,
                          uint8_t *out, struct veil_cap_hdr *h)
{
    uint64_t ptr;
    if (base == 0 ||
        veil_read_mem(tid, base + 8u * (param & 31u), &ptr, sizeof ptr) != sizeof ptr) {
        h->fault = 1;
        return 0;
    }
    return cap_buffer(tid, ptr, limit, limit, out, h);
}

/* The file an fd of the tracee names, as /proc shows it (-y). */
static uint32_t cap_fdpath(struct veil_engine *e, int32_t tid, int64_t fd, uint8_t *out,
                           uint32_t limit, struct veil_cap_hdr *h, int describe)
{
    char link[64];
    if (fd == -100)
        snprintf(link, sizeof link, "/proc/%d/cwd", tid);
    else if (fd >= 0 && fd <= INT32_MAX)
        snprintf(link, sizeof link, "/proc/%d/fd/%d", tid, (int)fd);
    else
        return 0;
    ssize_t n = readlink(link, (char *)out, limit);
    if (n < 0) {
        h->fault = 1;
        return 0;
    }
    h->truncated = (uint32_t)n == limit;
    if ((e->decorate >= 2 || describe) && (size_t)n < limit &&
        strncmp((char *)out, "socket:[", 8) == 0) {
        out[n] = 0;
        n += sockinfo_append(tid, (int)fd, link, (char *)out, out + n, 1024);
    }
    return (uint32_t)n;
}

static const struct veil_sysdesc *desc_of(struct veil_engine *e, struct task *t)
{
    if (t->arch == VEIL_ARCH_X86_64 && t->nr >= 0 && t->nr < VEIL_NR_MAX)
        return &e->table[t->nr];
    return &e->foreign;
}

static uint32_t capture_one(struct veil_engine *e, struct task *t, int arg,
                            const struct veil_capture *c, int64_t ret, uint8_t *out,
                            uint32_t room, struct veil_cap_hdr *h)
{
    uint64_t a = arg < VEIL_MAX_ARGS ? t->args[arg] : (uint64_t)ret;
    uint32_t lim;
    switch (c->kind) {
    case VEIL_CAP_FDPATH:
        return cap_fdpath(e, t->tid, (int64_t)(int32_t)a, out, clamp_limit(c->limit, 4096), h,
                          c->param == VEIL_FDPATH_DESCRIBE);
    case VEIL_CAP_BUF_TAIL: {
        /* the last `limit` bytes the call moved through the buffer args[param] */
        if (ret <= 0 || c->param >= VEIL_MAX_ARGS)
            return 0;
        uint32_t want = clamp_limit(c->limit, room);
        uint64_t n = (uint64_t)ret < want ? (uint64_t)ret : want;
        long got = veil_read_mem(t->tid, t->args[c->param] + (uint64_t)ret - n, out, n);
        if (got < 0) {
            h->fault = 1;
            return 0;
        }
        h->count = (uint64_t)ret;
        return (uint32_t)got;
    }
    case VEIL_CAP_FDPATH_EXIT:
        return cap_fdpath(e, t->tid, (int64_t)(int32_t)a, out, clamp_limit(c->limit, 4096), h,
                          c->param == VEIL_FDPATH_DESCRIBE);
    case VEIL_CAP_FDPATH_RET:
        if (ret < 0)
            return 0;
        return cap_fdpath(e, t->tid, ret, out, clamp_limit(c->limit, 4096), h,
                          c->param == VEIL_FDPATH_DESCRIBE);
    case VEIL_CAP_FDPAIR: {
        int32_t fds[2];
        if (ret != 0 || veil_read_mem(t->tid, a, fds, sizeof fds) != sizeof fds)
            return 0;
        memcpy(out, fds, sizeof fds);
        uint32_t used = sizeof fds;
        for (int k = 0; k < 2; k++) {
            struct veil_cap_hdr sub;
            memset(&sub, 0, sizeof sub);
            uint32_t n = cap_fdpath(e, t->tid, fds[k], out + used + 4, 2048, &sub, 0);
            memcpy(out + used, &n, 4);
            used += 4 + n;
        }
        h->count = 2;
        return used;
    }
    case VEIL_CAP_FIXED_INOUT:
        return cap_buffer(t->tid, a, c->limit, clamp_limit(c->limit, c->limit), out, h);
    case VEIL_CAP_MSGHDR_IN:
        return cap_msghdr(e, t->tid, t->args[c->param % VEIL_MAX_ARGS], UINT64_MAX,
                          clamp_limit(c->limit, e->strsize), out, room, h);
    case VEIL_CAP_MSGHDR_OUT:
        if (ret < 0)
            return 0;
        return cap_msghdr(e, t->tid, t->args[c->param % VEIL_MAX_ARGS], (uint64_t)ret,
                          clamp_limit(c->limit, e->strsize), out, room, h);
    case VEIL_CAP_DEREF_IN:
    case VEIL_CAP_DEREF_OUT:
        return cap_deref(t->tid, t->args[(c->param >> 5) % VEIL_MAX_ARGS], c->param,
                         clamp_limit(c->limit, c->limit), out, h);
    case VEIL_CAP_SP_FIXED:
        return cap_buffer(t->tid, t->sp + 8u * c->param, c->limit, clamp_limit(c->limit, c->limit),
                          out, h);
    case VEIL_CAP_CSTR: {
        int trunc = 0;
        lim = clamp_limit(c->limit, CSTR_DEFAULT);
        if (a == 0) {
            h->fault = 1;
            return 0;
        }
        long n = veil_read_cstr(t->tid, a, (char *)out, lim + 1, &trunc);
        if (n < 0) {
            h->fault = 1;
            return 0;
        }
        h->truncated = (uint8_t)trunc;
        h->count = (uint64_t)n;
        return (uint32_t)n;
    }
    case VEIL_CAP_BUF_ARG:
        return cap_buffer(t->tid, a, t->args[c->param], clamp_limit(c->limit, e->strsize), out, h);
    case VEIL_CAP_BUF_RET:
        if (ret <= 0)
            return 0;
        return cap_buffer(t->tid, a, (uint64_t)ret, clamp_limit(c->limit, e->strsize), out, h);
    case VEIL_CAP_FIXED_IN:
    case VEIL_CAP_FIXED_OUT:
    case VEIL_CAP_FIXED_ANY:
        if (c->kind == VEIL_CAP_FIXED_OUT && ret < 0)
            return 0;
        return cap_buffer(t->tid, a, c->limit, clamp_limit(c->limit, c->limit), out, h);
    case VEIL_CAP_STRV:
        return cap_strv(t->tid, a, clamp_limit(c->limit, e->strsize), out, room, h, 0);
    case VEIL_CAP_PTRV_LEN:
        return cap_strv(t->tid, a, 0, out, room, h, 1);
    case VEIL_CAP_IOV_IN:
        return cap_iov(t->tid, a, t->args[c->param], UINT64_MAX,
                       clamp_limit(c->limit, e->strsize), out, h);
    case VEIL_CAP_IOV_OUT:
        if (ret < 0)
            return 0;
        return cap_iov(t->tid, a, t->args[c->param], (uint64_t)ret,
                       clamp_limit(c->limit, e->strsize), out, h);
    case VEIL_CAP_LEN_IN:
    case VEIL_CAP_LEN_OUT: {
        uint32_t len = 0;
        if (c->kind == VEIL_CAP_LEN_OUT && ret < 0)
            return 0;
        if (t->args[c->param] == 0 ||
            veil_read_mem(t->tid, t->args[c->param], &len, sizeof len) != sizeof len) {
            h->fault = a != 0;
            return 0;
        }
        return cap_buffer(t->tid, a, len, clamp_limit(c->limit, 4096), out, h);
    }
    }
    return 0;
}

static void write_record(struct veil_engine *e, struct task *t, uint16_t type,
                         int64_t ret, uint64_t ts, int at_entry)
{
    const struct veil_sysdesc *d = desc_of(e, t);
    uint32_t head = type == VEIL_R_ENTER ? sizeof(struct veil_rec_enter) : sizeof(struct veil_rec);
    uint8_t *base = ring_reserve(&e->ring, RING_RECORD_MAX);
    if (!base)
        return;
    struct veil_rec *rec = (struct veil_rec *)base;
    uint32_t off = head;
    uint8_t ncap = 0;
    if (type == VEIL_R_ENTER)
        memcpy(((struct veil_rec_enter *)rec)->args, t->args, sizeof t->args);
    for (int i = 0; i <= VEIL_CAP_RESULT && d->ncap; i++) {
        const struct veil_capture *c = &d->cap[i];
        int inout = c->kind == VEIL_CAP_FIXED_INOUT;
        if (c->kind == VEIL_CAP_NONE || (!inout && is_entry_kind(c->kind) != at_entry))
            continue;
        struct veil_cap_hdr *h = (struct veil_cap_hdr *)(base + off);
        memset(h, 0, sizeof *h);
        h->arg = (uint8_t)(inout && !at_entry ? i + VEIL_CAP_EXIT_SLOT : i);
        h->kind = c->kind;
        uint32_t room = RING_RECORD_MAX - off - (uint32_t)sizeof *h - 8;
        uint32_t n = capture_one(e, t, i, c, ret, (uint8_t *)(h + 1), room, h);
        h->len = n;
        off += pad8((uint32_t)sizeof *h + n);
        ncap++;
    }
    rec->size = off;
    rec->type = type;
    rec->arch = t->arch;
    rec->ncap = ncap;
    rec->pid = t->pid;
    rec->tid = t->tid;
    rec->ts_ns = ts;
    rec->nr = t->nr;
    rec->value = type == VEIL_R_EXIT ? ret : 0;
    rec->aux = 0;
    e->ring.used += off;
    e->stats.records++;
}

void capture_entry(struct veil_engine *e, struct task *t, uint64_t ts)
{
    write_record(e, t, VEIL_R_ENTER, 0, ts, 1);
}

void capture_exit(struct veil_engine *e, struct task *t, int64_t ret, uint64_t ts)
{
    write_record(e, t, VEIL_R_EXIT, ret, ts, 0);
}
