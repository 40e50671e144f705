/*
 * veil C accelerator: the API that cffi sees.
 *
 * Mechanisms only.  Python compiles the policy into a per-syscall action
 * table (struct veil_sysdesc) and a seccomp-bpf program; this code runs the
 * waitpid loop, settles what the table says it can settle, records events
 * into a byte ring, and hands everything else back to Python with the tracee
 * still stopped.
 */
#ifndef VEIL_ENGINE_H
#define VEIL_ENGINE_H

#include <stdint.h>
#include <sys/types.h>

#define VEIL_NR_MAX 1024   /* x86_64 syscall numbers are below this */
#define VEIL_MAX_ARGS 6

/* sysdesc.flags: what to do with one syscall number */
#define VEIL_F_STOP      0x01 /* stop at entry (seccomp RET_TRACE or PTRACE_SYSCALL) */
#define VEIL_F_EXIT      0x02 /* also stop at exit */
#define VEIL_F_RECORD    0x04 /* write enter/exit records into the ring */
#define VEIL_F_PY_ENTER  0x08 /* hand the entry stop to Python */
#define VEIL_F_PY_EXIT   0x10 /* hand the exit stop to Python */
#define VEIL_F_DENY      0x20 /* fail with -errno (filter, or C in no-seccomp mode) */
#define VEIL_F_KILL      0x40 /* kill the process */
#define VEIL_F_PATHS    0x100 /* check its path arguments against the path rules */
#define VEIL_F_MUTATES  0x200 /* it changes what its path names (read-only rules apply) */
#define VEIL_F_TRANSLATE 0x400 /* the layout translates it (sysdesc.layout_op says how) */
#define VEIL_F_NEWFD    0x800 /* at exit: an fd it made that is a socket gets its filter (sockfd.c) */
#define VEIL_F_TARGETS 0x1000 /* the processes it names must be traced (targets.c): else EPERM */
#define VEIL_F_FDS_IN  0x2000 /* at exit: outside directory fds it received are taken back (fdintake.c) */
#define VEIL_F_IDENTITY 0x4000 /* the fake identity serves it (identity.c) */
#define VEIL_F_ID_ASKS  0x8000 /* Python's hooks of it want only the stops identity.c hands over */
#define VEIL_F_GUEST  0x10000 /* VEIL_F_PY_ENTER only while guest tracers are about (veil_guest_calls) */

/* SECCOMP_RET_TRACE data of a call veil's filter refuses and reports: the errno is
   the low 12 bits; veil records a VEIL_R_DENIED event (value errno, aux nr, payload
   the audit arch) and fails the call */
#define VEIL_TRACE_REFUSE 0x8000

/* sysdesc.layout_op: what the layout does with a call */
#define VEIL_L_PATHS    1 /* path_args (with dirfd_args) resolved in the guest, host paths passed */
#define VEIL_L_EXEC     2 /* execve/execveat: program, #! and PT_INTERP found in the guest */
#define VEIL_L_GETCWD   3 /* answered at entry from the guest's view */
#define VEIL_L_READLINK 4 /* paths translated; /proc magic links answered from the guest's view */
#define VEIL_L_CHROOT   5 /* emulated: later paths of the process resolve below the new root */
#define VEIL_L_SOCK_IN  6 /* AF_UNIX path in the sockaddr at args[sock_arg], length args[sock_arg+1] */
#define VEIL_L_SOCK_OUT 7 /* at exit: the AF_UNIX path written at args[sock_arg] (length pointer next) */
#define VEIL_L_MSG_IN   8 /* sendmsg: AF_UNIX msg_name of the msghdr at args[sock_arg] (sendmmsg: refused) */
#define VEIL_L_MSG_OUT  9 /* recvmsg at exit: its msg_name back in the guest's view */
#define VEIL_L_MEMGUARD 10 /* mmap/munmap/mprotect/mremap/madvise/shmat: not over veil's scratch */
#define VEIL_L_CREDS    11 /* set*uid/set*gid: what the process may read of veil changes */

