"""The public API as the README and docs/API.md show it, checked by mypy (tools/lint):
a signature or an exported name that changes incompatibly fails the gate.
Not collected by pytest (no test_ prefix); never run."""
from __future__ import annotations

import errno
from typing import List, Optional

import veil
from veil.stop import Stop


def trace_ls() -> int:
    result: veil.Result = veil.trace(["ls", "/"], trace="%file", output="ls.trace")
    opens = (result.stats or {}).get("openat", {})
    return result.exit_code + int(opens.get("calls", 0))


def deny_passwd() -> Optional[int]:
    session = veil.Session(["cat", "/etc/passwd"], trace="none")

    def no_passwd(stop: Stop) -> Optional[veil.Verdict]:
        if stop.name == "openat" and stop.args[1] == 0:
            return veil.Deny(errno.EACCES)
        return None

    session.watch(["openat"], no_passwd, phase="enter")
    session.deny(["mount"], errno.EPERM)
    session.kill_on(["kexec_load"])
    return session.run().exit_code


def run_spec(profile: str) -> int:
    spec = veil.RunSpec.from_profile(profile)
    layout = veil.Layout(root="/srv/rootfs", binds=(veil.Bind("/tmp", "/tmp"),))
    verdicts: List[veil.Verdict] = [veil.ALLOW, veil.Allow(), veil.Deny(errno.EPERM),
                                    veil.Emulate(0), veil.Kill(), veil.Detach(), veil.Hold()]
    policy = veil.Policy()
    policy.deny("unlink", errno=errno.EPERM)
    result = veil.run(["true"], layout=layout, cwd="/", policy=policy)
    result2 = veil.run(spec=spec, observers=[veil.SyscallStats()])
    return result.exit_code + result2.exit_code + len(verdicts)


class Counter(veil.Observer):
    def __init__(self) -> None:
        self.calls = 0


def errors() -> str:
    try:
        veil.run(["/nonexistent"])
    except veil.CommandNotFound as e:
        return str(e)
    except (veil.UsageError, veil.VerdictError, veil.SpecError, veil.VeilError) as e:
        return str(e)
    return ""
