"""JSON lines: one object per finished syscall and per process event."""
from __future__ import annotations

import json
from typing import TextIO

from ..decoders import Call, Ctx, format_args, format_ret
from ..decoders.common import errno_name, signal_name
from ..observers import Observer


class JsonWriter(Observer):
    """``{"pid", "tid", "syscall", "args", "result", "errno", "start", "duration"}`` per call."""

    def __init__(self, out: TextIO, ctx: Ctx, status: str = None):
        self.out = out
        self.ctx = ctx
        self.status = status

    def _emit(self, obj) -> None:
        self.out.write(json.dumps(obj, separators=(",", ":")) + "\n")

    def exit(self, call: Call) -> None:
        if (self.status == "successful" and call.failed) or \
                (self.status == "failed" and not call.failed):
            return
        self._emit(_call_object(call, self.ctx))

    def signal(self, pid, tid, sig, info, ts):
        self._emit({"event": "signal", "pid": pid, "tid": tid, "signal": signal_name(sig),
                    "time": ts / 1e9})

    def exited(self, pid, tid, code, ts):
        self._emit({"event": "exited", "pid": pid, "tid": tid, "code": code, "time": ts / 1e9})

    def killed(self, pid, tid, sig, core, ts):
        self._emit({"event": "killed", "pid": pid, "tid": tid, "signal": signal_name(sig),
                    "core_dumped": core, "time": ts / 1e9})

    def new_task(self, parent_tid, child_tid, child_pid, how, ts):
        self._emit({"event": how, "tid": parent_tid, "child_tid": child_tid,
                    "child_pid": child_pid, "time": ts / 1e9})

    def exec(self, pid, tid, former_tid, ts):
        self._emit({"event": "exec", "pid": pid, "tid": tid, "former_tid": former_tid,
                    "time": ts / 1e9})

    def close(self) -> None:
        self.out.flush()


def _call_object(call: Call, ctx: Ctx) -> dict:
    texts = format_args(call, ctx)
    sc = call.sc
    names = [name for name, _ in sc.args if name[0] != "_"] if sc is not None else []
    args = {}
    for i, text in enumerate(texts):
        key = names[i] if i < len(names) else f"arg{i}"
        if "=" in text and not text.startswith(("{", "[", '"')):  # clone's key=value style
            key, _, text = text.partition("=")
        args[key] = _typed(text)
    err = call.errno
    return {
        "pid": call.pid, "tid": call.tid, "syscall": call.name, "args": args,
        "result": None if call.ret is None else (call.ret if err is None else -1),
        "errno": errno_name(err) if err is not None else None,
        "retval": format_ret(call, ctx) if call.ret is not None and err is None else None,
        "start": call.ts_enter / 1e9,
        "duration": None if call.ts_exit is None else (call.ts_exit - call.ts_enter) / 1e9,
    }


def _typed(text: str):
    """Integers as numbers, quoted strings as strings, flag sets as lists, the rest as text."""
    if text.lstrip("-").isdigit():
        return int(text)
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"' and '", "' not in text:
        try:
            return json.loads(text)
        except ValueError:
            return text
    if "|" in text and all(p.replace("_", "").isalnum() for p in text.split("|")):
        return text.split("|")
    return text