/* veil's scratch area in every tracee under a layout: mapped read-only at this
   fixed address (the filter can then guard it), written by veil through
   /proc/PID/mem (FOLL_FORCE); translated paths go there, out of the reach of
   the program's other threads */
#define VEIL_SCRATCH_BASE 0x200000000
#define VEIL_SCRATCH_SIZE 0x400000

/* capture kinds: memory copied from the tracee into a record */
#define VEIL_CAP_NONE      0
#define VEIL_CAP_CSTR      1 /* NUL-terminated string at entry */
#define VEIL_CAP_BUF_ARG   2 /* buffer at entry, length = args[param] */
#define VEIL_CAP_BUF_RET   3 /* buffer at exit, length = return value */
#define VEIL_CAP_FIXED_IN  4 /* param bytes at entry */
#define VEIL_CAP_FIXED_OUT 5 /* param bytes at exit, when the call succeeded */
#define VEIL_CAP_STRV      6 /* NULL-terminated string array at entry (argv) */
#define VEIL_CAP_PTRV_LEN  7 /* NULL-terminated pointer array: count only (envp) */
#define VEIL_CAP_IOV_IN    8 /* iovec array at entry, count = args[param] */
#define VEIL_CAP_IOV_OUT   9 /* iovec array at exit, count = args[param], total = ret */
#define VEIL_CAP_LEN_IN   10 /* buffer at entry, length = *(u32 *)args[param] */
#define VEIL_CAP_LEN_OUT  11 /* buffer at exit, length = *(u32 *)args[param] */
#define VEIL_CAP_FIXED_ANY 12 /* limit bytes at exit, whatever the result */
#define VEIL_CAP_FDPATH    13 /* at entry: what fd args[i] names (readlink of /proc/TID/fd/N) */
#define VEIL_CAP_FDPATH_RET 14 /* at exit: what the returned fd names (slot VEIL_CAP_RESULT) */
#define VEIL_CAP_SP_FIXED  15 /* at entry: limit bytes at stack pointer + 8 * param */
#define VEIL_CAP_RESULT     6 /* capture slot for the return value */
#define VEIL_CAP_FIXED_INOUT 16 /* limit bytes at entry (slot i) and at exit whatever the result (slot i + EXIT_SLOT) */
#define VEIL_CAP_MSGHDR_IN  17 /* at entry: the msghdr at args[param], its name, control and iovec data */
#define VEIL_CAP_MSGHDR_OUT 18 /* the same at exit, when the call succeeded */
#define VEIL_CAP_DEREF_IN   19 /* at entry: limit bytes at the pointer in word (param & 31) of the struct at args[param >> 5] */
#define VEIL_CAP_DEREF_OUT  20 /* the same at exit, whatever the result */
#define VEIL_CAP_FDPAIR     21 /* at exit, on success: the 2 ints at args[i] and, for each, u32 len + what the fd names (-y) */
#define VEIL_CAP_FDPATH_EXIT 22 /* at exit: what fd args[i] names (a socket's addresses are set by then) */
#define VEIL_CAP_BUF_TAIL   23 /* at exit: the last limit bytes of the ret bytes moved through args[param] */
#define VEIL_CAP_EXIT_SLOT   8 /* FIXED_INOUT: the exit copy of slot i is slot i + 8 */
#define VEIL_IOV_FULL_LEN    2 /* iovec blocks: element = {base, iov_len, captured, transferred} */
#define VEIL_FDPATH_DESCRIBE 2 /* FDPATH param: describe a socket as -yy does, whatever the level */

struct veil_capture {
    uint8_t kind;
    uint8_t param;   /* argument index for *_ARG, *_IOV_*, *_LEN_* */
    uint16_t limit;  /* byte cap (0: engine default) or fixed size */
};

