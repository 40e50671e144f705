/* Shared between the C files of the accelerator; not seen by cffi. */
#ifndef VEIL_INTERNAL_H
#define VEIL_INTERNAL_H

#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <sys/types.h>

#include "engine.h"

/* task.flags */
#define T_IN_SYSCALL  0x01 /* between entry and exit of a syscall we stopped */
#define T_WANT_EXIT   0x02 /* resume with PTRACE_SYSCALL to get the exit stop */
#define T_HELD        0x04 /* stopped and handed to Python */
#define T_RECORDING   0x08 /* this syscall's exit gets a record */
#define T_DENY        0x10 /* set -deny_errno at exit */
#define T_EMULATE     0x20 /* set emulate value at exit */
#define T_LISTENING   0x40 /* in group-stop under PTRACE_LISTEN */
#define T_ATTACHED    0x80 /* attached with -p (no seccomp filter) */
#define T_SILENT     0x100 /* not followed (-f off): hooks apply, nothing is recorded */
#define T_OWN_MASK   0x400 /* the program set its own CPU affinity: placement keeps off */
#define T_RESTORE    0x800 /* put saved_args back at exit (rewritten arguments) */
#define T_SECCOMP_ENTRY 0x1000 /* this entry was a seccomp stop */
#define T_NEW_NR     0x2000 /* the layout made the call another one (nr is the caller's) */
#define T_RACE_ELOOP 0x4000 /* -ELOOP at exit means the path changed under the call */
#define T_ID_ASKED   0x8000 /* identity.c handed this call's entry to Python: its exit too */
#define T_REPORT_HOLD 0x10000 /* stays stopped until Python showed its refusal (paths.c) */
#define T_GUEST     0x20000 /* traced by a tracer in the guest (guest.c): its stops go to Python */
#define T_GUEST_SYSCALL 0x40000 /* ... and it stops at every syscall entry and exit */
#define T_GUEST_STEP 0x80000 /* ... resumed with PTRACE_SINGLESTEP */
#define T_GUEST_PASS 0x100000 /* the guest tracer resumed it: the next resume goes through */
#define T_NEWBORN   0x200000 /* first stop seen before its parent's fork event: waits for it */
#define T_GUEST_RESTART 0x400000 /* veil made the call start again: its new entry stop is not news */
#define T_GUEST_SECCOMP 0x800000 /* its seccomp stops go to Python first */
#define T_GUEST_TRACER 0x1000000 /* a guest tracer: Python hears of its exit */
#define T_EXECS_NEXT 0x2000000 /* spawned without the filter: the SIGSTOP it raises before its
                                  execve is veil's (the execve's entry stop comes next) */

struct task {
    int32_t tid;      /* 0: free slot */
    int32_t pid;      /* thread group id */
    uint32_t flags;
    uint8_t arch;
    int64_t nr;
    uint64_t args[VEIL_MAX_ARGS];
    uint64_t sp;
    int64_t exit_value;
    uint64_t saved_args[VEIL_MAX_ARGS];
    uint8_t saved_mask; /* which saved_args to restore */
    uint32_t sock_cap;  /* VEIL_L_SOCK_OUT: the caller's address buffer size */
    uint64_t scratch_low; /* lowest tracee address the layout wrote at this stop (0: none) */
    int pending_sig;      /* a signal to deliver at the next resume (sockfd.c) */
    int scratch_slot;     /* 1 + its slot of veil's scratch area (layout_scratch.c), 0: none */
    int race_retries;     /* its call made again after a symlink swap raced it (layout_pin.c) */
    uint64_t exec_dev, exec_ino; /* elfcheck.c: the file the kernel must run at this exec, */
    uint64_t exec_interp; /* the interpreter it may load (hash of its path) */
    uint8_t exec_want;    /* and EXEC_* bits; 0: this exec was not checked */
    struct held_pin {     /* layout_pin.c: a directory the thread opened for its call */
        int fd;           /* its fd, or -errno: the open failed (said at the next try) */
        uint64_t dev, ino;
    } held[4];
    uint8_t nheld;
    uint8_t held_rounds;  /* opens made for the current call */
    int gone_status;      /* the wait status that LAYOUT_GONE reports */
    int stop_status;      /* raw wait status of its current stop */
    uint8_t stop_op;      /* PTRACE_SYSCALL_INFO_* of its current syscall stop */
};

