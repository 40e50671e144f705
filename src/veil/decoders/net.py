"""Network family: sockets, socket options, msghdr and cmsg (socket addresses are in
veil.decoders.sockaddr)."""
from __future__ import annotations

import struct as _struct

from .. import records as R
from . import capture
from .common import DecodeError, array, flags, ptr, quote_limited, s32, u32, unpack, xval
from .kinds import fd_decoration, fmt_fd, format_arg, iov_text, netlink_data
from .registry import EXTRA_CAPTURES, enum_set, flag_set, special, struct
from .sockaddr import AF, IPPROTO, sockaddr, sockaddr_or_addr, socket_description  # noqa: F401 (re-exported)

NETLINK_PROTO = {0: "NETLINK_ROUTE", 1: "NETLINK_UNUSED", 2: "NETLINK_USERSOCK",
                 3: "NETLINK_FIREWALL", 4: "NETLINK_SOCK_DIAG", 5: "NETLINK_NFLOG",
                 6: "NETLINK_XFRM", 7: "NETLINK_SELINUX", 8: "NETLINK_ISCSI",
                 9: "NETLINK_AUDIT", 10: "NETLINK_FIB_LOOKUP", 11: "NETLINK_CONNECTOR",
                 12: "NETLINK_NETFILTER", 13: "NETLINK_IP6_FW", 14: "NETLINK_DNRTMSG",
                 15: "NETLINK_KOBJECT_UEVENT", 16: "NETLINK_GENERIC", 18: "NETLINK_SCSITRANSPORT",
                 19: "NETLINK_ECRYPTFS", 20: "NETLINK_RDMA", 21: "NETLINK_CRYPTO",
                 22: "NETLINK_SMC"}


@enum_set("socket_domain")
def socket_domain(v: int) -> str:
    return xval(u32(v), AF, "AF_???")


SOCK_TYPES = {1: "SOCK_STREAM", 2: "SOCK_DGRAM", 3: "SOCK_RAW", 4: "SOCK_RDM",
              5: "SOCK_SEQPACKET", 6: "SOCK_DCCP", 10: "SOCK_PACKET"}
SOCK_FLAGS = [(0o2000000, "SOCK_CLOEXEC"), (0o4000, "SOCK_NONBLOCK")]


@flag_set("socket_type")
def socket_type(v: int) -> str:
    v = u32(v)
    base = SOCK_TYPES.get(v & 0xF)
    if base is None:
        return flags(v, SOCK_FLAGS, dflt="SOCK_???")
    rest = v & ~0xF
    return base if not rest else f"{base}|{flags(rest, SOCK_FLAGS, dflt='SOCK_???')}"


@flag_set("sock_flags")
def sock_flags(v: int) -> str:
    return flags(u32(v), SOCK_FLAGS, dflt="SOCK_???")


def socket_protocol(domain: int, proto: int) -> str:
    proto = u32(proto)
    if domain in (2, 10):
        return xval(proto, IPPROTO, "IPPROTO_???")
    if domain == 16:
        return xval(proto, NETLINK_PROTO, "NETLINK_???")
    return str(proto)


@special("socket")
def _socket(call, ctx):
    a = call.args
    return [socket_domain(a[0]), socket_type(a[1]), socket_protocol(u32(a[0]), a[2])]


@special("socketpair")
def _socketpair(call, ctx):
    a = call.args
    return [socket_domain(a[0]), socket_type(a[1]), str(u32(a[2])),
            format_arg(call, 3, "outstruct:int2", ctx)]


MSG_FLAGS = [(1, "MSG_OOB"), (2, "MSG_PEEK"), (4, "MSG_DONTROUTE"), (8, "MSG_CTRUNC"),
             (0x10, "MSG_PROBE"), (0x20, "MSG_TRUNC"), (0x40, "MSG_DONTWAIT"), (0x80, "MSG_EOR"),
             (0x100, "MSG_WAITALL"), (0x200, "MSG_FIN"), (0x400, "MSG_SYN"),
             (0x800, "MSG_CONFIRM"), (0x1000, "MSG_RST"), (0x2000, "MSG_ERRQUEUE"),
             (0x4000, "MSG_NOSIGNAL"), (0x8000, "MSG_MORE"), (0x10000, "MSG_WAITFORONE"),
             (0x20000, "MSG_SENDPAGE_NOPOLICY"), (0x40000, "MSG_SENDPAGE_NOTLAST"),
             (0x80000, "MSG_BATCH"), (0x4000000, "MSG_ZEROCOPY"), (0x20000000, "MSG_FASTOPEN"),
             (0x40000000, "MSG_CMSG_CLOEXEC")]


