"""-0 and -i as fakeroot and PRoot give them (issue 18): the user's own files
show the fake ids, a fake root reads, writes and searches them as root may, and
id changes are kept per process.  Most users of -0 are not root: CI runs this
file as an unprivileged user too (.ci/run), where the fake ids differ from the
real ones; as root, -0 changes nothing real and the comparisons are with root's
own behaviour."""
import os
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from conftest import run_veil

FAKEROOT = shutil.which("fakeroot")
SETCAP, GETCAP = shutil.which("setcap", path="/usr/sbin:/sbin:/usr/bin"), \
    shutil.which("getcap", path="/usr/sbin:/sbin:/usr/bin")


def need(tool, name):
    if tool is None:
        pytest.fail(f"{name} is not installed (.ci/run installs it)")
    return tool


def make_tree(root):
    (root / "d" / "sub").mkdir(parents=True)
    (root / "d" / "a").write_text("alpha\n")
    (root / "d" / "sub" / "b").write_text("beta\n")
    os.symlink("a", root / "d" / "link")


def test_tar_and_ls_show_root_like_fakeroot(tmp_path):
    make_tree(tmp_path)
    cmd = f"cd {tmp_path} && ls -ln d d/sub && tar cf - d | tar tvf -"
    fake = subprocess.run([need(FAKEROOT, "fakeroot"), "sh", "-c", cmd],
                          capture_output=True, text=True, timeout=60)
    veil = run_veil(["run", "-0", "--", "sh", "-c", cmd])
    assert fake.returncode == 0 and veil.returncode == 0, (fake.stderr, veil.stderr)
    assert veil.stdout == fake.stdout
    assert " root/root " in veil.stdout


def test_git_status_in_ones_own_repo(tmp_path):
    git = need(shutil.which("git"), "git")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "HOME": str(tmp_path)}
    subprocess.run([git, "init", "-q", str(tmp_path / "repo")], check=True, env=env)
    (tmp_path / "repo" / "f").write_text("x")
    cmd = [git, "-C", str(tmp_path / "repo"), "status", "--porcelain"]
    native = subprocess.run(cmd, capture_output=True, text=True, env=env)
    veil = run_veil(["run", "-0", "--", *cmd], env=env)
    assert veil.returncode == native.returncode == 0, veil.stderr
    assert "dubious ownership" not in veil.stderr and veil.stdout == native.stdout == "?? f\n"


