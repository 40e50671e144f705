"""Session features without a Session: the rows each adds, compiled by veil.ruledb."""
import errno

from veil import engine as E
from veil import filter as bpf
from veil.features import RowTable
from veil.features.placement import Placement
from veil.features.refusals import Refusals
from veil.features.sockets import Sockets
from veil.ruledb import RuleDB, build_filter
from veil.syscalls.lookup import BY_NAME

NR = {n: BY_NAME[n].nr for n in ("sched_getaffinity", "kill", "connect", "read", "openat")}


def rows_of(*features):
    rows = RowTable(lambda nr: [], lambda sc: {})
    for f in features:
        f.add_rows(rows)
    return rows


def test_placement_hides_its_mask_unless_off():
    actions, _ = RuleDB().compile(rows_of(Placement(E.AFFINITY_AUTO)))
    assert actions[NR["sched_getaffinity"]].flags & E.F_EXIT   # the result is rewritten
    assert RuleDB().compile(rows_of(Placement(E.AFFINITY_OFF)))[0] == {}


def test_restricted_targets_stop_in_c_even_under_a_kill_rule_and_say_why():
    db = RuleDB()
    refusals = Refusals(db)
    refusals.restrict_targets({"kill": ((0,), ()), "no_such_call": ((0,), ())}, "out of reach")
    db.add([NR["kill"]], ("kill", 0), bpf.Cond(1, "EQ", 9))
    actions, filt = db.compile(rows_of(refusals))
    row = actions[NR["kill"]]
    assert row.flags & E.F_TARGETS and row.pid_args == 1
    assert bpf.run(build_filter(filt, bpf.allow()), NR["kill"], args=(5, 15, 0, 0, 0, 0)) \
        == bpf.RET_TRACE
    assert db.reasons[(NR["kill"], errno.EPERM)] == "out of reach"
    assert refusals.result_fields() == {"refusals": []}


def test_socket_table_records_socket_calls_and_reads_only_on_sockets():
    sockets = Sockets(traced=set(), strsize=32, capture_bytes=0, seccomp=True)
    actions, _ = RuleDB().compile(rows_of(sockets))
    assert actions[NR["connect"]].flags & E.F_RECORD and actions[NR["connect"]].sockfd_arg == -1
    assert actions[NR["read"]].sockfd_arg == 0      # recorded only when fd 0 is a socket
    assert NR["openat"] not in actions
    traced = Sockets(traced={NR["connect"]}, strsize=32, capture_bytes=0, seccomp=True)
    assert NR["connect"] not in traced.rows          # traced anyway: the trace shows it


def test_path_rules_stop_path_calls_and_mark_those_that_write():
    from veil.features.paths import PathRules
    paths = PathRules(frozenset({"mkdir"}))
    assert RuleDB().compile(rows_of(paths))[0] == {}          # no rule: no stop
    paths.add("/etc/**", errno.ENOENT)
    actions, _ = RuleDB().compile(rows_of(paths))
    mkdir, openat = actions[BY_NAME["mkdir"].nr], actions[NR["openat"]]
    assert openat.flags & E.F_PATHS and not openat.flags & E.F_MUTATES
    assert mkdir.flags & E.F_MUTATES and openat.path_args == 0b10 and openat.dirfd_args == 0b1
    assert NR["read"] not in actions
    assert paths.rules == [("/etc", E.PATH_PREFIX, errno.ENOENT, 0, None)]


def test_confinement_allows_what_is_covered_then_refuses_the_rest(tmp_path):
    from veil.features.paths import PathRules
    paths = PathRules(frozenset())
    paths.confine([str(tmp_path / "in.txt")], ["/tmp/**"], errno.EACCES, "not read", "not written")

    class Recorder:
        def __init__(self):
            self.rules = []

        def add_path_rule(self, *rule):
            self.rules.append(rule)
    eng = Recorder()
    paths.install_rules(eng, None)
    writes_end = eng.rules.index(("/", E.PATH_PREFIX, errno.EACCES, E.PATH_WRITES, "not written"))
    assert ("/tmp", E.PATH_PREFIX, 0, E.PATH_WRITES, None) in eng.rules[:writes_end]
    reads = eng.rules[writes_end + 1:]
    assert (str(tmp_path / "in.txt"), E.PATH_EXACT, 0, 0, None) in reads
    assert (str(tmp_path), E.PATH_EXACT, 0, 0, None) in reads    # its directories are read too
    assert reads[-1] == ("/", E.PATH_PREFIX, errno.EACCES, E.PATH_EXISTING, "not read")