@flag_set("msg_flags")
def msg_flags(v: int) -> str:
    return flags(u32(v), MSG_FLAGS, dflt="MSG_???")


@enum_set("shutdown_how")
def shutdown_how(v: int) -> str:
    return xval(u32(v), {0: "SHUT_RD", 1: "SHUT_WR", 2: "SHUT_RDWR"}, "SHUT_???")


SOL = {0: "SOL_IP", 1: "SOL_SOCKET", 6: "SOL_TCP", 17: "SOL_UDP", 41: "SOL_IPV6",
       58: "SOL_ICMPV6", 132: "SOL_SCTP", 136: "SOL_UDPLITE", 255: "SOL_RAW",
       256: "SOL_IPX", 257: "SOL_AX25", 258: "SOL_ATALK", 259: "SOL_NETROM",
       260: "SOL_ROSE", 261: "SOL_DECNET", 263: "SOL_PACKET", 264: "SOL_ATM",
       265: "SOL_AAL", 266: "SOL_IRDA", 267: "SOL_NETBEUI", 268: "SOL_LLC",
       269: "SOL_DCCP", 270: "SOL_NETLINK", 271: "SOL_TIPC", 272: "SOL_RXRPC",
       273: "SOL_PPPOL2TP", 274: "SOL_BLUETOOTH", 275: "SOL_PNPIPE", 276: "SOL_RDS",
       277: "SOL_IUCV", 278: "SOL_CAIF", 279: "SOL_ALG", 280: "SOL_NFC", 281: "SOL_KCM",
       282: "SOL_TLS", 283: "SOL_XDP", 284: "SOL_MPTCP", 285: "SOL_MCTP", 286: "SOL_SMC",
       101: "SOL_CAN_RAW"}


@enum_set("sockopt_level")
def sockopt_level(v: int) -> str:
    return xval(u32(v), SOL, "SOL_??")


SO = {1: "SO_DEBUG", 2: "SO_REUSEADDR", 3: "SO_TYPE", 4: "SO_ERROR", 5: "SO_DONTROUTE",
      6: "SO_BROADCAST", 7: "SO_SNDBUF", 8: "SO_RCVBUF", 9: "SO_KEEPALIVE",
      10: "SO_OOBINLINE", 11: "SO_NO_CHECK", 12: "SO_PRIORITY", 13: "SO_LINGER",
      14: "SO_BSDCOMPAT", 15: "SO_REUSEPORT", 16: "SO_PASSCRED", 17: "SO_PEERCRED",
      18: "SO_RCVLOWAT", 19: "SO_SNDLOWAT", 20: "SO_RCVTIMEO_OLD", 21: "SO_SNDTIMEO_OLD",
      22: "SO_SECURITY_AUTHENTICATION", 23: "SO_SECURITY_ENCRYPTION_TRANSPORT",
      24: "SO_SECURITY_ENCRYPTION_NETWORK", 25: "SO_BINDTODEVICE", 26: "SO_ATTACH_FILTER",
      27: "SO_DETACH_FILTER", 28: "SO_PEERNAME", 29: "SO_TIMESTAMP_OLD",
      30: "SO_ACCEPTCONN", 31: "SO_PEERSEC", 32: "SO_SNDBUFFORCE", 33: "SO_RCVBUFFORCE",
      34: "SO_PASSSEC", 35: "SO_TIMESTAMPNS_OLD", 36: "SO_MARK", 37: "SO_TIMESTAMPING_OLD",
      38: "SO_PROTOCOL", 39: "SO_DOMAIN", 40: "SO_RXQ_OVFL", 41: "SO_WIFI_STATUS",
      42: "SO_PEEK_OFF", 43: "SO_NOFCS", 44: "SO_LOCK_FILTER", 45: "SO_SELECT_ERR_QUEUE",
      46: "SO_BUSY_POLL", 47: "SO_MAX_PACING_RATE", 48: "SO_BPF_EXTENSIONS",
      49: "SO_INCOMING_CPU", 50: "SO_ATTACH_BPF", 51: "SO_ATTACH_REUSEPORT_CBPF",
      52: "SO_ATTACH_REUSEPORT_EBPF", 53: "SO_CNX_ADVICE", 54: "SCM_TIMESTAMPING_OPT_STATS",
      55: "SO_MEMINFO", 56: "SO_INCOMING_NAPI_ID", 57: "SO_COOKIE",
      58: "SCM_TIMESTAMPING_PKTINFO", 59: "SO_PEERGROUPS", 60: "SO_ZEROCOPY",
      61: "SO_TXTIME", 62: "SO_BINDTOIFINDEX", 63: "SO_TIMESTAMP_NEW",
      64: "SO_TIMESTAMPNS_NEW", 65: "SO_TIMESTAMPING_NEW", 66: "SO_RCVTIMEO_NEW",
      67: "SO_SNDTIMEO_NEW", 68: "SO_DETACH_REUSEPORT_BPF", 69: "SO_PREFER_BUSY_POLL",
      70: "SO_BUSY_POLL_BUDGET", 71: "SO_NETNS_COOKIE", 72: "SO_BUF_LOCK",
      73: "SO_RESERVE_MEM", 74: "SO_TXREHASH", 75: "SO_RCVMARK"}
