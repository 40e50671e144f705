"""Policy.deny_paths / readonly_paths: paths canonicalised (cwd, dirfd,
symlinks) before matching."""
import os

from test_api import run_api


def test_deny_and_readonly_paths(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "f").write_text("data\n")
    os.symlink(ro / "f", tmp_path / "link")
    (tmp_path / "secret").mkdir()
    (tmp_path / "secret" / "k").write_text("key\n")
    p, r = run_api(tmp_path, """
        policy = (veil.Policy().deny_paths([{secret}])
                  .readonly_paths([{ro}]))
        R["read_ro"] = veil.run(["cat", {f}], policy=policy).exit_code
        R["write_ro"] = veil.run(["sh", "-c", "echo y > " + {f}], policy=policy).exit_code
        R["via_link"] = veil.run(["sh", "-c", "echo y > " + {link}], policy=policy).exit_code
        R["relative"] = veil.run(["sh", "-c", "cd " + {d} + " && echo z > ro/new"], policy=policy).exit_code
        R["rm"] = veil.run(["rm", {f}], policy=policy).exit_code
        R["secret"] = veil.run(["cat", {k}], policy=policy).exit_code
        R["secret_rel"] = veil.run(["sh", "-c", "cd " + {d} + "/secret && cat ./k"], policy=policy).exit_code
        R["elsewhere"] = veil.run(["sh", "-c", "echo ok > " + {d} + "/free"], policy=policy).exit_code
    """, secret=str(tmp_path / "secret") + "/**", ro=str(ro) + "/**", f=str(ro / "f"),
        link=str(tmp_path / "link"), d=str(tmp_path), k=str(tmp_path / "secret" / "k"))
    assert r["read_ro"] == 0 and p.stdout.startswith("data")
    assert r["write_ro"] != 0 and r["via_link"] != 0 and r["relative"] != 0 and r["rm"] != 0
    assert (ro / "f").read_text() == "data\n" and not (ro / "new").exists()
    assert "Read-only file system" in p.stderr
    assert r["secret"] != 0 and r["secret_rel"] != 0 and "key" not in p.stdout
    assert r["elsewhere"] == 0 and (tmp_path / "free").read_text() == "ok\n"


def test_path_rules_are_settled_in_c_and_shown_in_the_trace(tmp_path):
    p, r = run_api(tmp_path, """
        out = io.StringIO()
        from veil.output.text import TextWriter
        s = veil.Session(["cat", "/etc/hostname"], trace="openat", observers=[TextWriter(out)])
        veil.Policy().deny_paths(["/etc/host*"]).apply(s)
        res = s.run()
        R["code"] = res.exit_code
        R["lines"] = [l for l in out.getvalue().splitlines() if "/etc/hostname" in l]
        R["py_stops"] = res.engine_stats["syscall_stops"]
    """)
    assert r["code"] == 1
    assert r["lines"] == ['openat(AT_FDCWD, "/etc/hostname", O_RDONLY) = -1 EACCES (Permission denied)']


def test_openat2_write_under_readonly(tmp_path, progs):
    ro = tmp_path / "ro"
    ro.mkdir()
    (ro / "f").write_text("x\n")
    p, r = run_api(tmp_path, """
        code = ("import ctypes, os, struct\\n"
                "libc = ctypes.CDLL(None, use_errno=True)\\n"
                "def o2(path, flags):\\n"
                "    how = struct.pack('QQQ', flags, 0, 0)\\n"
                "    fd = libc.syscall(437, -100, path.encode(), how, len(how))\\n"
                "    return fd if fd >= 0 else -ctypes.get_errno()\\n"
                "print(o2(" + repr({f}) + ", os.O_RDONLY) >= 0, o2(" + repr({f}) + ", os.O_WRONLY))\\n")
        R["code"] = veil.run(["python3", "-c", code],
                             policy=veil.Policy().readonly_paths([{ro}])).exit_code
    """, f=str(ro / "f"), ro=str(ro) + "/**")
    assert r["code"] == 0 and p.stdout.split() == ["True", "-30"], p.stderr  # EROFS


def test_confine_paths_without_a_layout(tmp_path):
    """Session.confine_paths on the host's own tree (no layout: the C check of
    VEIL_F_PATHS calls): writes only where allowed, reads only of what is allowed
    (exact paths with the directories on the way, DIR/**, symlinks resolved), a missing
    path fails as it would; each refusal noted once per call with its reason; hidden
    paths keep their answer (rules added before are tried first)."""
    (tmp_path / "ok.txt").write_text("ok\n")
    (tmp_path / "no.txt").write_text("no\n")
    (tmp_path / "to-no").symlink_to("no.txt")
    (tmp_path / "hidden.txt").write_text("hidden\n")
    system = [d + "/**" for d in ("/usr", "/lib", "/lib64", "/bin", "/etc", "/proc")]
    p, r = run_api(tmp_path, """
        s = veil.Session(["sh", "-c", "cat ok.txt; cat to-no || echo no-read; "
                          "cat missing 2>/dev/null || echo missing; "
                          "cat hidden.txt 2>/dev/null || echo hidden; "
                          "echo w > out.txt && echo wrote; echo w > other.txt || echo no-write"],
                         cwd={d})
        s.add_path_rule({hidden}, 2)
        s.confine_paths({reads}, [{out}, "/dev/**"], 13, "not read", "not written")
        res = s.run()
        R["code"] = res.exit_code
        R["refusals"] = [(x.name, x.errno, x.reason) for x in s.refusals]
    """, d=str(tmp_path), hidden=str(tmp_path / "hidden.txt"), out=str(tmp_path / "out.txt"),
        reads=[*system, str(tmp_path / "ok.txt"), str(tmp_path / "hidden.txt")])
    assert p.returncode == 0, p.stderr
    assert p.stdout == "ok\nno-read\nmissing\nhidden\nwrote\nno-write\n", p.stderr
    assert (tmp_path / "out.txt").read_text() == "w\n" and not (tmp_path / "other.txt").exists()
    ours = [x for x in r["refusals"] if x[2].startswith(str(tmp_path))]   # (sh checks $PWD)
    assert ours == [["openat", 13, f"{tmp_path}/no.txt: not read"],
                    ["openat", 13, f"{tmp_path}/other.txt: not written"]]