/* struct msghdr as an x86_64 tracee lays it out */
struct msghdr64 {
    uint64_t name;
    uint32_t namelen, pad;
    uint64_t iov, iovlen, control, controllen;
    uint32_t flags, pad2;
};

/* fdintake.c: directory fds from outside the guest's mount namespace */
int fdintake_inherited_dirs(int *out, int max);
int fdintake_drop_inherited(const int *fds, int n);
int fdintake_after_recv(struct veil_engine *e, struct task *t, int64_t ret, int *gone_status);

/* layout_enter: the thread is set up to make its call again (resume it as it is) */
#define LAYOUT_RESTARTED (-4096)
/* layout_enter: the thread died during veil's work (t->gone_status) */
#define LAYOUT_GONE (-4097)

/* Tasks live apart from the hash slots: a pointer to one stays valid until that
   task is removed, whatever else is added or removed meanwhile. */
struct task_table {
    struct task **slots;
    uint32_t cap;   /* power of two */
    uint32_t count;
};

struct task *tasks_find(struct task_table *t, int32_t tid);
struct task *tasks_add(struct task_table *t, int32_t tid);
struct task *tasks_at(const struct task_table *t, uint32_t i); /* slot i's task or NULL */
void tasks_remove(struct task_table *t, int32_t tid);
void tasks_free(struct task_table *t);
/* loop.c: set a stopped thread's argument (restored at the call's exit stop) */
int set_arg(struct task *t, int idx, uint64_t value);

struct ring {
    uint8_t *buf;
    uint32_t cap;
    uint32_t used;
};

/* the largest record one stop may write; next() drains before free space drops below it */
#define RING_RECORD_MAX (320u * 1024u)

struct path_rule {
    char *pattern; /* VEIL_PATH_EXACT: NULL, the paths are in exact[] */
    size_t len;
    int match;
    int err;
    int flags;
    char *why;
    char **exact;
    uint32_t nexact, cap_exact;
    int sorted;
};

struct bind {
    char *host, *guest; /* no trailing slash; "" is "/" */
    size_t hlen, glen;
};

struct proc_view {
    int32_t pid;
    char *exe;         /* guest path of the program when the loader was started for it */
    char *pending_exe; /* the same, between execve entry and its success */
    char *root;        /* guest path chroot(2) set; NULL: the layout's root */
    int scratch;       /* veil's scratch area in its memory: 0 not yet, 1 mapped, -1 failed */
    int fds_ok;        /* it can walk /proc/VEIL/fd: 0 not known, 1 yes, -1 no */
    int mem_fd1;       /* 1 + veil's fd of its /proc/PID/mem (0: none), layout_scratch.c */
    int plain_calls;   /* its own filter refused openat2/execveat: not made of its calls */
    /* what the kernel would show of a program veil started through an interpreter
       or the guest's loader, set by the process itself at its first translated
       call (layout_prepare): its comm, and its argv alone in /proc/PID/cmdline */
    char title[16], pending_title[16];
    int pending_swap;    /* the loader's argv is ld --argv0 ARGV0 PROG...: set arg_start */
    uint64_t arg_start;  /* where the program's own argv strings start (0: nothing to do) */
    int64_t brk;         /* its break, asked (brk(0)) before the arg_start change */
    /* the loader run as the program: its initial stack (argc), until its auxv is
       copied to the kernel's, and the loader's own AT_ENTRY (execview.c) */
    uint64_t auxv_sp, auxv_entry;
    int auxv_tries;
    char *pending_execfn; /* the caller's path, between execve entry and its stop */
    uint64_t execfn_at;   /* where the new program's AT_EXECFN string is (0: unknown) */
};

