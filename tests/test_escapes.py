"""The escape corpus (DESIGN.md section 5, issue 10): every way out of a guest
layout we know of, each a small C program in tests/escapes/ run natively (to
show the attack works without veil, where that is safe) and under
``veil run -r ROOT --strict`` (to show it fails, and is reported).

ROUTES is the index the README's "Security model" section follows: each route,
the outcome it must get, and the test that checks it (here, or in
test_layout_escapes.py / test_protect_veil.py for the routes older sessions
closed).  Outcomes: "refused" = the call fails and veil prints
``veil: refused NAME (ERRNO) in process PID: why``; "contained" = the call runs
but inside the guest (the host-only file is not found, the guest's is).
"""
from __future__ import annotations

import os
import shutil
import socket
import stat
import subprocess
import threading
import uuid
from pathlib import Path

import pytest

import test_layout_escapes
import test_protect_veil
from conftest import run_veil
from rootfs import build_static, busybox_root, busybox_template, chroot_run, guest_env, layout_progs, native_prefix  # noqa: F401

# every test here runs under both layout engines unless it names one
pytestmark = pytest.mark.layout_engines("ptrace", "mount")

HERE = Path(__file__).resolve().parent
ESCAPES = HERE / "escapes"

# route -> (outcome under veil, test)
ROUTES = {
    "..  and symlinks resolved by the kernel": ("contained", "test_layout_escapes::test_dotdot_and_runtime_symlinks"),
    "/proc/self/root, /proc/PID/root and /proc/PID/cwd of a host process":
        ("contained", "test_layout_escapes::test_proc_magic_links"),
    "openat2 RESOLVE_IN_ROOT / RESOLVE_BENEATH": ("contained", "test_layout_escapes::test_openat2_resolve_flags"),
    "open_by_handle_at": ("refused", "test_layout_escapes::test_open_by_handle_denied"),
    "io_uring (its ops never stop)": ("refused", "test_mount_and_io_uring"),
    "mount, umount2, fsopen, open_tree": ("refused", "test_mount_and_io_uring"),
    "int 0x80 and x32 calls": ("refused", "test_abi"),
    "a thread rewriting a checked path buffer": ("contained", "test_layout_escapes::test_toctou_path_rewrite"),
    "symlink swap during open/stat/chmod/unlink/mkdir (two threads, 10,000 rounds)":
        ("refused", "test_symlink_swap"),
    "a thread rewriting veil's translated path (below the stack pointer)": ("contained", "test_scratch_hammer"),
    "remapping, unprotecting, writing or userfaultfd-ing veil's scratch area":
        ("refused", "test_scratch_guard"),
    "ptrace / process_vm_writev against a sibling": ("refused", "test_sibling"),
    "kill, ptrace, pidfd_open, process_vm_* against veil": ("refused", "test_kill_veil"),
    "any call naming a process outside the traced tree (veil's threads, host processes)":
        ("refused", "test_escape_targets::test_host_process_out_of_reach"),
    "the same aimed at veil's loop thread (the TracerPid the guest reads)":
        ("refused", "test_escape_targets::test_veil_threads_out_of_reach"),
    "/proc/PID of veil's threads and host processes (maps, mem, environ) under --strict":
        ("refused", "test_escape_targets::test_strict_proc_shows_only_the_traced_tree"),
    "a relative path from a removed cwd or an O_PATH symlink fd (the text of /proc/PID/fd/N)":
        ("contained", "test_escape_paths::test_start_directory_anchored_on_the_fd"),
    "a root guest that drops its fsuid/fsgid, then races a directory/symlink swap (pinning as any uid)":
        ("contained", "test_escape_paths::test_pinned_whatever_the_fsuid"),
    "a host directory fd left open by veil's caller (inherited at exec)":
        ("refused", "test_escapes::test_inherited_dirfd"),
    "fanotify marks on the guest's / (the host's mount or file system)":
        ("refused", "test_escape_targets::test_fanotify_refused_under_a_layout"),
    "a seccomp filter with SECCOMP_RET_TRACE data": ("refused", "test_seccomp_trace_data"),
    "a seccomp filter with RET_USER_NOTIF (NEW_LISTENER)": ("refused", "test_seccomp_listener"),
    "personality READ_IMPLIES_EXEC / ADDR_LIMIT_*": ("refused", "test_personality"),
    "clone / clone3 with CLONE_UNTRACED": ("refused", "test_clone_untraced"),
    "vfork + exec races": ("contained", "test_vfork_exec"),
    "memfd_create + execveat(AT_EMPTY_PATH) of a host binary copy": ("contained", "test_memfd_exec"),
    "an fd passed in over SCM_RIGHTS pointing outside the guest": ("refused", "test_scm_rights"),
    "chroot inside the guest": ("contained", "test_chroot_escape"),
    "exec of a host-only binary": ("contained", "test_layout_escapes::test_exec_host_only_path"),
    "AF_UNIX connect to a host socket": ("contained", "test_layout_escapes::test_unix_connect_to_host_socket_fails"),
    "ELF fields the kernel ignores or reads otherwise (EI_CLASS, i386 headers, the first PT_INTERP, "
    "its stated size)": ("contained", "test_escape_elf::test_elf_fields_contained"),
    "ELF headers and #! lines veil cannot read as binfmt_elf/binfmt_script do (PT_INTERP without NUL or "
    "past the file, e_phoff overflow, x32-style headers, a loader that is a #! script or has its own "
    "PT_INTERP, #! longer than 256 bytes)": ("refused", "test_escape_elf::test_elf_fields_contained"),
    "an ELF rewritten between veil's check and the kernel's exec (killed before its first instruction)":
        ("refused", "test_escape_elf::test_elf_rewritten_during_exec"),
    "binfmt_misc rules whose interpreter is a host path (seen: refused; unseen: killed)":
        ("refused", "test_escape_elf::test_binfmt_misc"),
}


