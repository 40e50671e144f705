"""Socket addresses as strace prints them: sockaddr structures (``sockaddr``,
``sockaddr_or_addr``) and the -yy text of a socket fd (``socket_description``).

Both the argument formatters (veil.decoders.kinds) and the network family
(veil.decoders.net) use these."""
from __future__ import annotations

from ..sockaddr import AF, AF_INET, AF_INET6, AF_NETLINK, AF_UNIX, SockAddr  # noqa: F401 (AF re-exported)
from .common import DecodeError, escape_bytes, ptr, xval

IPPROTO = {0: "IPPROTO_IP", 1: "IPPROTO_ICMP", 2: "IPPROTO_IGMP", 4: "IPPROTO_IPIP",
           6: "IPPROTO_TCP", 8: "IPPROTO_EGP", 12: "IPPROTO_PUP", 17: "IPPROTO_UDP",
           22: "IPPROTO_IDP", 29: "IPPROTO_TP", 33: "IPPROTO_DCCP", 41: "IPPROTO_IPV6",
           46: "IPPROTO_RSVP", 47: "IPPROTO_GRE", 50: "IPPROTO_ESP", 51: "IPPROTO_AH",
           58: "IPPROTO_ICMPV6", 92: "IPPROTO_MTP", 94: "IPPROTO_BEETPH",
           98: "IPPROTO_ENCAP", 103: "IPPROTO_PIM", 108: "IPPROTO_COMP", 115: "IPPROTO_L2TP",
           132: "IPPROTO_SCTP", 135: "IPPROTO_MH", 136: "IPPROTO_UDPLITE",
           137: "IPPROTO_MPLS", 143: "IPPROTO_ETHERNET", 255: "IPPROTO_RAW",
           262: "IPPROTO_MPTCP"}


def sockaddr(data: bytes, hex_all: int = 0) -> str:
    """A socket address of len(data) bytes, in strace's notation."""
    if data is None:
        raise DecodeError("no sockaddr")
    sa = SockAddr.parse(data)
    if sa.family is None:
        return "{sa_family=AF_UNSPEC}" if not data else '{sa_data="' + escape_bytes(data) + '"}'
    if sa.family == AF_INET and sa.ip is not None:  # sockaddr_in (sin_zero need not be there)
        return (f'{{sa_family=AF_INET, sin_port=htons({sa.port}), '
                f'sin_addr=inet_addr("{sa.ip}")}}')
    if sa.family == AF_INET6 and sa.ip is not None:
        text = (f'{{sa_family=AF_INET6, sin6_port=htons({sa.port}), '
                f'sin6_flowinfo=htonl({sa.flowinfo}), '
                f'inet_pton(AF_INET6, "{sa.ip.compressed}", &sin6_addr)')
        if sa.scope_id is not None:
            text += f", sin6_scope_id={sa.scope_id}"
        return text + "}"
    if sa.family == AF_UNIX:
        if sa.abstract:  # the length bounds it, NULs and all
            return f'{{sa_family=AF_UNIX, sun_path=@"{escape_bytes(sa.path, hex_all)}"}}'
        if len(sa.raw) == 2:
            return "{sa_family=AF_UNIX}"
        return f'{{sa_family=AF_UNIX, sun_path="{escape_bytes(sa.path, hex_all)}"}}'
    if sa.family == AF_NETLINK and sa.nl_groups is not None:
        return f"{{sa_family=AF_NETLINK, nl_pid={sa.nl_pid}, nl_groups={sa.nl_groups:08x}}}"
    name = xval(sa.family, AF, "AF_???")
    if len(sa.raw) == 2:
        return f"{{sa_family={name}}}"
    return f'{{sa_family={name}, sa_data="{escape_bytes(sa.raw[2:], hex_all)}"}}'


def sockaddr_or_addr(data, length: int, addr: int, hex_all: int = 0) -> str:
    """strace's decode_sockaddr: an address shorter than its family prints as a pointer."""
    if addr == 0:
        return "NULL"
    if data is None or length < 2:
        return ptr(addr)
    return sockaddr(data[:length], hex_all)


def _sockaddr_text(raw: bytes) -> str:
    """ip:port / [ip6]:port of a sockaddr_in/in6."""
    sa = SockAddr.parse(raw)
    if sa.ip is None:
        raise ValueError("not an inet address")
    return f"{sa.ip}:{sa.port}" if sa.family == AF_INET else f"[{sa.ip}]:{sa.port}"


def socket_description(data: bytes) -> str:
    """-yy text of a socket fd from C's capture
    "socket:[INO]\\0PROTO\\0LOCAL,REMOTE\\0PEER\\0NAME" (addresses as hex sockaddrs)."""
    parts = data.split(b"\0")
    target, proto, line, peer, name = (parts + [b""] * 5)[:5]
    ino = target[8:-1].decode(errors="replace") if target.startswith(b"socket:[") else "?"
    proto_s = proto.decode(errors="replace") or "socket"
    if proto_s.startswith("UNIX"):
        inner = ino + (f"->{peer.decode()}" if peer else "")
        if name:
            inner += ',"' + escape_bytes(name) + '"'
        return f"{proto_s}:[{inner}]"
    local_hex, _, remote_hex = line.decode(errors="replace").partition(",")
    try:
        local = _sockaddr_text(bytes.fromhex(local_hex))
    except ValueError:
        return f"{proto_s}:[{ino}]"
    if local.endswith(":0") and local.startswith(("0.0.0.0", "[::]")):
        return f"{proto_s}:[{ino}]"  # not bound yet
    try:
        return f"{proto_s}:[{local}->{_sockaddr_text(bytes.fromhex(remote_hex))}]"
    except ValueError:
        return f"{proto_s}:[{local}]"
