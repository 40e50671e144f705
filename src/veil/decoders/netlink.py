"""Netlink messages, as strace prints the data of a netlink socket.

``[{nlmsg_len=..., nlmsg_type=..., nlmsg_flags=..., nlmsg_seq=..., nlmsg_pid=...}, PAYLOAD]``
for one message, a list of those for several.  The payload header is decoded
for NETLINK_ROUTE (ifinfomsg, ifaddrmsg, rtmsg), NETLINK_SOCK_DIAG (the
inet_diag request and answer) and the generic messages (NLMSG_ERROR with the
message it answers, NLMSG_DONE); route attributes follow as
``[{nla_len=N, nla_type=NAME}, VALUE]``, the values of a few known ones decoded,
the others as strings.

Which fds are netlink sockets, and of which protocol, is what the program's
socket() calls said: ``SOCKETS`` maps (pid, fd) to the protocol, filled by
veil.output.netlinkfds.NetlinkSockets from the recorded calls.
"""
from __future__ import annotations

import struct as _struct

from .common import NETLINK_SOCKETS, errno_name, flags, hex_number, quote_limited, s32, xval
from .sockaddr import AF, IPPROTO

NETLINK_ROUTE, NETLINK_SOCK_DIAG = 0, 4

# (pid, fd) -> netlink protocol of the socket the program made there
SOCKETS = NETLINK_SOCKETS

_HDR = _struct.Struct("<IHHIi")
NLMSG = {1: "NLMSG_NOOP", 2: "NLMSG_ERROR", 3: "NLMSG_DONE", 4: "NLMSG_OVERRUN"}
RTM = {16: "RTM_NEWLINK", 17: "RTM_DELLINK", 18: "RTM_GETLINK", 19: "RTM_SETLINK",
       20: "RTM_NEWADDR", 21: "RTM_DELADDR", 22: "RTM_GETADDR", 24: "RTM_NEWROUTE",
       25: "RTM_DELROUTE", 26: "RTM_GETROUTE", 28: "RTM_NEWNEIGH", 29: "RTM_DELNEIGH",
       30: "RTM_GETNEIGH", 32: "RTM_NEWRULE", 33: "RTM_DELRULE", 34: "RTM_GETRULE",
       36: "RTM_NEWQDISC", 37: "RTM_DELQDISC", 38: "RTM_GETQDISC", 68: "RTM_NEWNETCONF",
       70: "RTM_GETNETCONF", 88: "RTM_NEWNSID", 90: "RTM_GETNSID", 92: "RTM_NEWSTATS",
       94: "RTM_GETSTATS"}
SOCK_DIAG = {18: "TCPDIAG_GETSOCK", 19: "DCCPDIAG_GETSOCK", 20: "SOCK_DIAG_BY_FAMILY",
             21: "SOCK_DESTROY"}
NLM_F = [(0x1, "NLM_F_REQUEST"), (0x2, "NLM_F_MULTI"), (0x4, "NLM_F_ACK"), (0x8, "NLM_F_ECHO"),
         (0x10, "NLM_F_DUMP_INTR"), (0x20, "NLM_F_DUMP_FILTERED")]
NLM_F_GET = [(0x300, "NLM_F_DUMP"), (0x100, "NLM_F_ROOT"), (0x200, "NLM_F_MATCH"),
             (0x400, "NLM_F_ATOMIC")]
NLM_F_NEW = [(0x100, "NLM_F_REPLACE"), (0x200, "NLM_F_EXCL"), (0x400, "NLM_F_CREATE"),
             (0x800, "NLM_F_APPEND")]
NLM_F_DEL = [(0x100, "NLM_F_NONREC"), (0x200, "NLM_F_BULK")]
NLM_F_ACK_EXTRA = [(0x100, "NLM_F_CAPPED"), (0x200, "NLM_F_ACK_TLVS")]

ARPHRD = {0: "ARPHRD_NETROM", 1: "ARPHRD_ETHER", 24: "ARPHRD_IEEE1394", 512: "ARPHRD_PPP",
          768: "ARPHRD_TUNNEL", 769: "ARPHRD_TUNNEL6", 772: "ARPHRD_LOOPBACK",
          776: "ARPHRD_SIT", 778: "ARPHRD_IPGRE", 65534: "ARPHRD_NONE", 65535: "ARPHRD_VOID"}
