"""Exceptions that the CLI turns into one-line errors."""
from __future__ import annotations


class VeilError(Exception):
    """A user-facing error: printed as ``veil: <message>``, exit status ``exit_code``."""

    exit_code = 2


class UsageError(VeilError):
    exit_code = 2


class CommandNotFound(VeilError):
    def __init__(self, command: str, reason: str, exit_code: int = 127):
        super().__init__(f"{command}: {reason}")
        self.command = command
        self.exit_code = exit_code

