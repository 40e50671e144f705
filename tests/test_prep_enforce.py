"""``veil run BUNDLE`` enforces what the learning run learned (issue 24): reads of what it
read, writes where it wrote, the addresses it used; the plan widens a rule; ``--set
security.enforce=false`` records only; a refusal is one line naming the path or address
and the rule."""
from __future__ import annotations

import re
import shutil
import socket

import pytest

from conftest import run_veil
from veil import tomlread as tomllib

WRITER = 'for f in "$@"; do echo x > "$f" && echo "wrote $f"; done'


def pack(tmp_path, bundle, command, cwd):
    r = run_veil(["prep", "pack", "-o", bundle, "-q", "--", *command], cwd=cwd)
    assert r.returncode == 0, r.stderr
    return r


def refusals(stderr):
    return [line for line in stderr.splitlines() if line.startswith("veil: refused ")]


def test_writes_only_where_the_learning_run_wrote(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, ["/bin/sh", "-c", WRITER, "sh", "out.txt"], work)
    prof = tomllib.loads((bundle / "profile.toml").read_text())
    assert prof["security"]["enforce"] is True
    assert str(work / "out.txt") in prof["security"]["paths_written"]
    r = run_veil(["run", bundle, "--", "other.txt"])
    assert r.stdout == "wrote out.txt\n"
    guest = bundle / "root" / str(work).lstrip("/")      # the bundle's tree, not the host's
    assert (guest / "out.txt").read_text() == "x\n" and not (guest / "other.txt").exists()
    [line] = refusals(r.stderr)
    assert re.fullmatch(rf"veil: refused openat \(EACCES\) in process \d+: {work}/other.txt: "
                        r"the learning run did not write there \(rule: \[security\] "
                        r"paths_written; widen it in the plan, or --set "
                        r"security.enforce=false\)", line), line
    assert "Permission denied" in r.stderr
    # recorded only
    r = run_veil(["run", bundle, "--set", "security.enforce=false", "--", "other.txt"])
    assert r.returncode == 0 and not refusals(r.stderr), r.stderr
    assert r.stdout == "wrote out.txt\nwrote other.txt\n"