struct pin {
    int32_t tid, pid;
    int fd;            /* veil's fd of what the kernel walks from (layout_pin.c) */
};

/* a directory veil holds open so that a socket bound below it by a name too long for
   sun_path is bound, and later shown, through "ALIAS/NAME" (layout_sock.c) */
struct sun_dir {
    int fd;
    char *alias; /* "/proc/VEIL/.../fd/N" */
    char *host;  /* the directory's host path */
};

/* identity.c: what the fake identity serves */
struct served_file {
    char *guest, *host;
};
struct owner {
    int used;
    uint64_t dev, ino;
    struct veil_owner row;
};
struct identity {
    struct served_file *files;
    uint32_t nfiles;
    int mount_files;     /* bound over their guest paths in the child (no stop) */
    int open_asks;       /* VEIL_ID_ASK_*: the opens Python's hooks see */
    char uts[VEIL_UTS_FIELDS][VEIL_UTS_LEN];
    uint8_t uts_set;     /* bit i: field i is faked */
    int cpus;            /* > 0: sched_getaffinity shows this many */
    int ids_on;
    uint32_t ids[6];     /* ruid euid suid rgid egid sgid */
    int owners_on, eacces_asks;
    uint32_t real_uid, real_gid, uid, gid;
    struct owner *owners; /* open addressing, cap_owners a power of two */
    uint32_t nowners, cap_owners;
};

struct layout {
    int active;
    int pin_paths;     /* path calls walk from directories veil opened (--strict) */
    int proc_scope;    /* /proc/PID of an untraced process is ENOENT (--strict) */
    struct pin *pins;
    uint32_t npins;
    int32_t slot_owner[128]; /* the thread that last wrote in each scratch slot */
    char *root;        /* host directory shown as "/" ("" for the host's /) */
    size_t rootlen;
    struct bind *binds;
    uint32_t nbinds;
    struct proc_view *procs;
    uint32_t nprocs;
    struct sun_dir *sun_dirs;
    uint32_t nsun_dirs;
};

struct mount_step {
    char *host;   /* host tree shown at guest; NULL: the guest's own tree at guest */
    char *guest;
    int flags;    /* VEIL_MNT_* */
    int tree;     /* the child's clone of host (mountns.c) */
};

struct mountns {
    int on;
    int userns;
    int pidns;        /* the child is made in its own pid namespace (its init) */
    int init_forked;  /* pidns: the program (the init's child) is now the main process */
    int32_t init_pid; /* pidns: the init's pid (veil's own process in the namespace) */
    uint32_t uid_inside, gid_inside;
    int unshare;      /* more namespaces of the child's own (CLONE_NEWIPC, _NEWUTS, _NEWCGROUP) */
    int new_session;  /* the program starts a session of its own (setsid) */
    char *hostname, *domainname; /* set in its UTS namespace (CLONE_NEWUTS), or NULL */
    char *binfmt;     /* a binfmt_misc rule registered in the child's user namespace, or NULL */
    int nested;       /* binfmt as a user: the child is root in its first user namespace (to
                         register the rule) and the user's ids in a second one in it */
    char *root;
    struct mount_step *steps;
    int nsteps;
};

struct fd_bits {
    int32_t pid;
    uint64_t *words; /* bit fd: its socket filter is in the process's filter stack */
    uint32_t nwords;
};