def test_every_route_has_its_test():
    """The index names tests that exist (the README links them)."""
    import importlib  # test_escape_* import this module's fixtures: not at the top
    for route, (outcome, test) in ROUTES.items():
        mod, _, name = test.rpartition("::")
        where = importlib.import_module(mod) if mod else globals()
        assert callable(getattr(where, name, None) if mod else where.get(name)), (route, test)
        assert outcome in ("refused", "contained")
    for src in ESCAPES.glob("*.c"):
        head = src.read_text().split("*/", 1)[0]
        assert head.startswith("/*") and ("veil" in head or src.name in ("dyn_hello.c", "exit42.c")), src


# --- building and running ---------------------------------------------------------------

_built = {}


@pytest.fixture(scope="session")
def escapes(tmp_path_factory):
    """tests/escapes/*.c, static (dyn_hello: dynamic, for memfd_exec): name -> host path."""
    if not _built:
        out = tmp_path_factory.mktemp("escapes")
        for src in sorted(ESCAPES.glob("*.c")):
            if src.stem == "dyn_hello":
                exe = out / src.stem
                subprocess.run([shutil.which("gcc") or "gcc", "-O1", "-o", str(exe), str(src)],
                               check=True, timeout=120)
                _built[src.stem] = str(exe)
            else:
                _built[src.stem] = str(build_static(out, src, ["-Wextra", "-I", str(ESCAPES)]))
    return _built


@pytest.fixture
def guest(busybox_root, escapes):
    """A busybox guest with the escape programs in /usr/local/bin."""
    d = busybox_root / "usr/local/bin"
    for name, path in escapes.items():
        shutil.copy2(path, d / name)
    return busybox_root


@pytest.fixture
def hostonly():
    """(dir, marker): a host-only directory holding "target" (the marker) and "victim"."""
    d = Path(f"/tmp/veil-esc-{uuid.uuid4().hex[:12]}")
    d.mkdir()
    marker = f"VEIL-HOST-ONLY-{uuid.uuid4().hex}"
    (d / "target").write_text(marker + "\n")
    (d / "victim").write_text("victim\n")
    try:
        yield d, marker
    finally:
        shutil.rmtree(d, ignore_errors=True)


def veil(root, *argv, strict=True, binds=("/proc", "/dev"), timeout=120, **kw):
    args = ["run", "-r", str(root)]
    for b in binds:
        args += ["-b", str(b)]
    if strict:
        args.append("--strict")
    return run_veil([*args, "--", *map(str, argv)], env=guest_env(), timeout=timeout, **kw)