def test_the_plan_widens_a_rule(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    plan = tmp_path / "plan"
    r = run_veil(["prep", "trace", "-o", plan, "-q", "--", "/bin/sh", "-c", WRITER, "sh",
                  "out.txt"], cwd=work)
    assert r.returncode == 0, r.stderr
    text = (plan / "plan.toml").read_text()
    # as a person would: the learned path becomes a glob
    wide = re.sub(r"^write = \[[^]]*\]", f'write = ["{work}/*.txt"]', text, flags=re.M)
    assert tomllib.loads(text)["security"]["write"] == [str(work / "out.txt")]
    assert tomllib.loads(wide)["security"]["write"] == [f"{work}/*.txt"]
    (plan / "plan.toml").write_text(wide)
    bundle = tmp_path / "bundle"
    r = run_veil(["prep", "pack", plan, "-o", bundle, "-q"])
    assert r.returncode == 0, r.stderr
    r = run_veil(["run", bundle, "--", "b.txt", "c.log"])
    assert r.stdout == "wrote out.txt\nwrote b.txt\n", r.stderr
    [line] = refusals(r.stderr)
    assert f"{work}/c.log: the learning run did not write there" in line


def test_reads_only_of_what_the_learning_run_read(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    (work / "known.txt").write_text("known\n")
    secret = tmp_path / "secret.txt"
    secret.write_text("secret\n")
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, ["/bin/sh", "-c", 'cat known.txt "$@"', "sh"], work)
    # a host file shown in the guest but never read by the learning run
    r = run_veil(["run", bundle, "-b", f"{secret}:/srv/secret.txt", "--", "/srv/secret.txt",
                  "/nonexistent"])
    assert r.stdout == "known\n" and "secret" not in r.stdout
    [line] = refusals(r.stderr)
    assert ": /srv/secret.txt: the learning run did not read it (rule: [security] " \
           "paths_read;" in line
    # a path that is not there fails as it would (ENOENT), not refused
    assert "/nonexistent: No such file or directory" in r.stderr
    r = run_veil(["run", bundle, "--set", "security.enforce=false", "-b",
                  f"{secret}:/srv/secret.txt", "--", "/srv/secret.txt"])
    assert (r.returncode, r.stdout) == (0, "known\nsecret\n"), r.stderr


@pytest.fixture
def listeners():
    socks = []
    for _ in range(2):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        s.listen(8)
        socks.append(s)
    yield [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()


def test_only_the_peers_the_learning_run_used(tmp_path, listeners):
    bash = shutil.which("bash")
    if bash is None:
        pytest.skip("bash (for /dev/tcp) is needed")
    used, other = listeners
    script = ('for p in "$@"; do if (echo hi > /dev/tcp/127.0.0.1/$p) 2>/dev/null; '
              'then echo "reached $p"; else echo "not $p"; fi; done')
    bundle = tmp_path / "bundle"
    pack(tmp_path, bundle, [bash, "-c", script, "bash", str(used)], tmp_path)
    prof = tomllib.loads((bundle / "profile.toml").read_text())
    assert prof["security"]["peers"] == [f"127.0.0.1:{used}"]
    r = run_veil(["run", bundle, "--", str(other)])
    assert r.stdout == f"reached {used}\nnot {other}\n", r.stderr
    [line] = refusals(r.stderr)
    assert re.fullmatch(rf"veil: refused connect \(EACCES\) in process \d+: 127.0.0.1:{other}: "
                        r"an address the learning run did not use \(rule: \[security\] peers; "
                        r".*\)", line), line
    r = run_veil(["run", bundle, "--set", "security.enforce=false", "--", str(other)])
    assert r.stdout == f"reached {used}\nreached {other}\n", r.stderr


@pytest.mark.layout_engines("ptrace", "mount")
def test_relative_paths_are_ruled_under_both_layout_engines(tmp_path, layout_engine):
    """A profile's enforced rules see a relative path as the guest names it, whichever
    engine makes the tree (the cwd /proc shows is a host path under ptrace, a guest one
    under mount)."""
    work = tmp_path / "work"
    work.mkdir()
    profile = tmp_path / "p.toml"
    profile.write_text(f'[layout]\nbinds = [{{ host = "{work}", guest = "/work" }}]\n\n'
                       '[security]\nenforce = true\npaths_read = ["/**"]\n'
                       'paths_written = ["/work/ok.txt"]\n')
    r = run_veil(["run", "--profile", profile, "-w", "/work", "--", "/bin/sh", "-c", WRITER,
                  "sh", "ok.txt", "no.txt"])
    assert r.stdout == "wrote ok.txt\n", r.stderr
    [line] = refusals(r.stderr)
    assert ": /work/no.txt: the learning run did not write there" in line
    assert (work / "ok.txt").exists() and not (work / "no.txt").exists()


@pytest.mark.layout_engines("ptrace", "mount")
def test_a_symlink_reaches_only_what_a_rule_allows(tmp_path, layout_engine):
    """Rules see the path the kernel would open (symlinks resolved), as C path rules do:
    a symlink the learning run never used reaches a learned file, and never an unlearned
    one (the refusal names the file it points to); a directory learned as a path does
    not open what is below it."""
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    (work / "ok.txt").write_text("ok\n")
    (work / "secret.txt").write_text("secret\n")
    (work / "sub" / "below.txt").write_text("below\n")
    (work / "to-ok").symlink_to("ok.txt")
    (work / "sneaky").symlink_to("secret.txt")
    system = ", ".join(f'"{d}/**"' for d in ("/usr", "/lib", "/lib64", "/bin", "/etc"))
    profile = tmp_path / "p.toml"
    profile.write_text(f'[layout]\nbinds = [{{ host = "{work}", guest = "/work" }}]\n\n'
                       f'[security]\nenforce = true\npaths_read = [{system}, "/work/ok.txt", '
                       '"/work/sub"]\n')
    r = run_veil(["run", "--profile", profile, "-w", "/", "--", "/bin/sh", "-c",
                  'for f in "$@"; do cat "$f" || echo "no $f"; done', "sh",
                  "/work/to-ok", "/work/sneaky", "/work/sub/below.txt", "/work/missing"])
    assert r.stdout == "ok\nno /work/sneaky\nno /work/sub/below.txt\nno /work/missing\n", \
        r.stderr
    [line] = refusals(r.stderr)         # one line per kind of call refused, as veil run's
    assert re.fullmatch(r"veil: refused openat \(EACCES\) in process \d+: /work/secret.txt: "
                        r"the learning run did not read it \(rule: \[security\] paths_read; "
                        r".*\)", line), line
    # shown before what the program prints about the failed call (the caller waits for it)
    assert r.stderr.index(line) < r.stderr.index("cat: /work/sneaky: Permission denied")
    assert "cat: /work/sub/below.txt: Permission denied" in r.stderr
    assert "cat: /work/missing: No such file or directory" in r.stderr