IFF = [(0x1, "IFF_UP"), (0x2, "IFF_BROADCAST"), (0x4, "IFF_DEBUG"), (0x8, "IFF_LOOPBACK"),
       (0x10, "IFF_POINTOPOINT"), (0x20, "IFF_NOTRAILERS"), (0x40, "IFF_RUNNING"),
       (0x80, "IFF_NOARP"), (0x100, "IFF_PROMISC"), (0x200, "IFF_ALLMULTI"),
       (0x400, "IFF_MASTER"), (0x800, "IFF_SLAVE"), (0x1000, "IFF_MULTICAST"),
       (0x2000, "IFF_PORTSEL"), (0x4000, "IFF_AUTOMEDIA"), (0x8000, "IFF_DYNAMIC"),
       (0x10000, "IFF_LOWER_UP"), (0x20000, "IFF_DORMANT"), (0x40000, "IFF_ECHO")]
IFA_F = [(0x1, "IFA_F_SECONDARY"), (0x2, "IFA_F_NODAD"), (0x4, "IFA_F_OPTIMISTIC"),
         (0x8, "IFA_F_DADFAILED"), (0x10, "IFA_F_HOMEADDRESS"), (0x20, "IFA_F_DEPRECATED"),
         (0x40, "IFA_F_TENTATIVE"), (0x80, "IFA_F_PERMANENT")]
RT_SCOPE = {0: "RT_SCOPE_UNIVERSE", 200: "RT_SCOPE_SITE", 253: "RT_SCOPE_LINK",
            254: "RT_SCOPE_HOST", 255: "RT_SCOPE_NOWHERE"}
RT_TABLE = {0: "RT_TABLE_UNSPEC", 252: "RT_TABLE_COMPAT", 253: "RT_TABLE_DEFAULT",
            254: "RT_TABLE_MAIN", 255: "RT_TABLE_LOCAL"}
RTPROT = {0: "RTPROT_UNSPEC", 1: "RTPROT_REDIRECT", 2: "RTPROT_KERNEL", 3: "RTPROT_BOOT",
          4: "RTPROT_STATIC", 16: "RTPROT_DHCP"}
RTN = {0: "RTN_UNSPEC", 1: "RTN_UNICAST", 2: "RTN_LOCAL", 3: "RTN_BROADCAST",
       4: "RTN_ANYCAST", 5: "RTN_MULTICAST", 6: "RTN_BLACKHOLE", 7: "RTN_UNREACHABLE",
       8: "RTN_PROHIBIT", 9: "RTN_THROW", 10: "RTN_NAT"}
IFLA = {1: "IFLA_ADDRESS", 2: "IFLA_BROADCAST", 3: "IFLA_IFNAME", 4: "IFLA_MTU",
        5: "IFLA_LINK", 6: "IFLA_QDISC", 7: "IFLA_STATS", 13: "IFLA_TXQLEN",
        16: "IFLA_OPERSTATE", 17: "IFLA_LINKMODE", 29: "IFLA_EXT_MASK", 30: "IFLA_PROMISCUITY",
        31: "IFLA_NUM_TX_QUEUES", 32: "IFLA_NUM_RX_QUEUES", 33: "IFLA_CARRIER",
        50: "IFLA_MIN_MTU", 51: "IFLA_MAX_MTU"}
IFA = {1: "IFA_ADDRESS", 2: "IFA_LOCAL", 3: "IFA_LABEL", 4: "IFA_BROADCAST",
       5: "IFA_ANYCAST", 6: "IFA_CACHEINFO", 7: "IFA_MULTICAST", 8: "IFA_FLAGS"}
RTA = {1: "RTA_DST", 2: "RTA_SRC", 3: "RTA_IIF", 4: "RTA_OIF", 5: "RTA_GATEWAY",
       6: "RTA_PRIORITY", 7: "RTA_PREFSRC", 15: "RTA_TABLE"}
