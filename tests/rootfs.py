"""Root file systems for the virtual-layout tests (``veil run -r ROOT ...``).

``tests/`` is not a package and conftest.py is shared, so the fixtures live here
and test modules import them by name::

    from rootfs import busybox_root, hostbin_root, layout_progs

Three kinds of guest tree:

* ``busybox_root`` -- a static busybox (Debian's busybox-static) with one
  symlink per applet at the place ``busybox --list-full`` gives;
* ``hostbin_root`` -- host binaries (dash as /bin/sh, a few coreutils) with
  their library closure found through ``ldd``, the ELF interpreter, and
  Debian 12's merged-/usr symlinks (/bin -> usr/bin, /lib -> usr/lib, ...);
* ``debian_root`` -- ``debootstrap --variant=minbase bookworm``, cached in
  /var/tmp/veil-test-debootstrap (tests using it are marked ``slow``).

Every guest has an /etc/os-release that names it (``NAME="veil-...-guest"`` or a
``VEIL_GUEST=`` line) so that a test can tell the guest's file from the host's.

The templates are built once per session; ``busybox_root`` and ``hostbin_root``
hand each test a fresh copy (``cp -a``, a few MB) so tests may write into it.
``layout_progs`` are the tests/progs/layout_*.c programs linked statically, so
that they run inside any guest (and under a real ``chroot``) without libraries.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

import pytest

HERE = Path(__file__).resolve().parent
PROGS_DIR = HERE / "progs"

BUSYBOX = "/bin/busybox"
DEBOOTSTRAP_CACHE = Path("/var/tmp/veil-test-debootstrap")
DEBOOTSTRAP_MIRROR = "http://deb.debian.org/debian"

BUSYBOX_NAME = "veil-busybox-guest"
HOSTBIN_NAME = "veil-hostbin-guest"
DEBIAN_MARK = 'VEIL_GUEST="debootstrap-minbase"'

# host programs copied into the host-binaries guest (all in /usr/bin on Debian 12)
HOSTBIN_PROGRAMS = ["sh", "dash", "ls", "cat", "echo", "pwd", "mkdir", "readlink", "true",
                    "false", "env", "id", "stat", "rm", "touch", "ln", "head", "sleep"]

GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# session-wide cache: a fixture function imported into several test modules gets
# one FixtureDef per module; this keeps the expensive builds to one per session.
_cache: Dict[str, object] = {}


def guest_env(**extra: str) -> Dict[str, str]:
    """A small environment for guest programs (PATH of a Debian system, C locale)."""
    env = {"PATH": GUEST_PATH, "LC_ALL": "C", "HOME": "/root", "TERM": "dumb"}
    env["PYTHONPATH"] = os.environ.get("PYTHONPATH", "")  # veil itself must still import
    if not env["PYTHONPATH"]:
        del env["PYTHONPATH"]
    env.update(extra)
    return env


# --- helpers ------------------------------------------------------------------------

def _mkdirs(root: Path, *dirs: str, mode: int = 0o755) -> None:
    for d in dirs:
        p = root / d.lstrip("/")
        p.mkdir(parents=True, exist_ok=True)
        os.chmod(p, mode)


def _write_etc(root: Path, os_release: str) -> None:
    etc = root / "etc"
    etc.mkdir(parents=True, exist_ok=True)
    (etc / "os-release").write_text(os_release)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n"
                                "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")
    (etc / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    (etc / "hostname").write_text("veil-guest\n")
    (etc / "guest-only-file").write_text("guest-only\n")


def _common_dirs(root: Path) -> None:
    _mkdirs(root, "proc", "dev", "sys", "root", "mnt", "usr/local/bin", "etc")
    _mkdirs(root, "tmp", mode=0o1777)


def install_host_path(root: Path, path: str) -> None:
    """Copy the host file PATH to ROOT/PATH, recreating every symlink met on the way
    (directory symlinks such as /lib -> usr/lib included), as the host has them."""
    path = os.path.normpath(path)
    parts = [p for p in path.split("/") if p]
    cur = "/"
    for i, name in enumerate(parts):
        host = os.path.join(cur, name)
        dst = Path(str(root) + host)
        last = i == len(parts) - 1
        if os.path.islink(host):
            target = os.readlink(host)
            if not os.path.lexists(dst):
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(target, dst)
            resolved = os.path.normpath(os.path.join(cur, target))
            rest = "/".join(parts[i + 1:])
            install_host_path(root, os.path.join(resolved, rest) if rest else resolved)
            return
        if last:
            if os.path.isdir(host):
                dst.mkdir(parents=True, exist_ok=True)
            elif not dst.exists():
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(host, dst)
            return
        if not dst.exists():
            dst.mkdir(parents=True, exist_ok=True)
        cur = host


def ldd_closure(binaries: Iterable[str]) -> List[str]:
    """Libraries (and the ELF interpreter) ``ldd`` lists for BINARIES, as host paths."""
    libs = set()
    for b in binaries:
        r = subprocess.run(["ldd", b], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        if r.returncode != 0:  # "not a dynamic executable"
            continue
        for line in r.stdout.splitlines():
            m = re.search(r"=>\s*(/\S+)", line) or re.match(r"\s*(/\S+)\s+\(", line)
            if m:
                libs.add(m.group(1))
    return sorted(libs)


def _copy_tree(src: Path, dst: Path) -> Path:
    subprocess.run(["cp", "-a", str(src), str(dst)], check=True, timeout=120)
    return dst


# --- static layout programs ---------------------------------------------------------

def build_static(out_dir: Path, src: Path, extra: Sequence[str] = ()) -> Path:
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.fail("gcc is needed to build tests/progs/*.c")
    exe = out_dir / src.stem
    r = subprocess.run([gcc, "-O1", "-pthread", "-Wall", "-static", *extra, "-o", str(exe), str(src)],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
    if r.returncode != 0:
        pytest.fail(f"cannot compile {src.name} statically:\n{r.stdout}")
    return exe


@pytest.fixture(scope="session")
def layout_progs(tmp_path_factory) -> Dict[str, str]:
    """tests/progs/layout_*.c linked statically: name -> host path."""
    if "layout_progs" not in _cache:
        out = tmp_path_factory.mktemp("layout-progs")
        _cache["layout_progs"] = {src.stem: str(build_static(out, src))
                                  for src in sorted(PROGS_DIR.glob("layout_*.c"))}
    return _cache["layout_progs"]  # type: ignore[return-value]


def install_progs(root: Path, progs: Dict[str, str], where: str = "usr/local/bin") -> None:
    d = root / where
    d.mkdir(parents=True, exist_ok=True)
    for name, path in progs.items():
        shutil.copy2(path, d / name)


# --- busybox ------------------------------------------------------------------------

def make_busybox_root(root: Path) -> Path:
    if not os.path.exists(BUSYBOX):
        pytest.skip(f"{BUSYBOX} is missing (apt-get install busybox-static)")
    r = subprocess.run([BUSYBOX, "--list-full"], stdout=subprocess.PIPE, text=True, timeout=30)
    applets = r.stdout.split() if r.returncode == 0 else []
    if not applets:  # an old busybox without --list-full: everything in /bin
        applets = ["bin/" + a for a in subprocess.run([BUSYBOX, "--list"], stdout=subprocess.PIPE,
                                                      text=True, timeout=30).stdout.split()]
    _common_dirs(root)
    _mkdirs(root, "bin", "sbin", "usr/bin", "usr/sbin")
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for a in applets:
        link = root / a
        if os.path.lexists(link) or a == "bin/busybox":
            continue
        link.parent.mkdir(parents=True, exist_ok=True)
        os.symlink("/bin/busybox", link)  # absolute: must resolve inside the guest
    _write_etc(root, f'NAME="{BUSYBOX_NAME}"\nID=veil-busybox\nPRETTY_NAME="veil busybox guest"\n')
    return root


@pytest.fixture(scope="session")
def busybox_template(tmp_path_factory) -> Path:
    if "busybox" not in _cache:
        _cache["busybox"] = make_busybox_root(tmp_path_factory.mktemp("busybox-tmpl") / "root")
    return _cache["busybox"]  # type: ignore[return-value]


@pytest.fixture
def busybox_root(busybox_template, layout_progs, tmp_path) -> Path:
    """A fresh copy of the busybox guest, with the static layout_* programs in
    /usr/local/bin."""
    root = _copy_tree(busybox_template, tmp_path / "bbroot")
    install_progs(root, layout_progs)
    return root


# --- host binaries ------------------------------------------------------------------

def make_hostbin_root(root: Path) -> Path:
    progs = []
    for name in HOSTBIN_PROGRAMS:
        p = shutil.which(name, path="/usr/bin:/bin")
        if p is None:
            pytest.skip(f"host program {name} is missing")
        progs.append(os.path.join("/usr/bin", name) if os.path.exists(os.path.join("/usr/bin", name)) else p)
    root.mkdir(parents=True)
    _common_dirs(root)
    # merged-/usr: recreate the top-level symlinks the host has
    for top in ("bin", "sbin", "lib", "lib64", "lib32", "libx32"):
        host = "/" + top
        if os.path.islink(host):
            os.symlink(os.readlink(host), root / top)
    for p in progs:
        install_host_path(root, p)
    for lib in ldd_closure(progs):
        install_host_path(root, lib)
    _write_etc(root, f'NAME="{HOSTBIN_NAME}"\nID=veil-hostbin\nPRETTY_NAME="veil host binaries guest"\n')
    return root


@pytest.fixture(scope="session")
def hostbin_template(tmp_path_factory) -> Path:
    if "hostbin" not in _cache:
        _cache["hostbin"] = make_hostbin_root(tmp_path_factory.mktemp("hostbin-tmpl") / "root")
    return _cache["hostbin"]  # type: ignore[return-value]


@pytest.fixture
def hostbin_root(hostbin_template, layout_progs, tmp_path) -> Path:
    """A fresh copy of the host-binaries guest, with the static layout_* programs in
    /usr/local/bin."""
    root = _copy_tree(hostbin_template, tmp_path / "hbroot")
    install_progs(root, layout_progs)
    return root


def build_guest_dynamic(root: Path, tmp: Path, *, interp: str = "/lib/veil-guest-ld.so") -> str:
    """A dynamic program that can only run from inside ROOT: it needs a library
    (libveilguest.so) and an ELF interpreter (INTERP) that exist only in the guest.
    Returns its guest path. It prints ``guest-dynamic: <text from the library>``."""
    gcc = shutil.which("gcc") or "gcc"
    libsrc = tmp / "veilguest.c"
    libsrc.write_text('const char *veil_guest_text(void) { return "from-guest-lib"; }\n')
    mainsrc = tmp / "guestdyn.c"
    mainsrc.write_text('#include <stdio.h>\nconst char *veil_guest_text(void);\n'
                       'int main(void) { printf("guest-dynamic: %s\\n", veil_guest_text()); return 0; }\n')
    libdir = root / "usr/lib/veilguest"
    libdir.mkdir(parents=True, exist_ok=True)
    subprocess.run([gcc, "-shared", "-fPIC", "-o", str(libdir / "libveilguest.so"), str(libsrc)],
                   check=True, timeout=120)
    subprocess.run([gcc, "-o", str(root / "usr/local/bin/guest-dynamic"), str(mainsrc),
                    f"-L{libdir}", "-lveilguest", "-Wl,-rpath,/usr/lib/veilguest",
                    f"-Wl,--dynamic-linker={interp}"], check=True, timeout=120)
    # the guest's ELF interpreter, at a path the host does not have
    assert not os.path.exists(interp), interp
    real_ld = os.path.realpath("/lib64/ld-linux-x86-64.so.2")
    dst = Path(str(root) + interp)
    dst.parent.mkdir(parents=True, exist_ok=True)
    if os.path.lexists(dst):
        os.unlink(dst)
    shutil.copy2(real_ld, dst)
    return "/usr/local/bin/guest-dynamic"


# --- debootstrap --------------------------------------------------------------------

def make_debian_root() -> Path:
    root = DEBOOTSTRAP_CACHE
    if (root / "etc/os-release").exists() and (root / "usr/bin/env").exists():
        return root
    if shutil.which("debootstrap") is None:
        pytest.skip("debootstrap is not installed")
    if os.geteuid() != 0:
        pytest.skip("debootstrap needs root")
    partial = Path(f"{root}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    r = subprocess.run(["debootstrap", "--variant=minbase", "bookworm", str(partial), DEBOOTSTRAP_MIRROR],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    if r.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        pytest.fail("debootstrap failed:\n" + r.stdout[-4000:])
    if root.exists():
        shutil.rmtree(root)
    os.rename(partial, root)
    return root


def mark_debian_root(root: Path) -> None:
    """Make the guest's os-release distinguishable from the (Debian 12) host's one.
    /etc/os-release is a relative symlink to ../usr/lib/os-release there."""
    rel = root / "usr/lib/os-release"
    text = rel.read_text()
    if DEBIAN_MARK not in text:
        rel.write_text(text.rstrip("\n") + "\n" + DEBIAN_MARK + "\n")
    (root / "etc/guest-only-file").write_text("guest-only\n")


@pytest.fixture(scope="session")
def debian_root(layout_progs) -> Path:
    """debootstrap minbase (cached, shared: tests must clean up what they write)."""
    if "debian" not in _cache:
        root = make_debian_root()
        mark_debian_root(root)
        install_progs(root, layout_progs)
        _cache["debian"] = root
    return _cache["debian"]  # type: ignore[return-value]


# --- running --------------------------------------------------------------------------

def layout_args(root: Path, *opts: str) -> List[str]:
    return ["run", "-r", str(root), *opts]


_NATIVE_SCRIPT = r"""
r=$1; w=$2; n=$3; shift 3
while [ "$n" -gt 0 ]; do
    # in a user namespace a tree with submounts (/dev: pts, shm) binds only recursively
    mount --bind "$1" "$r$2" 2>/dev/null || mount --rbind "$1" "$r$2" || exit 99
    shift 2; n=$((n - 1))
