"""-yy: socket fds described as strace does: protocol, addresses, unix peers;
-y on fds the kernel writes into memory (pipe2, socketpair)."""
import re
import sys

from conftest import run_veil

PROG = r"""
import os, socket
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
c = socket.create_connection(s.getsockname()); a, _ = s.accept(); c.close()
d = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); d.bind(("::1", 0)); d.close()
x, y = socket.socketpair(); os.pipe()
"""


def test_yy_describes_sockets(tmp_path):
    out = tmp_path / "t"
    r = run_veil(["trace", "-yy", "-o", out, "-e", "trace=listen,connect,close,socketpair,pipe2",
                  "--", sys.executable, "-c", PROG])
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    assert re.search(r"^listen\(3<TCP:\[127\.0\.0\.1:(\d+)\]>, 128\)", text, re.M), text
    assert re.search(r"^close\(4<TCP:\[127\.0\.0\.1:\d+->127\.0\.0\.1:\d+\]>\)", text, re.M), text
    assert re.search(r"^close\(\d+<UDPv6:\[\[::1\]:\d+\]>\)", text, re.M), text
    m = re.search(r"^socketpair\(AF_UNIX, SOCK_STREAM\|SOCK_CLOEXEC, 0, "
                  r"\[(\d+)<UNIX-STREAM:\[(\d+)->(\d+)\]>, (\d+)<UNIX-STREAM:\[(\d+)->(\d+)\]>\]\) = 0",
                  text, re.M)
    assert m, text
    assert m.group(2) == m.group(6) and m.group(3) == m.group(5)  # each is the other's peer
    assert re.search(r"^pipe2\(\[\d+<pipe:\[(\d+)\]>, \d+<pipe:\[\1\]>\], O_CLOEXEC\) = 0", text, re.M), text


def test_single_y_keeps_socket_inode_form(tmp_path):
    out = tmp_path / "t"
    r = run_veil(["trace", "-y", "-o", out, "-e", "trace=listen", "--", sys.executable, "-c", PROG])
    assert r.returncode == 0
    assert re.search(r"^listen\(3<socket:\[\d+\]>, 128\) += 0$", out.read_text(), re.M)
