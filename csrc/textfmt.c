/*
 * strace-style lines from ring records, for the calls whose plan Python gave
 * (textfmt.h).  A call is formatted here only when its ENTER and EXIT records
 * are next to each other and its thread has nothing pending on the Python
 * side; the line is built in a scratch buffer and committed whole, so handing
 * a record back to Python never leaves half a line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine.h"
#include "textfmt.h"

#define TF_NR_MAX VEIL_NR_MAX
#define TF_MAX_OPS 8
#define TF_SLOTS 32
#define TF_LINE_MAX 65536
#define CAP_STRV 6
#define STAT_SIZE 144
#define STATX_HEAD_SIZE 64   /* struct statx up to stx_attributes_mask */

struct tf_plan {
    uint8_t python;   /* Python prints this call */
    uint8_t nops;
    uint8_t ret_kind;
    uint8_t split;    /* ops before it are known at entry; VEIL_TF_NO_SPLIT: Python cuts it */
    uint8_t ops[TF_MAX_OPS];
    uint8_t argidx[TF_MAX_OPS];
    uint8_t params[TF_MAX_OPS];
    char name[32];
};

struct tf_memo {
    uint64_t value;
    uint32_t key;     /* nr << 8 | slot, + 1 (0: empty) */
    char *text;
};

/* a call C cut: its entry half written, its EXIT yet to come (in this batch of
   records or a later one) */
struct tf_open {
    int32_t tid;
    uint8_t *enter;   /* a copy of its ENTER record */
};

#define TF_OPEN_MAX 64

struct veil_tf {
    int strsize;
    int column;
    int quiet;    /* strace's -q count: 2 drops the +++ lines, 3 the --- lines too */
    struct tf_plan *plans[TF_NR_MAX];
    struct tf_memo *memo;
    size_t memo_cap;   /* power of two */
    size_t memo_used;
    struct tf_open open[TF_OPEN_MAX];
    int nopen;
    char line[TF_LINE_MAX];
};

struct tf_cap {
    const struct veil_cap_hdr *h;
    const uint8_t *data;
};

struct tf_buf {
    char *p;
    size_t len;
    size_t cap;
    int over;
};