struct veil_sysdesc {
    uint32_t flags;  /* VEIL_F_* */
    uint8_t ncap;
    int16_t deny_errno;
    uint8_t path_args;      /* VEIL_F_PATHS: bit i = argument i is a path */
    uint8_t dirfd_args;     /* bit i = argument i is the dirfd of argument i+1 */
    int8_t open_flags_arg;  /* opens: the O_* flags argument (read-only rules), else -1 */
    int8_t open_flags_ptr;  /* openat2: the argument pointing at a u64 of O_* flags, else -1 */
    uint8_t layout_op;      /* VEIL_L_* */
    uint8_t nofollow_args;  /* bit i: path argument i never follows a final symlink */
    int8_t follow_flag_arg; /* the other path arguments follow by this flags argument, else -1 */
    uint8_t follow_flag_sets; /* 1: the flag asks to follow (AT_SYMLINK_FOLLOW); 0: not to */
    uint32_t follow_flag_mask;
    int8_t sock_arg;        /* VEIL_L_SOCK_*: the sockaddr argument */
    int8_t sockfd_arg;      /* >= 0: record the call only when this fd argument is a socket */
    uint8_t pid_args;       /* VEIL_F_TARGETS: bit i = argument i is a pid or tid (0: the
                               caller; -N: process group N) */
    uint8_t pidfd_args;     /* VEIL_F_TARGETS: bit i = argument i is a pidfd (or an fd of a
                               /proc/PID directory) */
    struct veil_capture cap[VEIL_MAX_ARGS + 1]; /* indexed by argument; [6]: result */
};

/* record types in the ring */
#define VEIL_R_ENTER    1
#define VEIL_R_EXIT     2
#define VEIL_R_SIGNAL   3 /* signal-delivery stop: payload = siginfo (128 bytes) */
#define VEIL_R_EXITED   4 /* value = exit code */
#define VEIL_R_KILLED   5 /* value = signal | 0x80 if core dumped */
#define VEIL_R_NEWTASK  6 /* value = new tid, aux = 1 fork, 2 vfork, 3 clone */
#define VEIL_R_EXEC     7 /* value = former tid */
#define VEIL_R_STOPPED  8 /* group-stop, value = signal */
#define VEIL_R_ATTACHED 9
#define VEIL_R_DETACHED 10
#define VEIL_R_DENIED   11 /* settled in C: value = errno (-1: killed), aux = nr */

/* arch field of enter records */
#define VEIL_ARCH_X86_64 0
#define VEIL_ARCH_I386   1
#define VEIL_ARCH_X32    2

/* the ring flush timer (signals.c) signals veil with SIGRTMIN + this */
#define VEIL_FLUSH_SIGNAL_OFFSET 3

/*
 * Every record starts with this header; size includes the header and is a
 * multiple of 8.  Captures follow ENTER/EXIT payloads as
 * struct veil_cap_hdr + data (padded to 8).
 */
struct veil_rec {
    uint32_t size;
    uint16_t type;
    uint8_t arch;
    uint8_t ncap;
    int32_t pid;      /* thread group id */
    int32_t tid;
    uint64_t ts_ns;   /* CLOCK_REALTIME */
    int64_t nr;       /* syscall number, or -1 */
    int64_t value;    /* ENTER: 0; EXIT: return value; events: see above */
    int64_t aux;
};

struct veil_rec_enter {
    struct veil_rec h;
    uint64_t args[VEIL_MAX_ARGS];
};

struct veil_cap_hdr {
    uint8_t arg;
    uint8_t kind;
    uint8_t truncated;
    uint8_t fault;     /* memory could not be read */
    uint32_t len;      /* data bytes that follow */
    uint64_t count;    /* STRV/PTRV: element count; IOV: total bytes */
};

/* events that next() hands to Python */
#define VEIL_EV_NONE        0  /* no tracee left */
#define VEIL_EV_DRAIN       1  /* ring wants draining (nothing stopped) */
#define VEIL_EV_ENTER       2  /* syscall entry, tracee stopped */
#define VEIL_EV_EXIT        3  /* syscall exit, tracee stopped */
#define VEIL_EV_INTERRUPTED 4  /* veil got a signal that asks to stop (attach mode) */
/* a stop of a thread a guest tracer traces (veil_guest_trace): held (except GONE)
   until veil_guest_resume */