# SO_DETACH_FILTER and SO_GET_FILTER share 27, SO_ATTACH_FILTER and SO_GET_FILTER 26
_SO_GET = {26: "SO_GET_FILTER"}
TCP = {1: "TCP_NODELAY", 2: "TCP_MAXSEG", 3: "TCP_CORK", 4: "TCP_KEEPIDLE",
       5: "TCP_KEEPINTVL", 6: "TCP_KEEPCNT", 7: "TCP_SYNCNT", 8: "TCP_LINGER2",
       9: "TCP_DEFER_ACCEPT", 10: "TCP_WINDOW_CLAMP", 11: "TCP_INFO", 12: "TCP_QUICKACK",
       13: "TCP_CONGESTION", 14: "TCP_MD5SIG", 15: "TCP_COOKIE_TRANSACTIONS",
       16: "TCP_THIN_LINEAR_TIMEOUTS", 17: "TCP_THIN_DUPACK", 18: "TCP_USER_TIMEOUT",
       19: "TCP_REPAIR", 20: "TCP_REPAIR_QUEUE", 21: "TCP_QUEUE_SEQ",
       22: "TCP_REPAIR_OPTIONS", 23: "TCP_FASTOPEN", 24: "TCP_TIMESTAMP",
       25: "TCP_NOTSENT_LOWAT", 26: "TCP_CC_INFO", 27: "TCP_SAVE_SYN", 28: "TCP_SAVED_SYN",
       29: "TCP_REPAIR_WINDOW", 30: "TCP_FASTOPEN_CONNECT", 31: "TCP_ULP",
       32: "TCP_MD5SIG_EXT", 33: "TCP_FASTOPEN_KEY", 34: "TCP_FASTOPEN_NO_COOKIE",
       35: "TCP_ZEROCOPY_RECEIVE", 36: "TCP_INQ", 37: "TCP_TX_DELAY"}
