"""The veil profile (one TOML file, a RunSpec's text form): parsing, validation
errors that name file:line and key, --set overrides, veil run's flags over a
profile, TOML output."""
import resource
import shutil

import pytest

from veil.cli.run import spec_of
from veil.errors import UsageError
from veil.spec import Bind, Environment, Layout, Network, RunSpec, Security, System


def load_profile(path, overrides=()):
    return RunSpec.from_profile(path, overrides)


def dump_profile(spec, relative_to=None):
    return spec.to_profile(relative_to)


FULL = '''\
[environment]
argv = ["/usr/bin/app", "--serve"]
unset = ["LD_PRELOAD"]
clear_env = true
cwd = "/srv"
umask = "027"
argv0 = "app"

[environment.env]
LANG = "C.UTF-8"
"my.var" = "a \\"quoted\\" value"

[environment.rlimits]
nofile = 256
core = "0:0"
stack = "unlimited"

[layout]
root = "root"
binds = ["/proc", "/dev:/dev", "data:/data:ro", { host = "/etc/resolv.conf", guest = "/etc/resolv.conf", readonly = true }]
hidden = ["/etc/shadow"]
readonly = ["/usr"]
private_tmp = true
keep_tmp = false

[system]
hostname = "db1"
domainname = "example"
sysname = "Linux"
kernel_release = "9.9.9-veil"
kernel_version = "#1 SMP"
machine = "x86_64"
uid = 1000
gid = 1001
cpus = 2
ownership_db = "owners.json"

[security]
policy = ["policies/net.py"]
seccomp_profile = "seccomp.json"
strict = true
deny = ["ptrace", "%network"]
paths_read = ["/etc/app.conf"]
paths_written = ["/var/log/app.log"]
'''


