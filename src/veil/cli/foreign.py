"""PRoot's and bubblewrap's spellings of ``veil run``'s flags, so that a script
written for either works with ``veil run`` in its place.

``respell`` rewrites the few words argparse cannot read as they are (PRoot's
``-v N``, bubblewrap's two-word ``--bind SRC DEST``) before parsing; the other
foreign flags are ordinary options of the parser.  ``bwrap_sections`` turns
bubblewrap's filesystem operations, which are ordered and start from an empty
root, into a layout: scratch directories of veil's own (removed at the end)
hold the empty root, ``--tmpfs``, ``--dir``, ``--dev`` and ``--symlink``.
"""
from __future__ import annotations

import atexit
import os
import sys

from ..errors import UsageError
from ..layout import sweep_private_tmps
from .options import SUPPRESS, Options

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import Any

# bubblewrap's options that PRoot and veil do not have: one of them before the
# command makes a two-word --bind bubblewrap's
BWRAP_FS = {"--ro-bind": 2, "--ro-bind-try": 2, "--bind-try": 2, "--dev-bind": 2,
            "--dev-bind-try": 2, "--tmpfs": 1, "--proc": 1, "--dev": 1, "--dir": 1,
            "--symlink": 2}
BWRAP_OTHER = {"--chdir": 1, "--setenv": 2, "--unsetenv": 1, "--clearenv": 0,
               "--die-with-parent": 0, "--new-session": 0, "--unshare-net": 0,
               "--share-net": 0, "--unshare-uts": 0, "--unshare-user": 0,
               "--unshare-user-try": 0, "--unshare-pid": 0, "--unshare-ipc": 0,
               "--unshare-cgroup": 0, "--unshare-cgroup-try": 0, "--unshare-all": 0,
               "--uid": 1, "--gid": 1}
BWRAP_BIND = "--bwrap-bind"  # bubblewrap's --bind SRC DEST, as respell() names it
BIND_OPTIONS = ("--ro-bind", "--ro-bind-try", "--bind-try", "--dev-bind", "--dev-bind-try",
                BWRAP_BIND)
# bubblewrap's namespace flags -> the namespaces of veil's layout (net: a rule of its own)
BWRAP_NAMESPACES = {"--unshare-pid": ("pid",), "--unshare-ipc": ("ipc",),
                    "--unshare-uts": ("uts",), "--unshare-cgroup": ("cgroup",),
                    "--unshare-cgroup-try": ("cgroup",),
                    "--unshare-all": ("pid", "ipc", "uts", "cgroup")}
# PRoot's -S: the "safe" set, which leaves the host's files alone (proot --help)
SAFE_BINDS = ("/etc/host.conf", "/etc/hosts", "/etc/nsswitch.conf", "/etc/resolv.conf",
              "/dev", "/sys", "/proc", "/tmp", "/run/shm")
# bubblewrap's --dev: the devices bound from the host, and its symlinks
DEV_NODES = ("null", "zero", "full", "random", "urandom", "tty")
DEV_LINKS = {"stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1",
             "stderr": "/proc/self/fd/2", "fd": "/proc/self/fd", "core": "/proc/kcore",
             "ptmx": "pts/ptmx"}
SCRATCH_PREFIX = "veil-tmp-"  # as the private /tmp's: a later veil sweeps a killed one's


def _is_number(word: str) -> bool:
    digits = word.removeprefix("-")
    return digits.isascii() and digits.isdigit()


