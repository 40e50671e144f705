"""Policy files: Python files that define ``policy`` (a veil.Policy or a list
of them) or ``def configure(session)``.  Errors name the file and its line."""
from __future__ import annotations

import os
import runpy
import traceback

from .errors import UsageError, VeilError


def load_policy_file(path: str, session) -> None:
    """Run a policy file and apply what it defines; errors name file and line."""
    from .policy import Policy
    if not os.path.exists(path):
        raise UsageError(f"{path}: no such policy file")

    def failed(e: Exception) -> UsageError:
        """The error as one line naming the policy file's line it came from."""
        line = next((f.lineno for f in reversed(traceback.extract_tb(e.__traceback__))
                     if os.path.abspath(f.filename) == os.path.abspath(path)), "?")
        return UsageError(f"{path}:{line}: {type(e).__name__}: {e}")
    try:
        ns = runpy.run_path(path, run_name="veil_policy")
    except SyntaxError as e:
        raise UsageError(f"{path}:{e.lineno}: {e.msg}") from None
    except Exception as e:
        raise failed(e) from None
    policy, configure = ns.get("policy"), ns.get("configure")
    if policy is None and configure is None:
        raise UsageError(f"{path}: defines neither `policy` nor `configure(session)`")
    if policy is not None:
        for p in policy if isinstance(policy, (list, tuple)) else [policy]:
            if not isinstance(p, Policy):
                raise UsageError(f"{path}: `policy` must be a veil.Policy (or a list of them), "
                                 f"not {type(p).__name__}")
            p.apply(session)
    if configure is not None:
        try:
            configure(session)
        except VeilError:
            raise
        except Exception as e:
            raise failed(e) from None