#define VEIL_EV_GUEST       5

/* VEIL_EV_GUEST: event.nr is one of these, event.ret the raw wait status veil got,
   args[0] the signal of a SIGNAL stop, args[1] the PTRACE_EVENT_* of an EVENT stop
   and args[2] its PTRACE_GETEVENTMSG */
#define VEIL_G_SYSCALL_ENTRY 1
#define VEIL_G_SYSCALL_EXIT  2
#define VEIL_G_SIGNAL        3
#define VEIL_G_EVENT         4
#define VEIL_G_GONE          5 /* exited or killed (ret: the status); not held */
#define VEIL_G_SECCOMP       6 /* a seccomp stop, before veil's own work on it (VEIL_GT_SECCOMP) */

/* veil_guest_trace: what the guest tracer gets */
#define VEIL_GT_TRACED  1
#define VEIL_GT_SECCOMP 2 /* seccomp stops too (its tracer asked PTRACE_O_TRACESECCOMP) */
#define VEIL_GT_TRACER  4 /* it is a guest tracer: its exit comes as VEIL_G_GONE */

/* veil_guest_resume: how the guest tracer resumed it */
#define VEIL_GR_CONT    0
#define VEIL_GR_SYSCALL 1
#define VEIL_GR_STEP    2
#define VEIL_GR_DETACH  3
#define VEIL_GR_LISTEN  4 /* PTRACE_LISTEN: stays in its group-stop, SIGCONT wakes it */

struct veil_guest_stop {
    int32_t pid, tid;
    int kind;
    int status;
    int sig;
    int event;
    uint64_t msg;
};

struct veil_event {
    int kind;
    int32_t pid;
    int32_t tid;
    int arch;
    int64_t nr;
    uint64_t args[VEIL_MAX_ARGS];
    int64_t ret;
    uint64_t ts_ns;
    uint64_t sp;      /* stack pointer at entry */
    uint64_t scratch; /* free tracee memory for rewrites lies below this (under the red zone
                         and what the layout's translation already used) */
};

/* resume verdicts */
#define VEIL_V_ALLOW   0
#define VEIL_V_DENY    1 /* value = errno */
#define VEIL_V_EMULATE 2 /* skip the call, return value */
#define VEIL_V_KILL    3
#define VEIL_V_SETRET  4 /* at exit: replace the return value */
#define VEIL_V_DETACH  5 /* stop tracing the thread; it goes on untraced (strace -b) */

struct veil_engine;

struct veil_stats {
    uint64_t stops;          /* every ptrace stop the loop took */
    uint64_t syscall_stops;  /* seccomp + syscall entry/exit stops */
    uint64_t tasks_seen;
    uint64_t records;
    uint64_t ring_drains;
    uint64_t placement_samples; /* reads of the tree's task states (placement.c) */
    uint64_t placement_moves;   /* pins, unpins and moves to another core */
};

struct veil_engine *veil_new(uint32_t ring_bytes);
void veil_free(struct veil_engine *e);

/* table[VEIL_NR_MAX] plus one default row for unknown / foreign-arch calls */
struct veil_sysdesc *veil_table(struct veil_engine *e);
struct veil_sysdesc *veil_foreign(struct veil_engine *e);
void veil_set_options(struct veil_engine *e, int seccomp, int follow,
                      int affinity_cpu, uint32_t strsize);

int veil_spawn(struct veil_engine *e, const char *path, char *const argv[],
               char *const envp[], const char *cwd,
               const void *bpf, uint32_t bpf_len, int32_t *pid_out);
