"""Bad input never gets a traceback: the profile loader, --set overrides, the
network and bind flag parsers and the socket-table reader either accept their
input or raise UsageError (one line); a spec's checks raise SpecError (one line)."""
from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.errors import UsageError, VeilError
from veil.netmap import parse_net_map
from veil.netrules import parse_rule
from veil.sockets import format_table, load_table
from veil.spec import RunSpec
from veil.spec.checks import check

FAST = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture])

SECTIONS = ["environment", "layout", "system", "network", "security", "observation", "bogus"]
KEYS = ["argv", "env", "cwd", "umask", "rlimits", "root", "binds", "hidden", "cpus", "uid",
        "hostname", "fake_root", "policy", "deny", "net_allow", "net_map", "private_tmp", "x",
        "allow", "map", "default", "inject", "strict", "trace", "capture_bytes", "affinity"]
VALUES = st.one_of(st.integers(-5, 10 ** 6), st.booleans(), st.text(max_size=12).map(json.dumps),
                   st.lists(st.text(max_size=8).map(json.dumps), max_size=3).map(
                       lambda xs: "[" + ", ".join(xs) + "]"),
                   st.sampled_from(['"022"', '"nofile=10"', '{a = 1}', '"10.0.0.1:80=127.0.0.1:8"',
                                    '[{host = "/tmp"}]', '"/proc"', "[1, 2]", "nan", "x y"]))


def load_profile(path, overrides=()):
    return RunSpec.from_profile(path, overrides)


def one_line(e: VeilError) -> None:
    assert "\n" not in str(e) and str(e)


@FAST
@given(st.lists(st.tuples(st.sampled_from(SECTIONS), st.sampled_from(KEYS), VALUES), max_size=6))
def test_profile_loader(tmp_path_factory, entries):
    path = tmp_path_factory.mktemp("p") / "p.toml"
    text = "".join(f"[{s}]\n{k} = {v}\n" for s, k, v in entries)
    path.write_text(text)
    try:
        load_profile(str(path))
    except UsageError as e:
        one_line(e)


@FAST
@given(st.text(max_size=200))
def test_profile_loader_any_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("p") / "p.toml"
    path.write_text(text)
    try:
        load_profile(str(path))
    except UsageError as e:
        one_line(e)


@FAST
@given(st.lists(st.text(max_size=30), max_size=3))
def test_profile_overrides(tmp_path_factory, overrides):
    path = tmp_path_factory.mktemp("p") / "p.toml"
    path.write_text("[system]\nhostname = \"h\"\n")
    try:
        load_profile(str(path), overrides)
    except UsageError as e:
        one_line(e)


@FAST
@given(st.text(max_size=40), st.booleans())
def test_flag_parsers(text, allow):
    for parse in (lambda t: parse_rule(t, allow), parse_net_map,
                  lambda t: check("layout", "binds", [t]),
                  lambda t: check("environment", "rlimits", {"nofile": t}),
                  lambda t: check("security", "inject", [t])):
        try:
            parse(text)
        except VeilError as e:
            one_line(e)


@FAST
@given(st.one_of(st.text(max_size=80),
                 st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5),
                              lambda c: st.lists(c, max_size=3) | st.dictionaries(
                                  st.sampled_from(["sockets", "version", "x"]), c, max_size=3),
                              max_leaves=8).map(json.dumps)))
def test_socket_table_reader(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("t") / "t.json"
    path.write_text(text)
    try:
        doc = load_table(str(path))
    except UsageError as e:
        one_line(e)
    else:
        format_table(doc["sockets"])  # prints whatever fields it finds
