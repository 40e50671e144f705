#!/usr/bin/env python3
"""Generate veil's syscall table and its compatibility page.

Inputs:
  * the kernel's uapi headers, for numbers:
      <include-dir>/unistd_64.h   x86_64   (#define __NR_read 0)
      <include-dir>/unistd_32.h   i386
      <include-dir>/unistd_x32.h  x32      (#define __NR_read (__X32_SYSCALL_BIT + 0))
  * tools/syscall_signatures.txt, the hand-written signatures, classes and
    the numbers of calls newer than the headers.

  * the per-syscall properties (`@key` / `@key=value` tokens in the same
    file): what the rest of veil knows about a call besides its signature
    (it mutates a path, the layout denies it, its fd may be a socket, ...).

Outputs (rewritten in place; both are committed):
  * src/veil/syscalls/table.py   plain Python data, imported by veil.syscalls
  * src/veil/syscalls/foreign.py the i386 and x32 names, loaded on first use
  * docs/syscalls.md             the compatibility page

Usage:
  python3 tools/gen_syscalls.py             rewrite the outputs
  python3 tools/gen_syscalls.py --check     exit 1 if an output is stale, or if C
                                            compares a syscall number with a literal
  python3 tools/gen_syscalls.py --root DIR  write under DIR instead of the repo

The argument-kind vocabulary below is the contract between this table, the C
capture code and the Python decoders; it is copied into table.py so that
veil.syscalls.lookup can check kinds without importing this script.
"""

import argparse
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SIGNATURES = REPO / "tools" / "syscall_signatures.txt"
DEFAULT_INCLUDE = Path("/usr/include/x86_64-linux-gnu/asm")
TABLE_PATH = Path("src/veil/syscalls/table.py")
FOREIGN_PATH = Path("src/veil/syscalls/foreign.py")
DOC_PATH = Path("docs/syscalls.md")

X32_SYSCALL_BIT = 0x40000000
MAX_ARGS = 6

# ---------------------------------------------------------------------------
# Kind vocabulary
# ---------------------------------------------------------------------------

# Kinds that take no parameter.
SCALAR_KINDS = (
    "int", "uint", "long", "ulong", "hex", "ptr", "size", "off",
    "fd", "dirfd", "path", "str",
    "mode", "umask", "signal", "pid", "uid", "gid",
    "argv", "envp",
)
# Kinds whose parameter is the 0-based index of another argument.
INDEXED_KINDS = (
    "inbuf", "outbuf", "outstr",
    "sockaddr", "outsockaddr",
    "iovec", "outiovec",
    "sigset", "outsigset",
)
# Kinds whose parameter is a struct name (unknown names decode as a pointer).
STRUCT_KINDS = ("struct", "outstruct")
# Kinds whose parameter is a named constant set.
SET_KINDS = ("flags", "enum")

# Named constant sets the decoders implement.
FLAG_SETS = (
    "open", "at", "access_mode", "mmap_prot", "mmap_flags", "clone", "clone3",
    "wait_options", "socket_type", "sock_flags", "msg_flags", "epoll_flags",
    "eventfd_flags", "pipe_flags", "dup3_flags", "signalfd_flags",
    "timerfd_flags", "inotify_flags", "inotify_mask", "memfd_flags",
    "renameat2_flags", "statx_mask", "statx_flags", "unlinkat_flags",
    "close_range_flags", "getrandom_flags", "mremap_flags", "msync_flags",
    "mlock_flags", "personality", "mount_flags", "umount_flags",
    "fallocate_mode", "splice_flags", "xattr_flags", "rseq_flags",
    "faccessat_flags", "timer_flags", "unshare_flags", "mlockall_flags", "ipc_flags",
    "flock_op",
)
ENUM_SETS = (
    "madvise", "fadvise_advice", "fcntl_cmd", "seek_whence", "socket_domain", "shutdown_how",
    "sockopt_level", "prctl_option", "arch_prctl_code", "futex_op",
    "epoll_ctl_op", "rlimit_resource", "sigprocmask_how", "sched_policy",
    "clock_id", "itimer_which", "ptrace_request", "seccomp_op", "ioctl_cmd",
    "idtype", "ipc_cmd",
)

