"""Network family: sockaddr families, socket domains and types."""
from __future__ import annotations

import ipaddress
import struct as _struct

from .common import enum, escape_bytes, flags, s32, u32
from .registry import enum_set, flag_set

AF = {0: "AF_UNSPEC", 1: "AF_UNIX", 2: "AF_INET", 10: "AF_INET6", 16: "AF_NETLINK",
      17: "AF_PACKET", 4: "AF_IPX", 5: "AF_APPLETALK", 9: "AF_X25", 15: "AF_KEY",
      29: "AF_CAN", 31: "AF_BLUETOOTH", 38: "AF_ALG", 40: "AF_VSOCK", 44: "AF_XDP"}


def sockaddr(data: bytes) -> str:
    if len(data) < 2:
        return "{sa_family=AF_UNSPEC}" if not data else "{...}"
    fam = _struct.unpack_from("<H", data)[0]
    name = AF.get(fam, str(fam))
    if fam == 2 and len(data) >= 8:
        port = _struct.unpack_from(">H", data, 2)[0]
        addr = ipaddress.IPv4Address(data[4:8])
        return f'{{sa_family=AF_INET, sin_port=htons({port}), sin_addr=inet_addr("{addr}")}}'
    if fam == 10 and len(data) >= 24:
        port, flow = _struct.unpack_from(">HI", data, 2)
        addr = ipaddress.IPv6Address(data[8:24])
        scope = _struct.unpack_from("<I", data, 24)[0] if len(data) >= 28 else 0
        return (f'{{sa_family=AF_INET6, sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), '
                f'inet_pton(AF_INET6, "{addr}", &sin6_addr), sin6_scope_id={scope}}}')
    if fam == 1:
        path = data[2:]
        if path[:1] == b"\0":
            return f'{{sa_family=AF_UNIX, sun_path=@"{escape_bytes(path[1:].rstrip(bytes(1)))}"}}'
        if not path:
            return "{sa_family=AF_UNIX}"
        return f'{{sa_family=AF_UNIX, sun_path="{escape_bytes(path.split(bytes(1), 1)[0])}"}}'
    if fam == 16 and len(data) >= 12:
        pid, groups = _struct.unpack_from("<II", data, 4)
        return f"{{sa_family=AF_NETLINK, nl_pid={pid}, nl_groups={groups:08x}}}"
    raw = escape_bytes(data[2:])
    return f'{{sa_family={name}, sa_data="{raw}"}}'


@enum_set("socket_domain")
def socket_domain(v: int) -> str:
    return enum(s32(v), AF)


SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
              5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}


@flag_set("socket_type")
def socket_type(v: int) -> str:
    v = u32(v)
    base = SOCK_TYPES.get(v & 0xF, str(v & 0xF))
    rest = flags(v & ~0xF, [(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")], zero=None)
    return base if rest == "0" else f"{base}|{rest}"


@flag_set("sock_flags")
def sock_flags(v: int) -> str:
    return flags(u32(v), [(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")])


MSG_FLAGS = [(1, "MSG_OOB"), (2, "MSG_PEEK"), (4, "MSG_DONTROUTE"), (8, "MSG_CTRUNC"),
             (0x10, "MSG_PROXY"), (0x20, "MSG_TRUNC"), (0x40, "MSG_DONTWAIT"), (0x80, "MSG_EOR"),
             (0x100, "MSG_WAITALL"), (0x200, "MSG_FIN"), (0x400, "MSG_SYN"),
             (0x800, "MSG_CONFIRM"), (0x1000, "MSG_RST"), (0x2000, "MSG_ERRQUEUE"),
             (0x4000, "MSG_NOSIGNAL"), (0x8000, "MSG_MORE"), (0x10000, "MSG_WAITFORONE"),
             (0x40000000, "MSG_CMSG_CLOEXEC")]


@flag_set("msg_flags")
def msg_flags(v: int) -> str:
    return flags(u32(v), MSG_FLAGS)


@enum_set("shutdown_how")
def shutdown_how(v: int) -> str:
    return enum(s32(v), {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"})


@enum_set("sockopt_level")
def sockopt_level(v: int) -> str:
    return enum(s32(v), {1: "SOL_SOCKET", 0: "SOL_IP", 6: "SOL_TCP", 17: "SOL_UDP",
                         41: "SOL_IPV6", 270: "SOL_NETLINK"})