struct veil_engine {
    struct veil_sysdesc table[VEIL_NR_MAX];
    struct veil_sysdesc foreign;
    struct task_table tasks;
    struct ring ring;
    struct veil_stats stats;
    int use_seccomp;
    int follow;
    int affinity;        /* -1 off, -2 auto, >= 0 fixed cpu */
    int pinned_cpu;      /* cpu we pinned to, -1 when not pinned */
    int last_pin_cpu;    /* cpu of the most recent pin, -1 if never */
    int parallel;        /* the tree has two runnable tasks or more: apart */
    uint32_t runnable_avg; /* moving average of its runnable tasks, 1/16ths */
    uint64_t last_sample; /* when they were last counted (ns) */
    uint64_t window_start;
    uint32_t windows;    /* stop-rate windows measured so far */
    uint64_t window_wait; /* the loop thread's run-queue wait (ns) at the window's start */
    uint64_t cpu_idle[64]; /* idle ticks of each cpu (/proc/stat) at the window's start */
    cpu_set_t orig_mask; /* veil's mask before placement */
    uint32_t strsize;
    int32_t main_pid;
    int main_status;     /* raw wait status of main_pid, -1 until known */
    int spawn_err_fd;    /* child's exec errno arrives here */
    void *spawn_mem;     /* spawn.c: a cloned child's copy of its strings, and its stack */
    size_t spawn_mem_size;
    pid_t spawn_pid;     /* that child until its execve or its end, else 0 */
    int stdio[3];        /* fds the child gets as 0, 1, 2 (-1: inherit) */
    int child_umask;     /* -1: inherit */
    int nlimits;
    struct { int resource; uint64_t soft, hard; } limits[16];
    int drop_caps;       /* caps.c: apply keep_caps in the spawned child */
    int cap_last;        /* the kernel's highest capability number */
    uint64_t keep_caps;
    int fd_holder;       /* caps.c: it holds a reference on the thread that names veil's fds */
    int decorate;        /* 1 (-y): fd paths in memory too; 2 (-yy): sockets described */
    int run_as;          /* ids.c: the child takes run_uid, run_gid and run_groups */
    uint32_t run_uid, run_gid;
    int run_ngroups;
    uint32_t run_groups[VEIL_MAX_GROUPS];
    struct path_rule *path_rules;
    uint32_t npath_rules, cap_path_rules;
    uint32_t report_holds; /* tasks with T_REPORT_HOLD */
    struct layout layout;
    struct mountns mountns; /* the mount layout engine's plan (mountns.c) */
    int32_t sockfd_nrs[16]; /* calls traced on socket fds only (sockfd.c) */
    int n_sockfd_nrs;
    struct fd_bits *fd_bits;
    uint32_t n_fd_bits;
    struct identity identity; /* the fake identity's answers (identity.c) */
    void *prog;          /* the seccomp program installed (struct sock_filter[]), filter.c */
    uint32_t prog_len;
    uint32_t guest_tasks; /* tasks with T_GUEST */
    int guest_calls;      /* veil_guest_calls */
    struct veil_event deferred; /* a stop for Python met in veil_guest_resume */
    int has_deferred;
    struct veil_guest_stop *guest_queue; /* guest.c: stops not handed to Python yet */
    uint32_t guest_head, guest_len, guest_cap;
};

/* identity.c */
int identity_enter(struct veil_engine *e, struct task *t, int64_t *value, int *asks);
int identity_exit(struct veil_engine *e, struct task *t, int64_t ret);
long identity_child_mounts(const struct veil_engine *e);
long identity_mount_namespace(void);
void identity_free(struct veil_engine *e);

/* capture.c */
void capture_entry(struct veil_engine *e, struct task *t, uint64_t ts);
void capture_exit(struct veil_engine *e, struct task *t, int64_t ret, uint64_t ts);
uint8_t *ring_reserve(struct ring *r, uint32_t size);
void ring_event(struct veil_engine *e, uint16_t type, int32_t pid, int32_t tid,
                int64_t value, int64_t aux, const void *payload, uint32_t plen);
uint64_t now_ns(void);

/* sockinfo.c */
uint32_t sockinfo_append(int32_t tid, int fd, const char *link, const char *target,
                         uint8_t *out, uint32_t room);

/* sockquery.c */
int fd_is_socket(int32_t tid, uint64_t fd);
int fd_copy(int32_t tid, int fd);

