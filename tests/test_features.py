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
