"""Socket addresses: a ``struct sockaddr`` parsed once into a :class:`SockAddr`.

Every place that reads a socket address from a tracee or a record (the strace
text of veil.decoders.sockaddr, the JSON trace, the socket table, hooks'
``stop.args``, the address map) parses it here and renders the value its own
way; ``pack_inet`` and ``with_inet`` write one.  ``AF`` names the
families for all of them.
"""
from __future__ import annotations

import struct

from .tuples import named_tuple

TYPE_CHECKING = False   # typing is not imported at run time: start-up (issue 22)
if TYPE_CHECKING:   # ipaddress is imported where an address is parsed or written
    import ipaddress
    from typing import NamedTuple

AF_UNIX, AF_INET, AF_INET6, AF_NETLINK = 1, 2, 10, 16

AF = {0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
      6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6",
      11: "AF_ROSE", 12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY",
      16: "AF_NETLINK", 17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC",
      21: "AF_RDS", 22: "AF_SNA", 23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE",
      26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS", 29: "AF_CAN", 30: "AF_TIPC",
      31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC", 34: "AF_ISDN", 35: "AF_PHONET",
      36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC", 40: "AF_VSOCK",
      41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP", 45: "AF_MCTP"}

if TYPE_CHECKING:
    IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

    class _Fields(NamedTuple):
        family: int | None            # None: shorter than sa_family
        raw: bytes
        ip: IPAddress | None = None   # AF_INET (8+ bytes), AF_INET6 (24+ bytes)
        port: int | None = None
        flowinfo: int | None = None   # AF_INET6
        scope_id: int | None = None   # AF_INET6 of 28+ bytes
        # AF_UNIX: the name up to its NUL; an abstract name (abstract=True) without its
        # leading NUL and with all the bytes the length gives; b"": unnamed
        path: bytes | None = None
        abstract: bool = False
        nl_pid: int | None = None     # AF_NETLINK of 8+ bytes
        nl_groups: int | None = None  # ... of 12+ bytes
else:   # the same fields, without typing.NamedTuple's import (nor collections')
    _Fields = named_tuple("SockAddr", "family raw ip port flowinfo scope_id path abstract nl_pid nl_groups",
                         defaults=(None, None, None, None, None, False, None, None))


class SockAddr(_Fields):
    """What a sockaddr of ``len(raw)`` bytes holds.  A field is None when the
    bytes are too short for it (the kernel takes a length with every address).
    Immutable and hashable: a named tuple, made without dataclasses or typing,
    whose imports were a fifth of ``veil trace``'s start-up."""

    __slots__ = ()

    @classmethod
    def parse(cls, raw: bytes) -> SockAddr:
        raw = bytes(raw)
        n = len(raw)
        if n < 2:
            return cls(None, raw)
        fam = struct.unpack_from("<H", raw)[0]
        if fam == AF_INET and n >= 8:
            from ipaddress import IPv4Address
            return cls(fam, raw, IPv4Address(raw[4:8]), struct.unpack_from(">H", raw, 2)[0])
        if fam == AF_INET6 and n >= 24:
            from ipaddress import IPv6Address
            port, flow = struct.unpack_from(">HI", raw, 2)
            scope = struct.unpack_from("<I", raw, 24)[0] if n >= 28 else None
            return cls(fam, raw, IPv6Address(raw[8:24]), port, flow, scope)
        if fam == AF_UNIX:
            name = raw[2:]
            if name[:1] == b"\0":
                return cls(fam, raw, path=name[1:], abstract=True)
            return cls(fam, raw, path=name.split(b"\0", 1)[0])
        if fam == AF_NETLINK and n >= 8:
            pid = struct.unpack_from("<I", raw, 4)[0]
            groups = struct.unpack_from("<I", raw, 8)[0] if n >= 12 else None
            return cls(fam, raw, nl_pid=pid, nl_groups=groups)
        return cls(fam, raw)

    @property
    def inet(self) -> tuple[str, int] | None:
        """(ip, port) of an AF_INET/AF_INET6 address, else None."""
        if self.ip is None or self.port is None:
            return None
        return str(self.ip), self.port


def with_inet(raw: bytes, ip: str, port: int) -> bytes:
    """The sockaddr_in/in6 ``raw`` with another address and port of the same IP version."""
    import ipaddress
    addr = ipaddress.ip_address(ip)
    out = bytearray(raw)
    struct.pack_into(">H", out, 2, port)
    if addr.version == 4:
        out[4:8] = addr.packed
    else:
        out[8:24] = addr.packed
    return bytes(out)


def pack_inet(host: str, port: int) -> bytes:
    """struct sockaddr_in / sockaddr_in6 for (host, port)."""
    import ipaddress
    ip = ipaddress.ip_address(host)
    if ip.version == 4:
        return struct.pack("<H", AF_INET) + struct.pack(">H", port) + ip.packed + bytes(8)
    return (struct.pack("<H", AF_INET6) + struct.pack(">HI", port, 0) + ip.packed
            + struct.pack("<I", 0))