def _walk(argv: Sequence[str], counts: dict[str, int], bwrap: bool) -> tuple[list[str], int]:
    """(argv respelled, index where the command starts)."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        word = argv[i]
        if word == "--" or not word.startswith("-") or word == "-":
            return out + list(argv[i:]), len(out)
        name, eq, value = word.partition("=")
        nxt = argv[i + 1:]
        if name in ("-v", "--verbose") and (eq and _is_number(value)
                                            or not eq and nxt and _is_number(nxt[0])):
            out.append("--verbosity=" + (value if eq else nxt[0]))   # PRoot's -v N
            i += 1 if eq else 2
            continue
        if word == "--bind" and len(nxt) >= 2 and (bwrap or _bwrap_dest(nxt[1])):
            out += [BWRAP_BIND, nxt[0], nxt[1]]
            i += 3
            continue
        n = 0 if eq else counts.get(word, 0)
        out += argv[i:i + 1 + n]
        i += 1 + n
    return out, len(out)


def _bwrap_dest(word: str) -> bool:
    """``--bind SRC WORD``: WORD is bubblewrap's DEST when it is an absolute path
    that is not a program (PRoot's --bind takes one word, then comes the command)."""
    return word.startswith("/") and not (os.path.isfile(word) and os.access(word, os.X_OK))


def respell(argv: Sequence[str], p: Options) -> list[str]:
    """``argv`` with PRoot's ``-v N`` as ``--verbosity=N`` and bubblewrap's
    two-word ``--bind`` as BWRAP_BIND (always, once any bubblewrap-only option
    comes before the command)."""
    counts = {**p.value_counts(), **BWRAP_FS, **BWRAP_OTHER}
    out, end = _walk(argv, counts, bwrap=False)
    bwrap = any(w.partition("=")[0] in BWRAP_FS or w in BWRAP_OTHER or w == BWRAP_BIND
                for w in out[:end])
    return _walk(argv, counts, bwrap)[0] if bwrap else out


def add_bwrap_flags(p: Options) -> None:
    g = p.add_argument_group("bubblewrap's flags (its meaning: the guest starts from an "
                             "empty root and sees only what these give it)")
    for name, what in (("--ro-bind", "read-only"), ("--bind-try", "if SRC exists"),
                       ("--ro-bind-try", "read-only, if SRC exists"),
                       ("--dev-bind", "devices usable (as --bind)"),
                       ("--dev-bind-try", "devices usable, if SRC exists")):
        g.add_argument(name, nargs=2, dest="bwrap_fs", action="ordered", metavar=("SRC", "DEST"),
                       help=f"show host SRC at DEST, {what}")
    g.add_argument(BWRAP_BIND, nargs=2, dest="bwrap_fs", action="ordered", help=SUPPRESS)
    g.add_argument("--tmpfs", dest="bwrap_fs", action="ordered", metavar="DEST",
                   help="an empty writable directory at DEST, removed at the end")
    g.add_argument("--dir", dest="bwrap_fs", action="ordered", metavar="DEST",
                   help="an empty directory at DEST")
    g.add_argument("--proc", dest="bwrap_fs", action="ordered", metavar="DEST",
                   help="/proc at DEST")
    g.add_argument("--dev", dest="bwrap_fs", action="ordered", metavar="DEST",
                   help="a minimal /dev at DEST: " + ", ".join(DEV_NODES) + ", pts, shm")
    g.add_argument("--symlink", nargs=2, dest="bwrap_fs", action="ordered",
                   metavar=("TARGET", "DEST"), help="a symlink at DEST to TARGET")
    g.add_argument("--chdir", dest="cwd", metavar="DIR", help="as -w")
    g.add_argument("--setenv", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="as --env NAME=VALUE")
    g.add_argument("--unsetenv", dest="unset", action="append", metavar="NAME", help="as --unset")
    g.add_argument("--clearenv", dest="clear_env", action="store_true", help="as --clear-env")
    g.add_argument("--die-with-parent", action="store_true",
                   help="the program is killed when veil's parent dies")
    g.add_argument("--unshare-net", action="store_true",
                   help="no network but loopback (connect/bind/sendto elsewhere: EACCES)")
    g.add_argument("--share-net", action="store_true", help="the network as it is (default)")
    g.add_argument("--unshare-user", "--unshare-user-try", dest="unshare_noop",
                   action="store_true", help="accepted: the mount engine always makes one; "
                   "-0 and -i are veil's own views")
    for name, help in (("--unshare-pid", "a pid namespace of the program's own"),
                       ("--unshare-ipc", "an IPC namespace of its own"),
                       ("--unshare-cgroup", "a cgroup namespace of its own"),
                       ("--unshare-cgroup-try", SUPPRESS),
                       ("--unshare-uts", "a UTS namespace of its own (under the ptrace "
                                         "engine: veil's view of uname, as --hostname)"),
                       ("--unshare-all", "all of these and --unshare-net")):
        g.add_argument(name, dest="namespaces", action="append_const", const=name, help=help)
    g.add_argument("--new-session", action="store_true",
                   help="the program starts a session of its own (setsid)")
    g.add_argument("--uid", type=int, metavar="UID", help="as -i UID")
    g.add_argument("--gid", type=int, metavar="GID", help="with --uid: as -i UID:GID")


def kernel_fields(text: str) -> dict[str, str]:
    """PRoot's -k: a release, or ``\\sysname\\nodename\\release\\version\\machine\\
    domainname\\hwcap\\``, each field as given."""
    if not text.startswith("\\"):
        return {"kernel_release": text}
    parts = text[1:].removesuffix("\\").split("\\")
    keys = ("sysname", "hostname", "kernel_release", "kernel_version", "machine", "domainname",
            "hwcap")
    if len(parts) > len(keys):
        raise UsageError(f"invalid -k {text!r}: use RELEASE or "
                         "'\\sysname\\nodename\\release\\version\\machine\\domainname\\hwcap\\'")
    fields = dict(zip(keys, parts))    # as PRoot: an empty field shows empty
    if fields.pop("hwcap", ""):
        print("veil: warning: -k: the hwcap field is not faked (AT_HWCAP stays the real one)",
              file=sys.stderr)
    return fields


# --- bubblewrap's filesystem operations -----------------------------------------

_scratch: list[str] = []


def _remove_scratch() -> None:
    import shutil
    while _scratch:
        shutil.rmtree(_scratch.pop(), ignore_errors=True)


def scratch_dir(mode: int = 0o755) -> str:
    """A fresh host directory of veil's, removed when veil exits."""
    import tempfile  # with shutil: only bubblewrap's filesystem operations need them
    if not _scratch:
        atexit.register(_remove_scratch)
        sweep_private_tmps(tempfile.gettempdir())   # those of a veil killed before
    path = tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-bwrap-")
    os.chmod(path, mode)
    _scratch.append(path)
    return path


def _guest(path: str) -> str:
    if not path.startswith("/"):
        raise UsageError(f"bubblewrap's DEST must be absolute: {path}")
    return os.path.normpath(path)


class _Tree:
    """bubblewrap's operations as veil binds over a root, made in order."""

    def __init__(self, root: str | None):
        self.root = root            # None: an empty scratch root, made when needed
        self.binds: list[dict[str, Any]] = []
        self.owned: list[tuple[str, str]] = []  # (guest, host) directories of veil's
        self.readonly_root = False

    def host_dir(self, guest: str) -> str | None:
        """The scratch directory that holds guest path ``guest``, if one does."""
        for g, host in sorted(self.owned, key=lambda gh: -len(gh[0])):
            if guest == g or guest.startswith(g.rstrip("/") + "/"):
                if any(guest == b["guest"] or guest.startswith(b["guest"].rstrip("/") + "/")
                       for b in self.binds if len(b["guest"]) > len(g)):
                    return None   # a bind covers it
                return host + guest[len(g.rstrip("/")):]
        return None

    def place(self, guest: str, is_dir: bool) -> None:
        """Where a scratch directory holds ``guest``: its parents and a placeholder of
        its kind (the mount engine mounts only on what exists)."""
        host = self.host_dir(guest)
        if host is None:
            return
        os.makedirs(os.path.dirname(host), exist_ok=True)
        if is_dir:
            os.makedirs(host, exist_ok=True)
        elif not os.path.lexists(host):
            open(host, "a").close()

    def bind(self, src: str, dest: str, readonly: bool, must_exist: bool) -> None:
        dest = _guest(dest)
        src = os.path.abspath(src)
        if not os.path.exists(src):
            if must_exist:
                raise UsageError(f"bubblewrap bind {src}: no such file or directory")
            return
        if dest == "/":
            self.root, self.binds, self.owned = src, [], []
            self.readonly_root = readonly
            return
        self.place(dest, os.path.isdir(src))
        self.binds = [b for b in self.binds if b["guest"] != dest]
        self.binds.append({"host": src, "guest": dest, "readonly": readonly})

    def directory(self, dest: str, mode: int = 0o755) -> str:
        dest = _guest(dest)
        host = scratch_dir(mode)
        self.place(dest, True)
        self.owned.append((dest, host))
        self.binds = [b for b in self.binds if b["guest"] != dest]
        self.binds.append({"host": host, "guest": dest})
        return host

    def symlink(self, target: str, dest: str) -> None:
        dest = _guest(dest)
        host = self.host_dir(dest)
        if host is None:
            raise UsageError(f"--symlink {target} {dest}: not supported yet outside the "
                             "empty root, a --tmpfs or a --dir")
        os.makedirs(os.path.dirname(host), exist_ok=True)
        if os.path.lexists(host):
            if os.path.islink(host) and os.readlink(host) == target:
                return
            raise UsageError(f"--symlink {target} {dest}: {dest} exists")
        os.symlink(target, host)

    def dev(self, dest: str) -> None:
        dest = _guest(dest)
        host = self.directory(dest)
        for name in DEV_NODES:
            if os.path.exists("/dev/" + name):
                self.bind("/dev/" + name, f"{dest}/{name}", False, True)
        if os.path.isdir("/dev/pts"):
            self.bind("/dev/pts", dest + "/pts", False, True)
        self.directory(dest + "/shm", 0o1777)
        for name, target in DEV_LINKS.items():
            os.symlink(target, os.path.join(host, name))


def bwrap_layout(ops: Sequence[tuple[str, list[str]]], root: str | None
                 ) -> tuple[str, list[dict[str, Any]], list[str]]:
    """(root, binds, read-only guest paths) that show what bubblewrap's operations
    make; ``root``: a -r given as well (else the guest starts from an empty root)."""
    tree = _Tree(root)
    binds_root = any(o in BIND_OPTIONS and _guest(v[1]) == "/" for o, v in ops)
    if root is None and not binds_root:
        tree.owned.append(("/", scratch_dir()))
    for option, values in ops:
        if option in BIND_OPTIONS:
            tree.bind(values[0], values[1], readonly=option.startswith("--ro-"),
                      must_exist=not option.endswith("-try"))
        elif option in ("--tmpfs", "--dir"):
            tree.directory(values[0], 0o1777 if _guest(values[0]) == "/tmp" else 0o755)
        elif option == "--proc":
            tree.bind("/proc", values[0], False, True)
        elif option == "--dev":
            tree.dev(values[0])
        elif option == "--symlink":
            tree.symlink(values[0], values[1])
    if tree.root is None:
        tree.root = dict(tree.owned).get("/") or scratch_dir()
    return tree.root, tree.binds, ["/"] if tree.readonly_root else []


# --- fakeroot's state files (-i FILE, -s FILE) ---------------------------------

S_IFMT, DEVICE_TYPES = 0o170000, (0o020000, 0o060000)
_FAKEROOT_KEYS = ("dev", "ino", "mode", "uid", "gid", "nlink", "rdev")


def read_fakeroot_save(path: str) -> list[dict[str, Any]]:
    """fakeroot's save file (faked --save-file: one ``dev=HEX,ino=N,mode=OCTAL,uid=N,
    gid=N,nlink=N,rdev=N`` line a file) as rows of veil's ownership database."""
    rows = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError as e:
        raise UsageError(f"-i {path}: {e.strerror} (-i takes UID[:GID] or fakeroot's "
                         "save file)") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            fields = dict(item.split("=", 1) for item in line.split(","))
            dev, ino = int(fields["dev"], 16), int(fields["ino"])
            mode, rdev = int(fields["mode"], 8), int(fields["rdev"])
            row = {"dev": dev, "ino": ino, "uid": int(fields["uid"]), "gid": int(fields["gid"]),
                   "fakeroot": [mode, int(fields["nlink"])]}
        except (KeyError, ValueError):
            raise UsageError(f"-i {path}:{n}: not a fakeroot save file line "
                             "(dev=HEX,ino=N,mode=OCTAL,uid=N,gid=N,nlink=N,rdev=N)") from None
        if mode & S_IFMT in DEVICE_TYPES:
            row.update(type=mode & S_IFMT, rdev=rdev)
        rows.append(row)
    return rows


def _stats_under(top: str, keys: set) -> dict[tuple[int, int], os.stat_result]:
    """The files of ``keys`` ((st_dev, st_ino)) found below ``top``."""
    found: dict[tuple[int, int], os.stat_result] = {}
    for where, dirs, files in os.walk(top):
        for name in dirs + files:
            try:
                st = os.lstat(os.path.join(where, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) in keys:
                found[(st.st_dev, st.st_ino)] = st
                if len(found) == len(keys):
                    return found
    return found


def write_fakeroot_save(rows: Sequence[dict[str, Any]], path: str, top: str,
                        fake_ids: tuple[int, int]) -> int:
    """Rows of veil's ownership database in fakeroot's save format; the mode and
    link count of each file as it is now below ``top`` (else as a -i file gave
    them).  The number of files left out (found nowhere)."""
    found = _stats_under(top, {(r["dev"], r["ino"]) for r in rows})
    real = os.geteuid(), os.getegid()
    lines, missing = [], 0
    for r in rows:
        st = found.get((r["dev"], r["ino"]))
        if st is not None:
            mode, nlink = st.st_mode, st.st_nlink
            uid = fake_ids[0] if st.st_uid == real[0] else st.st_uid
            gid = fake_ids[1] if st.st_gid == real[1] else st.st_gid
        elif "fakeroot" in r:
            (mode, nlink), uid, gid = r["fakeroot"], fake_ids[0], fake_ids[1]
        else:
            missing += 1
            continue
        if "type" in r:
            mode = (mode & ~S_IFMT) | r["type"]
        values = dict(dev=f"{r['dev']:x}", ino=r["ino"], mode=f"{mode:o}", uid=r.get("uid", uid),
                      gid=r.get("gid", gid), nlink=nlink, rdev=r.get("rdev", 0))
        lines.append(",".join(f"{k}={values[k]}" for k in _FAKEROOT_KEYS) + "\n")
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.writelines(lines)
    os.replace(tmp, path)
    return missing