/* Path rules, checked in C at the entry of VEIL_F_PATHS calls: a path
   (absolute, symlinks resolved, against the caller's cwd or dirfd) that
   equals `pattern` (VEIL_PATH_EXACT), equals it or lies below it
   (VEIL_PATH_PREFIX), or matches the fnmatch(3) glob (VEIL_PATH_GLOB) is
   settled by the first rule it matches: err 0 lets the call go on (no later
   rule is tried), else the call fails with -err.  flags VEIL_PATH_WRITES:
   only calls that write (VEIL_F_MUTATES, or an open with write/create/truncate
   flags); VEIL_PATH_EXISTING: only paths that exist.  why (may be NULL): a
   refusal by the rule is reported, a VEIL_R_DENIED record whose text is
   "PATH: why".  Rules that only differ in their exact path are kept as one
   sorted table (looked up by bisection). */
#define VEIL_PATH_GLOB 0
#define VEIL_PATH_PREFIX 1
#define VEIL_PATH_EXACT 2
#define VEIL_PATH_WRITES 1
#define VEIL_PATH_EXISTING 2
int veil_add_path_rule(struct veil_engine *e, const char *pattern, int match, int err,
                       int flags, const char *why);

/* The guest's layout: paths of VEIL_F_TRANSLATE calls are resolved in a
   tree made of host_root plus binds (host directory or file shown at guest
   path; the longest guest prefix wins).  Path rules then apply to guest
   paths. */
int veil_layout_set_root(struct veil_engine *e, const char *host_root);
int veil_layout_add_bind(struct veil_engine *e, const char *host, const char *guest);
/* on: the paths of non-open calls reach the kernel as /proc/VEIL/fd/N[/NAME], N a
   file or directory veil opened without following symlinks (a directory swapped
   for a symlink after veil's walk cannot take the call out of the guest); the
   program must be able to read veil's fds (the same user).  Opens always get
   openat2(RESOLVE_NO_SYMLINKS) where the kernel has it. */
void veil_layout_pin_paths(struct veil_engine *e, int on);
/* on: the guest's /proc/PID (and /proc/TID) of a process veil does not trace does
   not exist for the program (ENOENT), as in a pid namespace: veil's own threads and
   the host's processes are out of its sight */
void veil_layout_proc_scope(struct veil_engine *e, int on);
/* Resolve a guest path as the guest's root sees it (cwd "/"); outputs hold PATH_MAX. */
int veil_layout_resolve(struct veil_engine *e, const char *guest, int follow, char *host_out,
                        char *guest_out);

/* The mount layout engine (mountns.c): the spawned child makes a mount namespace
   (and a user namespace if userns: veil as root maps every id to itself, a user
   its own uid and gid to uid_inside and gid_inside), shows host_root as / and each
   added step at its guest path, then pivots into that tree; spawn's cwd is then a
   guest path.  A failure fails the spawn: veil_spawn_error() returns the errno
   with VEIL_SPAWN_MOUNTNS set and the step's index + 1 above VEIL_SPAWN_STEP_SHIFT
   (0: no step). */
#define VEIL_MNT_RDONLY 1   /* the step's tree is read-only, all of it */
#define VEIL_MNT_MASK 2     /* the guest path is covered: an empty directory or /dev/null */
#define VEIL_MNT_PROCFS 4   /* a procfs of the program's own pid namespace at the guest path */
#define VEIL_SPAWN_MOUNTNS 0x10000
#define VEIL_SPAWN_STEP_SHIFT 20
int veil_mountns_begin(struct veil_engine *e, const char *host_root, int userns,
                       uint32_t uid_inside, uint32_t gid_inside);
/* The child is also made in a pid namespace of its own (with a user namespace): it
   builds the tree as its init (pid 1), forks the program (pid 2) and waits for it;
   the program then counts as the main process.  The kernel keeps every process
   outside the namespace out of the program's reach and out of its /proc. */
void veil_mountns_pidns(struct veil_engine *e, int on);
/* The child also gets the namespaces of `clone_flags` (CLONE_NEWIPC, CLONE_NEWUTS,
   CLONE_NEWCGROUP; -EINVAL for others) and, if new_session, a session of its own
   (setsid(2), before a pid namespace's init forks the program, as bubblewrap does). */