def test_only_the_users_own_files_show_the_fake_ids(tmp_path):
    (tmp_path / "mine").write_text("x")
    paths = ["/", "/etc/passwd", "/usr/bin", str(tmp_path / "mine"), str(tmp_path)]
    me = (os.geteuid(), os.getegid())
    expected = []
    for p in paths:
        st = os.lstat(p)
        expected.append(f"{4242 if st.st_uid == me[0] else st.st_uid}:"
                        f"{4343 if st.st_gid == me[1] else st.st_gid}")
    # stat(1) uses statx, find -printf lstat/newfstatat, python os.stat/fstat
    r = run_veil(["run", "-i", "4242:4343", "--", "sh", "-c",
                  f"stat -c %u:%g {' '.join(paths)}; "
                  f"find {' '.join(paths)} -maxdepth 0 -printf '%U:%G\\n'; "
                  f"{sys.executable} -c 'import os, sys\n"
                  f"for p in sys.argv[1:]:\n"
                  f"    fd = os.open(p, os.O_RDONLY); st = os.fstat(fd)\n"
                  f"    print(f\"{{st.st_uid}}:{{st.st_gid}}\")' {' '.join(paths)}"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == expected * 3


def test_fake_root_reads_writes_and_searches_own_files(tmp_path):
    """Root may open a mode-000 file and search a mode-000 directory; so may -0
    in the user's own files (their modes are opened up for the moment an open or
    a stat takes, and put back; the ctime that leaves is not shown)."""
    make_tree(tmp_path)
    locked = tmp_path / "d" / "sub"
    os.chmod(tmp_path / "d" / "a", 0)
    os.chmod(locked, 0)
    try:
        before = {p: os.lstat(p) for p in (tmp_path / "d" / "a", locked)}
        r = run_veil(["run", "-0", "--", "sh", "-c",
                      f"cd {tmp_path} && cat d/a && test -r d/a && test -w d/a && "
                      f"! test -x d/a && echo more >> d/a && cat d/sub/b && ls d/sub && "
                      f"(cd d/sub && cat b) && "
                      f"tar cf t.tar d && tar tf t.tar | LC_ALL=C sort && stat -c '%a %.9Z' d/sub"])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n") == [
            "alpha", "beta", "b", "beta", "d/", "d/a", "d/link", "d/sub/", "d/sub/b",
            "0 {}.{:09d}".format(*divmod(before[locked].st_ctime_ns, 10**9)), ""]
        after = {p: os.lstat(p) for p in before}
        assert all(stat.S_IMODE(st.st_mode) == 0 for st in after.values())
    finally:
        os.chmod(locked, 0o755)
        os.chmod(tmp_path / "d" / "a", 0o644)
    assert (tmp_path / "d" / "a").read_text() == "alpha\nmore\n"


def test_fake_root_writes_entries_in_own_read_only_directories(tmp_path):
    """mkdir, link, symlink, rename, unlink and rm -rf in the user's own mode-555
    directories work as root's (veil makes them; the modes stay as they were)."""
    ro = tmp_path / "ro"
    (ro / "sub").mkdir(parents=True)
    (ro / "f").write_text("x")
    cmd = (f"cd {ro} && umask 022 && mkdir new && touch new/x && ln -s f sl && ln f hard && "
           f"mv f g && rmdir sub && find . -printf '%M %n %p\\n' | LC_ALL=C sort && "
           f"rm -rf {ro} && echo removed")
    expected = ["-rw-r--r-- 1 ./new/x", "-rw-r--r-- 2 ./g", "-rw-r--r-- 2 ./hard",
                "dr-xr-xr-x 3 .", "drwxr-xr-x 2 ./new", "lrwxrwxrwx 1 ./sl", "removed", ""]
    try:
        if os.geteuid() == 0:
            os.chmod(ro, 0o555)
            native = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
            assert native.stdout.split("\n") == expected, native.stderr
            (ro / "sub").mkdir(parents=True)
            (ro / "f").write_text("x")
        os.chmod(ro, 0o555)
        r = run_veil(["run", "-0", "--", "sh", "-c", cmd])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n") == expected
        assert not ro.exists()
    finally:
        if ro.exists():
            os.chmod(ro, 0o755)


def test_id_changes_are_kept_per_process_and_inherited(tmp_path, progs):
    """A child forked before the parent changes its ids keeps the old ones; one
    forked after gets the new ones; exec sets the saved ids from the effective
    ones (the script keeps real and effective equal: natively a difference makes
    /proc/self/auxv unreadable); get*id, getgroups, /proc/self/status,
    /proc/self/auxv and the stack's AT_UID.. agree.  As root the same script runs
    natively as the reference."""
    shared = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(shared, 0o755)
        probe = shutil.copy(progs["ids_probe"], shared)
        script = (
            "import os, sys\n"
            "probe = sys.argv[1]\n"
            "os.setgroups([0]); r, w = os.pipe(); a = os.fork()\n"
            "if a == 0:\n"
            "    os.read(r, 1); os.execv(probe, [probe])\n"
            "os.setgroups([5, 3]); os.setresgid(7, 7, 9); os.setresuid(1000, 1000, 1002)\n"
            "try:\n"
            "    os.setuid(0)\n"
            "except PermissionError:\n"
            "    print('setuid(0): EPERM', flush=True)\n"
            "os.write(w, b'x'); os.waitpid(a, 0)\n"
            "b = os.fork()\n"
            "if b == 0:\n"
            "    os.execv(probe, [probe])\n"
            "os.waitpid(b, 0)\n")
        expected = ["setuid(0): EPERM",
                    "resuid 0 0 0 resgid 0 0 0", "groups 0", "stack auxv 0 0 0 0 secure 0",
                    "proc auxv 0 0 0 0", "Uid:\t0\t0\t0\t0", "Gid:\t0\t0\t0\t0", "Groups:\t0 ",
                    "resuid 1000 1000 1000 resgid 7 7 7", "groups 3 5",
                    "stack auxv 1000 1000 7 7 secure 0", "proc auxv 1000 1000 7 7",
                    "Uid:\t1000\t1000\t1000\t1000", "Gid:\t7\t7\t7\t7", "Groups:\t3 5 ", ""]
        argv = [sys.executable, "-c", script, probe]
        if os.geteuid() == 0:
            native = subprocess.run(argv, capture_output=True, text=True, timeout=60)
            assert native.stdout.split("\n") == expected, native.stderr
        r = run_veil(["run", "-0", "--", *argv])
        assert r.returncode == 0, r.stderr
        assert r.stdout.split("\n") == expected
    finally:
        shutil.rmtree(shared)


def test_a_program_started_with_other_effective_ids_runs_in_secure_mode(progs):
    """euid != ruid at exec: AT_SECURE is 1 and the loader ignores LD_PRELOAD
    (natively silently; otherwise it complains that it cannot preload it)."""
    shared = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(shared, 0o755)
        probe = shutil.copy(progs["ids_probe"], shared)
        script = ("import os, sys\n"
                  "os.setresuid(1000, 0, 0)\n"
                  "os.execve(sys.argv[1], [sys.argv[1]], {'LD_PRELOAD': '/nonexistent.so'})\n")
        argv = [sys.executable, "-c", script, probe]
        runs = [run_veil(["run", "-0", "--", *argv])]
        if os.geteuid() == 0:
            runs.append(subprocess.run(argv, capture_output=True, text=True, timeout=60))
        for r in runs:
            assert r.returncode == 0 and "stack auxv 1000 0 0 0 secure 1\n" in r.stdout, r
            assert "LD_PRELOAD" not in r.stderr
    finally:
        shutil.rmtree(shared)


def test_set_user_id_programs_run_as_their_owner(tmp_path, progs):
    """A set-user-ID program owned (in the ownership database) by 4242 runs with
    euid 4242 when user 1000 starts it, as natively (root makes the same file)."""
    shared = tempfile.mkdtemp(dir="/tmp")
    try:
        os.chmod(shared, 0o755)
        probe = shutil.copy(progs["ids_probe"], shared)
        db = tmp_path / "owners.json"
        setup = f"chown 4242:4343 {probe} && chmod 6755 {probe}"
        as_1000 = [sys.executable, "-c", "import os, sys; os.setgroups([]); os.setgid(1000); "
                   "os.setuid(1000); os.execv(sys.argv[1], [sys.argv[1]])", probe]
        expected = "resuid 1000 4242 4242 resgid 1000 4343 4343\n"
        if os.geteuid() == 0:
            subprocess.run(["sh", "-c", setup], check=True)
            native = subprocess.run(as_1000, capture_output=True, text=True, timeout=60)
            assert native.stdout.startswith(expected), native.stderr
        r = run_veil(["run", "-0", "--ownership-db", db, "--", "sh", "-c", setup])
        assert r.returncode == 0, r.stderr
        r = run_veil(["run", "-0", "--ownership-db", db, "--", *as_1000])
        assert r.stdout.startswith(expected) and "secure 1" in r.stdout, r.stderr
    finally:
        shutil.rmtree(shared)


def test_capabilities_follow_the_ids():
    """A fake root holds root's capabilities (capget, /proc/self/status) and
    loses them when it becomes another user (setpriv keeps them across its
    setresuid with PR_SET_KEEPCAPS, then drops them), as natively."""
    with open("/proc/self/status") as f:
        bounding = next(line.split()[1] for line in f if line.startswith("CapBnd:"))
    caps = 'grep -E "^Cap(Prm|Eff)" /proc/self/status'
    cmd = f"{caps}; setpriv --reuid 1000 --regid 1000 --clear-groups sh -c 'id -u; {caps}'"
    expected = [f"CapPrm:\t{bounding}", f"CapEff:\t{bounding}", "1000",
                "CapPrm:\t0000000000000000", "CapEff:\t0000000000000000", ""]
    if os.geteuid() == 0:
        native = subprocess.run(["sh", "-c", cmd], capture_output=True, text=True, timeout=60)
        assert native.stdout.split("\n") == expected, native.stderr
    r = run_veil(["run", "-0", "--", "sh", "-c", cmd])
    assert r.stdout.split("\n") == expected, r.stderr


def test_fake_user_that_is_not_root_has_no_privilege(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    dev = tmp_path / "dev"
    r = run_veil(["run", "-i", "1000:1000", "--", sys.executable, "-c",
                  "import os\n"
                  "for call in (lambda: os.setuid(0), lambda: os.setgroups([1]),\n"
                  f"             lambda: os.mknod('{dev}', 0o20644, os.makedev(1, 3)),\n"
                  f"             lambda: os.chown('{f}', 0, 0)):\n"
                  "    try:\n"
                  "        call(); print('ok')\n"
                  "    except PermissionError:\n"
                  "        print('EPERM')\n"
                  "os.setresuid(-1, 1000, -1); print(os.getresuid())"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n") == ["EPERM"] * 4 + ["(1000, 1000, 1000)", ""]
    assert not dev.exists()


def test_setcap_is_remembered_under_fake_root(tmp_path):
    """setcap, then getcap and listxattr in a later run, as fakeroot shows them."""
    setcap, getcap = need(SETCAP, "setcap (libcap2-bin)"), need(GETCAP, "getcap")
    f = tmp_path / "prog"
    shutil.copy("/bin/true", f)
    db = tmp_path / "owners.json"
    cmd = f"{setcap} cap_net_raw+ep {f} && {getcap} {f}"
    fake = subprocess.run([need(FAKEROOT, "fakeroot"), "sh", "-c", cmd], capture_output=True,
                          text=True, timeout=60)
    for attr in os.listxattr(f):  # fakeroot keeps it in its daemon; root would set it
        os.removexattr(f, attr)
    r = run_veil(["run", "-0", "--ownership-db", db, "--", "sh", "-c", cmd])
    assert r.returncode == 0 and r.stdout == fake.stdout == f"{f} cap_net_raw=ep\n", r.stderr
    again = run_veil(["run", "-0", "--ownership-db", db, "--", "sh", "-c",
                      f"{getcap} {f}; {sys.executable} -c 'import os, sys; "
                      f"print(os.listxattr(sys.argv[1]))' {f}"])
    assert again.stdout == r.stdout + "['security.capability']\n", again.stderr
    assert subprocess.run([getcap, f], capture_output=True, text=True).stdout == ""  # host: none


@pytest.mark.layout_engines("ptrace", "mount")
def test_ownership_follows_the_layout(tmp_path, layout_engine):
    """chown of a guest path lands on the host file the layout shows there, by
    absolute and by relative path."""
    (tmp_path / "f").write_text("x")
    (tmp_path / "g").write_text("x")
    r = run_veil(["run", "-r", "/", "-b", f"{tmp_path}:/mnt", "-0", "--", "sh", "-c",
                  "chown 7:8 /mnt/f && stat -c %u:%g /mnt/f && "
                  "cd /mnt && chown 9:10 g && stat -c %u:%g g && "
                  "mknod /mnt/null c 1 3 && stat -c %F null"])
    if layout_engine == "mount" and os.geteuid() != 0:
        # a user namespace would show other users' files as nobody's: refused, one line
        assert r.returncode != 0 and len(r.stderr.strip().splitlines()) == 1, r.stderr
        return
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n") == ["7:8", "9:10", "character special file", ""]


def test_last_of_0_and_i_wins():
    r = run_veil(["run", "-0", "-i", "5:6", "--", "sh", "-c", "id -u; id -g"])
    assert r.stdout.split() == ["5", "6"], r.stderr
    r = run_veil(["run", "-i", "5:6", "-0", "--", "sh", "-c", "id -u; id -g"])
    assert r.stdout.split() == ["0", "0"], r.stderr


def test_bad_pointers_get_the_kernels_efault(progs):
    """Identity calls given a pointer the kernel refuses fail with EFAULT as
    root's do natively (veil neither stops the run nor answers otherwise)."""
    r = run_veil(["run", "-0", "--", progs["ids_badptr"]])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 14 and all(line.endswith(" -1 EFAULT") for line in lines), lines
    if os.geteuid() == 0:
        native = subprocess.run([progs["ids_badptr"]], capture_output=True, text=True)
        assert native.stdout.splitlines() == lines