IP = {1: "IP_TOS", 2: "IP_TTL", 3: "IP_HDRINCL", 4: "IP_OPTIONS", 5: "IP_ROUTER_ALERT",
      6: "IP_RECVOPTS", 7: "IP_RETOPTS", 8: "IP_PKTINFO", 9: "IP_PKTOPTIONS",
      10: "IP_MTU_DISCOVER", 11: "IP_RECVERR", 12: "IP_RECVTTL", 13: "IP_RECVTOS",
      14: "IP_MTU", 15: "IP_FREEBIND", 16: "IP_IPSEC_POLICY", 17: "IP_XFRM_POLICY",
      18: "IP_PASSSEC", 19: "IP_TRANSPARENT", 20: "IP_ORIGDSTADDR", 21: "IP_MINTTL",
      22: "IP_NODEFRAG", 23: "IP_CHECKSUM", 24: "IP_BIND_ADDRESS_NO_PORT",
      25: "IP_RECVFRAGSIZE", 26: "IP_RECVERR_RFC4884", 32: "IP_MULTICAST_IF",
      33: "IP_MULTICAST_TTL", 34: "IP_MULTICAST_LOOP", 35: "IP_ADD_MEMBERSHIP",
      36: "IP_DROP_MEMBERSHIP", 37: "IP_UNBLOCK_SOURCE", 38: "IP_BLOCK_SOURCE",
      39: "IP_ADD_SOURCE_MEMBERSHIP", 40: "IP_DROP_SOURCE_MEMBERSHIP", 41: "IP_MSFILTER",
      42: "MCAST_JOIN_GROUP", 43: "MCAST_BLOCK_SOURCE", 44: "MCAST_UNBLOCK_SOURCE",
      45: "MCAST_LEAVE_GROUP", 46: "MCAST_JOIN_SOURCE_GROUP", 47: "MCAST_LEAVE_SOURCE_GROUP",
      48: "MCAST_MSFILTER", 49: "IP_MULTICAST_ALL", 50: "IP_UNICAST_IF"}
IPV6 = {1: "IPV6_ADDRFORM", 2: "IPV6_2292PKTINFO", 3: "IPV6_2292HOPOPTS",
        4: "IPV6_2292DSTOPTS", 5: "IPV6_2292RTHDR", 6: "IPV6_2292PKTOPTIONS",
        7: "IPV6_CHECKSUM", 8: "IPV6_2292HOPLIMIT", 9: "IPV6_NEXTHOP", 10: "IPV6_AUTHHDR",
        11: "IPV6_FLOWINFO", 16: "IPV6_UNICAST_HOPS", 17: "IPV6_MULTICAST_IF",
        18: "IPV6_MULTICAST_HOPS", 19: "IPV6_MULTICAST_LOOP", 20: "IPV6_ADD_MEMBERSHIP",
        21: "IPV6_DROP_MEMBERSHIP", 22: "IPV6_ROUTER_ALERT", 23: "IPV6_MTU_DISCOVER",
        24: "IPV6_MTU", 25: "IPV6_RECVERR", 26: "IPV6_V6ONLY", 27: "IPV6_JOIN_ANYCAST",
        28: "IPV6_LEAVE_ANYCAST", 29: "IPV6_MULTICAST_ALL", 30: "IPV6_ROUTER_ALERT_ISOLATE",
        32: "IPV6_FLOWLABEL_MGR", 33: "IPV6_FLOWINFO_SEND", 34: "IPV6_IPSEC_POLICY",
        35: "IPV6_XFRM_POLICY", 36: "IPV6_HDRINCL", 49: "IPV6_RECVPKTINFO",
        50: "IPV6_PKTINFO", 51: "IPV6_RECVHOPLIMIT", 52: "IPV6_HOPLIMIT",
        53: "IPV6_RECVHOPOPTS", 54: "IPV6_HOPOPTS", 55: "IPV6_RTHDRDSTOPTS",
        56: "IPV6_RECVRTHDR", 57: "IPV6_RTHDR", 58: "IPV6_RECVDSTOPTS", 59: "IPV6_DSTOPTS",
        60: "IPV6_RECVPATHMTU", 61: "IPV6_PATHMTU", 62: "IPV6_DONTFRAG",
        66: "IPV6_RECVTCLASS", 67: "IPV6_TCLASS", 68: "IPV6_AUTOFLOWLABEL",
        69: "IPV6_ADDR_PREFERENCES", 70: "IPV6_MINHOPCOUNT", 71: "IPV6_ORIGDSTADDR",
        72: "IPV6_TRANSPARENT", 73: "IPV6_UNICAST_IF", 74: "IPV6_RECVFRAGSIZE",
        75: "IPV6_FREEBIND"}
