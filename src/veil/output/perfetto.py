"""Chrome trace-event JSON for the Perfetto UI (https://ui.perfetto.dev) and
chrome://tracing: one track per thread, one complete slice ("ph": "X") per
syscall, process and thread names from execve, instants for signals and exits,
flow arrows from fork/clone to the new task.  With a socket table
(``follow_sockets``), each socket is a lifeline: an async track from its
creation to its close, one nested slice per state it was in, and a counter of
the bytes it sent and received.

Timestamps are microseconds since the first recorded event (the trace's
``otherData.start_ns`` is that event's CLOCK_REALTIME in nanoseconds).
"""
from __future__ import annotations

import json
import os

from ..decoders import Call, Ctx, format_args, format_ret
from ..decoders.common import signal_name
from ..observers import Observer

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TextIO


class PerfettoWriter(Observer):
    def __init__(self, out: TextIO, ctx: Ctx | None = None, *, status: str | None = None,
                 command: list[str] | None = None):
        self.out = out
        self.ctx = ctx or Ctx()
        self.status = status
        self.command = command
        self._t0: int | None = None
        self._first = True
        self._pending: dict[int, Call] = {}          # tid -> call in progress
        self._pid_of: dict[int, int] = {}            # tid -> pid
        self._proc_name: dict[int, str] = {}         # pid -> name
        self._thread_name: dict[int, str] = {}       # tid -> name
        self._flows: dict[int, int] = {}             # child tid -> flow id, until its first event
        self._track: dict[Call, int] = {}            # execve of a non-leader thread: its own track
        self._next_flow = 1
        self._last_ts = 0
        self._closed = False
        self._sockets = None                         # the session's SocketTable, if any
        self._socket_ids = 0                         # the highest socket id drawn so far
        self._live: dict[int, list] = {}             # socket id -> [entry, pid, state, sent, received]
        self._dumps = json.JSONEncoder(separators=(",", ":"), ensure_ascii=True,
                                       check_circular=False).encode
        out.write('{"displayTimeUnit":"ns","traceEvents":[\n')

    # --- plumbing --------------------------------------------------------
    def _us(self, ts: int) -> float:
        if self._t0 is None:
            self._t0 = ts
        if ts > self._last_ts:
            self._last_ts = ts
        return round((ts - self._t0) / 1000.0, 3)

    def _emit(self, ev: dict) -> None:
        if self._first:
            self._first = False
            self.out.write(self._dumps(ev))
        else:
            self.out.write(",\n" + self._dumps(ev))

    def _seen(self, pid: int, tid: int, ts: int) -> None:
        """First event of a task: end the flow arrow from its creator."""
        self._pid_of[tid] = pid
        fid = self._flows.pop(tid, None)
        if fid is not None:
            self._emit({"ph": "f", "bp": "e", "id": fid, "name": "spawn", "cat": "process",
                        "pid": pid, "tid": tid, "ts": self._us(ts)})

    def _slice(self, call: Call, end_ts: int, result: str) -> None:
        if (self.status == "successful" and call.failed) or \
                (self.status == "failed" and not call.failed) or \
                (self.status is not None and call.ret is None):
            return
        start = self._us(call.ts_enter)
        args = {"args": ", ".join(format_args(call, self.ctx)), "result": result}
        self._emit({"ph": "X", "name": call.name, "cat": "syscall",
                    "ts": start, "dur": max(0.0, round(self._us(end_ts) - start, 3)),
                    "pid": call.pid, "tid": self._track.pop(call, call.tid), "args": args})

    # --- observer --------------------------------------------------------
    def enter(self, call: Call) -> None:
        if self._t0 is None:
            self._t0 = call.ts_enter  # time 0: the first record, which may be a call's entry
        if call.tid in self._flows or call.tid not in self._pid_of:
            self._seen(call.pid, call.tid, call.ts_enter)
        self._pending[call.tid] = call

    def exit(self, call: Call) -> None:
        if self._pending.get(call.tid) is call:
            del self._pending[call.tid]
        self._slice(call, call.ts_exit or call.ts_enter, format_ret(call, self.ctx))
        if call.name in ("execve", "execveat") and call.ret == 0:
            self._named_by_exec(call)

    def _named_by_exec(self, call: Call) -> None:
        c = call.caps.get(0 if call.name == "execve" else 1)
        name = None
        if c is not None and not c.fault and c.data:
            name = os.path.basename(c.data.decode("utf-8", "replace").rstrip("/")) or None
        if name is None:
            argv = call.caps.get(1 if call.name == "execve" else 2)
            if argv is not None and not argv.fault and argv.strings():
                name = os.path.basename(argv.strings()[0][0].decode("utf-8", "replace"))
        if name:
            self._proc_name[call.pid] = name
            self._thread_name[call.tid] = name

    def _unreturned(self, tid: int, ts: int) -> None:
        call = self._pending.pop(tid, None)
        if call is not None:
            self._slice(call, ts, "?")

    def _instant(self, name: str, pid: int, tid: int, ts: int, args: dict | None = None,
                 cat: str = "event") -> None:
        ev = {"ph": "i", "s": "t", "name": name, "cat": cat, "pid": pid, "tid": tid,
              "ts": self._us(ts)}
        if args:
            ev["args"] = args
        self._emit(ev)

    def signal(self, pid, tid, sig, info, ts):
        detail = None
        if len(info) >= 16:
            try:
                from ..decoders.signals import siginfo
                detail = {"siginfo": siginfo(info)}
            except Exception:
                detail = None
        self._instant(signal_name(sig), pid, tid, ts, detail, "signal")

    def exited(self, pid, tid, code, ts):
        self._unreturned(tid, ts)
        self._instant(f"exited with {code}", pid, tid, ts, {"code": code}, "exit")

    def killed(self, pid, tid, sig, core, ts):
        self._unreturned(tid, ts)
        name = f"killed by {signal_name(sig)}" + (" (core dumped)" if core else "")
        self._instant(name, pid, tid, ts, {"signal": signal_name(sig), "core_dumped": core}, "exit")

    def new_task(self, parent_tid, child_tid, child_pid, how, ts):
        ppid = self._pid_of.get(parent_tid, parent_tid)
        self._pid_of[child_tid] = child_pid
        pname = self._thread_name.get(parent_tid) or self._proc_name.get(ppid)
        if pname:
            self._thread_name.setdefault(child_tid, pname)
            if child_pid != ppid:
                self._proc_name.setdefault(child_pid, pname)
        fid = self._next_flow
        self._next_flow += 1
        self._flows[child_tid] = fid
        self._emit({"ph": "s", "id": fid, "name": "spawn", "cat": "process", "pid": ppid,
                    "tid": parent_tid, "ts": self._us(ts), "args": {"how": how,
                                                                   "child": child_tid}})

    def exec(self, pid, tid, former_tid, ts):
        if former_tid != tid:
            self._unreturned(tid, ts)
            call = self._pending.pop(former_tid, None)
            if call is not None:
                # the execve goes on under the leader's tid; its slice stays on
                # the track of the thread that made it (slices on a track nest)
                self._pending[tid] = call
                self._track[call] = former_tid
        self._instant("exec", pid, tid, ts, {"former_tid": former_tid}, "process")

    def stopped(self, pid, tid, sig, ts):
        self._instant(f"stopped by {signal_name(sig)}", pid, tid, ts, None, "signal")

    def attached(self, pid, tid, ts):
        self._seen(pid, tid, ts)
        self._instant("attached", pid, tid, ts, None, "process")

    def detached(self, pid, tid, ts):
        self._unreturned(tid, ts)
        self._instant("detached", pid, tid, ts, None, "process")

    # --- socket lifelines ----------------------------------------------------
    def follow_sockets(self, table) -> Observer:
        """Draw the sockets of ``table`` (a veil.sockets.SocketTable); returns the
        observer to add after the table, which looks at it once it has seen a call."""
        self._sockets = table
        writer = self

        class AfterTable(Observer):
            def exit(self, call: Call) -> None:
                writer._socket_changes(call)
        return AfterTable()

    def _socket_event(self, ph: str, name: str, sid: int, pid: int, ts: int,
                      args: dict | None = None) -> None:
        ev = {"ph": ph, "cat": "socket", "id": sid, "name": name, "pid": pid, "tid": pid,
              "ts": self._us(ts)}
        if args:
            ev["args"] = args
        self._emit(ev)

    def _socket_changes(self, call: Call) -> None:
        ts = call.ts_exit or call.ts_enter
        for e in self._sockets.newer_than(self._socket_ids):
            self._socket_ids = e.id
            if e.closed_ns is None:
                self._socket_event("b", f"socket {e.id}", e.id, call.pid, e.created_ns or ts,
                                   {"family": e.family, "type": e.type})
                self._socket_event("b", e.state, e.id, call.pid, e.created_ns or ts)
                self._live[e.id] = [e, call.pid, e.state, 0, 0]
        for sid, track in list(self._live.items()):
            e, pid, state, sent, received = track
            if e.state != state:
                self._socket_event("e", state, sid, pid, ts)
                self._socket_event("b", e.state, sid, pid, ts)
                track[2] = e.state
            if (e.sent, e.received) != (sent, received):
                self._emit({"ph": "C", "name": f"socket {sid} bytes", "pid": pid,
                            "ts": self._us(ts), "args": {"sent": e.sent, "received": e.received}})
                track[3:] = [e.sent, e.received]
            if e.closed_ns is not None:
                self._end_socket(sid, e.closed_ns)

    def _end_socket(self, sid: int, ts: int) -> None:
        e, pid, state, _, _ = self._live.pop(sid)
        self._socket_event("e", state, sid, pid, ts)
        self._socket_event("e", f"socket {sid}", sid, pid, ts,
                           {"local": e.local, "remote": e.remote, "sent": e.sent,
                            "received": e.received})

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for tid in list(self._pending):
            self._unreturned(tid, self._last_ts)
        for sid in list(self._live):
            self._end_socket(sid, self._last_ts)
        pids = set(self._pid_of.values())
        for pid in sorted(pids):
            name = self._proc_name.get(pid) or f"pid {pid}"
            self._emit({"ph": "M", "name": "process_name", "pid": pid, "tid": pid,
                        "args": {"name": name}})
        for tid, pid in sorted(self._pid_of.items()):
            name = self._thread_name.get(tid) or self._proc_name.get(pid) or f"tid {tid}"
            self._emit({"ph": "M", "name": "thread_name", "pid": pid, "tid": tid,
                        "args": {"name": name}})
        other = {"start_ns": self._t0, "generator": "veil"}
        if self.command:
            other["command"] = self.command
        self.out.write("\n],\"otherData\":" + self._dumps(other) + "}\n")
        self.out.flush()