RET_KINDS = ("int", "fd", "pid", "size", "hex", "none", "uid", "gid")

# Per-syscall properties: `@key` (a flag) or `@key=value`.  The value form:
#   None      a flag, no value (stored as True)
#   "arg"     a 0-based argument index (stored as int)
#   "args"    argument indices, comma-separated (stored as a tuple of int)
#   a tuple   one of these words (stored as str)
#   ("word:arg", words)  a word and an argument index (stored as (str, int))
#   ("arg:word", words)  an argument index and a word (stored as (int, str))
#   ("words:args", words)  comma-separated word:index pairs (stored as ((str, int), ...))
PATH_OPS = ("exec", "readlink", "getcwd", "chroot", "sock_in", "sock_out", "msg_in", "msg_out")
SYMLINK_FLAGS = ("AT_SYMLINK_NOFOLLOW", "AT_SYMLINK_FOLLOW", "IN_DONT_FOLLOW")
MAP_ROLES = ("addr", "hint", "fixed")
PROPS = {
    # read-only path rules refuse it: it changes the file its path names ("file")
    # or uses the path for a system-wide effect ("system": mount, swapon, chroot, ...)
    "mutates": ("file", "system"),
    # the guest layout: how its path arguments are translated (default: every path
    # argument follows its last symlink), or that the layout refuses it (EPERM)
    "path_op": ("word:arg", PATH_OPS),
    "nofollow": "args",
    "symlink_flag": ("arg:word", SYMLINK_FLAGS),
    "layout_denied": None,
    # the address arguments of a call that maps, unmaps or protects memory (the
    # layout keeps its scratch area safe from them): "addr:N" an existing mapping
    # it changes, "hint:N" where it may map (0: the kernel chooses), "fixed:N"
    # where it moves a mapping when its flags say MREMAP_FIXED
    "maps": ("words:args", MAP_ROLES),
    # it changes the process's ids (pinned paths are asked for again after it)
    "sets_ids": None,
    # the socket table: always recorded / recorded when this fd argument is a socket /
    # its new fd, if a socket, gets a filter of its own / data it moves
    "socket_table": None,
    "sockfd": "arg",
    "new_sockfd": None,
    "moves": ("send", "receive"),
    # text output: index of the first argument known only at exit (<unfinished ...>),
    # where the kinds alone do not tell
    "split": "arg",
}
SUPPORT_LEVELS = ("decoded", "passed")

# The argument an indexed kind points at must be a count/length of one of
# these kinds.
_COUNT_KINDS = ("int", "uint", "long", "ulong", "size")
_INDEX_TARGETS = {
    "inbuf": _COUNT_KINDS, "outbuf": _COUNT_KINDS, "outstr": _COUNT_KINDS,
    "iovec": _COUNT_KINDS, "outiovec": _COUNT_KINDS,
    "sigset": _COUNT_KINDS, "outsigset": _COUNT_KINDS,
    "sockaddr": _COUNT_KINDS, "outsockaddr": ("outstruct:socklen",),
}

_IDENT = r"[A-Za-z_][A-Za-z0-9_]*"
_IDENT_RE = re.compile(_IDENT + r"\Z")


class SignatureError(Exception):
    pass