UDP = {1: "UDP_CORK", 100: "UDP_ENCAP", 101: "UDP_NO_CHECK6_TX", 102: "UDP_NO_CHECK6_RX",
       103: "UDP_SEGMENT", 104: "UDP_GRO"}
NETLINK_OPT = {1: "NETLINK_ADD_MEMBERSHIP", 2: "NETLINK_DROP_MEMBERSHIP",
               3: "NETLINK_PKTINFO", 4: "NETLINK_BROADCAST_ERROR", 5: "NETLINK_NO_ENOBUFS",
               6: "NETLINK_RX_RING", 7: "NETLINK_TX_RING", 8: "NETLINK_LISTEN_ALL_NSID",
               9: "NETLINK_LIST_MEMBERSHIPS", 10: "NETLINK_CAP_ACK", 11: "NETLINK_EXT_ACK",
               12: "NETLINK_GET_STRICT_CHK"}


def sockopt_name(level: int, name: int, getter: bool) -> str:
    level, name = u32(level), u32(name)
    if level == 1:
        if getter and name in _SO_GET:
            return _SO_GET[name]
        return xval(name, SO, "SO_???")
    table = {0: (IP, "IP_???"), 41: (IPV6, "IPV6_???"), 6: (TCP, "TCP_???"),
             17: (UDP, "UDP_???"), 270: (NETLINK_OPT, "NETLINK_???")}.get(level)
    if table is None:
        return str(name)
    return xval(name, table[0], table[1])


# SOL_SOCKET options whose value is an int (strace's "int-like options")
SO_INTS = {1, 2, 5, 6, 7, 8, 9, 10, 11, 12, 14, 15, 16, 18, 19, 27, 29, 30, 32, 33, 34, 35, 36,
           37, 40, 41, 42, 43, 44, 45, 46, 49, 53, 56, 60, 63, 64, 65, 68, 69, 70, 73, 75}


def _int_val(data: bytes) -> str:
    return f"[{s32(int.from_bytes(data[:4], 'little'))}]"


def _linger(data: bytes, length: int) -> str:
    parts = []
    if length >= 4:
        parts.append(f"l_onoff={s32(int.from_bytes(data[0:4], 'little'))}")
    if length >= 8:
        parts.append(f"l_linger={s32(int.from_bytes(data[4:8], 'little'))}")
    return "{" + ", ".join(parts) + "}"


# setsockopt: the value at entry, length = optlen
EXTRA_CAPTURES["setsockopt"] = {3: (R.CAP_BUF_ARG, 4, 256)}


@special("setsockopt")
def _setsockopt(call, ctx):
    a = call.args
    level, name, addr, length = u32(a[1]), u32(a[2]), a[3], s32(a[4])
    c = call.cap(3)
    if addr == 0:
        val = "NULL"
    elif c is None:
        val = ptr(addr)
    elif level == 1 and name == 13:
        val = ptr(addr) if length < 8 or len(c.data) < 8 else _linger(c.data, 8)
    elif level == 1 and name in SO_INTS:
        val = ptr(addr) if length < 4 or len(c.data) < 4 else _int_val(c.data)
    elif level == 270:
        val = ptr(addr) if length < 4 or len(c.data) < 4 else _int_val(c.data)
    elif length == 4 and len(c.data) >= 4:
        val = _int_val(c.data)
    else:
        val = quote_limited(c.data, max(length, 0), ctx.strsize, ctx.hex_all)
    return [fmt_fd(a[0], call, ctx), sockopt_level(level), sockopt_name(level, name, False),
            val, str(length)]


# getsockopt: the value at exit, length = *optlen then; the length at entry
EXTRA_CAPTURES["getsockopt"] = {3: (R.CAP_LEN_OUT, 4, 256), 4: (R.CAP_FIXED_IN, 0, 4)}


def _ulen(call, i: int):
    """The socklen_t an argument points to, as it was at entry (None if unknown)."""
    d = capture.entry_data(call, i)
    if d is None or len(d) < 4:
        return None
    return s32(int.from_bytes(d[:4], "little"))