/* spawn.c: the program's process, seized and told to go on (go[1]) by the caller;
   an exec failure's errno arrives on err[0].  The pid, or -errno. */
struct spawn_spec {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;
    int go[2], err[2], ns_ready[2], ns_mapped[2];
};
pid_t spawn_child(struct veil_engine *e, const struct spawn_spec *s);
/* fn(arg) in a child as spawn.c makes them, with every signal blocked and the
   caller suspended until it ends: its exit code (-errno if it could not run) */
int spawn_probe(int (*fn)(void *), void *arg);
/* `pid` exec'd or is gone (a cloned child no longer reads veil's memory) */
void spawn_execd(struct veil_engine *e, pid_t pid);
void spawn_free(struct veil_engine *e);

/* filter.c */
struct __ptrace_syscall_info;
int filter_keep(struct veil_engine *e, const void *bpf, uint32_t len);
void filter_free(struct veil_engine *e);
uint32_t filter_run(const struct veil_engine *e, const struct __ptrace_syscall_info *si);

/* paths.c */
int paths_check(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d);
/* -errno of the rule that settles the path (reported if it says why), else 0 */
int paths_rule_errno(struct veil_engine *e, struct task *t, const char *canon, int writes);
uint64_t paths_open_flags(struct task *t, const struct veil_sysdesc *d);
int paths_call_writes(struct task *t, const struct veil_sysdesc *d);
void paths_free(struct veil_engine *e);
/* the tasks T_REPORT_HOLD keeps stopped, resumed once the ring is drained (or `now`) */
int paths_release_held(struct veil_engine *e, int now);
int resume_task(struct veil_engine *e, struct task *t, int sig); /* loop.c */
int layout_to_host(struct veil_engine *e, const char *guest, char *out); /* layout_view.c */

/* elfcheck.c: what the kernel's exec handlers make of a file, from the fields they read */
#define EXEC_SCRIPT 1      /* exec_format.kind: binfmt_script */
#define EXEC_ELF 2         /* binfmt_elf, or compat_binfmt_elf for EM_386 */
#define EXEC_MAX_SCRIPTS 5 /* fs/exec.c exec_binprm: #! levels before ELOOP */
struct exec_format {
    int kind;
    int machine;          /* EXEC_ELF: e_machine (EM_X86_64, EM_386 or EM_486) */
    int has_interp;       /* EXEC_ELF: the first PT_INTERP is interp */
    int has_arg;          /* EXEC_SCRIPT: the #! line gives an argument, arg */
    const char *why;      /* a refusal veil reports (NULL: the kernel's own answer) */
    char interp[4096];    /* PATH_MAX: the #! interpreter, or the ELF's PT_INTERP path */
    char arg[256];
};
/* 0, or -errno (why says why when it is veil's refusal); name: the path the kernel gets */
int exec_format(int fd, const char *name, struct exec_format *f);
/* 0 if the calling task may exec the file at host path `host` as the kernel
   decides it (search on the way, an x bit for its fsuid/fsgid/groups, no noexec
   mount, a regular file), else -errno */
int exec_caller_may(struct task *t, const char *host);
#define EXEC_CHECKED 1     /* task.exec_want */
#define EXEC_INTERP 2      /* the kernel loads the ELF interpreter itself */
/* at exec entry: the kernel is to run the file open at fd, and may load the ELF
   interpreter at host path `host` itself (exec_allow_interp) */
int exec_expect(struct task *t, int fd);
void exec_allow_interp(struct task *t, const char *host);
/* at a successful exec's exit: NULL if the kernel ran what veil checked, else why not */
const char *exec_verify(struct task *t);

/* execview.c */
/* -ETXTBSY if the file open at fd (read-only) is open for writing anywhere, as
   execve would refuse it; 0 when not or when veil cannot tell */
int exec_write_busy(int fd);
/* why a set-id program at host path `host`, run through the guest's loader, gains
   nothing that the kernel would have granted (NULL: the kernel would not either) */
