"""The layout from Python (veil.Layout with veil.run) and from a profile file."""
from __future__ import annotations

import subprocess
import sys

import veil
from rootfs import HOSTBIN_NAME, busybox_template, hostbin_root, hostbin_template, layout_progs  # noqa: F401


def test_run_with_layout_sees_guest_tree(hostbin_root, tmp_path, capfd):
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "in").write_text("from the host\n")
    layout = veil.Layout(root=str(hostbin_root),
                         binds=[veil.Bind("/proc", "/proc"), veil.Bind(str(shared), "/mnt/s")],
                         readonly=["/etc"])
    result = veil.run(["/bin/sh", "-c", "cat /etc/os-release; cat /mnt/s/in; pwd; "
                       "echo out > /mnt/s/out; echo x > /etc/new || echo ro-refused"],
                      layout=layout, cwd="/tmp")
    out = capfd.readouterr().out
    assert result.exit_code == 0
    assert HOSTBIN_NAME in out and "from the host" in out
    assert "\n/tmp\n" in out and "ro-refused" in out
    assert (shared / "out").read_text() == "out\n"
    assert not (hostbin_root / "etc/new").exists()


def test_profile_layout_and_override(hostbin_root, tmp_path):
    prof = tmp_path / "app.toml"
    prof.write_text(f'''
[layout]
root = "{hostbin_root}"
binds = ["/proc"]
hidden = ["/etc/guest-only-file"]
[environment]
cwd = "/usr"
argv = ["/bin/sh", "-c", "pwd; cat /etc/os-release; cat /etc/guest-only-file || echo hidden"]
''')
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--profile", str(prof)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "/usr"
    assert HOSTBIN_NAME in r.stdout and "hidden" in r.stdout
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--profile", str(prof),
                        "--set", "environment.cwd=/nonexistent"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert r.stderr.strip() == f"veil: {prof}: [environment] cwd: /nonexistent: no such directory in the guest"


def test_bad_profile_names_key_and_line(tmp_path):
    prof = tmp_path / "bad.toml"
    prof.write_text('[layout]\nroot = "/"\n\n[system]\ncpus = "four"\n')
    r = subprocess.run([sys.executable, "-m", "veil", "run", "--profile", str(prof), "true"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2
    assert "Traceback" not in r.stderr
    assert r.stderr.count("\n") == 1 and "bad.toml:5" in r.stderr and "cpus" in r.stderr


def test_untranslated_list_is_empty_and_layout_table_covers_path_calls():
    r = subprocess.run([sys.executable, "-m", "veil", "syscalls", "--untranslated"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and r.stdout == ""
    r = subprocess.run([sys.executable, "-m", "veil", "syscalls", "--layout"],
                       capture_output=True, text=True, timeout=30)
    rows = {line.split()[1]: " ".join(line.split()[2:]) for line in r.stdout.splitlines()}
    assert rows["openat"] == "translated" and rows["mount"] == "denied (EPERM)"
    assert rows["getcwd"] == "answered" and rows["chroot"] == "emulated"


def test_identity_inside_layout(hostbin_root):
    """The virtual /etc/hostname, /proc and /sys files are veil's own inside a guest
    tree too (the guest has neither /proc nor /sys bound here), and -0 shows root."""
    (hostbin_root / "etc/hostname").write_text("guest-file-host\n")
    r = subprocess.run([sys.executable, "-m", "veil", "run", "-r", str(hostbin_root),
                        "--hostname", "vhost", "--cpus", "3", "-0", "--",
                        "/bin/sh", "-c", "cat /etc/hostname /proc/sys/kernel/hostname "
                        "/sys/devices/system/cpu/online; id -u; stat -c %u:%g /etc/os-release"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["vhost", "vhost", "0-2", "0", "0:0"]


def test_fexecve_of_a_guest_only_dynamic_program(hostbin_root, tmp_path):
    """execveat(fd, "", AT_EMPTY_PATH) of a program whose ELF interpreter exists only
    in the guest: veil starts the guest's loader for it (with and without close-on-exec)."""
    from rootfs import build_guest_dynamic
    prog = build_guest_dynamic(hostbin_root, tmp_path)
    for opts in ([], ["-c"]):
        r = subprocess.run([sys.executable, "-m", "veil", "run", "-r", str(hostbin_root),
                            "-b", "/proc", "--", "/usr/local/bin/layout_fexecve", *opts, prog],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (opts, r.stderr)
        assert r.stdout == "guest-dynamic: from-guest-lib\n", (opts, r.stdout)