@special("getsockopt")
def _getsockopt(call, ctx):
    a = call.args
    level, name, addr = u32(a[1]), u32(a[2]), a[3]
    head = [fmt_fd(a[0], call, ctx), sockopt_level(level), sockopt_name(level, name, True)]
    ulen = _ulen(call, 4)
    if ulen is None or a[4] == 0:
        return head + [ptr(addr), ptr(a[4])]
    c = call.caps.get(3)
    if call.ret is None or call.failed or c is None:
        return head + [ptr(addr), f"[{ulen}]"]
    rlen = s32(c.count)
    if ulen <= 0 or rlen <= 0 or addr == 0 or c.fault:
        val = ptr(addr)
    elif level == 1 and name == 13:
        val = _linger(c.data, min(rlen, 8))
    elif level == 1 and name == 17 and len(c.data) >= 12:
        pid, uid, gid = _struct.unpack_from("<iII", c.data)
        val = f"{{pid={pid}, uid={uid}, gid={gid}}}"
    elif level == 1 and name == 4 and len(c.data) >= min(rlen, 4):
        from .common import errno_name
        err = u32(int.from_bytes(c.data[:min(rlen, 4)], "little"))
        val = f"[{errno_name(err) if err else 0}]"
    elif level == 1 and name in SO_INTS:
        val = _int_val(c.data) if rlen >= 4 and len(c.data) >= 4 else \
            quote_limited(c.data, rlen, ctx.strsize, 2)
    elif level == 270 and name != 9:
        val = _int_val(c.data) if len(c.data) >= 4 else ptr(addr)
    elif rlen == 4 and len(c.data) >= 4:
        val = _int_val(c.data)
    else:
        val = quote_limited(c.data, rlen, ctx.strsize, ctx.hex_all)
    ln = f"[{ulen}]" if ulen == rlen else f"[{ulen} => {rlen}]"
    return head + [val, ln]


# accept/accept4/getsockname/getpeername: the address at exit (LEN_OUT: its
# length is the socklen_t then), the socklen_t at entry
for _n in ("accept", "accept4", "getsockname", "getpeername"):
    EXTRA_CAPTURES[_n] = {1: (R.CAP_LEN_OUT, 2, 128), 2: (R.CAP_FIXED_IN, 0, 4)}
EXTRA_CAPTURES["recvfrom"] = {4: (R.CAP_LEN_OUT, 5, 128), 5: (R.CAP_FIXED_IN, 0, 4)}


def _sockname_pair(call, ai: int, li: int, ctx):
    """The (addr, addrlen) pair of a call that returns a socket address."""
    a = call.args
    addr, lenp = a[ai], a[li]
    ulen = _ulen(call, li)
    if addr == 0 or lenp == 0 or ulen is None:
        return [ptr(addr), ptr(lenp)]
    c = call.caps.get(ai)
    if call.ret is None or call.failed or c is None:
        return [ptr(addr), f"[{ulen}]"]
    rlen = s32(c.count)
    n = min(ulen, rlen)
    text = ptr(addr) if c.fault else sockaddr_or_addr(c.data, n, addr, ctx.hex_all)
    return [text, f"[{ulen}]" if ulen == rlen else f"[{ulen} => {rlen}]"]


@special("accept", "getsockname", "getpeername")
def _sockname(call, ctx):
    return [fmt_fd(call.args[0], call, ctx)] + _sockname_pair(call, 1, 2, ctx)


@special("accept4")
def _accept4(call, ctx):
    return [fmt_fd(call.args[0], call, ctx)] + _sockname_pair(call, 1, 2, ctx) + \
        [sock_flags(call.args[3])]


@special("recvfrom")
def _recvfrom(call, ctx):
    a = call.args
    return [fmt_fd(a[0], call, ctx), format_arg(call, 1, "outbuf:2", ctx), str(a[2]),
            msg_flags(a[3])] + _sockname_pair(call, 4, 5, ctx)


# --- msghdr and cmsg ---------------------------------------------------------

