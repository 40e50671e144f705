"""The pytest plugin's fixtures (entry point pytest11): veil_run and veil_call."""
import errno


def save_report(path, text):
    with open(path, "w") as f:
        f.write(text)
    return len(text)


def test_veil_call_value_and_injected_exception(veil_call, tmp_path):
    r = veil_call(save_report, str(tmp_path / "a"), "hello")
    assert r.exception is None and r.value == 5
    assert (tmp_path / "a").read_text() == "hello"
    r = veil_call(save_report, str(tmp_path / "b"), "hello", inject={"write": "ENOSPC"})
    assert isinstance(r.exception, OSError) and r.exception.errno == errno.ENOSPC
    assert "save_report" in r.traceback


def test_veil_run_finds_unhandled_enospc(veil_run, progs, tmp_path):
    out = tmp_path / "report.txt"
    ok = veil_run([progs["report"], out])
    assert ok.exit_code == 0 and out.read_text() == "total: 42\n"
    # the disk is full for the report file only: the program still says it saved it
    full = veil_run([progs["report"], out], inject={"write": {"error": "ENOSPC", "path": str(out)}})
    assert full.exit_code == 0 and "report saved" in full.stdout  # <- the bug the test exposes
    assert out.read_text() == ""


def test_veil_run_with_policy(veil_run):
    import veil
    p = veil.Policy().deny("openat", errno.EACCES, where=None)
    r = veil_run(["cat", "/etc/hostname"], policy=p)
    assert r.exit_code != 0 and "Permission denied" in r.stderr