static void put(struct tf_buf *b, const char *s, size_t n)
{
    if (b->len + n >= b->cap) {
        b->over = 1;
        return;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

static void puts_(struct tf_buf *b, const char *s)
{
    put(b, s, strlen(s));
}

static void putf_u64(struct tf_buf *b, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%llu", (unsigned long long)v);
    put(b, tmp, (size_t)n);
}

static void putf_s64(struct tf_buf *b, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    put(b, tmp, (size_t)n);
}

static void put_hex(struct tf_buf *b, uint64_t v, const char *zero)
{
    char tmp[24];
    if (v == 0) {
        puts_(b, zero);
        return;
    }
    int n = snprintf(tmp, sizeof tmp, "%#llx", (unsigned long long)v);
    put(b, tmp, (size_t)n);
}

static void put_mode(struct tf_buf *b, uint32_t v)
{
    /* Python's octal(): "0" + oct(v), or "0"; at least 3 digits */
    char tmp[16];
    int n = v ? snprintf(tmp, sizeof tmp, "0%o", v) : snprintf(tmp, sizeof tmp, "0");
    for (; n < 3; n++)
        put(b, "0", 1);
    puts_(b, tmp);
}

/* strace's quoting (veil.decoders.common.escape_bytes, -x off) */
static void put_quoted(struct tf_buf *b, const uint8_t *d, size_t n, int truncated)
{
    char tmp[8];
    put(b, "\"", 1);
    for (size_t i = 0; i < n && !b->over; i++) {
        uint8_t c = d[i];
        switch (c) {
        case '\t': put(b, "\\t", 2); continue;
        case '\n': put(b, "\\n", 2); continue;
        case '\v': put(b, "\\v", 2); continue;
        case '\f': put(b, "\\f", 2); continue;
        case '\r': put(b, "\\r", 2); continue;
        case '"': put(b, "\\\"", 2); continue;
        case '\\': put(b, "\\\\", 2); continue;
        default: break;
        }
        if (c >= 32 && c < 127) {
            put(b, (const char *)&c, 1);
            continue;
        }
        int octal_next = i + 1 < n && d[i + 1] >= '0' && d[i + 1] <= '7';
        int k = snprintf(tmp, sizeof tmp, octal_next ? "\\%03o" : "\\%o", c);
        put(b, tmp, (size_t)k);
    }
    put(b, "\"", 1);
    if (truncated)
        put(b, "...", 3);
}

/* Python's quote_limited: the capture cut at strsize, "..." if total is more than shown */
static size_t shown_of(const struct tf_cap *c, int strsize)
{
    return c->h->len < (uint32_t)strsize ? c->h->len : (size_t)strsize;
}

/* --- memo: (nr, slot, value) -> text ------------------------------------------ */

static uint64_t memo_hash(uint32_t key, uint64_t value)
{
    uint64_t h = value * 0x9E3779B97F4A7C15ULL ^ (uint64_t)key * 0xC2B2AE3D27D4EB4FULL;
    return h ^ (h >> 29);
}

static const char *memo_get(const struct veil_tf *tf, int nr, int slot, uint64_t value)
{
    if (tf->memo_cap == 0)
        return NULL;
    uint32_t key = ((uint32_t)nr << 8 | (uint32_t)slot) + 1;
    size_t mask = tf->memo_cap - 1;
    for (size_t i = memo_hash(key, value) & mask;; i = (i + 1) & mask) {
        const struct tf_memo *m = &tf->memo[i];
        if (m->key == 0)
            return NULL;
        if (m->key == key && m->value == value)
            return m->text;
    }
}

static int memo_insert(struct tf_memo *tab, size_t cap, uint32_t key, uint64_t value, char *text)
{
    size_t mask = cap - 1;
    for (size_t i = memo_hash(key, value) & mask;; i = (i + 1) & mask) {
        if (tab[i].key == 0) {
            tab[i].key = key;
            tab[i].value = value;
            tab[i].text = text;
            return 1;
        }
        if (tab[i].key == key && tab[i].value == value) {
            free(tab[i].text);
            tab[i].text = text;
            return 0;
        }
    }
}

int veil_tf_memo(struct veil_tf *tf, int nr, int slot, uint64_t value, const char *text)
{
    if (nr < 0 || nr >= TF_NR_MAX || slot < 0 || slot > 255)
        return -1;
    if ((tf->memo_used + 1) * 2 > tf->memo_cap) {
        size_t cap = tf->memo_cap ? tf->memo_cap * 2 : 1024;
        struct tf_memo *tab = calloc(cap, sizeof *tab);
        if (tab == NULL)
            return -1;
        for (size_t i = 0; i < tf->memo_cap; i++)
            if (tf->memo[i].key)
                memo_insert(tab, cap, tf->memo[i].key, tf->memo[i].value, tf->memo[i].text);
        free(tf->memo);
        tf->memo = tab;
        tf->memo_cap = cap;
    }
    char *copy = strdup(text);
    if (copy == NULL)
        return -1;
    uint32_t key = ((uint32_t)nr << 8 | (uint32_t)slot) + 1;
    tf->memo_used += (size_t)memo_insert(tf->memo, tf->memo_cap, key, value, copy);
    return 0;
}

/* --- set-up ---------------------------------------------------------------------- */

struct veil_tf *veil_tf_new(int strsize, int column, int quiet)
{
    struct veil_tf *tf = calloc(1, sizeof *tf);
    if (tf == NULL)
        return NULL;
    tf->strsize = strsize;
    tf->column = column;
    tf->quiet = quiet;
    return tf;
}

void veil_tf_free(struct veil_tf *tf)
{
    if (tf == NULL)
        return;
    for (int i = 0; i < TF_NR_MAX; i++)
        free(tf->plans[i]);
    for (size_t i = 0; i < tf->memo_cap; i++)
        free(tf->memo[i].text);
    free(tf->memo);
    for (int i = 0; i < tf->nopen; i++)
        free(tf->open[i].enter);
    free(tf);
}

int veil_tf_plan(struct veil_tf *tf, int nr, const char *name, int nops, const uint8_t *ops,
                 const uint8_t *argidx, const uint8_t *params, int ret_kind, int split)
{
    if (nr < 0 || nr >= TF_NR_MAX || nops < 0 || (nops > TF_MAX_OPS && nops != VEIL_TF_NONE)
            || strlen(name) >= sizeof tf->plans[0]->name)
        return -1;
    struct tf_plan *p = calloc(1, sizeof *p);
    if (p == NULL)
        return -1;
    if (nops == VEIL_TF_NONE) {
        p->python = 1;
        nops = 0;
    }
    p->nops = (uint8_t)nops;
    p->ret_kind = (uint8_t)ret_kind;
    p->split = (uint8_t)split;
    memcpy(p->ops, ops, (size_t)nops);
    memcpy(p->argidx, argidx, (size_t)nops);
    memcpy(p->params, params, (size_t)nops);
    strcpy(p->name, name);
    free(tf->plans[nr]);
    tf->plans[nr] = p;
    return 0;
}

/* --- one call --------------------------------------------------------------------- */

/* the captures of a record into caps[slot]; 0, or -1 if they make no sense */
static int read_caps(const uint8_t *rec, size_t body, size_t size, struct tf_cap *caps)
{
    const struct veil_rec *h = (const struct veil_rec *)rec;
    for (int k = 0; k < h->ncap; k++) {
        if (body + sizeof(struct veil_cap_hdr) > size)
            return -1;
        const struct veil_cap_hdr *ch = (const struct veil_cap_hdr *)(rec + body);
        if (ch->arg >= TF_SLOTS || body + sizeof *ch + ch->len > size)
            return -1;
        caps[ch->arg].h = ch;
        caps[ch->arg].data = rec + body + sizeof *ch;
        body += (sizeof *ch + ch->len + 7) & ~(size_t)7;
    }
    return 0;
}

static int is_error(int64_t ret)
{
    return ret >= -4095 && ret < 0;
}

enum { OK = 0, TO_PYTHON = -1, MISSING = -2, NOPLAN = -3 };

struct tf_miss {
    int nr, slot;
    uint64_t value;
};

static int memo_put(const struct veil_tf *tf, struct tf_buf *b, int nr, int slot,
                    uint64_t value, struct tf_miss *miss)
{
    const char *text = memo_get(tf, nr, slot, value);
    if (text == NULL) {
        miss->nr = nr;
        miss->slot = slot;
        miss->value = value;
        return MISSING;
    }
    puts_(b, text);
    return OK;
}

static int put_argv(struct tf_buf *b, const struct tf_cap *c, int strsize)
{
    const uint8_t *d = c->data;
    size_t len = c->h->len, i = 0;
    uint64_t items = 0;
    put(b, "[", 1);
    while (i + 4 <= len) {
        size_t n = (size_t)d[i] | (size_t)d[i + 1] << 8;
        int truncated = d[i + 2] != 0;
        const uint8_t *s = d + i + 4;
        size_t have = i + 4 + n <= len ? n : len - i - 4;  /* Python slices what is there */
        if (items)
            put(b, ", ", 2);
        size_t shown = have < (size_t)strsize ? have : (size_t)strsize;
        put_quoted(b, s, shown, truncated || have > (size_t)strsize);
        items++;
        i += 4 + n;
    }
    if (c->h->count > items) {
        char tmp[48];
        int k = snprintf(tmp, sizeof tmp, "%s... /* %llu more */", items ? ", " : "",
                         (unsigned long long)(c->h->count - items));
        put(b, tmp, (size_t)k);
    }
    put(b, "]", 1);
    return OK;
}

static int put_stat(const struct veil_tf *tf, struct tf_buf *b, int nr, const struct tf_cap *c,
                    uint64_t v, struct tf_miss *miss)
{
    uint32_t mode;
    int64_t size;
    if (c->h->len < STAT_SIZE)
        return TO_PYTHON;
    memcpy(&mode, c->data + 24, 4);
    memcpy(&size, c->data + 48, 8);
    uint32_t fmt = mode & 0170000;
    if (fmt == 0020000 || fmt == 0060000)   /* st_rdev: Python's makedev */
        return TO_PYTHON;
    (void)v;
    puts_(b, "{st_mode=");
    int rc = memo_put(tf, b, nr, VEIL_TF_SLOT_FMODE, mode, miss);
    if (rc != OK)
        return rc;
    puts_(b, ", st_size=");
    putf_s64(b, size);
    puts_(b, ", ...}");
    return OK;
}

static int put_statx(const struct veil_tf *tf, struct tf_buf *b, int nr, const struct tf_cap *c,
                     struct tf_miss *miss)
{
    uint32_t mask;
    uint16_t mode;
    uint64_t attributes, size;
    if (c->h->len < STATX_HEAD_SIZE)
        return TO_PYTHON;
    memcpy(&mask, c->data, 4);
    memcpy(&attributes, c->data + 8, 8);
    memcpy(&mode, c->data + 28, 2);
    memcpy(&size, c->data + 40, 8);
    int rc;
    puts_(b, "{stx_mask=");
    if ((rc = memo_put(tf, b, nr, VEIL_TF_SLOT_STX_MASK, mask, miss)) != OK)
        return rc;
    puts_(b, ", stx_attributes=");
    if ((rc = memo_put(tf, b, nr, VEIL_TF_SLOT_STX_ATTRS, attributes, miss)) != OK)
        return rc;
    puts_(b, ", stx_mode=");
    if ((rc = memo_put(tf, b, nr, VEIL_TF_SLOT_FMODE, mode, miss)) != OK)
        return rc;
    puts_(b, ", stx_size=");
    putf_u64(b, size);
    puts_(b, ", ...}");
    return OK;
}

static void put_rlim(struct tf_buf *b, uint64_t v)
{
    if (v == UINT64_MAX) {
        puts_(b, "RLIM64_INFINITY");
    } else if (v > 1024 && v % 1024 == 0) {
        putf_u64(b, v / 1024);
        puts_(b, "*1024");
    } else {
        putf_u64(b, v);
    }
}

/* A struct argument shown as NULL or as its address (1), or to be read from its
   capture (0): the call failed to write it, or nothing of it was captured */
static int struct_address(struct tf_buf *b, const struct tf_cap *c, uint64_t v, int written,
                          int64_t ret)
{
    if (v == 0) {
        puts_(b, "NULL");
        return 1;
    }
    if ((written && is_error(ret)) || c == NULL || c->h->len == 0) {
        put_hex(b, v, "NULL");
        return 1;
    }
    return 0;
}

static int put_rlimit(struct tf_buf *b, const struct tf_cap *c, uint64_t v, int written,
                      int64_t ret)
{
    uint64_t lim[2];
    if (struct_address(b, c, v, written, ret))
        return OK;
    if (c->h->len != sizeof lim)
        return TO_PYTHON;
    memcpy(lim, c->data, sizeof lim);
    puts_(b, "{rlim_cur=");
    put_rlim(b, lim[0]);
    puts_(b, ", rlim_max=");
    put_rlim(b, lim[1]);
    puts_(b, "}");
    return OK;
}

/* arch_prctl(code, addr): ARCH_GET_FS/GS show what was stored, ARCH_GET_CPUID nothing */
static int put_arch_addr(struct tf_buf *b, uint32_t code, uint64_t v, const struct tf_cap *c,
                         int64_t ret)
{
    if (code == 0x1003 || code == 0x1004) {
        uint64_t stored;
        if (is_error(ret) || c == NULL || c->h->len < sizeof stored) {
            put_hex(b, v, "NULL");
            return OK;
        }
        memcpy(&stored, c->data, sizeof stored);
        put(b, "[", 1);
        put_hex(b, stored, "0");
        put(b, "]", 1);
    } else if (code != 0x1011) {
        put_hex(b, v, "0");
    }
    return OK;
}

/* clone(flags, stack, parent_tid, child_tid, tls) as strace names them; c: parent_tid's
   capture (CLONE_PIDFD stores the pidfd there) */
/* which of clone's named arguments put_clone prints: the ones known at entry
   (child_stack, flags), the others (each after ", "), or all */
enum { CLONE_ALL, CLONE_HEAD, CLONE_TAIL };

static int put_clone(const struct veil_tf *tf, struct tf_buf *b, int nr, const uint64_t *args,
                     const struct tf_cap *c, int64_t ret, int part, struct tf_miss *miss)
{
    uint32_t flags = (uint32_t)args[0], high = flags & ~0xFFu;
    if (part != CLONE_TAIL) {
        puts_(b, "child_stack=");
        put_hex(b, args[1], "NULL");
        puts_(b, ", flags=");
        int rc = memo_put(tf, b, nr, 0, flags, miss);
        if (rc != OK || part == CLONE_HEAD)
            return rc;
    }
    if (high & (0x100000 | 0x1000)) {   /* CLONE_PARENT_SETTID, CLONE_PIDFD */
        puts_(b, ", parent_tid=");
        if (is_error(ret)) {
            put_hex(b, args[2], "NULL");
        } else if (high & 0x100000) {
            put(b, "[", 1);
            putf_s64(b, ret);
            put(b, "]", 1);
        } else if (c != NULL && c->h->len >= 4) {
            int32_t stored;
            memcpy(&stored, c->data, sizeof stored);
            put(b, "[", 1);
            putf_s64(b, stored);
            put(b, "]", 1);
        } else {
            put_hex(b, args[2], "NULL");
        }
    }
    if (high & 0x80000) {   /* CLONE_SETTLS */
        puts_(b, ", tls=");
        put_hex(b, args[4], "NULL");
    }
    if (high & (0x1000000 | 0x200000)) {   /* CLONE_CHILD_SETTID, CLONE_CHILD_CLEARTID */
        puts_(b, ", child_tidptr=");
        put_hex(b, args[3], "NULL");
    }
    return OK;
}

/* the text of one argument; the caps of both records merged */
/* argument i's capture, if it was read */
static const struct tf_cap *cap_of(const struct tf_cap *caps, int i)
{
    return caps[i].h != NULL && !caps[i].h->fault ? &caps[i] : NULL;
}

static int put_arg(const struct veil_tf *tf, struct tf_buf *b, int nr, const struct tf_plan *p,
                   int k, const uint64_t *args, const struct tf_cap *caps, int64_t ret,
                   struct tf_miss *miss)
{
    int i = p->argidx[k];
    uint64_t v = args[i];
    const struct tf_cap *c = cap_of(caps, i);
    switch (p->ops[k]) {
    case VEIL_TF_INT:
        putf_s64(b, (int32_t)(uint32_t)v);
        return OK;
    case VEIL_TF_UINT:
        putf_u64(b, (uint32_t)v);
        return OK;
    case VEIL_TF_LONG:
        putf_s64(b, (int64_t)v);
        return OK;
    case VEIL_TF_ULONG:
        putf_u64(b, v);
        return OK;
    case VEIL_TF_HEX:
        put_hex(b, v, "0");
        return OK;
    case VEIL_TF_PTR:
        put_hex(b, v, "NULL");
        return OK;
    case VEIL_TF_FD:
        if ((int32_t)(uint32_t)v == -100)
            puts_(b, "AT_FDCWD");
        else
            putf_s64(b, (int32_t)(uint32_t)v);
        return OK;
    case VEIL_TF_MODE:
        put_mode(b, (uint32_t)v);
        return OK;
    case VEIL_TF_PATH:
        if (c == NULL)
            put_hex(b, v, "NULL");
        else
            put_quoted(b, c->data, c->h->len, c->h->truncated);
        return OK;
    case VEIL_TF_STR:
        if (c == NULL) {
            put_hex(b, v, "NULL");
        } else {
            size_t shown = c->h->len < (uint32_t)tf->strsize ? c->h->len : (size_t)tf->strsize;
            put_quoted(b, c->data, shown, c->h->truncated || c->h->len > shown);
        }
        return OK;
    case VEIL_TF_INBUF:
        if (c == NULL)
            put_hex(b, v, "NULL");
        else
            put_quoted(b, c->data, shown_of(c, tf->strsize),
                       c->h->count > shown_of(c, tf->strsize));
        return OK;
    case VEIL_TF_OUTBUF:
        if (c == NULL || is_error(ret))
            put_hex(b, v, "NULL");
        else
            put_quoted(b, c->data, shown_of(c, tf->strsize),
                       ret > (int64_t)shown_of(c, tf->strsize));
        return OK;
    case VEIL_TF_MEMO:
        return memo_put(tf, b, nr, i, v, miss);
    case VEIL_TF_ARGV:
        if (c == NULL || c->h->kind != CAP_STRV) {
            put_hex(b, v, "NULL");
            return OK;
        }
        return put_argv(b, c, tf->strsize);
    case VEIL_TF_ENVP: {
        if (c == NULL) {
            put_hex(b, v, "NULL");
            return OK;
        }
        char tmp[64];
        put_hex(b, v, "NULL");
        int n = snprintf(tmp, sizeof tmp, " /* %llu var%s */", (unsigned long long)c->h->count,
                         c->h->count == 1 ? "" : "s");
        put(b, tmp, (size_t)n);
        return OK;
    }
    case VEIL_TF_STAT:
        if (struct_address(b, c, v, 1, ret))
            return OK;
        return put_stat(tf, b, nr, c, v, miss);
    case VEIL_TF_STATX:
        if (struct_address(b, c, v, 1, ret))
            return OK;
        return put_statx(tf, b, nr, c, miss);
    case VEIL_TF_RLIMIT:
    case VEIL_TF_OUT_RLIMIT:
        return put_rlimit(b, c, v, p->ops[k] == VEIL_TF_OUT_RLIMIT, ret);
    case VEIL_TF_WSTATUS:
        if (v != 0 && c != NULL && c->h->len >= 4 && ret > 0) {
            uint32_t status;
            memcpy(&status, c->data, sizeof status);
            return memo_put(tf, b, nr, i, status, miss);
        }
        put_hex(b, v, "NULL");
        return OK;
    case VEIL_TF_NULL:
        if (v != 0)
            return TO_PYTHON;
        puts_(b, "NULL");
        return OK;
    case VEIL_TF_ARCH_ADDR:
        return put_arch_addr(b, (uint32_t)args[p->params[k]], v, c, ret);
    case VEIL_TF_CLONE:
        return put_clone(tf, b, nr, args, c, ret, CLONE_ALL, miss);
    case VEIL_TF_MODE_IF_CREAT: {
        uint32_t fl = (uint32_t)args[p->params[k]];
        if (!(fl & 0100 || (fl & 020200000) == 020200000))   /* O_CREAT, O_TMPFILE */
            return OK;
        put_mode(b, (uint32_t)v);
        return OK;
    }
    default:
        return TO_PYTHON;
    }
}

static int put_ret(const struct veil_tf *tf, struct tf_buf *b, int nr, const struct tf_plan *p,
                   int64_t ret, struct tf_miss *miss)
{
    if (is_error(ret)) {
        int err = (int)-ret;
        if (err == 512 || err == 513 || err == 514 || err == 516)   /* ? ERESTART... */
            return TO_PYTHON;
        return memo_put(tf, b, nr, VEIL_TF_SLOT_ERRNO, (uint64_t)ret, miss);
    }
    switch (p->ret_kind) {
    case VEIL_TF_RET_INT:
        putf_s64(b, ret);
        return OK;
    case VEIL_TF_RET_HEX:
        put_hex(b, (uint64_t)ret, "0x0");   /* Python's f"{0:#x}" */
        return OK;
    case VEIL_TF_RET_FD:
        if ((int32_t)ret == -100)
            return TO_PYTHON;
        putf_s64(b, (int32_t)ret);
        return OK;
    case VEIL_TF_RET_NONE:
        puts_(b, "?");
        return OK;
    default:
        return TO_PYTHON;
    }
}

static void put_prefix(struct tf_buf *b, int prefix_mode, int32_t tid)
{
    char tmp[32];
    int n = 0;
    if (prefix_mode == VEIL_TF_PREFIX_TID)
        n = snprintf(tmp, sizeof tmp, "%-5d ", tid);
    else if (prefix_mode == VEIL_TF_PREFIX_PID)
        n = snprintf(tmp, sizeof tmp, "[pid %5d] ", tid);
    put(b, tmp, (size_t)n);
}

/* the plan's ops [from, to) as ", "-separated arguments */
static int put_args(struct veil_tf *tf, struct tf_buf *b, const struct tf_plan *p, int nr,
                    int from, int to, const uint64_t *args, const struct tf_cap *caps,
                    int64_t ret, struct tf_miss *miss)
{
    for (int k = from; k < to; k++) {
        size_t before = b->len;
        if (k > from)
            put(b, ", ", 2);
        size_t mark = b->len;
        int rc = put_arg(tf, b, nr, p, k, args, caps, ret, miss);
        if (rc != OK)
            return rc;
        if (b->len == mark && (p->ops[k] == VEIL_TF_MODE_IF_CREAT
                               || p->ops[k] == VEIL_TF_ARCH_ADDR))   /* nothing shown */
            b->len = before;
    }
    return OK;
}

/* "= result" after the line so far, padded to the column */
static int put_result(struct veil_tf *tf, struct tf_buf *b, const struct tf_plan *p, int nr,
                      size_t start, int64_t ret, struct tf_miss *miss)
{
    while (b->len - start < (size_t)tf->column)
        put(b, " ", 1);
    put(b, " = ", 3);
    int rc = put_ret(tf, b, nr, p, ret, miss);
    if (rc != OK)
        return rc;
    put(b, "\n", 1);
    return b->over ? TO_PYTHON : OK;
}

/* the captures of a call's ENTER and (unless NULL) EXIT records by argument */
static int call_caps(const uint8_t *enter, const uint8_t *exit, struct tf_cap *caps)
{
    const struct veil_rec_enter *e = (const struct veil_rec_enter *)enter;
    memset(caps, 0, TF_SLOTS * sizeof *caps);
    if (read_caps(enter, sizeof *e, e->h.size, caps) < 0)
        return -1;
    if (exit != NULL && read_caps(exit, sizeof(struct veil_rec),
                                  ((const struct veil_rec *)exit)->size, caps) < 0)
        return -1;
    return 0;
}

/* a call as the three line formats read it: its records, plan and captures */
struct tf_call {
    const struct veil_rec_enter *e;
    const struct veil_rec *x;   /* NULL: only the entry half is known */
    const struct tf_plan *p;
    int nr;
    struct tf_cap caps[TF_SLOTS];
};

static int open_call(const struct veil_tf *tf, const uint8_t *enter, const uint8_t *exit,
                     struct tf_call *c)
{
    c->e = (const struct veil_rec_enter *)enter;
    c->x = (const struct veil_rec *)exit;
    c->nr = (int)c->e->h.nr;
    c->p = tf->plans[c->nr];
    return call_caps(enter, exit, c->caps);
}

static int format_call(struct veil_tf *tf, const uint8_t *enter, const uint8_t *exit,
                       int prefix_mode, struct tf_buf *b, struct tf_miss *miss)
{
    struct tf_call c;
    if (open_call(tf, enter, exit, &c) < 0)
        return TO_PYTHON;
    size_t start = b->len;
    put_prefix(b, prefix_mode, c.e->h.tid);
    puts_(b, c.p->name);
    put(b, "(", 1);
    int rc = put_args(tf, b, c.p, c.nr, 0, c.p->nops, c.e->args, c.caps, c.x->value, miss);
    if (rc != OK)
        return rc;
    put(b, ")", 1);
    return put_result(tf, b, c.p, c.nr, start, c.x->value, miss);
}

/* clone's one op prints its whole argument list */
static int is_clone(const struct tf_plan *p)
{
    return p->nops == 1 && p->ops[0] == VEIL_TF_CLONE;
}

/* "name(entry arguments, <unfinished ...>": a call another thread's line cuts */
static int format_head(struct veil_tf *tf, const uint8_t *enter, int prefix_mode,
                       struct tf_buf *b, struct tf_miss *miss)
{
    struct tf_call c;
    if (open_call(tf, enter, NULL, &c) < 0)
        return TO_PYTHON;
    const struct tf_plan *p = c.p;
    int head = p->split < p->nops ? p->split : p->nops;
    put_prefix(b, prefix_mode, c.e->h.tid);
    puts_(b, p->name);
    put(b, "(", 1);
    int rc;
    if (is_clone(p))
        rc = put_clone(tf, b, c.nr, c.e->args, cap_of(c.caps, p->argidx[0]), 0, CLONE_HEAD,
                       miss);
    else
        rc = put_args(tf, b, p, c.nr, 0, head, c.e->args, c.caps, 0, miss);
    if (rc != OK)
        return rc;
    if (0 < p->split && p->split < p->nops && !is_clone(p))
        put(b, ", ", 2);
    puts_(b, " <unfinished ...>\n");
    return b->over ? TO_PYTHON : OK;
}

/* "<... name resumed>exit arguments) = result" */
static int format_resumed(struct veil_tf *tf, const uint8_t *enter, const uint8_t *exit,
                          int prefix_mode, struct tf_buf *b, struct tf_miss *miss)
{
    struct tf_call c;
    if (open_call(tf, enter, exit, &c) < 0)
        return TO_PYTHON;
    const struct tf_plan *p = c.p;
    size_t start = b->len;
    put_prefix(b, prefix_mode, c.x->tid);
    puts_(b, "<... ");
    puts_(b, p->name);
    puts_(b, " resumed>");
    if (is_clone(p)) {
        int rc = put_clone(tf, b, c.nr, c.e->args, cap_of(c.caps, p->argidx[0]), c.x->value,
                           CLONE_TAIL, miss);
        if (rc != OK)
            return rc;
    } else if (p->split < p->nops) {
        int rc = put_args(tf, b, p, c.nr, p->split, p->nops, c.e->args, c.caps, c.x->value,
                          miss);
        if (rc != OK)
            return rc;
    }
    put(b, ")", 1);
    return put_result(tf, b, p, c.nr, start, c.x->value, miss);
}

/* --- lines of task events ---------------------------------------------------------- */

#define SIGCHLD_NR 17
#define SIGINFO_USED 48   /* the bytes of a SIGCHLD siginfo read here */

_Static_assert(VEIL_TF_NR_SIGNAL < TF_NR_MAX, "the signal texts' memo nr is a free one");

/* "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=N, ...} ---"; any other
   signal, or a siginfo with an errno, is Python's */
static int format_sigchld(const struct veil_tf *tf, struct tf_buf *b, const struct veil_rec *r,
                          int prefix_mode, struct tf_miss *miss)
{
    if (r->value != SIGCHLD_NR || r->size < sizeof *r + SIGINFO_USED)
        return TO_PYTHON;
    const uint8_t *si = (const uint8_t *)(r + 1);
    int32_t signo, err, code, pid, status;
    uint32_t uid;
    uint64_t utime, stime;
    memcpy(&signo, si, 4);
    memcpy(&err, si + 4, 4);
    memcpy(&code, si + 8, 4);
    memcpy(&pid, si + 16, 4);
    memcpy(&uid, si + 20, 4);
    memcpy(&status, si + 24, 4);
    memcpy(&utime, si + 32, 8);
    memcpy(&stime, si + 40, 8);
    /* CLD_EXITED .. CLD_CONTINUED (siginfo.h) */
    if (signo != SIGCHLD_NR || err != 0 || code < 1 || code > 6)
        return TO_PYTHON;
    if (tf->quiet >= 3)
        return OK;
    const int nr = VEIL_TF_NR_SIGNAL;
    int rc;
    put_prefix(b, prefix_mode, r->tid);
    puts_(b, "--- ");
    if ((rc = memo_put(tf, b, nr, VEIL_TF_SLOT_SIGNAME, SIGCHLD_NR, miss)) != OK)
        return rc;
    puts_(b, " {si_signo=");
    if ((rc = memo_put(tf, b, nr, VEIL_TF_SLOT_SIGNAME, SIGCHLD_NR, miss)) != OK)
        return rc;
    puts_(b, ", si_code=");
    if ((rc = memo_put(tf, b, nr, VEIL_TF_SLOT_CLD_CODE, (uint64_t)code, miss)) != OK)
        return rc;
    puts_(b, ", si_pid=");
    putf_s64(b, pid);
    puts_(b, ", si_uid=");
    putf_u64(b, uid);
    puts_(b, ", si_status=");
    if (code >= 2 && status > 0) {   /* killed, dumped, trapped, stopped, continued */
        if ((rc = memo_put(tf, b, nr, VEIL_TF_SLOT_SIGNAME, (uint64_t)status, miss)) != OK)
            return rc;
    } else {
        putf_s64(b, status);
    }
    puts_(b, ", si_utime=");
    putf_u64(b, utime);
    puts_(b, ", si_stime=");
    putf_u64(b, stime);
    puts_(b, "} ---\n");
    return b->over ? TO_PYTHON : OK;
}

static void format_exited(const struct veil_tf *tf, struct tf_buf *b, const struct veil_rec *r,
                          int prefix_mode)
{
    if (tf->quiet >= 2)
        return;
    put_prefix(b, prefix_mode, r->tid);
    puts_(b, "+++ exited with ");
    putf_s64(b, r->value);
    puts_(b, " +++\n");
}

/* the record at p if the whole of it lies before end, else NULL */
static const struct veil_rec *rec_at(const uint8_t *buf, size_t p, size_t end)
{
    if (p + sizeof(struct veil_rec) > end)
        return NULL;
    const struct veil_rec *r = (const struct veil_rec *)(buf + p);
    if (r->size < sizeof *r || p + r->size > end)
        return NULL;
    return r;
}


/* the call C cut for thread tid, or -1 */
static int open_of(const struct veil_tf *tf, int32_t tid)
{
    for (int i = 0; i < tf->nopen; i++)
        if (tf->open[i].tid == tid)
            return i;
    return -1;
}

static void forget_open(struct veil_tf *tf, int i)
{
    free(tf->open[i].enter);
    tf->open[i] = tf->open[--tf->nopen];
}

size_t veil_tf_open_size(const struct veil_tf *tf, int32_t tid)
{
    int i = open_of(tf, tid);
    return i < 0 ? 0 : ((const struct veil_rec *)tf->open[i].enter)->size;
}

int veil_tf_take(struct veil_tf *tf, int32_t tid, uint8_t *out, size_t cap)
{
    int i = open_of(tf, tid);
    if (i < 0)
        return -1;
    size_t size = ((const struct veil_rec *)tf->open[i].enter)->size;
    if (size > cap)
        return -1;
    memcpy(out, tf->open[i].enter, size);
    forget_open(tf, i);
    return 0;
}

static int blocked_tid(int32_t tid, const int32_t *blocked, int nblocked)
{
    for (int i = 0; i < nblocked; i++)
        if (blocked[i] == tid)
            return 1;
    return 0;
}

/* Python cuts a thread's open line for these records of another thread: an EXIT
   only if the other thread's call is in progress (cut by C, or pending in Python) */
static int cuts_open_line(const struct veil_tf *tf, const struct veil_rec *r,
                          const int32_t *blocked, int nblocked)
{
    if (r->type == VEIL_R_EXIT)
        return open_of(tf, r->tid) >= 0 || blocked_tid(r->tid, blocked, nblocked);
    return (r->type == VEIL_R_ENTER && r->arch == 0) || r->type == VEIL_R_SIGNAL
        || r->type == VEIL_R_EXITED || r->type == VEIL_R_KILLED || r->type == VEIL_R_STOPPED;
}

/* the records of a thread with a call in progress that leave the call alone: a signal
   (its line is the same either way), its own exec (execve) and its new task (fork) */
static int leaves_call_alone(const struct veil_rec *r)
{
    return r->type == VEIL_R_SIGNAL || (r->type == VEIL_R_EXEC && r->value == r->tid)
        || r->type == VEIL_R_NEWTASK;
}

/*
 * The next line(s) from the record at p: a call (its ENTER and EXIT together, an
 * execve's own exec event or a fork's new task between them; exit and exit_group
 * with the thread's end right after), the entry half of a call another thread's
 * record cuts or the rest of one, a SIGCHLD, or a thread's end.  *next: where the
 * records it used end; *event: the offset of a task event Python must book (-1:
 * none); *cut: it cut the call; *resumed: the cut call it finished (-1: none);
 * *adopt: the cut call Python must finish (-1: none).
 */
struct tf_step {
    size_t next;
    long event;
    int cut;
    int resumed;
    int adopt;
};

static int format_next(struct veil_tf *tf, const uint8_t *buf, size_t p, size_t end,
                       int prefix_mode, const int32_t *blocked, int nblocked,
                       struct tf_buf *b, struct tf_miss *miss, struct tf_step *st)
{
    const struct veil_rec *h = rec_at(buf, p, end);
    st->event = -1;
    st->cut = 0;
    st->resumed = st->adopt = -1;
    if (h == NULL)
        return TO_PYTHON;
    int i = tf->nopen > 0 ? open_of(tf, h->tid) : -1;
    if (i >= 0 && !leaves_call_alone(h)) {   /* the end of a call C cut, or news of it */
        const struct veil_rec *e = (const struct veil_rec *)tf->open[i].enter;
        int rc = h->type == VEIL_R_EXIT && h->nr == e->nr
            ? format_resumed(tf, tf->open[i].enter, buf + p, prefix_mode, b, miss) : TO_PYTHON;
        if (rc == TO_PYTHON)
            st->adopt = i;
        st->resumed = i;
        st->next = p + h->size;
        return rc;
    }
    if (h->type == VEIL_R_EXEC && h->value == h->tid) {   /* an execve's: nothing to say */
        st->next = p + h->size;
        return OK;
    }
    if (h->type == VEIL_R_SIGNAL) {   /* its line is the same with a call of its thread pending */
        st->next = p + h->size;
        return format_sigchld(tf, b, h, prefix_mode, miss);
    }
    if (blocked_tid(h->tid, blocked, nblocked))
        return TO_PYTHON;
    if (h->type == VEIL_R_EXITED) {
        format_exited(tf, b, h, prefix_mode);
        st->next = p + h->size;
        st->event = (long)p;
        return b->over ? TO_PYTHON : OK;
    }
    if (h->type != VEIL_R_ENTER || h->arch != 0 || h->nr < 0 || h->nr >= TF_NR_MAX
            || h->size < sizeof(struct veil_rec_enter))
        return TO_PYTHON;
    const struct tf_plan *plan = tf->plans[h->nr];
    if (plan == NULL) {
        miss->nr = (int)h->nr;
        return NOPLAN;
    }
    if (plan->python)
        return TO_PYTHON;
    size_t q = p + h->size;
    const struct veil_rec *x = rec_at(buf, q, end);
    if (x != NULL && x->tid == h->tid && x->type == VEIL_R_EXEC && x->value == h->tid) {
        q += x->size;   /* the execve's own exec event: nothing to say */
        x = rec_at(buf, q, end);
    } else if (x != NULL && x->tid == h->tid && x->type == VEIL_R_NEWTASK
               && prefix_mode != VEIL_TF_PREFIX_NONE) {   /* none: the first child adds one */
        st->event = (long)q;
        q += x->size;
        x = rec_at(buf, q, end);
    }
    if (x != NULL && x->tid != h->tid && cuts_open_line(tf, x, blocked, nblocked)
            && plan->split != VEIL_TF_NO_SPLIT
            && tf->nopen < TF_OPEN_MAX) {
        st->cut = 1;
        st->next = q;
        return format_head(tf, buf + p, prefix_mode, b, miss);
    }
    if (x == NULL || x->tid != h->tid)
        return TO_PYTHON;
    int ended = x->type == VEIL_R_EXITED && st->event < 0
        && plan->ret_kind == VEIL_TF_RET_NONE;
    if (!ended && (x->type != VEIL_R_EXIT || x->nr != h->nr))
        return TO_PYTHON;
    int rc = format_call(tf, buf + p, buf + q, prefix_mode, b, miss);
    if (rc != OK)
        return rc;
    if (ended) {   /* exit_group's line, then the thread's end */
        format_exited(tf, b, x, prefix_mode);
        st->event = (long)q;
    }
    st->next = q + x->size;
    return b->over ? TO_PYTHON : OK;
}

int veil_tf_run(struct veil_tf *tf, const uint8_t *buf, size_t *pos, size_t end,
                int prefix_mode, const int32_t *blocked, int nblocked,
                char *out, size_t outcap, size_t *outlen,
                int *miss_nr, int *miss_slot, uint64_t *miss_value)
{
    size_t p = *pos;
    while (p < end) {
        struct tf_buf line = { tf->line, 0, sizeof tf->line, 0 };
        struct tf_miss miss = { 0, 0, 0 };
        struct tf_step st;
        int rc = format_next(tf, buf, p, end, prefix_mode, blocked, nblocked, &line, &miss, &st);
        if (rc == MISSING || rc == NOPLAN) {
            *pos = p;
            *miss_nr = miss.nr;
            *miss_slot = miss.slot;
            *miss_value = miss.value;
            return rc == MISSING ? VEIL_TF_MISS : VEIL_TF_NOPLAN;
        }
        if (st.adopt >= 0) {
            *pos = p;
            *miss_nr = tf->open[st.adopt].tid;
            return VEIL_TF_ADOPT;
        }
        if (rc != OK)
            break;
        if (*outlen + line.len > outcap) {
            *pos = p;
            return VEIL_TF_FULL;
        }
        if (st.cut) {   /* kept until its EXIT comes, perhaps in a later batch */
            const struct veil_rec *h = (const struct veil_rec *)(buf + p);
            uint8_t *copy = malloc(h->size);
            if (copy == NULL)
                break;
            memcpy(copy, h, h->size);
            tf->open[tf->nopen++] = (struct tf_open){ h->tid, copy };
        }
        memcpy(out + *outlen, line.p, line.len);
        *outlen += line.len;
        if (st.resumed >= 0)
            forget_open(tf, st.resumed);
        p = st.next;
        if (st.event >= 0) {
            *pos = p;
            *miss_value = (uint64_t)st.event;
            return VEIL_TF_EVENT;
        }
    }
    *pos = p;
    return p < end ? VEIL_TF_PYTHON : VEIL_TF_END;
}
