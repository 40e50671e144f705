"""veil run's system identity flags (a first slice of the identity issue):
uname fields, a virtual hostname, fake ids."""
import os
import socket
import sys

from conftest import run_veil


def test_hostname_and_uname_fields():
    r = run_veil(["run", "--hostname", "db2", "--kernel-release", "9.9.9-veil", "--machine",
                  "riscv64", "--", "sh", "-c",
                  "hostname; uname -n; uname -r; uname -m; "
                  f"{sys.executable} -c 'import socket, os; print(socket.gethostname(), os.uname().release)'"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:5] == ["db2", "db2", "9.9.9-veil", "riscv64", "db2 9.9.9-veil"]


def test_sethostname_changes_only_the_virtual_value():
    real = socket.gethostname()
    r = run_veil(["run", "--hostname", "a", "--", "sh", "-c", "hostname b && hostname"])
    assert r.returncode == 0 and r.stdout.strip() == "b"
    assert socket.gethostname() == real


def test_fake_ids():
    r = run_veil(["run", "-i", "1000:1001", "--", "sh", "-c", "id -u; id -g; id -ru"])
    assert r.stdout.split() == ["1000", "1001", "1000"], r.stderr
    r = run_veil(["run", "-0", "--", "id", "-u"])
    assert r.stdout.strip() == "0"


def test_chown_succeeds_virtually_only_for_a_fake_root(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    r = run_veil(["run", "-0", "--", "chown", "4242:4242", str(f)])
    assert r.returncode == 0, r.stderr
    assert f.stat().st_uid == os.getuid()  # nothing changed on the host
    # a fake user that is not root may not give its file away (as natively: EPERM),
    # but may set its group to its own
    r = run_veil(["run", "-i", "1000:1000", "--", "sh", "-c",
                  f"chown 4242 {f}; chgrp 1000 {f} && stat -c %u:%g {f}"])
    assert "Operation not permitted" in r.stderr and r.stdout.strip() == "1000:1000", r


def test_bad_identity_values_are_one_line_errors():
    for args in (["--hostname", "x" * 80], ["-i", "abc"], ["-0", "-i", "1:x"]):
        r = run_veil(["run", *args, "--", "true"])
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_virtual_files_and_cpus_agree():
    r = run_veil(["run", "--cpus", "1", "--hostname", "zz", "--kernel-release", "1.2.3", "--",
                  "sh", "-c", "nproc; " + sys.executable + " -c 'import os; print(os.cpu_count())'; "
                  "grep -c ^processor /proc/cpuinfo; cat /sys/devices/system/cpu/online "
                  "/proc/sys/kernel/hostname /etc/hostname /proc/sys/kernel/osrelease; "
                  "cut -d' ' -f3 /proc/version"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["1", "1", "1", "0", "zz", "zz", "1.2.3", "1.2.3"]


def test_no_identity_flags_change_nothing():
    real = socket.gethostname()
    r = run_veil(["run", "--", "sh", "-c", "hostname; uname -n; nproc"])
    assert r.stdout.split()[:2] == [real, real]
    assert r.stdout.split()[2] == str(len(os.sched_getaffinity(0)))


def test_execution_environment(tmp_path):
    r = run_veil(["run", "--clear-env", "--env", "A=1", "--env", "PATH=/usr/bin:/bin",
                  "-w", str(tmp_path), "--umask", "027", "--rlimit", "nofile=123",
                  "--argv0", "myname", "--", "sh", "-c",
                  "env | grep -v ^PWD= | sort; pwd; umask; ulimit -n; echo $0; touch f; stat -c %a f"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:8] == ["A=1", "PATH=/usr/bin:/bin", str(tmp_path), "0027", "123",
                                        "myname", "640", ""]


def test_unset_and_bad_environment_flags():
    r = run_veil(["run", "--env", "VEIL_T=1", "--unset", "HOME", "--", "sh", "-c",
                  'echo "$VEIL_T:${HOME-unset}"'])
    assert r.stdout.strip() == "1:unset"
    for args in (["--env", "NOEQUALS"], ["--umask", "9"], ["--rlimit", "bogus=1"],
                 ["--rlimit", "nofile=10:5"], ["-w", "/nonexistent-dir"]):
        r = run_veil(["run", *args, "--", "true"])
        assert r.returncode != 0 and "Traceback" not in r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, (args, r.stderr)


def test_ownership_db_two_runs(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    db = tmp_path / "owners.json"
    r = run_veil(["run", "-0", "--ownership-db", db, "--", "sh", "-c",
                  f"chown 1234:5678 {f} && stat -c '%u %g' {f} && ls -ln {f}"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[0] == "1234 5678" and " 1234 5678 " in r.stdout
    assert (f.stat().st_uid, f.stat().st_gid) == (os.getuid(), os.getgid())  # host unchanged
    again = run_veil(["run", "-0", "--ownership-db", db, "--", "stat", "-c", "%u %g", f])
    assert again.stdout.strip() == "1234 5678"
    plain = run_veil(["run", "--", "stat", "-c", "%u %g", f])
    assert plain.stdout.strip() == f"{os.getuid()} {os.getgid()}"


def test_chown_recursive_and_tar_same_owner(tmp_path):
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a").write_text("a")
    r = run_veil(["run", "-0", "--", "sh", "-c",
                  f"chown -R 777:888 {src} && stat -c '%u:%g' {src}/d {src}/d/a && "
                  f"tar -C {src} -cf {tmp_path}/t.tar d && mkdir {tmp_path}/out && "
                  f"tar -C {tmp_path}/out --same-owner -xf {tmp_path}/t.tar && "
                  f"tar -tvf {tmp_path}/t.tar | head -1 | cut -d' ' -f2"])
    assert r.returncode == 0, r.stderr
    lines = r.stdout.split()
    assert lines[:2] == ["777:888", "777:888"] and lines[2] == "777/888"


def test_mknod_device_is_faked(tmp_path):
    node = tmp_path / "null"
    r = run_veil(["run", "-0", "--", "sh", "-c",
                  f"mknod {node} c 1 3 && stat -c '%F %t %T %a' {node} && ls -l {node} | cut -c1"])
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["character special file 1 3 644", "c"]
    import stat as st
    assert st.S_ISREG(node.stat().st_mode)  # on the host: a plain file