INET_DIAG = {1: "INET_DIAG_MEMINFO", 2: "INET_DIAG_INFO", 3: "INET_DIAG_VEGASINFO",
             4: "INET_DIAG_CONG", 5: "INET_DIAG_TOS", 6: "INET_DIAG_TCLASS",
             7: "INET_DIAG_SKMEMINFO", 8: "INET_DIAG_SHUTDOWN", 9: "INET_DIAG_DCTCPINFO",
             10: "INET_DIAG_PROTOCOL", 11: "INET_DIAG_SKV6ONLY", 12: "INET_DIAG_LOCALS",
             13: "INET_DIAG_PEERS", 14: "INET_DIAG_PAD", 15: "INET_DIAG_MARK",
             16: "INET_DIAG_BBRINFO", 17: "INET_DIAG_CLASS_ID", 18: "INET_DIAG_MD5SIG",
             19: "INET_DIAG_ULP_INFO", 20: "INET_DIAG_SK_BPF_STORAGES",
             21: "INET_DIAG_CGROUP_ID", 22: "INET_DIAG_SOCKOPT"}
_STRING_ATTRS = {("diag", 4), ("link", 3), ("link", 6), ("addr", 3)}
_U32_ATTRS = {("link", 4), ("link", 5), ("link", 13), ("link", 30), ("link", 31), ("link", 32),
              ("link", 50), ("link", 51), ("route", 4), ("route", 6), ("route", 15),
              ("addr", 8), ("route", 3),
              ("diag", 15), ("diag", 17)}
RTEXT_FILTER = [(0x1, "RTEXT_FILTER_VF"), (0x2, "RTEXT_FILTER_BRVLAN"),
                (0x4, "RTEXT_FILTER_BRVLAN_COMPRESSED"), (0x8, "RTEXT_FILTER_SKIP_STATS"),
                (0x10, "RTEXT_FILTER_MRP"), (0x20, "RTEXT_FILTER_CFM_CONFIG"),
                (0x40, "RTEXT_FILTER_CFM_STATUS"), (0x80, "RTEXT_FILTER_MST")]
_U64_ATTRS = {("diag", 21)}
_U8_ATTRS = {("diag", 5), ("diag", 6), ("diag", 8), ("diag", 10), ("diag", 11), ("link", 16), ("link", 17), ("link", 33)}
TCP_STATES = ["TCP_ESTABLISHED", "TCP_SYN_SENT", "TCP_SYN_RECV", "TCP_FIN_WAIT1",
              "TCP_FIN_WAIT2", "TCP_TIME_WAIT", "TCP_CLOSE", "TCP_CLOSE_WAIT", "TCP_LAST_ACK",
              "TCP_LISTEN", "TCP_CLOSING", "TCP_NEW_SYN_RECV"]


def protocol_of(pid: int, fd: int) -> int | None:
    return SOCKETS.get((pid, fd))


def _type_name(typ: int, protocol: int) -> str:
    if typ in NLMSG:
        return NLMSG[typ]
    table = RTM if protocol == NETLINK_ROUTE else SOCK_DIAG if protocol == NETLINK_SOCK_DIAG \
        else {}
    return xval(typ, table, "RTM_???" if protocol == NETLINK_ROUTE else "NLMSG_???")


def _flags(value: int, typ: int, protocol: int) -> str:
    extra: list[tuple[int, str]] = []
    if typ == 2:
        extra = NLM_F_ACK_EXTRA
    elif protocol == NETLINK_ROUTE and typ >= 16:
        extra = [NLM_F_NEW, NLM_F_DEL, NLM_F_GET, NLM_F_NEW][typ % 4]
    elif protocol == NETLINK_SOCK_DIAG and typ in SOCK_DIAG:
        extra = NLM_F_GET
    return flags(value, NLM_F + extra, dflt="NLM_F_???")


def header(data: bytes, protocol: int) -> tuple[str, int, int, int]:
    """The nlmsghdr text, and its length, type and flags."""
    ln, typ, fl, seq, pid = _HDR.unpack_from(data)
    return (f"{{nlmsg_len={ln}, nlmsg_type={_type_name(typ, protocol)}, "
            f"nlmsg_flags={_flags(fl, typ, protocol)}, nlmsg_seq={seq}, nlmsg_pid={pid}}}",
            ln, typ, fl)


def _ifindex(index: int) -> str:
    """An interface index as strace prints it: if_nametoindex("lo") when veil's
    network namespace has that interface (the tracee's, unless it changed)."""
    if index <= 0:
        return str(index)
    try:
        import socket as _socket  # only here: its import is a tenth of veil trace's start
        return f'if_nametoindex("{_socket.if_indextoname(index)}")'
    except OSError:
        return str(index)