def native(*argv, timeout=120, **kw):
    return subprocess.run(list(map(str, argv)), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          text=True, timeout=timeout, **kw)


def results(out):
    return dict(line.split(" = ", 1) for line in out.splitlines() if " = " in line)


def counts(out):
    line = next(l for l in out.splitlines() if "host=" in l)
    return {k: int(v) for k, v in (kv.split("=") for kv in line.split() if "=" in kv)}


def clean(r, marker=None):
    assert "Traceback" not in r.stderr, r.stderr
    if marker:
        assert marker not in r.stdout + r.stderr, f"HOST FILE READ FROM THE GUEST:\n{r.stdout}"


def reported(r, name, errno_name):
    assert f"veil: refused {name} ({errno_name})" in r.stderr, r.stderr


# --- the routes ----------------------------------------------------------------------------

def test_abi(guest, hostonly, escapes):
    d, marker = hostonly
    nat = results(native(escapes["abi"], d / "target", marker).stdout)
    assert nat["int80 open"].startswith("ESCAPED"), nat
    r = veil(guest, "/usr/local/bin/abi", d / "target", marker)
    clean(r, marker)
    assert results(r.stdout) == {"int80 open": "ENOSYS", "x32 open": "ENOSYS"}, r.stdout
    assert "veil: refused i386 syscall 5 (ENOSYS)" in r.stderr, r.stderr
    if not nat["x32 open"] == "ENOSYS":  # the kernel has the x32 ABI
        assert "veil: refused x32 syscall 2 (ENOSYS)" in r.stderr, r.stderr


def test_personality(guest, escapes):
    nat = results(native(escapes["personality"]).stdout)
    assert all(v.startswith("ESCAPED") for v in nat.values()), nat
    r = veil(guest, "/usr/local/bin/personality")
    clean(r)
    res = results(r.stdout)
    assert [res[k] for k in ("READ_IMPLIES_EXEC", "ADDR_LIMIT_32BIT", "ADDR_LIMIT_3GB")] == ["EPERM"] * 3
    assert res["query"].startswith("ESCAPED")  # reading the persona stays allowed
    reported(r, "personality", "EPERM")


def test_clone_untraced(guest, hostonly, escapes):
    d, marker = hostonly
    nat = results(native(escapes["clone_untraced"], d / "target", marker).stdout)
    assert nat["clone child"].startswith("ESCAPED") and nat["clone3 child"].startswith("ESCAPED"), nat
    r = veil(guest, "/usr/local/bin/clone_untraced", d / "target", marker)
    clean(r, marker)
    assert results(r.stdout) == {"clone": "EPERM", "clone3": "EPERM"}, r.stdout
    reported(r, "clone", "EPERM")
    reported(r, "clone3", "EPERM")


def test_kill_veil(guest, escapes):
    nat = results(native(escapes["kill_veil"], "native").stdout)
    assert all(v.startswith("ESCAPED") for v in nat.values()), nat
    r = veil(guest, "/usr/local/bin/kill_veil")
    clean(r)
    res = results(r.stdout)
    assert set(res) == set(nat) | {"ptrace seize"} and set(res.values()) == {"EPERM"}, r.stdout
    for name in ("kill", "tgkill", "pidfd_open", "process_vm_readv", "ptrace"):
        reported(r, name, "EPERM")


def test_seccomp_listener(guest, escapes):
    nat = results(native(escapes["seccomp_listener"]).stdout)
    assert nat["seccomp listener"].startswith("ESCAPED supervisor answered"), nat
    r = veil(guest, "/usr/local/bin/seccomp_listener")
    clean(r)
    assert results(r.stdout) == {"seccomp listener": "EPERM"}, r.stdout
    reported(r, "seccomp", "EPERM")


def test_seccomp_trace_data(guest):
    """The program's own RET_TRACE filter (data 0, or imitating veil's refusal) decides
    nothing: veil acts on what its own filter program says."""
    (guest / "mnt/empty").mkdir(parents=True, exist_ok=True)
    r = veil(guest, "/usr/local/bin/seccomp_trace", "/mnt/empty")
    clean(r)
    assert results(r.stdout) == {"kill": "EPERM", "mount": "EPERM", "getpid": "CONTAINED ok"}, \
        r.stdout + r.stderr
    reported(r, "kill", "EPERM")
    reported(r, "mount", "EPERM")
    assert not os.path.ismount(guest / "mnt/empty")


