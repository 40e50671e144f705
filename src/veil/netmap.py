"""Network virtualization: ``--net-map VIRT_IP[:PORT]=HOST_IP[:PORT]``.

The program names the virtual address; connect/bind/sendto/sendmsg go to the
host one, and the addresses the kernel reports back (getsockname,
getpeername, accept, recvfrom, recvmsg) show the virtual one again.
"""
from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from .errors import UsageError
from .policy import Policy
from .sockaddr import SockAddr, with_inet
from .stop import Stop
from .verdicts import Rewrite, Verdict

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Sequence

Addr = tuple[str, int]


@dataclass(frozen=True)
class NetMap:
    virt_ip: str
    virt_port: int | None  # None: every port
    host_ip: str
    host_port: int | None  # None: the same port

    def outbound(self, ip: str, port: int) -> Addr | None:
        if ip == self.virt_ip and self.virt_port in (None, port):
            return self.host_ip, self.host_port if self.host_port is not None else port
        return None

    def inbound(self, ip: str, port: int) -> Addr | None:
        if ip == self.host_ip and (self.host_port if self.host_port is not None
                                   else self.virt_port) in (None, port):
            return self.virt_ip, self.virt_port if self.virt_port is not None else port
        return None


def _endpoint(text: str, spec: str) -> tuple[str, int | None]:
    text = text.strip()
    if text.startswith("["):  # [v6]:port
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:
        host, port = text, ""
    try:
        ip = str(ipaddress.ip_address(host))
    except ValueError:
        raise UsageError(f"invalid address map {spec!r}: {host!r} is not an IP address") from None
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        raise UsageError(f"invalid address map {spec!r}: {port!r} is not a port")
    return ip, int(port) if port else None


def parse_net_map(spec: str) -> NetMap:
    virt, eq, host = spec.partition("=")
    if not eq:
        raise UsageError(f"invalid address map {spec!r}: use VIRT_IP[:PORT]=HOST_IP[:PORT]")
    (vip, vport), (hip, hport) = _endpoint(virt, spec), _endpoint(host, spec)
    if ipaddress.ip_address(vip).version != ipaddress.ip_address(hip).version:
        raise UsageError(f"invalid address map {spec!r}: both sides must be IPv4 or both IPv6")
    if hport is not None and vport is None:
        raise UsageError(f"invalid address map {spec!r}: a host port needs a virtual port")
    return NetMap(vip, vport, hip, hport)


def inet_address(raw: bytes) -> Addr | None:
    """(ip, port) of a sockaddr_in/in6, None for other families."""
    return SockAddr.parse(raw).inet


def msg_name(call: Stop) -> tuple[int, int]:
    """(address, length) of the msg_name of the msghdr at args[1] (sendmsg/recvmsg)."""
    name, namelen = struct.unpack_from("<QI", call.read(call.args[1], 12))
    return name, namelen


def net_map_policy(maps: Sequence[NetMap]) -> Policy:
    policy = Policy()

    def map_out(addr: Addr) -> Addr | None:
        return next((m.outbound(*addr) for m in maps if m.outbound(*addr)), None)

    def map_in(addr: Addr) -> Addr | None:
        return next((m.inbound(*addr) for m in maps if m.inbound(*addr)), None)

    def outgoing(addr_arg: int, len_arg: int):
        def hook(call: Stop) -> Verdict:
            ptr, length = call.args[addr_arg], call.args[len_arg]
            if not ptr or not 8 <= length <= 128:
                return None
            raw = call.read(ptr, length)
            addr = inet_address(raw)
            mapped = map_out(addr) if addr else None
            if mapped is None:
                return None
            return Rewrite(**{f"arg{addr_arg}": with_inet(raw, *mapped)})
        return hook

    def incoming(addr_arg: int, len_arg: int):
        def hook(call: Stop) -> Verdict:
            ptr, lenp = call.args[addr_arg], call.args[len_arg]
            if call.result is None or call.result < 0 or not ptr or not lenp:
                return None
            length = struct.unpack("<I", call.read(lenp, 4))[0]
            if not 8 <= length <= 128:
                return None
            raw = call.read(ptr, length)
            addr = inet_address(raw)
            mapped = map_in(addr) if addr else None
            if mapped is not None:
                call.write(ptr, with_inet(raw, *mapped))
            return None
        return hook

    def sendmsg(call: Stop) -> Verdict:
        hdr = call.read(call.args[1], 56)
        name, namelen = msg_name(call)
        if not name or not 8 <= namelen <= 128:
            return None
        raw = call.read(name, namelen)
        addr = inet_address(raw)
        mapped = map_out(addr) if addr else None
        if mapped is None:
            return None
        # the new address below veil's scratch mark; the msghdr copy (Rewrite) goes lower
        at = (call.scratch - 512) & ~0xF
        call.write(at, with_inet(raw, *mapped))
        return Rewrite(arg1=struct.pack("<Q", at) + hdr[8:])

    def recvmsg(call: Stop) -> Verdict:
        if call.result is None or call.result < 0:
            return None
        name, namelen = msg_name(call)
        if not name or not 8 <= namelen <= 128:
            return None
        raw = call.read(name, namelen)
        addr = inet_address(raw)
        mapped = map_in(addr) if addr else None
        if mapped is not None:
            call.write(name, with_inet(raw, *mapped))
        return None

    policy.on_enter("sendmsg")(sendmsg)
    policy.on_exit("recvmsg")(recvmsg)
    policy.on_enter("connect", "bind")(outgoing(1, 2))
    policy.on_enter("sendto")(outgoing(4, 5))
    policy.on_exit("getsockname", "getpeername", "accept", "accept4")(incoming(1, 2))
    policy.on_exit("recvfrom")(incoming(4, 5))
    return policy


def net_map_args(specs: Sequence[str]) -> list[NetMap]:
    return [parse_net_map(s) for s in specs]


def address_view(maps: Sequence[NetMap]):
    """An address text as the program sees it: host addresses of a map shown as virtual."""
    def view(text: str | None) -> str | None:
        if not text or text.startswith("/") or text.startswith("@") or ":" not in text:
            return text
        host, _, port = text.rpartition(":")
        host = host.strip("[]")
        for m in maps:
            mapped = m.inbound(host, int(port))
            if mapped:
                ip, p = mapped
                return f"[{ip}]:{p}" if ":" in ip else f"{ip}:{p}"
        return text
    return view
