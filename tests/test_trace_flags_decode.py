"""Decoding gaps strace users met on everyday programs (cp, ip, ss): each
line diffed against strace's on the same program."""
from __future__ import annotations

import os
import re
import shutil
import subprocess

import pytest

from conftest import run_veil

CLONE_IOV = r"""
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int src = open(argv[1], O_RDONLY), dst = open(argv[2], O_WRONLY | O_CREAT, 0644);
    struct file_clone_range r = {.src_fd = src, .src_length = 4096, .dest_offset = 8192};
    ioctl(dst, FICLONE, src);
    ioctl(dst, FICLONERANGE, &r);
    int p[2];
    if (pipe(p) < 0) return 1;
    struct iovec w[2] = {{NULL, 0}, {"ab", 2}};
    char b[4];
    struct iovec rd[2] = {{NULL, 0}, {b, sizeof b}};
    writev(p[1], w, 2);
    readv(p[0], rd, 2);
    return 0;
}
"""


@pytest.fixture
def env(clean_env):
    return {**clean_env, **{k: v for k, v in os.environ.items() if k == "PYTHONPATH"}}


def both(strace, cmd, opts, env, tmp_path):
    """(strace's lines, veil's lines) of CMD traced with OPTS."""
    a, b = tmp_path / "s.txt", tmp_path / "v.txt"
    s = subprocess.run([strace, "-o", a, *opts, *cmd], env=env, stdout=subprocess.DEVNULL,
                       timeout=60)
    v = run_veil(["trace", "-o", b, *opts, "--", *cmd], env=env, stdout=subprocess.DEVNULL)
    assert v.returncode == s.returncode, v.stderr
    return a.read_text().splitlines(), b.read_text().splitlines()


def test_ficlone_fd_and_null_iov_base(strace, env, tmp_path):
    exe = tmp_path / "clone_iov"
    src = tmp_path / "clone_iov.c"
    src.write_text(CLONE_IOV)
    subprocess.run(["gcc", "-o", exe, src], check=True)
    (tmp_path / "a").write_text("data\n")
    sa, vb = both(strace, [exe, tmp_path / "a", tmp_path / "b"],
                  ["-e", "trace=ioctl,readv,writev"], env, tmp_path)
    assert sa == vb
    assert re.match(r"ioctl\(4, BTRFS_IOC_CLONE or FICLONE, 3\) = ", vb[0]), vb
    assert "{src_fd=3, src_offset=0, src_length=4096, dest_offset=8192}" in vb[1], vb
    assert vb[2].startswith("writev(6, [{iov_base=NULL, iov_len=0}, {iov_base=\"ab\""), vb


def _nl_free(lines):
    """Without what changes between runs: the kernel's port ids and the sequence
    numbers programs take from the clock."""
    return [re.sub(r"nlmsg_(pid|seq)=-?\d+", r"nlmsg_\1=N", line) for line in lines]


@pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2's ip is not installed")
def test_netlink_route_as_strace(strace, env, tmp_path):
    """ip link: the request (nlmsghdr and ifinfomsg, attributes) and the kernel's
    NLMSG_ERROR answer quoting it, as strace decodes them."""
    sa, vb = both(strace, ["ip", "link", "show", "lo"], ["-e", "trace=sendto,sendmsg,recvmsg",
                                                        "-s", "64"], env, tmp_path)
    sa, vb = _nl_free(sa), _nl_free(vb)
    assert vb[0] == sa[0] and "nlmsg_type=RTM_NEWLINK" in vb[0], (sa[0], vb[0])
    assert vb[1] == sa[1] and "nlmsg_type=NLMSG_ERROR" in vb[1], (sa[1], vb[1])
    # the dump request, with its attributes
    requests = [(a, b) for a, b in zip(sa, vb) if "RTM_GETLINK" in a]
    assert requests and all(a == b for a, b in requests), requests
    # the answers: header and ifinfomsg as strace's (veil decodes fewer attributes)
    answer = re.compile(r"^(.*\{ifi_family=[^}]*\}).*")
    answers = [(answer.sub(r"\1", a), answer.sub(r"\1", b)) for a, b in zip(sa, vb)
               if "RTM_NEWLINK, nlmsg_flags=0" in a]
    assert answers and all(a == b for a, b in answers), answers
    assert 'ifi_index=if_nametoindex("lo")' in answers[0][1]


@pytest.mark.skipif(shutil.which("ss") is None, reason="iproute2's ss is not installed")
def test_netlink_sock_diag_as_strace(strace, env, tmp_path):
    """ss: the inet_diag request as strace decodes it, and the answers' headers."""
    for _ in range(3):
        sa, vb = both(strace, ["ss", "-t", "-a", "-n"], ["-e", "trace=sendmsg,recvmsg", "-s",
                                                         "200"], env, tmp_path)
        if len(sa) == len(vb):
            break   # else the machine's TCP sockets changed between the two runs: again
    sa, vb = _nl_free(sa), _nl_free(vb)
    requests = [(a, b) for a, b in zip(sa, vb) if a.startswith("sendmsg(")]
    assert requests and all(a == b for a, b in requests), requests
    assert "sdiag_family=AF_INET, sdiag_protocol=IPPROTO_TCP" in requests[0][1]
    head = re.compile(r"^(.*?nlmsg_pid=N\}).*")
    assert [head.sub(r"\1", line) for line in sa] == [head.sub(r"\1", line) for line in vb]