def test_mount_and_io_uring(guest, escapes):
    d = guest / "mnt/target"
    d.mkdir(parents=True, exist_ok=True)
    # natively in a private mount namespace (and, not as root, a user namespace)
    nat = native(*native_prefix(), escapes["mount"], d)
    res = results(nat.stdout)
    for k in ("mount tmpfs", "mount bind /", "umount2", "fsopen"):
        assert res[k].startswith("ESCAPED"), nat.stdout
    r = veil(guest, "/usr/local/bin/mount", "/mnt/target")
    clean(r)
    res = results(r.stdout)
    assert set(res.values()) == {"EPERM"} and len(res) == 6, r.stdout
    assert not os.path.ismount(d)
    for name in ("mount", "umount2", "fsopen", "open_tree", "io_uring_setup"):
        reported(r, name, "EPERM")


def test_memfd_exec(guest, escapes):
    """A dynamic program's copy run from a memfd: the kernel would load PT_INTERP from
    the host; veil looks for it in the guest (the busybox guest has no glibc loader)."""
    nat = native(escapes["memfd_exec"], escapes["dyn_hello"])
    assert nat.stdout.startswith("execveat = ESCAPED"), nat.stdout + nat.stderr
    r = veil(guest, "/usr/local/bin/memfd_exec", "/usr/local/bin/dyn_hello")
    clean(r)
    assert results(r.stdout) == {"execveat": "ENOENT"}, r.stdout + r.stderr
    r = veil(guest, "/usr/local/bin/dyn_hello")  # the same, run by its path
    assert "ESCAPED" not in r.stdout and r.returncode != 0
    # a static program of the guest does run from a memfd, by fd and by /proc/self/fd/N
    for how in ([], ["path"]):
        r = veil(guest, "/usr/local/bin/memfd_exec", "/usr/local/bin/exit42", *how)
        assert r.returncode == 42, (how, r.stdout + r.stderr)


def _serve_dirfd(sock_path: Path, dirfd: int, stop: threading.Event):
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock_path))
    srv.listen(2)
    srv.settimeout(0.2)

    def loop():
        with srv:
            while not stop.is_set():
                try:
                    c, _ = srv.accept()
                except socket.timeout:
                    continue
                with c:
                    socket.send_fds(c, [b"x"], [dirfd])
    t = threading.Thread(target=loop, daemon=True)
    t.start()
    return t


def test_scm_rights(guest, hostonly, escapes, tmp_path, layout_engine):
    """A process outside veil hands the guest a host directory fd through a socket in a
    bind.  Under the ptrace engine names relative to it are refused (the fd stays
    usable for fd-only calls); under the mount engine's --strict the fd is taken back
    at receipt, as an LSM refuses one (MSG_CTRUNC)."""
    d, marker = hostonly
    sockdir = tmp_path / "sock"
    sockdir.mkdir()
    dirfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    stop = threading.Event()
    t = _serve_dirfd(sockdir / "s", dirfd, stop)
    try:
        nat = results(native(escapes["scm_rights"], sockdir / "s", "target", marker).stdout)
        assert all(nat[k].startswith("ESCAPED") for k in ("openat", "fstatat", "mkdirat",
                                                          "proc fd walk", "fchdir then open")), nat
        os.rmdir(d / "made-by-guest")
        (guest / "run/sock").mkdir(parents=True, exist_ok=True)  # the mount engine binds onto it
        r = veil(guest, "/usr/local/bin/scm_rights", "/run/sock/s", "target", marker,
                 binds=("/proc", "/dev", f"{sockdir}:/run/sock"))
        clean(r, marker)
        res = results(r.stdout)
        assert not (d / "made-by-guest").exists()
        if layout_engine == "mount":
            assert res == {"recvmsg": "MSG_CTRUNC"}, r.stdout + r.stderr
            return
        for k in ("openat", "fstatat", "mkdirat", "fchdir then open"):
            assert res[k] == "EACCES", r.stdout
        assert res["proc fd walk"] in ("ENOTDIR", "EACCES", "ENOENT"), r.stdout
        assert "outside the guest" in r.stderr and "veil: refused openat (EACCES)" in r.stderr, r.stderr
    finally:
        stop.set()
        t.join(5)
        os.close(dirfd)


