"""The generated syscall table: numbers, classes, kinds, set syntax, freshness."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
_SRC = str(REPO / "src")
if (REPO / "src" / "veil").is_dir() and _SRC not in sys.path:
    sys.path.insert(0, _SRC)

from veil.syscalls import classes as C  # noqa: E402
from veil.syscalls import lookup as L  # noqa: E402
from veil.syscalls import table as T  # noqa: E402

ASM = Path("/usr/include/x86_64-linux-gnu/asm")
GEN = REPO / "tools" / "gen_syscalls.py"
needs_headers = pytest.mark.skipif(
    not (ASM / "unistd_64.h").exists(), reason="kernel uapi headers not installed")


def _header(name):
    out = {}
    for line in (ASM / name).read_text().splitlines():
        m = re.match(r"#define __NR_(\w+)\s+(?:\(__X32_SYSCALL_BIT \+ (\d+)\)|(\d+))\s*$", line)
        if m:
            out[m.group(1)] = int(m.group(2) or m.group(3))
    return out


# --------------------------------------------------------------------------
# numbers
# --------------------------------------------------------------------------

def test_well_known_numbers():
    expect = {"read": 0, "write": 1, "open": 2, "close": 3, "stat": 4, "mmap": 9,
              "ioctl": 16, "getpid": 39, "socket": 41, "clone": 56, "fork": 57,
              "execve": 59, "exit": 60, "kill": 62, "getuid": 102,
              "arch_prctl": 158, "gettid": 186, "futex": 202,
              "exit_group": 231, "openat": 257, "newfstatat": 262,
              "statx": 332, "rseq": 334, "clone3": 435, "openat2": 437,
              "faccessat2": 439, "set_mempolicy_home_node": 450}
    for name, nr in expect.items():
        assert L.BY_NAME[name].nr == nr, name
        assert L.BY_NR[nr].name == name


@needs_headers
def test_every_header_syscall_present_with_header_number():
    hdr = _header("unistd_64.h")
    assert len(hdr) > 300
    for name, nr in hdr.items():
        assert name in L.BY_NAME, name
        assert L.BY_NAME[name].nr == nr, name
    assert L.MAX_NR == max(L.BY_NR) + 1


@needs_headers
def test_i386_and_x32_names_from_headers():
    for name, nr in _header("unistd_32.h").items():
        assert L.I386_NAMES[nr] == name
    for name, nr in _header("unistd_x32.h").items():
        assert L.X32_NAMES[nr] == name
    assert L.I386_NAMES[3] == "read" and L.I386_NAMES[11] == "execve"
    assert L.I386_NAMES[102] == "socketcall"
    assert L.X32_NAMES[0] == "read" and L.X32_NAMES[512] == "rt_sigaction"
    assert L.X32_NAMES[520] == "execve"
    assert L.X32_SYSCALL_BIT == 0x40000000


def test_syscalls_newer_than_the_headers():
    newer = {"uretprobe": 335, "uprobe": 336,
             "cachestat": 451, "fchmodat2": 452, "map_shadow_stack": 453,
             "futex_wake": 454, "futex_wait": 455, "futex_requeue": 456,
             "statmount": 457, "listmount": 458, "lsm_get_self_attr": 459,
             "lsm_set_self_attr": 460, "lsm_list_modules": 461, "mseal": 462,
             "setxattrat": 463, "getxattrat": 464, "listxattrat": 465,
             "removexattrat": 466, "open_tree_attr": 467, "file_getattr": 468,
             "file_setattr": 469}
    for name, nr in newer.items():
        assert L.BY_NAME[name].nr == nr
    # common-range calls also exist for i386 and x32; map_shadow_stack is 64-bit only
    assert L.I386_NAMES[452] == "fchmodat2" and L.X32_NAMES[469] == "file_setattr"
    assert 453 not in L.I386_NAMES and 453 not in L.X32_NAMES
    assert "uretprobe" not in L.I386_BY_NAME and L.X32_NAMES[336] == "uprobe"


def test_rows_are_unique_and_sorted():
    nrs = [row[0] for row in T.X86_64]
    assert nrs == sorted(set(nrs))
    names = [row[1] for row in T.X86_64]
    assert len(names) == len(set(names))
    assert len(L.SYSCALLS) == len(L.BY_NR) == len(L.BY_NAME) == len(T.X86_64)


# --------------------------------------------------------------------------
# classes
# --------------------------------------------------------------------------

@pytest.mark.parametrize("name,want,dont", [
    ("openat", C.FILE | C.DESC, C.NET),
    ("open", C.FILE | C.DESC, C.PROCESS),
    ("execve", C.FILE | C.PROCESS, C.DESC),
    ("execveat", C.FILE | C.PROCESS | C.DESC, 0),
    ("kill", C.SIGNAL | C.PROCESS, C.FILE),
    ("rt_sigaction", C.SIGNAL, C.PROCESS),
    ("socket", C.NET, C.DESC),
    ("sendfile", C.NET | C.DESC, 0),
    ("mmap", C.MEMORY | C.DESC, 0),
    ("brk", C.MEMORY, C.DESC),
    ("setuid", C.CREDS, C.PROCESS),
    ("prctl", C.CREDS, 0),
    ("getuid", C.CREDS | C.PURE, 0),
    ("getpid", C.PURE, C.PROCESS),
    ("clock_gettime", C.CLOCK, 0),
    ("nanosleep", 0, C.CLOCK),
    ("shmat", C.IPC | C.MEMORY, 0),
    ("getcwd", C.FILE, C.DESC),
    ("fchdir", C.DESC, C.FILE),
    ("close_range", 0, C.DESC),
    ("stat", C.FILE | C.STAT | C.STAT_LIKE, C.LSTAT | C.FSTAT),
    ("lstat", C.FILE | C.LSTAT | C.STAT_LIKE, C.STAT),
    ("fstat", C.DESC | C.FSTAT | C.STAT_LIKE, C.FILE),
    ("newfstatat", C.FILE | C.DESC | C.FSTAT | C.STAT_LIKE, C.STAT),
    ("statx", C.FILE | C.DESC | C.FSTAT | C.STAT_LIKE, 0),
    ("statfs", C.FILE | C.STATFS | C.STATFS_LIKE, C.FSTATFS),
    ("fstatfs", C.DESC | C.FSTATFS | C.STATFS_LIKE, C.STATFS),
    ("ustat", C.STATFS_LIKE, C.FILE),
    ("clone3", C.PROCESS, 0),
    ("fchmodat2", C.FILE | C.DESC, 0),
])
def test_classes_match_strace(name, want, dont):
    bits = L.classes_of(name)
    assert bits & want == want, (name, C.class_names(bits))
    assert not bits & dont, (name, C.class_names(bits))


def test_pure_is_exactly_stracess_set():
    assert set(L.names_of(L.resolve_set("%pure"))) == {
        "getpid", "getppid", "getpgrp", "gettid",
        "getuid", "geteuid", "getgid", "getegid"}
    for sc in L.SYSCALLS:
        if sc.classes & C.PURE:
            assert sc.nargs == 0


def test_class_names_table():
    assert C.CLASS_NAMES["%file"] == C.FILE == C.CLASS_NAMES["file"]
    assert C.CLASS_NAMES["%net"] == C.CLASS_NAMES["%network"] == C.CLASS_NAMES["network"] == C.NET
    assert C.CLASS_NAMES["%%stat"] == C.STAT_LIKE
    assert C.CLASS_NAMES["%%statfs"] == C.STATFS_LIKE
    assert "stat" not in C.CLASS_NAMES     # the syscall, not a class
    assert "creds" not in C.CLASS_NAMES    # strace has no legacy spelling for it
    bits = [b for b, _, _ in C.CLASS_BITS]
    assert len(set(bits)) == len(bits)
    assert C.class_names(C.FILE | C.DESC) == ["%file", "%desc"]
    assert L.BY_NAME["openat"].class_names == ["%file", "%desc"]


def test_classes_of_errors_and_other_arches():
    assert L.classes_of(257) == L.classes_of("openat")
    assert L.classes_of("stat64") == 0           # i386-only name: known, no classes
    with pytest.raises(L.UnknownSyscallError, match="unknown syscall name: 'nosuch'"):
        L.classes_of("nosuch")


# --------------------------------------------------------------------------
# resolve_set
# --------------------------------------------------------------------------

def names(spec, arch="x86_64"):
    return set(L.names_of(L.resolve_set(spec, arch), arch))


def test_resolve_names_and_numbers():
    assert L.resolve_set("read,write") == {0, 1}
    assert L.resolve_set(" read , write ,") == {0, 1}
    assert L.resolve_set("39") == {39}
    assert names("openat,%net") >= {"openat", "socket", "connect"}


def test_resolve_all_none_negation():
    everything = set(L.BY_NR)
    assert L.resolve_set("all") == everything
    assert L.resolve_set("none") == set()
    assert L.resolve_set("!all") == set()
    assert L.resolve_set("!none") == everything
    assert L.resolve_set("!read,write") == everything - {0, 1}
    file_ = L.resolve_set("%file")
    assert L.resolve_set("!%file") == everything - file_
    assert L.resolve_set("!!read") == {0}


def test_resolve_classes_and_legacy_names():
    assert L.resolve_set("%file") == L.resolve_set("file")
    assert L.resolve_set("%net") == L.resolve_set("%network") == L.resolve_set("network")
    assert L.resolve_set("%process") == L.resolve_set("process")
    assert names("%process") >= {"execve", "clone", "clone3", "fork", "exit_group",
                                 "wait4", "kill"}
    assert names("%%stat") == {"stat", "fstat", "lstat", "newfstatat", "statx"}
    assert names("%%statfs") == {"statfs", "fstatfs", "ustat"}
    assert names("%stat") == {"stat"} and names("%lstat") == {"lstat"}
    assert names("%clock") >= {"clock_gettime", "gettimeofday", "time", "adjtimex"}
    assert names("%ipc") >= {"shmget", "semop", "msgrcv"}


def test_resolve_regex():
    assert names("/^getres[ug]id$") == {"getresuid", "getresgid"}
    assert "setuid" in names("/uid")                # re.search, not match
    assert names("/^mmap$,/^munmap$") == {"mmap", "munmap"}


def test_resolve_optional_and_other_arch_names():
    assert L.resolve_set("?nosuch,read") == {0}
    assert L.resolve_set("?%nosuch") == set()
    assert L.resolve_set("?/^zzz") == set()
    assert L.resolve_set("?99999") == set()
    assert L.resolve_set("stat64") == set()        # a real i386 name: no error
    assert names("stat64,socketcall", "i386") == {"stat64", "socketcall"}
    assert L.resolve_set("read", "i386") == {3}
    assert L.resolve_set("rt_sigaction", "x32") == {512}
    assert "open" in names("%file", "i386")


@pytest.mark.parametrize("spec,msg", [
    ("nosuch", "unknown syscall name: 'nosuch'"),
    ("read,nosuch", "unknown syscall name: 'nosuch'"),
    ("!nosuch", "unknown syscall name: 'nosuch'"),
    ("%nosuch", "unknown syscall class: '%nosuch'"),
    ("%FILE", "unknown syscall class"),
    ("READ", "unknown syscall name: 'READ'"),
    ("/^zzz", "no syscall name matches"),
    ("/[", "invalid regular expression"),
    ("", "empty syscall set"),
    ("!", "empty syscall set"),
    ("99999", "unknown syscall number"),
    ("read,!write", "unknown syscall name: '!write'"),
])
def test_resolve_errors(spec, msg):
    with pytest.raises(L.UnknownSyscallError, match=re.escape(msg)):
        L.resolve_set(spec)
    assert issubclass(L.UnknownSyscallError, ValueError)


# --------------------------------------------------------------------------
# signatures and kinds
# --------------------------------------------------------------------------

_KIND_RE = re.compile(
    r"(?:int|uint|long|ulong|hex|ptr|size|off|fd|dirfd|path|str|mode|umask|signal"
    r"|pid|uid|gid|argv|envp)"
    r"|(?:inbuf|outbuf|outstr|sockaddr|outsockaddr|iovec|outiovec|sigset|outsigset):[0-5]"
    r"|(?:struct|outstruct):[A-Za-z_][A-Za-z0-9_]*"
    r"|(?:flags|enum):[a-z0-9_]+\Z")


def test_every_kind_is_in_the_vocabulary():
    for sc in L.SYSCALLS:
        assert sc.nargs == len(sc.args) <= 6, sc.name
        assert sc.ret in T.RET_KINDS, sc.name
        assert sc.support in T.SUPPORT_LEVELS, sc.name
        argnames = [a for a, _ in sc.args]
        assert len(set(argnames)) == len(argnames), sc.name
        for i, (aname, kind) in enumerate(sc.args):
            assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", aname)
            assert _KIND_RE.fullmatch(kind), (sc.name, aname, kind)
            base, param = L.parse_kind(kind)
            if base in T.INDEXED_KINDS:
                assert param < sc.nargs and param != i, (sc.name, kind)
                target = sc.args[param][1]
                assert target in ("int", "uint", "long", "ulong", "size",
                                  "outstruct:socklen"), (sc.name, kind, target)
            if base == "flags":
                assert param in T.FLAG_SETS
            if base == "enum":
                assert param in T.ENUM_SETS
        if sc.support == "passed":
            assert all(k == "hex" for _, k in sc.args), sc.name


def test_parse_kind():
    assert L.parse_kind("fd") == ("fd", None)
    assert L.parse_kind("outbuf:2") == ("outbuf", 2)
    assert L.parse_kind("flags:open") == ("flags", "open")
    assert L.parse_kind("struct:open_how") == ("struct", "open_how")
    for bad in ("frob", "outbuf:x", "flags:nosuchset", "enum:open", "struct:", "fd:1"):
        with pytest.raises(ValueError):
            L.parse_kind(bad)


@pytest.mark.parametrize("name,args,ret", [
    ("read", (("fd", "fd"), ("buf", "outbuf:2"), ("count", "size")), "size"),
    ("write", (("fd", "fd"), ("buf", "inbuf:2"), ("count", "size")), "size"),
    ("openat", (("dirfd", "dirfd"), ("pathname", "path"), ("flags", "flags:open"),
                ("mode", "mode")), "fd"),
    ("openat2", (("dirfd", "dirfd"), ("pathname", "path"), ("how", "struct:open_how"),
                 ("size", "size")), "fd"),
    ("execve", (("pathname", "path"), ("argv", "argv"), ("envp", "envp")), "int"),
    ("readlinkat", (("dirfd", "dirfd"), ("pathname", "path"), ("buf", "outstr:3"),
                    ("bufsiz", "size")), "size"),
    ("getcwd", (("buf", "outstr:1"), ("size", "size")), "size"),
    ("accept4", (("sockfd", "fd"), ("addr", "outsockaddr:2"),
                 ("addrlen", "outstruct:socklen"), ("flags", "flags:sock_flags")), "fd"),
    ("connect", (("sockfd", "fd"), ("addr", "sockaddr:2"), ("addrlen", "int")), "int"),
    ("pipe2", (("pipefd", "outstruct:int2"), ("flags", "flags:pipe_flags")), "int"),
    ("mmap", (("addr", "ptr"), ("length", "size"), ("prot", "flags:mmap_prot"),
              ("flags", "flags:mmap_flags"), ("fd", "fd"), ("offset", "off")), "hex"),
    ("rt_sigprocmask", (("how", "enum:sigprocmask_how"), ("set", "sigset:3"),
                        ("oldset", "outsigset:3"), ("sigsetsize", "size")), "int"),
    ("exit_group", (("status", "int"),), "none"),
    ("clone3", (("cl_args", "struct:clone_args"), ("size", "size")), "pid"),
    ("getpid", (), "pid"),
])
def test_key_signatures(name, args, ret):
    sc = L.BY_NAME[name]
    assert sc.args == args
    assert sc.ret == ret
    assert sc.support == "decoded"


def test_required_syscalls_are_decoded():
    required = """
    open openat openat2 creat stat lstat fstat newfstatat statx access faccessat
    faccessat2 readlink readlinkat execve execveat chdir fchdir getcwd mkdir mkdirat
    mknod mknodat rmdir unlink unlinkat rename renameat renameat2 link linkat symlink
    symlinkat chmod fchmod fchmodat chown fchown lchown fchownat truncate ftruncate
    utime utimes utimensat futimesat setxattr lsetxattr fsetxattr getxattr lgetxattr
    fgetxattr listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr
    inotify_add_watch fanotify_mark statfs fstatfs mount umount2 chroot pivot_root
    swapon swapoff name_to_handle_at open_by_handle_at acct quotactl
    read write pread64 pwrite64 readv writev preadv pwritev preadv2 pwritev2 close
    close_range dup dup2 dup3 pipe pipe2 lseek fcntl ioctl getdents64
    socket socketpair bind connect listen accept accept4 getsockname getpeername
    sendto recvfrom sendmsg recvmsg sendmmsg recvmmsg shutdown setsockopt getsockopt
    mmap munmap mprotect mremap madvise brk msync mlock mlock2 mlockall munlock
    munlockall clone clone3 fork vfork exit exit_group wait4 waitid kill tkill tgkill
    rt_sigaction rt_sigprocmask rt_sigreturn rt_sigsuspend rt_sigpending
    rt_sigtimedwait rt_sigqueueinfo sigaltstack pause poll ppoll select pselect6
    epoll_create epoll_create1 epoll_ctl epoll_wait epoll_pwait epoll_pwait2 futex
    nanosleep clock_nanosleep clock_gettime clock_getres gettimeofday time uname
    prctl arch_prctl set_tid_address set_robust_list rseq getrandom eventfd eventfd2
    timerfd_create timerfd_settime timerfd_gettime signalfd signalfd4 memfd_create
    prlimit64 getrlimit setrlimit getrusage sched_yield sched_setaffinity
    sched_getaffinity sched_setscheduler sched_getscheduler sched_setparam
    sched_getparam sched_get_priority_max sched_get_priority_min
    sched_rr_get_interval sched_setattr sched_getattr
    getuid geteuid getgid getegid setuid setgid setreuid setregid setresuid
    getresuid setresgid getresgid getgroups setgroups setfsuid setfsgid getpid
    getppid gettid getpgrp getpgid setpgid getsid setsid umask sysinfo times
    sendfile splice tee copy_file_range fallocate fsync fdatasync sync syncfs flock
    io_uring_setup io_uring_enter io_uring_register seccomp ptrace personality
    process_vm_readv process_vm_writev pidfd_open pidfd_getfd pidfd_send_signal
    capget capset sethostname setdomainname inotify_init inotify_init1
    inotify_rm_watch fanotify_init
    """.split()
    for name in required:
        assert L.BY_NAME[name].support == "decoded", name
    # every call that takes a path names it with the "path" kind
    for name in ("open", "openat", "stat", "execve", "chdir", "mount", "truncate",
                 "inotify_add_watch", "fanotify_mark", "name_to_handle_at"):
        assert L.BY_NAME[name].args_of_kind("path"), name
    # every *at call takes a dirfd
    for sc in L.SYSCALLS:
        if (re.search(r"at2?$", sc.name) and sc.name not in ("stat", "lstat", "fstat", "creat")
                and sc.classes & C.FILE):
            assert sc.args_of_kind("dirfd"), sc.name


def test_file_class_calls_name_a_file():
    """Every decoded %file call has a path (or a path-returning buffer)."""
    for sc in L.SYSCALLS:
        if sc.classes & C.FILE and sc.support == "decoded" and sc.name != "fsconfig":
            assert sc.args_of_kind("path", "outstr"), sc.name


# --------------------------------------------------------------------------
# the generator
# --------------------------------------------------------------------------

@needs_headers
def test_generated_files_are_up_to_date(tmp_path):
    r = subprocess.run([sys.executable, str(GEN), "--root", str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for rel in ("src/veil/syscalls/table.py", "src/veil/syscalls/foreign.py", "docs/syscalls.md"):
        fresh = (tmp_path / rel).read_text()
        committed = (REPO / rel).read_text()
        assert fresh == committed, f"{rel} is stale: run python3 tools/gen_syscalls.py"
    r = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


@needs_headers
def test_doc_has_one_row_per_syscall():
    doc = (REPO / "docs" / "syscalls.md").read_text()
    rows = [line for line in doc.splitlines() if re.match(r"\| \d+ \|", line)]
    assert len(rows) == len(L.SYSCALLS)
    assert "| 257 | openat | %file %desc | `openat(dirfd: dirfd, pathname: path, " \
           "flags: flags:open, mode: mode) -> fd` | decoded |" in doc


@needs_headers
@pytest.mark.parametrize("edit,msg", [
    (lambda s: re.sub(r"(?m)^read\(.*\n", "", s), "no signature for read"),
    (lambda s: s.replace("count:size) -> size  %desc", "count:frob) -> size  %desc", 1),
     "unknown kind 'frob'"),
    (lambda s: s.replace("buf:outbuf:2, count:size) -> size", "buf:outbuf:7, count:size) -> size", 1),
     "out of range"),
    (lambda s: s.replace("flags:flags:open, mode:mode) -> fd", "flags:flags:nosuch, mode:mode) -> fd", 1),
     "unknown flag set"),
    (lambda s: s.replace("close(fd:fd)  %desc", "close(fd:fd)  %bogus"), "unknown class"),
    (lambda s: s + "\nbrandnew(x:int)\n", "give nr=N"),
    (lambda s: s + "\nbrandnew(x:int)  nr=0\n", "already used by read"),
    (lambda s: s.replace("getpid() -> pid  %pure", "getpid() -> pid  %pure nr=40"), "says 39"),
])
def test_generator_rejects_bad_input(tmp_path, edit, msg):
    src = (REPO / "tools" / "syscall_signatures.txt").read_text()
    bad = tmp_path / "sigs.txt"
    bad.write_text(edit(src))
    r = subprocess.run([sys.executable, str(GEN), "--signatures", str(bad),
                        "--root", str(tmp_path / "out")], capture_output=True, text=True)
    assert r.returncode == 2
    assert msg in r.stderr, r.stderr


# --------------------------------------------------------------------------
# cross-check the classes against the installed strace
# --------------------------------------------------------------------------

_WORKLOAD = r"""
import os, socket, time, signal
os.getpid(); os.getppid(); os.getuid(); os.geteuid(); os.getgid(); os.getegid()
os.kill(os.getpid(), 0)
os.setuid(os.getuid())
time.clock_gettime(time.CLOCK_MONOTONIC); time.time()
os.statvfs("/"); os.stat("/"); os.lstat("/"); os.access("/", os.R_OK)
os.uname(); os.umask(0o22); os.getcwd()
r, w = os.pipe(); os.write(w, b"x"); os.read(r, 1); os.close(r); os.close(w)
s = socket.socket(); s.close()
fd = os.open("/", os.O_RDONLY); os.fstat(fd); os.listdir(fd); os.close(fd)
signal.signal(signal.SIGUSR1, signal.SIG_IGN)
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
"""

_CLASSES_TO_CHECK = ("%file", "%desc", "%net", "%process", "%signal", "%ipc",
                     "%memory", "%creds", "%clock", "%stat", "%lstat", "%fstat",
                     "%%stat", "%statfs", "%fstatfs", "%%statfs", "%pure")


def _strace_names(tmp_path, spec):
    out = tmp_path / "strace.out"
    r = subprocess.run(["strace", "-f", "-qq", "-o", str(out), "-e", f"trace={spec}",
                        sys.executable, "-I", "-S", "-c", _WORKLOAD],
                       capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        pytest.skip(f"strace cannot trace here: {r.stderr.strip()[:200]}")
    found = set()
    for line in out.read_text().splitlines():
        m = re.match(r"(?:\d+\s+)?(?:<\.\.\. )?([a-z_0-9]+)(?:\(| resumed>)", line)
        if m:
            found.add(m.group(1))
    return found


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace not installed")
def test_classes_agree_with_installed_strace(tmp_path):
    everything = _strace_names(tmp_path, "all")
    everything &= set(L.BY_NAME)
    assert {"openat", "kill", "getpid", "socket", "wait4"} <= everything
    for cls in _CLASSES_TO_CHECK:
        ours = {n for n in everything if L.classes_of(n) & C.CLASS_NAMES[cls]}
        theirs = _strace_names(tmp_path, cls) & set(L.BY_NAME)
        assert theirs <= ours, (cls, sorted(theirs - ours))
        assert ours <= theirs, (cls, sorted(ours - theirs))
