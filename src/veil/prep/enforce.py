"""What the learning run learned, enforced: ``veil run BUNDLE`` with ``[security]
enforce = true`` (learn, then enforce, as AppArmor's genprof/logprof do).

- ``paths_read``: a path call that reads (open for reading, exec, stat,
  access, readlink, ...) succeeds only on a path the learning run read,
  executed, listed or wrote, a directory on the way to one, or one a rule's
  glob covers (``/srv/app/**``: the directory and everything below; ``*`` and
  ``?`` as in fnmatch);
- ``paths_written``: a call that writes (open for writing, creating or
  truncating, mkdir, unlink, rename, chmod, ...) succeeds only where the
  learning run wrote or created;
- ``peers``: connect, bind and sendto reach only the internet addresses the
  learning run used (rules as ``--net-allow``: CIDR[:PORTS]); other families
  (AF_UNIX) are not ruled.

/proc, /dev and /sys (bound from the host) are not ruled, nor /etc/hostname where
the profile sets a hostname (veil serves it).  The path rules are
veil's C path rules (``Session.confine_paths``): checked at the stop the call
makes anyway, on the path as the kernel would resolve it in the guest (against
the working directory or the dirfd, symlinks resolved; a learned path counts
under the name the program used and under its target).  A path that does not
exist in the guest is not refused for reading: the call fails as it would
anyway.  A refused call fails with EACCES and is reported, one line per call,
naming the path or address and the rule.  ``--set security.enforce=false``
records only.
"""
from __future__ import annotations

import errno as _errno

from ..netmap import inet_address, msg_name
from ..netrules import parse_rule
from ..stop import Stop
from ..verdicts import Deny, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

ERRNO = _errno.EACCES
HINT = "widen it in the plan, or --set security.enforce=false"
# the kernel's trees a bundle binds from the host (/dev/null, /proc/PID/...): their paths
# change from run to run; they are not ruled
KERNEL_TREES = ("/proc", "/dev", "/sys")
NET_CALLS = {"connect": (1, 2), "bind": (1, 2), "sendto": (4, 5)}


class Enforcer:
    """The hooks that apply a bundle's learned rules to a session."""

    def __init__(self, paths_read: Sequence[str], paths_written: Sequence[str],
                 peers: Sequence[str]) -> None:
        kernel = [p + "/**" for p in KERNEL_TREES]
        self.read = [*paths_read, *kernel]
        self.written = [*paths_written, *kernel]
        self.peers = [parse_rule(p, True) for p in peers]
        self.session = None

    def _refuse(self, stop: Stop, what: str, rule: str) -> Verdict:
        if self.session is not None:
            self.session.note_refusal(stop.pid, stop.tid, stop.name, ERRNO,
                                      f"{what} (rule: [security] {rule}; {HINT})")
        return Deny(ERRNO)

    # --- addresses ---------------------------------------------------------------------

    def _address(self, stop: Stop, raw: bytes) -> Verdict:
        addr = inet_address(raw)
        if addr is None or any(rule.matches(*addr) for rule in self.peers):
            return None
        ip, port = addr
        shown = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        return self._refuse(stop, f"{shown}: an address the learning run did not use", "peers")

    def on_sockaddr(self, stop: Stop) -> Verdict:
        ptr_at, len_at = NET_CALLS[stop.name]
        ptr, length = stop.args[ptr_at], stop.args[len_at]
        if not ptr or not 8 <= length <= 128:
            return None
        return self._address(stop, stop.read(ptr, length))

    def on_sendmsg(self, stop: Stop) -> Verdict:
        name, length = msg_name(stop)
        if not name or not 8 <= length <= 128:
            return None
        return self._address(stop, stop.read(name, length))

    def apply(self, session) -> None:
        self.session = session
        session.confine_paths(
            self.read, self.written, ERRNO,
            f"the learning run did not read it (rule: [security] paths_read; {HINT})",
            f"the learning run did not write there (rule: [security] paths_written; {HINT})")
        hooks: list[tuple[Sequence[str], Callable[[Stop], Verdict]]] = [
            (tuple(NET_CALLS), self.on_sockaddr), (("sendmsg",), self.on_sendmsg)]
        for names, hook in hooks:
            session.watch(names, hook, "enter")


def enforcer(spec) -> Enforcer:
    """The Enforcer of a RunSpec whose ``[security] enforce`` is true."""
    security = spec.security
    # veil's own answer for the identity (veil.identity serves it), not a file of the host
    served = ["/etc/hostname"] if spec.system.hostname is not None else []
    return Enforcer([*security.paths_read, *served], security.paths_written, security.peers)
