/*
 * The guest's directory layout, shared by the layout_*.c files (as PRoot
 * splits path/ and execve/):
 *
 *   layout_view.c     the guest's view: root, binds, per-process state,
 *                     guest <-> host path translation
 *   layout_resolve.c  resolution of a path in the guest's view
 *   layout_proc.c     /proc magic links and the other /proc files veil reads
 *   layout_scratch.c  veil's scratch area in the tracee, and rewriting arguments
 *   layout_pin.c      the kernel walks what veil checked: pins, held fds, openat2
 *   layout_calls.c    the per-call translations, entry and exit
 *   layout_sock.c     AF_UNIX socket names
 *   layout_exec.c     execve(at): interpreters, the guest's loader, the title
 *
 * Only the layout_*.c files include this header; internal.h holds what the
 * rest of the engine calls.
 */
#ifndef VEIL_LAYOUT_H
#define VEIL_LAYOUT_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include "internal.h"

#define AT_FDCWD_VALUE (-100)
#define RED_ZONE 128 /* x86_64 ABI: below sp, the leaf function's */
#define O_CREAT_EXCL (0100 | 0200)
#define O_NOFOLLOW_FLAG 0400000
#define O_PATH_FLAG 010000000
#define RESOLVE_NO_MAGICLINKS 0x02
#define RESOLVE_NO_SYMLINKS 0x04
#define RESOLVE_BENEATH 0x08
#define RESOLVE_IN_ROOT 0x10
#define RACE_RETRIES 3
#define RACE_REPORT "a directory of the path was replaced by a symlink (a race)"

/* a path resolved in the guest's view (layout_resolve.c) */
struct resolved {
    char guest[PATH_MAX]; /* canonical, in the layout's terms (chroot prefix kept) */
    char host[PATH_MAX];
    int links;            /* symlinks followed on the way */
    int magic;            /* of which /proc magic links */
    int kernel_link;      /* host is a /proc magic link the kernel must follow itself */
};

/* where one call's rewritten arguments go in the tracee (layout_scratch.c) */
struct scratch {
    int32_t tid;
    uint64_t top;
    uint64_t floor;
    int forced; /* in veil's read-only area: written through /proc/PID/mem */
    int mem_fd; /* the process's /proc/PID/mem, kept open by veil (-1: open one each time) */
};

/* /proc links whose target the kernel reads from a process (layout_proc.c) */
enum magic { M_NONE, M_EXE, M_CWD, M_ROOT, M_FD };

/* layout_view.c */
struct proc_view *proc_find(struct layout *L, int32_t pid);
struct proc_view *proc_get(struct layout *L, int32_t pid);
int replace_str(char **dst, const char *src);
const char *root_of(struct layout *L, int32_t pid);
int path_under(const char *path, const char *prefix, size_t len);
int to_host(const struct layout *L, const char *guest, char *out);
int to_guest(const struct layout *L, const char *host, char *out);
int in_view(const char *root, const char *guest, char *out);
int host_to_view(struct veil_engine *e, int32_t pid, const char *host, char *out);

/* layout_resolve.c */
int resolve_path(struct veil_engine *e, int32_t pid, int32_t tid, const char *root,
                 const char *start, const char *path, int follow_last, struct resolved *out);
int start_dir(struct veil_engine *e, struct task *t, int64_t dirfd, char *out);
int resolve_arg(struct veil_engine *e, struct task *t, int64_t dirfd, const char *path,
                int follow, struct resolved *out, char *native);

/* layout_proc.c */
enum magic proc_magic(const char *host, int32_t *pid);
int read_link(const char *path, char *out);
int magic_target(struct veil_engine *e, enum magic kind, int32_t pid, const char *host,
                 char *out);
int writes_proc_mem(struct veil_engine *e, struct task *t, const char *host,
                    uint64_t open_flags);

/* layout_scratch.c */
void mem_fd_close(struct proc_view *p);
int scratch_init(struct veil_engine *e, struct scratch *s, struct task *t);
uint64_t scratch_put(struct scratch *s, const void *data, size_t len);
int put_path_arg(struct scratch *s, struct task *t, int idx, const char *host);
int guard_scratch(struct veil_engine *e, struct task *t);

/* layout_pin.c */
int open_nosym(const char *path, uint64_t flags);
int have_openat2(void);
void pins_close(struct layout *L, int32_t tid, int32_t pid);
int can_read_our_fds(struct veil_engine *e, struct task *t);
int pin_path(struct veil_engine *e, struct task *t, struct scratch *s, const char *host,
             int follow, char *out);
int filter_lets(struct veil_engine *e, int nr);
int open_as_openat2(struct veil_engine *e, struct task *t, struct scratch *s,
                    const char *host, uint64_t flags, uint64_t mode);
int plain_calls(struct veil_engine *e, struct task *t);
void paths_exit(struct veil_engine *e, struct task *t, int64_t ret);

/* layout_calls.c */
void layout_report(struct veil_engine *e, struct task *t, int err, const char *why);
int read_path(struct task *t, int idx, char *out);
int64_t dirfd_of(const struct veil_sysdesc *d, struct task *t, int idx);
int check_rules(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                const char *guest);

/* layout_sock.c */
int translate_sockaddr_in(struct veil_engine *e, struct task *t,
                          const struct veil_sysdesc *d, struct scratch *s);
int translate_msg_in(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                     struct scratch *s);
void translate_msg_out(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                       int64_t ret);
void translate_sockaddr_out(struct veil_engine *e, struct task *t,
                            const struct veil_sysdesc *d, int64_t ret);

/* layout_exec.c */
int translate_exec(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                   struct scratch *s);
int retitle(struct veil_engine *e, struct task *t, struct proc_view *pv, int *gone_status);
void layout_exec_done(struct veil_engine *e, struct task *t, int64_t ret);

#endif