def parse_prop(token, args):
    """(key, value) of an `@key[=value]` token of a call with arguments *args*."""
    key, sep, text = token[1:].partition("=")
    if key not in PROPS:
        raise SignatureError(f"unknown property {key!r}")
    spec = PROPS[key]

    def index(t):
        if not t.isdigit() or int(t) >= max(len(args), 1):
            raise SignatureError(f"@{key}: argument index {t!r} out of range")
        return int(t)

    def word(t, words):
        if t not in words:
            raise SignatureError(f"@{key}: {t!r} is not one of {', '.join(words)}")
        return t

    if spec is None:
        if sep:
            raise SignatureError(f"@{key} takes no value")
        return key, True
    if not text:
        raise SignatureError(f"@{key} needs a value")
    if spec == "arg":
        return key, index(text)
    if spec == "args":
        return key, tuple(index(t) for t in text.split(","))
    if isinstance(spec[0], str) and ":" in spec[0] and len(spec) == 2 and isinstance(spec[1], tuple):
        first, _, second = text.partition(":")
        if spec[0] == "words:args":
            pairs = []
            for item in text.split(","):
                role, _, arg = item.partition(":")
                pairs.append((word(role, spec[1]), index(arg)))
                if role == "fixed" and not any(k == "flags:mremap_flags" for _, k in args):
                    raise SignatureError(f"@{key}: fixed needs a flags:mremap_flags argument")
            return key, tuple(pairs)
        if spec[0] == "word:arg":
            return key, (word(first, spec[1]), index(second) if second else -1)
        return key, (index(first), word(second, spec[1]))
    return key, word(text, spec)


def check_kind(kind):
    """Raise SignatureError unless *kind* is in the vocabulary."""
    base, sep, param = kind.partition(":")
    if not sep:
        if base in SCALAR_KINDS:
            return
        raise SignatureError(f"unknown kind {kind!r}")
    if base in INDEXED_KINDS:
        if not param.isdigit():
            raise SignatureError(f"{kind!r}: parameter must be an argument index")
        return
    if base in STRUCT_KINDS:
        if not _IDENT_RE.match(param):
            raise SignatureError(f"{kind!r}: bad struct name")
        return
    if base == "flags":
        if param not in FLAG_SETS:
            raise SignatureError(f"{kind!r}: unknown flag set {param!r}")
        return
    if base == "enum":
        if param not in ENUM_SETS:
            raise SignatureError(f"{kind!r}: unknown enum set {param!r}")
        return
    raise SignatureError(f"unknown kind {kind!r}")


def check_index(kind, index, args):
    """For an indexed kind of argument *index*, check the argument it names."""
    base, _, param = kind.partition(":")
    if base not in INDEXED_KINDS:
        return
    n = int(param)
    if n >= len(args) or n == index:
        raise SignatureError(f"{kind!r}: argument index {n} out of range")
    target = args[n][1]
    if target not in _INDEX_TARGETS[base]:
        raise SignatureError(
            f"{kind!r}: argument {n} has kind {target!r}, expected one of "
            f"{', '.join(_INDEX_TARGETS[base])}")


# ---------------------------------------------------------------------------
# Inputs
# ---------------------------------------------------------------------------

_DEFINE_RE = re.compile(
    r"^\s*#\s*define\s+__NR_(" + _IDENT + r")\s+"
    r"(?:\(\s*__X32_SYSCALL_BIT\s*\+\s*(\d+)\s*\)|(\d+))\s*$")


def parse_unistd(path, x32=False):
    """{name: nr} from a unistd_*.h; x32 numbers are returned without the bit."""
    table = {}
    for line in Path(path).read_text().splitlines():
        m = _DEFINE_RE.match(line)
        if not m:
            continue
        name, x32nr, plain = m.groups()
        if x32:
            if x32nr is None:
                raise SignatureError(f"{path}: x32 define without __X32_SYSCALL_BIT: {line}")
            nr = int(x32nr)
        else:
            if plain is None:
                raise SignatureError(f"{path}: unexpected define: {line}")
            nr = int(plain)
        if name in table and table[name] != nr:
            raise SignatureError(f"{path}: {name} defined twice")
        table[name] = nr
    if not table:
        raise SignatureError(f"{path}: no __NR_ definitions found")
    return table


_LINE_RE = re.compile(r"^(" + _IDENT + r")\s*\(([^()]*)\)\s*(.*)$")