#define VEIL_NS_CGROUP 0x02000000 /* the kernel's CLONE_NEW* values */
#define VEIL_NS_UTS 0x04000000
#define VEIL_NS_IPC 0x08000000
int veil_mountns_unshare(struct veil_engine *e, int clone_flags, int new_session);
/* With VEIL_NS_UTS: the names set in the child's UTS namespace (NULL: the host's) */
int veil_mountns_uts(struct veil_engine *e, const char *hostname, const char *domainname);
/* A binfmt_misc rule (":name:M:offset:magic:mask:interpreter:flags", the F flag: the
   interpreter is a host file opened when it is registered) registered in the
   child's user namespace, so that the kernel runs the guest's programs it matches
   with that interpreter; NULL: none.  The instance stays mounted below a
   directory of the guest's tree that a clone of that directory covers. */
int veil_mountns_binfmt(struct veil_engine *e, const char *rule);
/* host NULL: the guest's own tree at guest (read-only or masked) */
int veil_mountns_add(struct veil_engine *e, const char *host, const char *guest, int flags);
/* 0 when this process can make the namespaces the engine needs, else -errno */
int veil_mountns_probe(int userns);

/* The fake identity's answers (identity.c): Python sets the values once (and again
   when the program changes them); VEIL_F_IDENTITY calls are then served at the
   stop.  Files: an open (no layout) of guest path (normalized as os.path.normpath)
   opens host instead.  uts field 0..5: sysname, nodename, release, version,
   machine, domainname (NULL: the kernel's).  cpus > 0: sched_getaffinity shows N
   CPUs.  ids (ruid, euid, suid, rgid, egid, sgid; NULL: off): get*id answered.
   Owners: stat results show uid for real_uid, gid for real_gid, and a row's
   values where the database has one; eacces_asks: a failure with EACCES goes to
   Python. */
#define VEIL_UTS_FIELDS 6
#define VEIL_UTS_LEN 65
struct veil_owner {
    uint64_t dev, ino;
    int64_t uid, gid;  /* -1: the file's own (mapped) */
    uint32_t type;     /* S_IFCHR or S_IFBLK shown in the mode (0: the file's own) */
    uint32_t asks;     /* 1: Python answers for this file (VEIL_F_ID_ASKS) */
    uint64_t rdev;
};
int veil_identity_add_file(struct veil_engine *e, const char *guest, const char *host);
/* on: the files are bound over their guest paths in a mount namespace of the spawned
   child's own (no layout; veil may make one) instead of rewritten at each open */
void veil_identity_mount_files(struct veil_engine *e, int on);
int veil_identity_set_uts(struct veil_engine *e, int field, const char *value);
void veil_identity_set_cpus(struct veil_engine *e, int cpus);
void veil_identity_set_ids(struct veil_engine *e, const uint32_t *ids);
void veil_identity_set_owners(struct veil_engine *e, uint32_t real_uid, uint32_t real_gid,
                              uint32_t uid, uint32_t gid, int eacces_asks);
int veil_identity_set_owner(struct veil_engine *e, const struct veil_owner *row);
/* the opens identity.c hands to Python (VEIL_F_ID_ASKS; their exits too): absolute
   paths under /proc/, and opens the caller's modes refuse (an access check by veil,
   the same user, from the caller's root, cwd or dirfd) */
#define VEIL_ID_ASK_PROC 1
#define VEIL_ID_ASK_REFUSED 2
void veil_identity_open_asks(struct veil_engine *e, int asks);

/* -y level: 1 adds what SCM_RIGHTS fds name to MSGHDR captures; 2 (-yy) makes
   FDPATH captures of sockets append "\0PROTO\0LOCAL,REMOTE\0PEER\0NAME" */
void veil_set_decorate(struct veil_engine *e, int level);

/* applied in the spawned child before execve: umask (-1: keep), resource limits */
void veil_set_umask(struct veil_engine *e, int mask);
int veil_add_rlimit(struct veil_engine *e, int resource, uint64_t soft, uint64_t hard);
/* also in the child, after the seccomp filter: only the capabilities whose bit is set in
   keep stay (bounding, permitted, effective, inheritable; ambient cleared), and
   no_new_privs is set; all ones (the default): capabilities and no_new_privs untouched */