def write(tmp_path, text, name="profile.toml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def error(path, overrides=()):
    with pytest.raises(UsageError) as info:
        load_profile(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_every_section_is_parsed(tmp_path):
    prof = load_profile(write(tmp_path, FULL))
    d = str(tmp_path)
    assert prof.environment == Environment(
        argv=["/usr/bin/app", "--serve"], env={"LANG": "C.UTF-8", "my.var": 'a "quoted" value'},
        unset=["LD_PRELOAD"], clear_env=True, cwd="/srv", umask="027",
        rlimits={"nofile": "256", "core": "0:0", "stack": "unlimited"}, argv0="app")
    assert prof.environment.umask == 0o27
    assert prof.environment.rlimits == {"nofile": (256, None), "core": (0, 0),
                                        "stack": (resource.RLIM_INFINITY, None)}
    assert prof.layout == Layout(
        root=f"{d}/root",
        binds=[Bind("/proc", "/proc"), Bind("/dev", "/dev"), Bind(f"{d}/data", "/data", True),
               Bind("/etc/resolv.conf", "/etc/resolv.conf", True)],
        hidden=["/etc/shadow"], readonly=["/usr"], private_tmp=True, keep_tmp=False)
    assert prof.system == System(hostname="db1", domainname="example", sysname="Linux",
                                 kernel_release="9.9.9-veil", kernel_version="#1 SMP",
                                 machine="x86_64", uid=1000, gid=1001, cpus=2,
                                 ownership_db=f"{d}/owners.json")
    assert prof.security == Security(policy=[f"{d}/policies/net.py"],
                                     seccomp_profile=[f"{d}/seccomp.json"], strict=True,
                                     deny=["ptrace", "%network"], paths_read=["/etc/app.conf"],
                                     paths_written=["/var/log/app.log"])


def test_empty_profile_and_bundle_directory(tmp_path):
    write(tmp_path, "")
    assert load_profile(str(tmp_path)) == RunSpec()


def test_umask_as_integer_and_fake_root(tmp_path):
    prof = load_profile(write(tmp_path, "[environment]\numask = 0o022\n[system]\nfake_root = true\n"))
    assert prof.environment.umask == 0o22 and prof.system.fake_root is True


def test_relative_paths_follow_the_profile_not_the_cwd(tmp_path, monkeypatch):
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    write(bundle, FULL)
    monkeypatch.chdir(tmp_path)
    moved = tmp_path / "elsewhere" / "b2"
    shutil.copytree(bundle, moved)
    for where in (bundle, moved):
        prof = load_profile("bundle/profile.toml" if where == bundle else str(moved / "profile.toml"))
        assert prof.layout.root == f"{where}/root"
        assert prof.layout.binds[2].host == f"{where}/data"
        assert prof.security.policy == (f"{where}/policies/net.py",)
        assert prof.system.ownership_db == f"{where}/owners.json"
        assert prof.environment.cwd == "/srv"


@pytest.mark.parametrize("text, expected", [
    ('[system]\nhostname = "a"\n\ncpus = "four"\n',
     'profile.toml:4: [system] cpus: expected an integer >= 1, got "four"'),
    ("[system]\ncpus = 0\n", "profile.toml:2: [system] cpus: expected an integer >= 1, got 0"),
    ("[system]\nuid = -1\n", "profile.toml:2: [system] uid: expected an integer 0..4294967294, got -1"),
    ('[layout]\nroot = "r"\nprivate_tmp = "yes"\n',
     'profile.toml:3: [layout] private_tmp: expected true or false, got "yes"'),
    ('[environment]\nargv = "ls"\n', 'profile.toml:2: [environment] argv: expected an array'),
    ('[environment]\numask = "0x12"\n', 'profile.toml:2: [environment] umask: expected an octal mode'),
    ('[environment]\numask = "1000"\n', 'profile.toml:2: [environment] umask: expected an octal mode'),
    ('[system]\nhostname = "a"\ncores = 2\n', "profile.toml:3: [system] cores: unknown key (known: "),
    ('[system]\ncpus = 2\n\n[network]\nports = [80]\n',
     "profile.toml:5: [network] ports: unknown key (known: allow, deny, default, map)"),
    ('[system]\ncpus = 2\n\n[net]\nports = [80]\n',
     "profile.toml:4: [net]: unknown section (known: environment, layout, system, network, "
     "security, observation)"),
    ('[security]\nnet_deny = ["10.0.0.0/8=EBOGUS"]\n', "profile.toml:2: [security] net_deny[0]: "),
    ('[observation]\ncapture_bytes = -1\n',
     "profile.toml:2: [observation] capture_bytes: expected an integer >= 0, got -1"),
    ('[environment.rlimits]\nnofile = 1\nnofilez = 2\n',
     'profile.toml:3: [environment] rlimits.nofilez: unknown resource limit "nofilez"'),
    ('[environment]\nrlimits = { core = "2:1" }\n',
     'profile.toml:2: [environment] rlimits.core: the soft limit is above the hard one'),
    ('[environment.env]\nA = "x"\nB = 1\n',
     "profile.toml:3: [environment] env.B: expected a string, got 1"),
    ('[layout]\nbinds = ["/proc", "/a:b"]\n',
     'profile.toml:2: [layout] binds[1]: expected an absolute guest path, got "b"'),
    ('[layout]\nbinds = [{ host = "/a", mode = "ro" }]\n', "profile.toml:2: [layout] binds[0]: expected {host"),
    ('[layout]\nhidden = ["etc/shadow"]\n', "profile.toml:2: [layout] hidden[0]: expected an absolute"),
    ('[security]\ndeny = ["ptrace", "no_such_call"]\n', "profile.toml:2: [security] deny[1]: "),
    ('[system]\nfake_root = true\nuid = 5\n',
     "profile.toml:2: [system] fake_root: fake_root and uid/gid exclude each other"),
    ('[system]\nhostname = "' + "h" * 65 + '"\n', "profile.toml:2: [system] hostname: expected a string of at most 64"),
    ("[system]\ncpus = 2\nhostname = db2\n", "profile.toml:3: invalid TOML: Invalid value (column 12)"),
    ("[system\n", "profile.toml:1: invalid TOML: "),
    ("system = 3\n", "profile.toml:1: [system]: expected a table, got 3"),
])
def test_errors_name_file_line_and_key(tmp_path, text, expected):
    message = error(write(tmp_path, text))
    assert message.startswith(str(tmp_path) + "/" + expected), message


def test_missing_and_non_utf8_files(tmp_path):
    assert "cannot read the profile" in error(str(tmp_path / "nope.toml"))
    path = tmp_path / "bad.toml"
    path.write_bytes(b'[system]\nhostname = "\xff"\n')
    assert "not UTF-8" in error(str(path))


def test_set_overrides(tmp_path, monkeypatch):
    path = write(tmp_path, '[system]\nhostname = "db1"\ncpus = 4\n[environment.env]\nA = "1"\n')
    monkeypatch.chdir(tmp_path)
    prof = load_profile(path, ["system.cpus=2", "layout.private_tmp=true", "system.hostname=db2",
                               'environment.env.FOO="bar baz"', "environment.env.N=1",
                               "system.kernel_release=6.1", "layout.hidden=/etc/shadow",
                               'layout.readonly=["/usr", "/etc"]', "layout.root=other/root",
                               "environment.rlimits.nofile=64", "environment.umask=077"])
    assert prof.system.cpus == 2 and prof.system.hostname == "db2"
    assert prof.system.kernel_release == "6.1"
    assert prof.layout.private_tmp is True
    assert prof.environment.env == {"A": "1", "FOO": "bar baz", "N": "1"}
    assert prof.layout.hidden == ("/etc/shadow",) and prof.layout.readonly == ("/usr", "/etc")
    assert prof.layout.root == f"{tmp_path}/other/root"
    assert prof.environment.rlimits == {"nofile": (64, None)} and prof.environment.umask == 0o77


@pytest.mark.parametrize("item, expected", [
    ("hostname=db2", "--set hostname=db2: use SECTION.KEY=VALUE"),
    ("system.hostname", "--set system.hostname: use SECTION.KEY=VALUE"),
    ("system.cores=2", "--set system.cores=2: no key [system] cores"),
    ("net.port=2", "--set net.port=2: no key [net] port"),
    ("system.cpus.x=2", "--set system.cpus.x=2: [system] cpus is not a table"),
    ("system.cpus=four", '--set system.cpus=four: [system] cpus: expected an integer >= 1, got "four"'),
    ("environment.rlimits.bogus=1", "--set environment.rlimits.bogus=1: [environment] rlimits.bogus: "),
])
def test_bad_set(tmp_path, item, expected):
    message = error(write(tmp_path, "[system]\ncpus = 4\n"), [item])
    assert message.startswith(expected), message


def spec_from(argv, text, tmp_path, overrides=()):
    """veil run's flags over a profile: (spec, command)."""
    sets = [a for o in overrides for a in ("--set", o)]
    spec, command, _, _ = spec_of(["--profile", write(tmp_path, text), *sets, *argv])
    return spec, command


def test_flags_add_to_what_the_profile_says(tmp_path):
    spec, command = spec_from(["--hostname", "cli", "--env", "A=cli", "--policy", "cli.py", "--",
                               "--verbose"], FULL, tmp_path)
    d = str(tmp_path)
    env, lay, system, sec = spec.environment, spec.layout, spec.system, spec.security
    assert system.hostname == "cli" and system.domainname == "example" and system.cpus == 2
    assert system.ids == (1000, 1001) and system.fake_root is False
    assert env.env == {"LANG": "C.UTF-8", "my.var": 'a "quoted" value', "A": "cli"}
    assert env.unset == ("LD_PRELOAD",) and env.clear_env is True
    assert env.cwd == "/srv" and env.umask == 0o27 and env.argv0 == "app"
    assert list(env.rlimits) == ["nofile", "core", "stack"]
    assert sec.policy == (f"{d}/policies/net.py", f"{tmp_path.cwd()}/cli.py")
    assert sec.seccomp_profile == (f"{d}/seccomp.json",)
    assert command == ["/usr/bin/app", "--serve", "--verbose"]
    assert lay.root == f"{d}/root"
    assert lay.binds == (Bind("/proc", "/proc"), Bind("/dev", "/dev"), Bind(f"{d}/data", "/data", True),
                         Bind("/etc/resolv.conf", "/etc/resolv.conf", True))
    assert lay.hidden == ("/etc/shadow",) and lay.readonly == ("/usr",)
    assert lay.private_tmp is True and lay.keep_tmp is False and sec.strict is True
    assert sec.deny == ("ptrace", "%network")
    assert system.ownership_db == f"{d}/owners.json"


def test_flags_win(tmp_path):
    text = '[system]\ncpus = 4\nfake_root = true\n[environment]\ncwd = "/srv"\numask = "022"\n'
    spec, command = spec_from(["--cpus", "1", "-i", "5:5", "-w", "/tmp", "--umask", "077", "--", "ls"],
                              text, tmp_path)
    assert spec.system.cpus == 1 and spec.system.ids == (5, 5) and not spec.system.fake_root
    assert spec.environment.cwd == "/tmp" and spec.environment.umask == 0o77 and command == ["ls"]
    spec, _ = spec_from(["-0", "ls"], "[system]\nuid = 7\n", tmp_path)
    assert spec.system.fake_root and spec.system.uid is None
    spec, command = spec_from(["ls"], "[system]\nuid = 7\n", tmp_path)
    assert spec.system.ids == (7, 7) and command == ["ls"]
    with pytest.raises(UsageError, match="a command to run is needed"):
        spec_from([], "[system]\nfake_root = true\n", tmp_path, ["system.cpus=3"])


def test_flag_errors_name_the_flag(tmp_path):
    for argv, expected in ((["--cpus", "0", "ls"], "invalid --cpus: expected an integer >= 1, got 0"),
                           (["--umask", "999", "ls"], "invalid --umask: expected an octal mode"),
                           (["--net-deny", "1.2.3.4=EBOGUS", "ls"], "invalid --net-deny: unknown errno"),
                           (["--keep-tmp", "ls"], "invalid --keep-tmp: goes with private_tmp")):
        with pytest.raises(UsageError) as info:
            spec_of(argv)
        assert str(info.value).startswith(expected), (argv, str(info.value))


def test_dump_and_load_round_trip(tmp_path):
    prof = load_profile(write(tmp_path, FULL))
    text = dump_profile(prof, relative_to=str(tmp_path))
    assert 'root = "root"' in text and "owners.json" in text and str(tmp_path) not in text
    moved = tmp_path / "moved"
    moved.mkdir()
    again = load_profile(write(moved, text))
    assert again.environment == prof.environment and again.system.uid == 1000
    assert again.layout.root == f"{moved}/root" and again.security.policy == (f"{moved}/policies/net.py",)
    assert load_profile(write(tmp_path, dump_profile(prof), "abs.toml")) == prof


def test_dump_quotes_what_toml_needs(tmp_path):
    odd = 'tab\there "q" back\\slash \x7f \x01 é\nline'
    prof = RunSpec(environment=Environment(env={"we ird.x": odd, "B": ""}, argv=[odd] * 5, umask="002"),
                   layout=Layout(binds=[Bind("/a:b", "/c", True)], hidden=[]),
                   system=System(cpus=3, fake_root=False),
                   network=Network(deny=["10.0.0.0/8:5432=ECONNREFUSED"], default="deny"),
                   security=Security(paths_read=[f"/p{i}" for i in range(20)], inject=["write:error=ENOSPC"]))
    text = dump_profile(prof)
    assert load_profile(write(tmp_path, text)) == prof, text


def test_error_in_an_array_of_tables_names_its_header(tmp_path):
    text = '[[layout.binds]]\nhost = "/a"\n\n[[layout.binds]]\nhost = "/b"\nguest = "rel"\n'
    message = error(write(tmp_path, text))
    assert message.endswith('profile.toml:4: [layout] binds[1]: expected an absolute guest path, got "rel"')