def test_inherited_dirfd(guest, hostonly, escapes, layout_engine):
    """A host directory fd that veil's caller leaves open reaches the guest at exec:
    under the ptrace engine names relative to it are refused; under the mount
    engine's --strict the spawned child closes it before the program starts."""
    d, marker = hostonly
    dirfd = os.open(d, os.O_RDONLY | os.O_DIRECTORY)
    try:
        nat = native(escapes["scm_rights"], f"fd:{dirfd}", "target", marker, pass_fds=[dirfd])
        assert results(nat.stdout)["openat"] == "ESCAPED " + marker, nat.stdout
        os.rmdir(d / "made-by-guest")
        r = veil(guest, "/usr/local/bin/scm_rights", f"fd:{dirfd}", "target", marker,
                 pass_fds=[dirfd])
        clean(r, marker)
        res = results(r.stdout)
        assert not (d / "made-by-guest").exists()
        if layout_engine == "mount":
            assert res == {"inherited": "EBADF"}, r.stdout + r.stderr
        else:
            assert res["openat"] == "EACCES" and res["mkdirat"] == "EACCES", r.stdout
    finally:
        os.close(dirfd)


def test_chroot_escape(guest, hostonly, escapes, layout_engine):
    d, marker = hostonly
    # natively, inside a real chroot jail: the classic escape reaches the host's file
    nat = chroot_run(guest, ["/usr/local/bin/chroot_escape", str(d / "target"), marker])
    assert results(nat.stdout).get("open after chroot escape", "").startswith("ESCAPED"), \
        nat.stdout + nat.stderr
    r = veil(guest, "/usr/local/bin/chroot_escape", d / "target", marker)
    clean(r, marker)
    res = results(r.stdout)
    if layout_engine == "mount" and os.geteuid() != 0 and "open after chroot escape" not in res:
        # as a user the mount engine leaves chroot(2) to the kernel: EPERM without CAP_SYS_CHROOT
        assert "EPERM" in r.stdout, r.stdout + r.stderr
        return
    assert res["open after chroot escape"] == "ENOENT", r.stdout + r.stderr


@pytest.mark.parametrize("op", ["open", "stat", "chmod", "unlink", "mkdir", "exec"])
def test_symlink_swap(guest, hostonly, escapes, tmp_path, op):
    """A guest directory swapped for a symlink to a host directory between veil's walk
    and the kernel's: the call must stay in the guest (10,000 rounds; exec: 1,000)."""
    d, marker = hostonly
    shutil.copy2(escapes["exit42"], d / "prog")
    rounds = 1000 if op == "exec" else 10000
    if op in ("open", "exec"):
        # natively the swap lands during the calls: the race the test needs is live
        nat_dir = tmp_path / "native"
        nat_dir.mkdir()
        for _ in range(5):  # on a busy machine the swapper may start late: try again
            nat = native(escapes["symlink_swap"], nat_dir, d, marker, rounds * (1 if op == "exec" else 5), op)
            if counts(nat.stdout)["host"] > 0:
                break
        assert counts(nat.stdout)["host"] > 0, nat.stdout
    before = {p.name: (p.stat().st_mode, p.read_bytes()) for p in d.iterdir()}
    for _ in range(3):   # on a busy machine every call may meet the symlink: try again
        r = veil(guest, "/usr/local/bin/symlink_swap", "/tmp", d, marker, rounds, op)
        clean(r, marker)
        c = counts(r.stdout)
        assert c["host"] == 0 and c["flips"] > 0, r.stdout
        assert {p.name: (p.stat().st_mode, p.read_bytes()) for p in d.iterdir()} == before, \
            "a host file was changed from the guest"
        if c["guest"] > 0 or op in ("unlink", "mkdir"):   # these two may never land
            break
    assert c["guest"] > 0 or op in ("unlink", "mkdir"), r.stdout