def parse_signatures(path, classes_mod):
    """Parse the signatures file into a list of dicts (file order)."""
    entries = []
    seen = {}
    for lineno, raw in enumerate(Path(path).read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip() if not raw.lstrip().startswith("#") else ""
        # "%%stat" contains no "#", so stripping trailing comments is safe.
        if not line:
            continue
        where = f"{path}:{lineno}"
        m = _LINE_RE.match(line)
        if not m:
            raise SignatureError(f"{where}: cannot parse: {raw!r}")
        name, argtext, rest = m.groups()
        if name in seen:
            raise SignatureError(f"{where}: {name} already given on line {seen[name]}")
        seen[name] = lineno
        argtext = argtext.strip()
        if argtext.isdigit():
            nargs = int(argtext)
            args = tuple((f"arg{i + 1}", "hex") for i in range(nargs))
            support = "passed"
        else:
            args = []
            if argtext:
                for part in argtext.split(","):
                    part = part.strip()
                    aname, sep, kind = part.partition(":")
                    aname, kind = aname.strip(), kind.strip()
                    if not sep or not _IDENT_RE.match(aname) or not kind:
                        raise SignatureError(f"{where}: bad argument {part!r} (want name:kind)")
                    if any(a == aname for a, _ in args):
                        raise SignatureError(f"{where}: argument {aname!r} repeated")
                    args.append((aname, kind))
            args = tuple(args)
            support = "decoded"
        if len(args) > MAX_ARGS:
            raise SignatureError(f"{where}: {name} has more than {MAX_ARGS} arguments")
        for check in (lambda i, kind: check_kind(kind), lambda i, kind: check_index(kind, i, args)):
            for i, (aname, kind) in enumerate(args):
                try:
                    check(i, kind)
                except SignatureError as e:
                    raise SignatureError(f"{where}: {name}: argument {aname!r}: {e}") from None

        ret = "int"
        bits = 0
        nums = {}
        props = {}
        tokens = rest.replace("->", " -> ").split()
        i = 0
        while i < len(tokens):
            tok = tokens[i]
            if tok == "->":
                if i + 1 >= len(tokens):
                    raise SignatureError(f"{where}: '->' without a return kind")
                ret = tokens[i + 1]
                if ret not in RET_KINDS:
                    raise SignatureError(f"{where}: unknown return kind {ret!r}")
                i += 2
                continue
            if tok.startswith("@"):
                try:
                    key, value = parse_prop(tok, args)
                except SignatureError as e:
                    raise SignatureError(f"{where}: {name}: {e}") from None
                if key in props:
                    raise SignatureError(f"{where}: {name}: @{key} given twice")
                props[key] = value
            elif tok.startswith("%"):
                if tok not in classes_mod.CLASS_NAMES:
                    raise SignatureError(f"{where}: unknown class {tok!r}")
                bits |= classes_mod.CLASS_NAMES[tok]
            elif "=" in tok:
                key, _, val = tok.partition("=")
                if key not in ("nr", "i386", "x32") or not val.isdigit():
                    raise SignatureError(f"{where}: bad token {tok!r}")
                nums[key] = int(val)
            else:
                raise SignatureError(f"{where}: unexpected {tok!r}")
            i += 1
        entries.append(dict(name=name, args=args, ret=ret, classes=bits,
                            support=support, nums=nums, line=lineno,
                            props=tuple(sorted(props.items()))))
    return entries


def build(include_dir, signatures, classes_mod):
    """Merge headers and signatures; return (rows, i386, x32, sources)."""
    include_dir = Path(include_dir)
    src64 = include_dir / "unistd_64.h"
    src32 = include_dir / "unistd_32.h"
    srcx32 = include_dir / "unistd_x32.h"
    nr64 = parse_unistd(src64)
    nr32 = parse_unistd(src32)
    nrx32 = parse_unistd(srcx32, x32=True)
    entries = parse_signatures(signatures, classes_mod)
    by_name = {e["name"]: e for e in entries}

    missing = sorted(set(nr64) - set(by_name), key=nr64.get)
    if missing:
        raise SignatureError(
            f"{signatures}: no signature for {', '.join(missing)} "
            f"(every syscall in {src64} needs a line)")

    rows = []
    used = {}
    for e in entries:
        name = e["name"]
        given = e["nums"].get("nr")
        if name in nr64:
            if given is not None and given != nr64[name]:
                raise SignatureError(
                    f"{signatures}:{e['line']}: {name}: nr={given} but {src64} says {nr64[name]}")
            nr = nr64[name]
        elif given is not None:
            nr = given
        else:
            raise SignatureError(
                f"{signatures}:{e['line']}: {name} is not in {src64}; give nr=N")
        if nr in used:
            raise SignatureError(f"{signatures}:{e['line']}: {name}: number {nr} already used by {used[nr]}")
        used[nr] = name
        rows.append((nr, name, e["args"], e["classes"], e["ret"], e["support"], e["props"]))
    rows.sort()

    i386 = {nr: name for name, nr in nr32.items()}
    x32 = {nr: name for name, nr in nrx32.items()}
    for e in entries:
        for key, table, header in (("i386", i386, nr32), ("x32", x32, nrx32)):
            nr = e["nums"].get(key)
            if nr is None:
                continue
            if e["name"] in header:
                if header[e["name"]] != nr:
                    raise SignatureError(
                        f"{signatures}:{e['line']}: {e['name']}: {key}={nr} disagrees with the header")
                continue
            if nr in table and table[nr] != e["name"]:
                raise SignatureError(
                    f"{signatures}:{e['line']}: {key} number {nr} already used by {table[nr]}")
            table[nr] = e["name"]
    sources = [src64, src32, srcx32]
    return rows, dict(sorted(i386.items())), dict(sorted(x32.items())), sources


# ---------------------------------------------------------------------------
# Outputs
# ---------------------------------------------------------------------------

def _q(s):
    return json.dumps(s)


def _display_path(p):
    p = Path(p)
    try:
        return str(p.resolve().relative_to(REPO))
    except ValueError:
        return str(p)


def render_table(rows, i386, x32, sources, classes_mod):
    out = []
    w = out.append
    w("# GENERATED by tools/gen_syscalls.py from tools/syscall_signatures.txt and")
    w("# " + ", ".join(_display_path(s) for s in sources) + "; do not edit.")
    w('"""veil\'s syscall table (data only; see veil.syscalls.lookup for the API)."""')
    w("")
    w("from .classes import *  # noqa: F401,F403")
    w("")
    w("# The argument-kind vocabulary (see docs/HOWTO_ADD_SYSCALL.md).")
    for const in ("SCALAR_KINDS", "INDEXED_KINDS", "STRUCT_KINDS", "SET_KINDS",
                  "FLAG_SETS", "ENUM_SETS", "RET_KINDS", "SUPPORT_LEVELS",
                  "PATH_OPS", "SYMLINK_FLAGS", "MAP_ROLES"):
        values = globals()[const]
        w(f"{const} = (")
        line = "   "
        for v in values:
            item = f" {_q(v)},"
            if len(line) + len(item) > 79:
                w(line)
                line = "   "
            line += item
        w(line)
        w(")")
    w("")
    w("# The property keys (see docs/HOWTO_ADD_SYSCALL.md).")
    w(f"PROPS = {tuple(PROPS)!r}")
    w("")
    w("# (nr, name, ((argname, kind), ...), classes, return_kind, support,")
    w("#  ((property, value), ...))")
    w("X86_64 = (")
    for nr, name, args, bits, ret, support, props in rows:
        pairs = [f"({_q(a)}, {_q(k)})" for a, k in args]
        argsrc = "(" + ", ".join(pairs) + ("," if len(pairs) == 1 else "") + ")"
        w(f"    ({nr}, {_q(name)}, {argsrc}, {classes_mod.class_expr(bits)}, "
          f"{_q(ret)}, {_q(support)}, {props!r}),")
    w(")")
    w("")
    w("# x32 calls are the x86_64 syscall instruction with nr | X32_SYSCALL_BIT")
    w(f"X32_SYSCALL_BIT = {X32_SYSCALL_BIT:#x}")
    return "\n".join(out) + "\n"


def render_foreign(i386, x32, sources):
    out = []
    w = out.append
    w("# GENERATED by tools/gen_syscalls.py from")
    w("# " + ", ".join(_display_path(s) for s in sources[1:]) + "; do not edit.")
    w('"""The i386 and x32 syscall names (data only; veil.syscalls.lookup loads them on')
    w('first use: a trace of x86_64 programs does not need them)."""')
    w("")
    w("# i386 (int $0x80 from any process, or a 32-bit process): nr -> name")
    w("I386 = {")
    for nr, name in i386.items():
        w(f"    {nr}: {_q(name)},")
    w("}")
    w("")
    w("# x32: nr without X32_SYSCALL_BIT -> name")
    w("X32 = {")
    for nr, name in x32.items():
        w(f"    {nr}: {_q(name)},")
    w("}")
    return "\n".join(out) + "\n"


def _signature_text(name, args, ret):
    inner = ", ".join(f"{a}: {k}" for a, k in args)
    text = f"{name}({inner})"
    if ret != "int":
        text += f" -> {ret}"
    return text


def _props_text(props):
    out = []
    for key, value in props:
        if value is True:
            out.append(f"@{key}")
        elif isinstance(value, tuple) and key == "nofollow":
            out.append(f"@{key}=" + ",".join(map(str, value)))
        elif isinstance(value, tuple) and key == "maps":
            out.append(f"@{key}=" + ",".join(f"{w}:{a}" for w, a in value))
        elif isinstance(value, tuple):
            out.append(f"@{key}=" + ":".join(str(v) for v in value if v != -1))
        else:
            out.append(f"@{key}={value}")
    return " ".join(out)


def render_doc(rows, i386, x32, sources, classes_mod):
    decoded = sum(1 for r in rows if r[5] == "decoded")
    passed = len(rows) - decoded
    names64 = {r[1] for r in rows}
    out = []
    w = out.append
    w("<!-- GENERATED by tools/gen_syscalls.py from tools/syscall_signatures.txt; do not edit. -->")
    w("")
    w("# Syscall compatibility (x86_64)")
    w("")
    w("One row per x86_64 system call veil knows: its number, its name, the strace")
    w("classes it belongs to (what `-e trace=%file` and friends select), the")
    w("signature veil decodes, and the support level.")
    w("")
    w("Support levels:")
    w("")
    w("- **decoded**: the arguments are decoded by kind (paths, fds, flags, structs")
    w("  ...), as in the signature column.")
    w("- **passed**: the call is recognised and passed through; its arguments are")
    w("  shown as hex words.")
    w("")
    w(f"Totals: {len(rows)} x86_64 syscalls, {decoded} decoded, {passed} passed.")
    w(f"The i386 table has {len(i386)} names and the x32 table {len(x32)}; those")
    w("are recognised by name only (filters, messages): see the end of this page.")
    w("")
    w("Kinds are described in [HOWTO_ADD_SYSCALL.md](HOWTO_ADD_SYSCALL.md). An")
    w("argument whose name starts with `_` only holds a register place.")
    w("")
    w("The properties column lists the call's `@` properties (what read-only")
    w("rules, the guest layout, the socket table and the text output know about")
    w("it); they are described in HOWTO_ADD_SYSCALL.md.")
    w("")
    w("| nr | name | classes | signature | support | properties |")
    w("|---:|------|---------|-----------|---------|------------|")
    for nr, name, args, bits, ret, support, props in rows:
        cls = " ".join(classes_mod.class_names(bits))
        w(f"| {nr} | {name} | {cls} | `{_signature_text(name, args, ret)}` | {support} "
          f"| {_props_text(props)} |")
    w("")
    only32 = sorted(n for n in set(i386.values()) - names64)
    w("## i386-only names")
    w("")
    w("Calls a 32-bit (`int $0x80`) caller can make that have no x86_64 row:")
    w("")
    w(", ".join(f"`{n}`" for n in only32) + ".")
    w("")
    w("## x32")
    w("")
    w("x32 calls use the x86_64 numbers (or 512 and up for the calls whose")
    w("arguments differ) with bit 30 set; their names are the x86_64 names.")
    w("")
    return "\n".join(out)


def load_classes():
    path = REPO / "src" / "veil" / "syscalls" / "classes.py"
    spec = importlib.util.spec_from_file_location("_veil_syscall_classes", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def generate(include_dir=DEFAULT_INCLUDE, signatures=SIGNATURES):
    """Return {relative output path: text}."""
    classes_mod = load_classes()
    rows, i386, x32, sources = build(include_dir, signatures, classes_mod)
    return {
        TABLE_PATH: render_table(rows, i386, x32, sources, classes_mod),
        FOREIGN_PATH: render_foreign(i386, x32, sources),
        DOC_PATH: render_doc(rows, i386, x32, sources, classes_mod),
    }


# C names syscalls by their header names (__NR_read, SYS_read: the same headers
# the table's numbers come from), never by number.
C_SOURCES = "csrc"
_C_RAW_NR_RE = re.compile(
    r"\bnr\s*[!=]=\s*\d+\b|\b\d+\s*[!=]=\s*(?:\w+(?:->|\.))?nr\b"
    r"|inject_syscall\(\s*[^,]+,\s*\d+\s*[,)]|\bcase\s+\d+\s*:\s*/\*\s*(?:__NR_)?[a-z_0-9]+\s*\*/")


def raw_syscall_numbers(root):
    """["file:line: text", ...] for each place C compares a syscall number with a literal."""
    found = []
    for path in sorted((Path(root) / C_SOURCES).glob("*.[ch]")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            if _C_RAW_NR_RE.search(line):
                found.append(f"{C_SOURCES}/{path.name}:{lineno}: {line.strip()}")
    return found


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--include-dir", type=Path, default=DEFAULT_INCLUDE,
                    help="directory holding unistd_64.h, unistd_32.h, unistd_x32.h "
                         f"(default {DEFAULT_INCLUDE})")
    ap.add_argument("--signatures", type=Path, default=SIGNATURES)
    ap.add_argument("--root", type=Path, default=REPO,
                    help="write the outputs under this directory (default: the repo)")
    ap.add_argument("--check", action="store_true",
                    help="do not write; exit 1 if an output differs from what would be generated")
    opts = ap.parse_args(argv)
    try:
        outputs = generate(opts.include_dir, opts.signatures)
    except (SignatureError, OSError) as e:
        print(f"gen_syscalls: {e}", file=sys.stderr)
        return 2
    stale = []
    for rel, text in outputs.items():
        dest = opts.root / rel
        if opts.check:
            if not dest.exists() or dest.read_text() != text:
                stale.append(str(dest))
            continue
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_text() != text:
            dest.write_text(text)
            print(f"wrote {dest}")
    if stale:
        print("gen_syscalls: out of date (run python3 tools/gen_syscalls.py): "
              + ", ".join(stale), file=sys.stderr)
        return 1
    if not opts.check and opts.root == REPO:
        # what a syscall captures follows from its kinds: the decoders' index is redone
        # (tools/gen_decoder_index.py; tests/test_decoder_index.py checks it)
        subprocess.run([sys.executable, str(REPO / "tools" / "gen_decoder_index.py")], check=True)
    if opts.check:
        raw = raw_syscall_numbers(opts.root)
        if raw:
            print("gen_syscalls: C compares syscall numbers with literals (use __NR_name):\n  "
                  + "\n  ".join(raw), file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