void veil_set_caps(struct veil_engine *e, uint64_t keep);
/* also in the child, before the seccomp filter: setgroups, then gid, then uid
   (strace's -u); -EINVAL if ngroups exceeds VEIL_MAX_GROUPS */
#define VEIL_MAX_GROUPS 64
int veil_set_ids(struct veil_engine *e, uint32_t uid, uint32_t gid, const uint32_t *groups,
                 int ngroups);

/* stdin/stdout/stderr of the next spawned child (-1: inherit veil's) */
void veil_set_stdio(struct veil_engine *e, int in, int out, int err);
/* errno of a failed exec in the spawned child (0 if it exec'd), once it exited */
int veil_spawn_error(struct veil_engine *e);
int veil_attach(struct veil_engine *e, int32_t pid);
int veil_detach_all(struct veil_engine *e);
void veil_kill_all(struct veil_engine *e);

int veil_next(struct veil_engine *e, struct veil_event *ev);
int veil_resume(struct veil_engine *e, int32_t tid, int verdict, int64_t value);
/* While a thread is held at entry: change argument idx; the caller's register
   is put back at the exit stop, so only the kernel sees the new value. */
int veil_set_arg(struct veil_engine *e, int32_t tid, int idx, uint64_t value);

/* Guest tracers (src/veil/guest_ptrace.py).  on: every signal-delivery stop, ptrace
   event stop and exit of the thread comes to Python as VEIL_EV_GUEST (the thread
   held); its children inherit the mark at their fork/clone event (Python clears it
   where the guest tracer did not ask for them).  off: back to veil's own handling. */
int veil_guest_trace(struct veil_engine *e, int32_t tid, int how);
/* on: the VEIL_F_GUEST calls (a guest tracer's waits) go to Python; off: they run */
void veil_guest_calls(struct veil_engine *e, int on);
/* Let a thread held at a VEIL_EV_GUEST stop go on (VEIL_GR_*), with signal sig. */
int veil_guest_resume(struct veil_engine *e, int32_t tid, int how, int sig);

/* the ring: records [0, used) are ready; Python reads then resets */
const uint8_t *veil_ring(struct veil_engine *e, uint32_t *used);
void veil_ring_reset(struct veil_engine *e);
void veil_get_stats(struct veil_engine *e, struct veil_stats *out);

/* exit status of the first spawned process (raw wait status), -1 if unknown */
int veil_main_status(struct veil_engine *e);

/* signal handling while the loop runs: forward INT/TERM/HUP/QUIT sent to veil */
int veil_signals_install(struct veil_engine *e, int forward);
void veil_signals_restore(struct veil_engine *e);

/* Calls the tracee's per-socket-fd filters trace (read, write, close...): the
   base filter lets them pass; a VEIL_F_NEWFD call that makes a socket fd stacks
   a filter tracing them on that fd into the process.  n = 0: off. */
int veil_set_sockfd_calls(struct veil_engine *e, const int32_t *nrs, int n);

/* The kernel's view of socket fd of process pid (through pidfd_getfd). */
struct veil_sockq {
    uint8_t local[128], remote[128]; /* sockaddrs */
    uint32_t local_len, remote_len;  /* 0: none */
    int domain, type, protocol;
    int listening;
    int inq, outq;                   /* bytes queued (SIOCINQ / SIOCOUTQ), -1 unknown */
    int tcp_state;                   /* TCP_ESTABLISHED... (-1: not TCP) */
    uint32_t tcp_unacked, tcp_sacked; /* listener: accept queue now, and its limit */
};
int veil_sock_query(int32_t pid, int fd, struct veil_sockq *q);

/* memory access for Python hooks */
long veil_read_mem(int32_t tid, uint64_t addr, void *buf, size_t len);
long veil_write_mem(int32_t tid, uint64_t addr, const void *buf, size_t len);
long veil_read_cstr(int32_t tid, uint64_t addr, char *buf, size_t cap, int *truncated);

#endif