def _ifinfomsg(d: bytes) -> str:
    family, typ, index, fl, change = _struct.unpack_from("<BxHiII", d)
    return (f"{{ifi_family={xval(family, AF, 'AF_???')}, ifi_type={xval(typ, ARPHRD, 'ARPHRD_???')}"
            f", ifi_index={_ifindex(index)}, ifi_flags={flags(fl, IFF, dflt='IFF_???')}, "
            f"ifi_change={hex_number(change)}}}")


def _ifaddrmsg(d: bytes) -> str:
    family, prefixlen, fl, scope, index = _struct.unpack_from("<BBBBi", d)
    return (f"{{ifa_family={xval(family, AF, 'AF_???')}, ifa_prefixlen={prefixlen}, "
            f"ifa_flags={flags(fl, IFA_F, dflt='IFA_F_???')}, "
            f"ifa_scope={xval(scope, RT_SCOPE, 'RT_SCOPE_???')}, ifa_index={_ifindex(index)}}}")


def _rtmsg(d: bytes) -> str:
    family, dst, src, tos, table, proto, scope, typ, fl = _struct.unpack_from("<BBBBBBBBI", d)
    return (f"{{rtm_family={xval(family, AF, 'AF_???')}, rtm_dst_len={dst}, rtm_src_len={src}, "
            f"rtm_tos={tos}, rtm_table={xval(table, RT_TABLE, 'RT_TABLE_???')}, "
            f"rtm_protocol={xval(proto, RTPROT, 'RTPROT_???')}, "
            f"rtm_scope={xval(scope, RT_SCOPE, 'RT_SCOPE_???')}, "
            f"rtm_type={xval(typ, RTN, 'RTN_???')}, rtm_flags={hex_number(fl)}}}")


_ROUTE_BODIES = {"link": (16, _ifinfomsg, IFLA, "IFLA_???"),
                 "addr": (8, _ifaddrmsg, IFA, "IFA_???"),
                 "route": (12, _rtmsg, RTA, "RTA_???")}


def _route_kind(typ: int) -> str | None:
    if 16 <= typ <= 19:
        return "link"
    if 20 <= typ <= 23:
        return "addr"
    if 24 <= typ <= 27:
        return "route"
    return None


def _attrs(d: bytes, kind: str, names: dict[int, str], dflt: str, ctx) -> str:
    out = []
    pos = 0
    while pos + 4 <= len(d):
        ln, typ = _struct.unpack_from("<HH", d, pos)
        if ln < 4:
            break
        value = d[pos + 4:pos + ln]
        key = (kind, typ & 0x3FFF)
        if key in _STRING_ATTRS:
            text = quote_limited(value.rstrip(b"\0"), len(value.rstrip(b"\0")), ctx.strsize,
                                 ctx.hex_all)
        elif key == ("link", 29) and len(value) == 4:
            text = flags(int.from_bytes(value, "little"), RTEXT_FILTER, dflt="RTEXT_FILTER_???")
        elif key in _U32_ATTRS and len(value) == 4:
            text = str(int.from_bytes(value, "little"))
        elif key in _U64_ATTRS and len(value) == 8:
            text = str(int.from_bytes(value, "little"))
        elif key in _U8_ATTRS and len(value) == 1:
            text = str(value[0])
        else:
            text = quote_limited(value, ln - 4, ctx.strsize, 1)
        out.append(f"[{{nla_len={ln}, nla_type={xval(typ & 0x3FFF, names, dflt)}}}, {text}]")
        pos += (ln + 3) & ~3
    if pos < len(d):
        out.append("...")
    return "[" + ", ".join(out) + "]"


def _inet_diag_id(d: bytes, at: int, family: int) -> str:
    sport, dport = _struct.unpack_from(">HH", d, at)
    src, dst = d[at + 4:at + 20], d[at + 20:at + 36]
    iface, c1, c2 = _struct.unpack_from("<III", d, at + 36)
    return (f"{{idiag_sport=htons({sport}), idiag_dport=htons({dport}), "
            f"{_addr(src, family, 'idiag_src')}, {_addr(dst, family, 'idiag_dst')}, "
            f"idiag_if={iface}, idiag_cookie=[{c1}, {c2}]}}")


def _addr(raw: bytes, family: int, field: str) -> str:
    import socket as _socket
    if family == _socket.AF_INET6:
        return f'inet_pton(AF_INET6, "{_socket.inet_ntop(_socket.AF_INET6, raw)}", &{field})'
    return f'{field}=inet_addr("{_socket.inet_ntop(_socket.AF_INET, raw[:4])}")'


