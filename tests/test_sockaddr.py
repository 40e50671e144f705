"""veil.sockaddr: one parse of a struct sockaddr, rendered by every output.

The renderings themselves are compared against strace and the kernel in
test_trace_vs_strace.py, test_formats.py and test_sockets.py; these check the
parse against the bytes the kernel and Python's socket module agree on."""
from __future__ import annotations

import socket

from veil.decoders.sockaddr import sockaddr as strace_text
from veil.output.jsonl import sockaddr as json_value
from veil.sockaddr import AF, SockAddr, pack_inet, with_inet
from veil.sockets import address_text
from veil.stop import sockaddr_value


def test_inet_round_trips_through_the_kernel_layout():
    for family, host in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
        raw = pack_inet(host, 8080)
        assert len(raw) == (16 if family == socket.AF_INET else 28)
        sa = SockAddr.parse(raw)
        assert (sa.family, sa.inet) == (family, (host, 8080))
        assert SockAddr.parse(with_inet(raw, host, 9)).inet == (host, 9)
        # socket.inet_pton writes the same address bytes the kernel's struct holds
        off = 4 if family == socket.AF_INET else 8
        assert raw[off:off + len(socket.inet_pton(family, host))] == socket.inet_pton(family, host)


def test_one_parse_many_renderings():
    raw = b"\x01\x00\0veil-abs\0"   # an abstract AF_UNIX name with a trailing NUL
    assert strace_text(raw) == '{sa_family=AF_UNIX, sun_path=@"veil-abs\\0"}'
    assert json_value(raw) == {"family": "AF_UNIX", "addr": "@veil-abs", "abstract": True}
    assert address_text(raw[:-1]) == "@veil-abs"
    assert sockaddr_value(raw) == "\0veil-abs"
    v4 = pack_inet("10.1.2.3", 53)
    assert strace_text(v4) == '{sa_family=AF_INET, sin_port=htons(53), sin_addr=inet_addr("10.1.2.3")}'
    assert json_value(v4) == {"family": "AF_INET", "addr": "10.1.2.3", "port": 53}
    assert address_text(v4) == "10.1.2.3:53" and sockaddr_value(v4) == ("10.1.2.3", 53)


def test_family_names_follow_the_kernel():
    for name in ("AF_UNIX", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_PACKET", "AF_VSOCK"):
        if hasattr(socket, name):
            assert AF[getattr(socket, name)] == name