done
exec chroot "$r" /bin/sh -c 'PATH=$VEIL_NATIVE_PATH; unset VEIL_NATIVE_PATH; cd "$0" && exec "$@"' "$w" "$@"
"""


def native_prefix() -> List[str]:
    """The command that gives a native reference run a private mount namespace where
    it may mount and chroot: ``unshare -m`` as root; as any other user, a user
    namespace too, the user's own uid and gid mapped to themselves (ids and owners
    read as they do under veil) and the namespace's capabilities kept across exec
    (so mount, chroot and the escapes natively work as root's would). Skips only
    when the kernel refuses an unprivileged user namespace."""
    unshare = shutil.which("unshare", path="/usr/bin:/bin:/usr/sbin:/sbin")
    if unshare is None:
        pytest.fail("unshare (util-linux) is missing: the native comparisons need it")
    if os.geteuid() == 0:
        return [unshare, "-m", "--propagation", "private"]
    prefix = [unshare, "--user", "--map-current-user", "--keep-caps", "-m", "--propagation", "private"]
    if "userns" not in _cache:
        r = subprocess.run([*prefix, "true"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        _cache["userns"] = r.returncode == 0, r.stdout.strip()
    works, why = _cache["userns"]  # type: ignore[misc]
    if not works:
        if "unrecognized option" in why:
            pytest.fail(f"unshare is too old for --map-current-user --keep-caps (util-linux >= 2.38): {why}")
        pytest.skip(f"the kernel refuses an unprivileged user namespace here: {why}")
    return prefix


def chroot_run(root: Path, argv: Sequence[str], *, cwd: str = "/",
               binds: Sequence[str] = ("/proc", "/dev"), env: Optional[Dict[str, str]] = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run ARGV natively under a real ``chroot ROOT`` -- the reference of the
    native-vs-virtual comparisons -- in a private mount namespace (``unshare -m``)
    where each bind ``HOST[:GUEST]`` is a real bind mount (the guest path must exist
    in ROOT). As root, a mount namespace; as another user, a user namespace too
    (``native_prefix``). The guest must have /bin/sh."""
    prefix = native_prefix()
    chroot = shutil.which("chroot", path="/usr/sbin:/usr/bin:/sbin:/bin")
    if chroot is None:
        pytest.fail("chroot (coreutils) is missing: the native comparisons need it")
    env = dict(env or guest_env())
    env.pop("PYTHONPATH", None)
    env["VEIL_NATIVE_PATH"] = env.get("PATH", GUEST_PATH)
    env["PATH"] = "/usr/sbin:/usr/bin:/sbin:/bin"  # for mount and chroot on the host side
    pairs: List[str] = []
    for b in binds:
        host, _, guest = b.partition(":")
        pairs += [host, guest or host]
    cmd = [*prefix, "/bin/sh", "-c", _NATIVE_SCRIPT,
           "native", str(root), cwd, str(len(pairs) // 2), *pairs, *argv]
    return subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, timeout=timeout)


def os_release_of(root: Path) -> str:
    p = root / "etc/os-release"
    target = os.readlink(p) if p.is_symlink() else None
    if target is not None:
        p = (p.parent / target) if not target.startswith("/") else Path(str(root) + target)
    return p.read_text()