_MSGHDR = _struct.Struct("<QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags
SCM = {1: "SCM_RIGHTS", 2: "SCM_CREDENTIALS", 3: "SCM_SECURITY", 29: "SO_TIMESTAMP_OLD",
       35: "SO_TIMESTAMPNS_OLD", 37: "SO_TIMESTAMPING_OLD"}
IP_CMSG = {1: "IP_TOS", 2: "IP_TTL", 4: "IP_OPTIONS", 6: "IP_RECVOPTS", 7: "IP_RETOPTS",
           8: "IP_PKTINFO", 11: "IP_RECVERR", 20: "IP_ORIGDSTADDR", 23: "IP_CHECKSUM"}


def cmsgs(data: bytes, total: int, ctx, fd_paths=None) -> str:
    """A control buffer: [{cmsg_len=..., cmsg_level=..., cmsg_type=..., cmsg_data=...}, ...].
    ``fd_paths``: what the SCM_RIGHTS fds name, in order (-y), when C captured it."""
    paths = list(fd_paths or [])
    out = []
    buf = data
    pos = 0
    left = len(buf)
    while left >= 16:
        ln, level, typ = _struct.unpack_from("<Qii", buf, pos)
        cur = min(ln, left)
        body = buf[pos + 16:pos + cur] if cur > 16 else b""
        item = f"{{cmsg_len={ln}, cmsg_level={xval(u32(level), SOL, 'SOL_???')}, cmsg_type="
        if level == 1:
            item += xval(u32(typ), SCM, "SCM_???")
            if typ == 1 and len(body) >= 4:
                fds = [str(s32(int.from_bytes(body[k:k + 4], "little")))
                       for k in range(0, len(body) - len(body) % 4, 4)]
                if ctx.decorate_fds and paths:
                    fds = [fd_decoration(fd, paths.pop(0)) if paths else fd for fd in fds]
                item += ", cmsg_data=" + array(fds, max(ctx.strsize, 1))
            elif typ == 2 and len(body) >= 12:
                pid, uid, gid = _struct.unpack_from("<iII", body)
                item += f", cmsg_data={{pid={pid}, uid={uid}, gid={gid}}}"
            elif typ == 3 and body:
                item += ", cmsg_data=" + quote_limited(body, len(body), ctx.strsize, ctx.hex_all)
        elif level == 0:
            item += xval(u32(typ), IP_CMSG, "IP_???")
        else:
            item += f"{u32(typ):#x}"
        out.append(item + "}")
        if cur < 16:
            left -= 16
            break
        step = (ln + 7) & ~7
        if step >= left:
            left = 0
            break
        pos += step
        left -= step
    if left or len(data) < total:
        out.append("...")
    return "[" + ", ".join(out) + "]"


_FD_PATHS_MARK = 0x53504446  # "FDPS", after the iovec block of a MSGHDR capture (-y)


def _rights_paths(data: bytes, iov_at: int):
    """What the SCM_RIGHTS fds name, from the section C appends after the iovec block."""
    if len(data) < iov_at + 8:
        return None
    n = int.from_bytes(data[iov_at:iov_at + 4], "little")
    end = iov_at + 8 + 24 * n
    if end > len(data):
        return None
    for k in range(n):
        end += int.from_bytes(data[iov_at + 8 + 24 * k + 16:iov_at + 8 + 24 * k + 20], "little")
    if len(data) < end + 8 or int.from_bytes(data[end:end + 4], "little") != _FD_PATHS_MARK:
        return None
    count = int.from_bytes(data[end + 4:end + 8], "little")
    pos, out = end + 8, []
    for _ in range(count):
        if pos + 4 > len(data):
            break
        ln = int.from_bytes(data[pos:pos + 4], "little")
        out.append(data[pos + 4:pos + 4 + ln])
        pos += 4 + ln
    return out


def msghdr_full(data: bytes, ctx, user_namelen=None, decode=None) -> str:
    """A MSGHDR_IN/MSGHDR_OUT capture: the struct, its name, control buffer and iovecs
    (``decode``: see iov_text)."""
    name, namelen, iov, iovlen, control, controllen, mflags = unpack(_MSGHDR, data)
    nlen, clen = unpack("<II", data, 56)
    pos = 64
    name_b = data[pos:pos + nlen]
    pos += nlen
    ctl_b = data[pos:pos + clen]
    pos += clen
    shown_len = namelen if user_namelen is None or namelen <= user_namelen else user_namelen
    parts = ["msg_name=" + (sockaddr_or_addr(name_b, min(shown_len, len(name_b)), name,
                                             ctx.hex_all)
                            if name and name_b else ptr(name))]
    nl = f"msg_namelen={namelen}"
    if user_namelen is not None and user_namelen != namelen:
        nl = f"msg_namelen={user_namelen} => {namelen}"
    parts.append(nl)
    iovs, more = capture.iovecs(data[pos:])
    parts.append("msg_iov=" + (iov_text(iovs, more, ctx, decode) if iov and len(data) >= pos + 8
                               else ptr(iov)))
    parts.append(f"msg_iovlen={iovlen}")
    fd_paths = _rights_paths(data, pos)
    if controllen:
        parts.append("msg_control=" + (cmsgs(ctl_b, controllen, ctx, fd_paths)
                                       if control and len(ctl_b) >= 16 else ptr(control)))
    parts.append(f"msg_controllen={controllen}")
    parts.append(f"msg_flags={msg_flags(mflags)}")
    return "{" + ", ".join(parts) + "}"


@struct("msghdr", 56)
def msghdr(data: bytes, call, ctx) -> str:
    """The bare struct (without what it points to): what C captures without MSGHDR kinds."""
    name, namelen, iov, iovlen, control, controllen, mflags = unpack(_MSGHDR, data)
    parts = [f"msg_name={ptr(name)}", f"msg_namelen={namelen}", f"msg_iov={ptr(iov)}",
             f"msg_iovlen={iovlen}"]
    if controllen:
        parts.append(f"msg_control={ptr(control)}")
    parts += [f"msg_controllen={controllen}", f"msg_flags={msg_flags(mflags)}"]
    return "{" + ", ".join(parts) + "}"


if capture.CAP_MSGHDR_IN is not None:
    EXTRA_CAPTURES["sendmsg"] = {1: (capture.CAP_MSGHDR_IN, 1, 0)}
if capture.CAP_MSGHDR_OUT is not None:
    # the msghdr at entry (for msg_namelen as the caller set it), the full one at exit
    EXTRA_CAPTURES["recvmsg"] = {1: (R.CAP_FIXED_IN, 0, 56), 3: (capture.CAP_MSGHDR_OUT, 1, 0)}
else:
    EXTRA_CAPTURES["recvmsg"] = {1: (R.CAP_FIXED_IN, 0, 56)}


def _netlink_decoder(call, ctx):
    """For iov_text: an element's data as netlink messages, on a netlink socket."""
    return lambda data, length: netlink_data(call, data, length, ctx)


@special("sendmsg")
def _sendmsg(call, ctx):
    a = call.args
    c = call.cap(1)
    if a[1] == 0:
        m = "NULL"
    elif c is None:
        m = ptr(a[1])
    else:
        try:
            m = msghdr_full(c.data, ctx, decode=_netlink_decoder(call, ctx)) \
                if c.kind == capture.KIND_MSGHDR_IN else ptr(a[1])
        except DecodeError:
            m = ptr(a[1])
    return [fmt_fd(a[0], call, ctx), m, msg_flags(a[2])]


@special("recvmsg")
def _recvmsg(call, ctx):
    a = call.args
    entry = call.cap(1)
    user_namelen = None
    if entry is not None and entry.kind == R.CAP_FIXED_IN and len(entry.data) >= 12:
        user_namelen = s32(int.from_bytes(entry.data[8:12], "little"))
    if a[1] == 0 or user_namelen is None:
        m = ptr(a[1])
    elif call.ret is None:
        m = ptr(a[1])
    elif call.failed:
        m = f"{{msg_namelen={user_namelen}}}"
    else:
        full = call.cap(3)
        try:
            m = msghdr_full(full.data, ctx, user_namelen, _netlink_decoder(call, ctx)) \
                if full is not None and full.kind == capture.KIND_MSGHDR_OUT else ptr(a[1])
        except DecodeError:
            m = ptr(a[1])
    return [fmt_fd(a[0], call, ctx), m, msg_flags(a[2])]
