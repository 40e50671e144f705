"""Socket addresses as strace prints them: sockaddr structures (``sockaddr``,
``sockaddr_or_addr``) and the -yy text of a socket fd (``socket_description``).

Both the argument formatters (veil.decoders.kinds) and the network family
(veil.decoders.net) use these."""
from __future__ import annotations

import ipaddress
import struct as _struct

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

AF = {0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 3: "AF_AX25", 4: "AF_IPX", 5: "AF_APPLETALK",
      6: "AF_NETROM", 7: "AF_BRIDGE", 8: "AF_ATMPVC", 9: "AF_X25", 10: "AF_INET6",
      11: "AF_ROSE", 12: "AF_DECnet", 13: "AF_NETBEUI", 14: "AF_SECURITY", 15: "AF_KEY",
      16: "AF_NETLINK", 17: "AF_PACKET", 18: "AF_ASH", 19: "AF_ECONET", 20: "AF_ATMSVC",
      21: "AF_RDS", 22: "AF_SNA", 23: "AF_IRDA", 24: "AF_PPPOX", 25: "AF_WANPIPE",
      26: "AF_LLC", 27: "AF_IB", 28: "AF_MPLS", 29: "AF_CAN", 30: "AF_TIPC",
      31: "AF_BLUETOOTH", 32: "AF_IUCV", 33: "AF_RXRPC", 34: "AF_ISDN", 35: "AF_PHONET",
      36: "AF_IEEE802154", 37: "AF_CAIF", 38: "AF_ALG", 39: "AF_NFC", 40: "AF_VSOCK",
      41: "AF_KCM", 42: "AF_QIPCRTR", 43: "AF_SMC", 44: "AF_XDP", 45: "AF_MCTP"}


def _inet4(data: bytes, off: int) -> str:
    return str(ipaddress.IPv4Address(data[off:off + 4]))


def sockaddr(data: bytes, hex_all: int = 0) -> str:
    """A socket address of len(data) bytes, in strace's notation."""
    if data is None:
        raise DecodeError("no sockaddr")
    n = len(data)
    if n < 2:
        return "{sa_family=AF_UNSPEC}" if not n else '{sa_data="' + escape_bytes(data) + '"}'
    fam = _struct.unpack_from("<H", data)[0]
    name = xval(fam, AF, "AF_???")
    if fam == 2 and n >= 8:  # sockaddr_in (sin_zero need not be there)
        port = _struct.unpack_from(">H", data, 2)[0]
        return (f'{{sa_family=AF_INET, sin_port=htons({port}), '
                f'sin_addr=inet_addr("{_inet4(data, 4)}")}}')
    if fam == 10 and n >= 24:
        port, flow = _struct.unpack_from(">HI", data, 2)
        addr = ipaddress.IPv6Address(data[8:24])
        text = (f'{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), '
                f'inet_pton(AF_INET6, "{addr.compressed}", &sin6_addr)')
        if n >= 28:
            text += f", sin6_scope_id={_struct.unpack_from('<I', data, 24)[0]}"
        return text + "}"
    if fam == 1:
        path = data[2:]
        if not path:
            return "{sa_family=AF_UNIX}"
        if path[:1] == b"\0":  # abstract: the length bounds it, NULs and all
            body = path[1:]
            return f'{{sa_family=AF_UNIX, sun_path=@"{escape_bytes(body, hex_all)}"}}'
        return (f'{{sa_family=AF_UNIX, '
                f'sun_path="{escape_bytes(path.split(bytes(1), 1)[0], hex_all)}"}}')
    if fam == 16 and n >= 12:
        pid, groups = _struct.unpack_from("<II", data, 4)
        return f"{{sa_family=AF_NETLINK, nl_pid={pid}, nl_groups={groups:08x}}}"
    if n == 2:
        return f"{{sa_family={name}}}"
    return f'{{sa_family={name}, sa_data="{escape_bytes(data[2:], hex_all)}"}}'


def sockaddr_or_addr(data, length: int, addr: int, hex_all: int = 0) -> str:
    """strace's decode_sockaddr: an address shorter than its family prints as a pointer."""
    if addr == 0:
        return "NULL"
    if data is None or length < 2:
        return ptr(addr)
    return sockaddr(data[:length], hex_all)


def _sockaddr_text(raw: bytes) -> str:
    """ip:port / [ip6]:port of a sockaddr_in/in6."""
    if len(raw) >= 8 and raw[0] == 2:
        return f"{ipaddress.IPv4Address(raw[4:8])}:{_struct.unpack_from('>H', raw, 2)[0]}"
    if len(raw) >= 24 and raw[0] == 10:
        return f"[{ipaddress.IPv6Address(raw[8:24])}]:{_struct.unpack_from('>H', raw, 2)[0]}"
    raise ValueError("not an inet address")


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