def _states(mask: int) -> str:
    names = [f"1<<{name}" for k, name in enumerate(TCP_STATES, 1) if mask >> k & 1]
    rest = mask & ~sum(1 << k for k in range(1, len(TCP_STATES) + 1))
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names) if names else "0"


def _inet_diag_req(d: bytes) -> str:
    family, proto, ext, _pad, states = _struct.unpack_from("<BBBBI", d)
    return (f"{{sdiag_family={xval(family, AF, 'AF_???')}, "
            f"sdiag_protocol={xval(proto, IPPROTO, 'IPPROTO_???')}, idiag_ext={ext}, "
            f"idiag_states={_states(states)}, id={_inet_diag_id(d, 8, family)}}}")


def _inet_diag_msg(d: bytes) -> str:
    family, state, timer, retrans = _struct.unpack_from("<BBBB", d)
    expires, rqueue, wqueue, uid, inode = _struct.unpack_from("<IIIII", d, 52)
    state_name = TCP_STATES[state - 1] if 1 <= state <= len(TCP_STATES) else str(state)
    return (f"{{idiag_family={xval(family, AF, 'AF_???')}, idiag_state={state_name}, "
            f"idiag_timer={timer}, idiag_retrans={retrans}, id={_inet_diag_id(d, 4, family)}, "
            f"idiag_expires={expires}, idiag_rqueue={rqueue}, idiag_wqueue={wqueue}, "
            f"idiag_uid={uid}, idiag_inode={inode}}}")


def _payload(body: bytes, typ: int, fl: int, protocol: int, ctx, depth: int) -> str | None:
    """The text after the header, None if nothing follows it."""
    if not body:
        return None
    if typ == 3 and len(body) >= 4:  # NLMSG_DONE
        return str(s32(int.from_bytes(body[:4], "little")))
    if typ == 2 and len(body) >= 4:  # NLMSG_ERROR: the error, and the request it answers
        err = s32(int.from_bytes(body[:4], "little"))
        text = f"-{errno_name(-err)}" if err < 0 else str(err)
        inner = body[4:]
        if len(inner) >= _HDR.size and depth == 0:
            return f"{{error={text}, msg={messages(inner, len(inner), protocol, ctx, 1)}}}"
        return f"{{error={text}}}"
    if protocol == NETLINK_ROUTE:
        kind = _route_kind(typ)
        if kind is not None:
            size, decode, names, dflt = _ROUTE_BODIES[kind]
            if len(body) >= size:
                head = decode(body)
                if len(body) > size:
                    return f"{head}, {_attrs(body[size:], kind, names, dflt, ctx)}"
                return head
    if protocol == NETLINK_SOCK_DIAG and typ in (18, 20):
        if fl & 0x1 and len(body) >= 56 and body[0] in (2, 10):  # a request from the program
            return _inet_diag_req(body)
        if len(body) >= 72 and body[0] in (2, 10):
            if len(body) > 72:
                return f"{_inet_diag_msg(body)}, {_attrs(body[72:], 'diag', INET_DIAG, 'INET_DIAG_???', ctx)}"
            return _inet_diag_msg(body)
    return quote_limited(body, len(body), ctx.strsize, ctx.hex_all)


def messages(data: bytes, total: int, protocol: int, ctx, depth: int = 0) -> str | None:
    """The netlink messages in ``data`` (the first bytes of ``total``), or None
    if it does not begin with a whole header."""
    items = []
    pos = 0
    while pos + _HDR.size <= len(data) and pos + _HDR.size <= total:
        text, ln, typ, fl = header(data[pos:], protocol)
        if ln < _HDR.size:
            items.append(f"[{text}]")
            break
        body = data[pos + _HDR.size:pos + ln]
        payload = _payload(body, typ, fl, protocol, ctx, depth)
        if payload is not None and len(body) < ln - _HDR.size:
            payload += "..." if payload.endswith('"') else ", ..."
        items.append(f"[{text}, {payload}]" if payload is not None else f"[{text}]")
        pos += (ln + 3) & ~3
    if not items:
        return None
    more = pos < total and pos >= len(data)
    if len(items) == 1 and not more:
        return items[0]
    return "[" + ", ".join(items) + (", ..." if more else "") + "]"