const char *exec_setid_lost(const char *host);
#define AUXV_MAX 64 /* auxv pairs veil copies: more than the kernel's saved_auxv holds */
void execview_loader_started(struct task *t, struct proc_view *pv);
int execview_auxv_ready(struct task *t, struct proc_view *pv);
uint32_t execview_auxv_put(struct task *t, struct proc_view *pv, uint64_t to);
const char *execview_pad(struct proc_view *pv, const char *want, const char *host, char *buf);
void execview_set_execfn(struct task *t, struct proc_view *pv);
/* fields FIRST..LAST of /proc/PID/stat, numbered as proc(5) numbers them (layout_proc.c) */
int stat_fields(int32_t pid, uint64_t *out, int first, int last);

/* sockfd.c */
int sockfd_after_exit(struct veil_engine *e, struct task *t, int64_t ret, int *pending_sig,
                      int *gone_status);
void sockfd_forked(struct veil_engine *e, int32_t parent, int32_t child);
void sockfd_gone(struct veil_engine *e, int32_t pid);
void sockfd_free(struct veil_engine *e);

/* layout_*.c (layout.h holds what they share among themselves) */
int layout_enter(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d,
                 int64_t *value);
void layout_exit(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d, int64_t ret);
int layout_close_held(struct veil_engine *e, struct task *t);
void layout_forked(struct veil_engine *e, int32_t parent_pid, int32_t child_pid);
void layout_gone(struct veil_engine *e, int32_t pid);
void layout_free(struct veil_engine *e);

/* mountns.c: in the spawned child, build the guest's tree and enter it */
int mountns_enter(struct veil_engine *e, const char *cwd, int ready_fd, int mapped_fd,
                  int *failed_step);
/* in veil: the id maps of the child's user namespace, once it says it made it */
int mountns_map_child(const struct mountns *m, pid_t pid, int ready_fd, int mapped_fd);
void mountns_free(struct veil_engine *e);
int layout_prepare(struct veil_engine *e, struct task *t, int *gone_status);

/* targets.c */
int targets_check(struct veil_engine *e, struct task *t, const struct veil_sysdesc *d);
int targets_traced(struct veil_engine *e, int32_t id);
/* -ENOENT if guest path names /proc/PID[/...] of a process not traced, else 0 */
/* signals.c: forwarded signals follow a new main process */
void signals_main_changed(struct veil_engine *e);

/* getdents64's result under proc_scope: /proc lists the traced tree's pids only */
int64_t targets_proc_listing(struct veil_engine *e, struct task *t, int64_t ret);
int targets_proc_path(struct veil_engine *e, const char *guest);

/* guest.c */
int guest_wants(struct task *t);
int guest_hold(struct veil_engine *e, struct task *t, int kind, int sig);
int guest_gone(struct veil_engine *e, struct task *t, int status);
int guest_pop(struct veil_engine *e, struct veil_event *ev);
void guest_free(struct veil_engine *e);

/* ids.c */
long ids_apply(const struct veil_engine *e);

/* caps.c */
long caps_apply(const struct veil_engine *e);
void caps_fd_dir(struct veil_engine *e, char *out, size_t size);
void caps_free(struct veil_engine *e);

/* mem.c */
ssize_t veil_read_proc(const char *path, char *buf, size_t size);
long veil_write_mem_force(int32_t tid, uint64_t addr, const void *buf, size_t len);

/* signals.c */
extern volatile sig_atomic_t veil_flush_requested;
extern volatile sig_atomic_t veil_stop_requested;

/* placement.c */
void placement_pin(struct veil_engine *e, int32_t tid);
void placement_update(struct veil_engine *e);
void placement_release(struct veil_engine *e);
void placement_tick(struct veil_engine *e, uint64_t now);
void placement_note_own_mask(struct veil_engine *e, struct task *t, int64_t ret);
void placement_fix_affinity_result(struct veil_engine *e, struct task *t, int64_t ret);

#endif
