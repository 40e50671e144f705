"""Network rules: allow or deny connect/bind/sendto/sendmsg by address.

``--net-deny 10.0.0.0/8:5432=ECONNREFUSED``, ``--net-allow 127.0.0.1:1024-65535``,
``--net-default deny``.  A rule is CIDR[:PORT or PORT-PORT][=ERRNO]; the first
rule that matches decides (veil run puts the denies first), else the default.  Rules see the address the
program named (before --net-map).  AF_UNIX and other families are not ruled.
"""
from __future__ import annotations

import errno as _errno
import ipaddress
from dataclasses import dataclass

from .errors import UsageError
from .netmap import inet_address, msg_name
from .policy import Policy
from .stop import Stop
from .verdicts import Deny, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
DEFAULT_ERRNO = _errno.EACCES


@dataclass(frozen=True)
class NetRule:
    allow: bool
    network: Network
    ports: tuple[int, int]  # inclusive
    err: int

    def matches(self, ip: str, port: int) -> bool:
        addr = ipaddress.ip_address(ip)
        if addr.version != self.network.version:
            mapped = getattr(addr, "ipv4_mapped", None)
            if mapped is None or self.network.version != 4:
                return False
            addr = mapped
        return addr in self.network and self.ports[0] <= port <= self.ports[1]


def parse_rule(spec: str, allow: bool) -> NetRule:
    flag = "allow rule" if allow else "deny rule"
    body, eq, err_name = spec.partition("=")
    err = DEFAULT_ERRNO
    if eq:
        err = getattr(_errno, err_name.strip().upper(), None)
        if not isinstance(err, int):
            raise UsageError(f"invalid {flag} {spec!r}: unknown errno {err_name!r}")
    if body.startswith("["):
        net, _, rest = body[1:].partition("]")
        ports = rest.lstrip(":")
    elif body.count(":") == 1:
        net, _, ports = body.partition(":")
    else:
        net, ports = body, ""
    try:
        network = ipaddress.ip_network(net or "0.0.0.0/0", strict=False)
    except ValueError:
        raise UsageError(f"invalid {flag} {spec!r}: {net!r} is not an address or CIDR") from None
    lo, _, hi = ports.partition("-")
    try:
        rng = (int(lo), int(hi or lo)) if ports else (0, 65535)
    except ValueError:
        raise UsageError(f"invalid {flag} {spec!r}: {ports!r} is not a port or PORT-PORT") from None
    if not 0 <= rng[0] <= rng[1] <= 65535:
        raise UsageError(f"invalid {flag} {spec!r}: ports are 0-65535, low-high")
    return NetRule(allow, network, rng, err)


def net_rules_policy(rules: Sequence[NetRule], default_deny: bool = False,
                     default_errno: int = DEFAULT_ERRNO) -> Policy:
    policy = Policy()

    def decide(raw: bytes) -> Verdict:
        addr = inet_address(raw)
        if addr is None:
            return None
        for rule in rules:
            if rule.matches(*addr):
                return None if rule.allow else Deny(rule.err)
        return Deny(default_errno) if default_deny else None

    def by_sockaddr(addr_arg: int, len_arg: int):
        def hook(call: Stop) -> Verdict:
            ptr, length = call.args[addr_arg], call.args[len_arg]
            if not ptr or not 8 <= length <= 128:
                return None
            return decide(call.read(ptr, length))
        return hook

    def sendmsg(call: Stop) -> Verdict:
        name, namelen = msg_name(call)
        if not name or not 8 <= namelen <= 128:
            return None
        return decide(call.read(name, namelen))

    policy.on_enter("connect", "bind")(by_sockaddr(1, 2))
    policy.on_enter("sendto")(by_sockaddr(4, 5))
    policy.on_enter("sendmsg")(sendmsg)
    return policy