@pytest.mark.parametrize("strict", [True, False], ids=["strict", "layout"])
def test_scratch_hammer(guest, hostonly, strict):
    """A thread scribbling the host path below the caller's stack pointer, where a
    tracer would put its translated copy: the kernel must read veil's copy."""
    d, marker = hostonly
    r = veil(guest, "/usr/local/bin/scratch_hammer", "/etc/guest-only-file", d / "target", marker,
             10000, strict=strict)
    clean(r, marker)
    assert counts(r.stdout) == {"host": 0, "guest": 10000, "errors": 0}, r.stdout + r.stderr


@pytest.mark.layout_engines("ptrace")  # the scratch area is the ptrace engine's
def test_scratch_guard(guest):
    r = veil(guest, "/usr/local/bin/scratch_guard")
    clean(r)
    res = results(r.stdout)
    for k in ("mprotect", "mprotect below", "munmap", "mmap fixed", "mremap onto", "madvise"):
        assert res[k] == "EPERM", r.stdout
    assert res["open /proc/self/mem rw"] == "EACCES" and res["reopen mem fd rw"] == "EACCES"
    assert res["process_vm_writev"] == "EFAULT", r.stdout
    assert res["userfaultfd"] == "EPERM" and res.get("UFFDIO_API", "EPERM") == "EPERM", r.stdout
    assert res["ptrace peek"] == "EIO" and res["ptrace poke"] == "EIO", r.stdout
    for name in ("mprotect", "munmap", "mmap", "mremap", "madvise", "userfaultfd"):
        reported(r, name, "EPERM")
    reported(r, "openat", "EACCES")


def test_sibling(guest, hostonly, escapes):
    d, marker = hostonly
    nat = results(native(escapes["sibling"], "/nonexistent", d / "target", marker, 200000).stdout)
    assert nat["ptrace attach"].startswith("ESCAPED"), nat
    r = veil(guest, "/usr/local/bin/sibling", "/etc/guest-only-file", d / "target", marker, 3000)
    clean(r, marker)
    res = results(r.stdout)
    # a guest tracer's ptrace is veil's emulation: veil stays the child's tracer
    assert res["ptrace attach"] == "EMULATED" and res["ptrace seize"] == "EMULATED", r.stdout
    assert res["process_vm_writev scratch"] == "EFAULT", r.stdout
    c = counts(r.stdout)
    assert c["host"] == 0 and c["guest"] > 0, r.stdout


def test_vfork_exec(guest, escapes):
    """vfork + execve while another thread flips the program path and scribbles below
    the stack the vfork child shares: a host-only program (exit 42) never runs."""
    d = Path(f"/tmp/veil-esc-{uuid.uuid4().hex[:12]}")
    d.mkdir()
    try:
        shutil.copy2(escapes["exit42"], d / "exit42")
        nat = native(escapes["vfork_exec"], shutil.which("true"), d / "exit42", 1000)
        assert counts(nat.stdout)["host"] > 0, nat.stdout  # the flipped path does run it
        r = veil(guest, "/usr/local/bin/vfork_exec", "/bin/true", d / "exit42", 1000)
        clean(r)
        c = counts(r.stdout)
        assert c["host"] == 0 and c["guest"] > 0, r.stdout + r.stderr
    finally:
        shutil.rmtree(d)


@pytest.mark.layout_engines("ptrace")  # openat2/execveat rewrites are the ptrace engine's
def test_seccomp_old_calls(guest):
    """A program whose own filter knows no openat2/execveat still opens and execs under
    veil (the plain way, said once on stderr)."""
    r = veil(guest, "/usr/local/bin/seccomp_old_calls", "/etc/guest-only-file", "/bin/true")
    clean(r)
    assert r.returncode == 0 and results(r.stdout) == {"open": "CONTAINED guest-only"}, \
        r.stdout + r.stderr
    assert "veil: note: openat (ENOSYS)" in r.stderr and "veil: refused" not in r.stderr, r.stderr


@pytest.mark.layout_engines("ptrace")  # the scratch area is the ptrace engine's
def test_scratch_area_mapped_by_a_vfork_child(guest):
    r = veil(guest, "/usr/local/bin/vfork_first", "/etc/guest-only-file", "/bin/true")
    clean(r)
    assert results(r.stdout) == {"open": "CONTAINED guest-only"}, r.stdout + r.stderr
