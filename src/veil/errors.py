"""Exceptions that the CLI turns into one-line errors."""
from __future__ import annotations


class VeilError(Exception):
    """A user-facing error: printed as ``veil: <message>``, exit status ``exit_code``.
    The message stays on one line: line breaks from user input are shown escaped."""

    exit_code = 2

    def __str__(self) -> str:
        text = super().__str__()
        return text.replace("\r", "\\r").replace("\n", "\\n")


class UsageError(VeilError):
    exit_code = 2


class CommandNotFound(VeilError):
    def __init__(self, command: str, reason: str, exit_code: int = 127):
        super().__init__(f"{command}: {reason}")
        self.command = command
        self.exit_code = exit_code



class VerdictError(VeilError):
    """A verdict or a rule made with a value veil cannot carry out (an unknown
    errno name, a signal out of range, ...): raised where it is made, so the
    traceback (and, inside a hook, the note naming the hook) points at it."""

    exit_code = 2
