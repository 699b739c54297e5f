"""perf script export to JSON Lines, run by perf's embedded Python (stdlib only).

Usage::

    perf script -i perf.data -s "$(python -c 'import gclens.context.perf as p; print(p.EXPORT_SCRIPT)')" > perf.jsonl

Why this and not ``perf script`` text: times come as integer ns, fields are named, and nothing
depends on column widths. The script uses perf's *database export* interface
(``perf_db_export_mode``, the one ``export-to-sqlite.py`` uses) rather than ``process_event``,
because only that interface also reports when each process exec'd (``comm_table`` rows with the
exec flag), the best anchor for aligning perf time with a Go run (perf 6.1 has no Python hook
for COMM events otherwise).

Output, one JSON object per line:

- first ``{"gclens_perf_export": 1, "perf_data": path, "header_read": bool, "clockid": int|null,
  "reference": [tod_ns, clock_ns]|null}``; clock id and reference come from the perf.data
  CLOCK_DATA header feature, written only by ``perf record -k``;
- per sample ``{"ev", "comm", "pid", "tid", "cpu", "time_ns", "period", "sym", "dso",
  "stack": [[sym, dso], ...]}`` with the stack leaf first, as perf names the symbols;
  ``cpu`` is null when not sampled;
- per process exec seen by perf ``{"task": "exec", "pid", "tid", "comm", "time_ns"}``.

perf runs this file with its own interpreter, not the caller's venv, so it must not import gclens.
"""

import json
import os
import struct
import sys
from typing import Any

__all__ = ["FORMAT_VERSION", "branch_type_table", "call_path_table", "call_return_table", "comm_table",
           "comm_thread_table", "dso_table", "evsel_table", "machine_table", "perf_db_export_callchains",
           "perf_db_export_calls", "perf_db_export_mode", "sample_table", "symbol_table", "thread_table",
           "trace_begin", "trace_end"]

perf_db_export_mode = True
perf_db_export_calls = False
perf_db_export_callchains = True

FORMAT_VERSION = 1
_UNKNOWN = "[unknown]"
_HEADER_CLOCK_DATA = 29
"""Feature bit of CLOCK_DATA in the perf.data header (tools/perf/util/header.h)."""


class _State:
    """Id tables perf exports before the sample rows that refer to them."""

    def __init__(self) -> None:
        self.events: dict[int, str] = {}
        self.threads: dict[int, tuple[int, int]] = {}
        self.comms: dict[int, str] = {}
        self.dsos: dict[int, str] = {}
        self.symbols: dict[int, tuple[str, str]] = {}
        self.call_paths: dict[int, tuple[int, int]] = {}
        self.stacks: dict[int, list[list[str]]] = {}
        self.pending_execs: list[tuple[str, int, int]] = []
        self.out = sys.stdout


_state = _State()


def _emit(obj: dict[str, Any]) -> None:
    try:
        _state.out.write(json.dumps(obj, separators=(",", ":")) + "\n")
    except BrokenPipeError:
        os._exit(1)  # the reader went away (``| head``): stop perf without a Python traceback


def trace_begin() -> None:
    path = _perf_data_path()
    clock = _clock_data(path) if path else None
    _emit({"gclens_perf_export": FORMAT_VERSION, "perf_data": path, "header_read": clock is not None,
           "clockid": clock[0] if clock and clock[0] is not None else None,
           "reference": list(clock[1]) if clock and clock[1] is not None else None})


def trace_end() -> None:
    for comm, thread_id, time_ns in _state.pending_execs:
        _emit_exec(comm, thread_id, time_ns)
    try:
        _state.out.flush()
    except BrokenPipeError:
        os._exit(1)


def evsel_table(*x: Any) -> None:
    _state.events[x[0]] = x[1]


def machine_table(*x: Any) -> None:
    """Machines (host, guests) are not kept: samples are keyed by pid/tid."""


def thread_table(*x: Any) -> None:
    _state.threads[x[0]] = (x[3], x[4])


def comm_table(*x: Any) -> None:
    comm_id, comm, thread_id, time_ns, is_exec = x[:5]
    _state.comms[comm_id] = comm
    if is_exec and time_ns:
        if thread_id in _state.threads:
            _emit_exec(comm, thread_id, time_ns)
        else:
            _state.pending_execs.append((comm, thread_id, time_ns))


def comm_thread_table(*x: Any) -> None:
    """Which threads had which comm; each sample carries its own comm id."""


def dso_table(*x: Any) -> None:
    _state.dsos[x[0]] = x[3] or x[2] or _UNKNOWN


def symbol_table(*x: Any) -> None:
    symbol_id, dso_id, start, end, _binding, name = x[:6]
    if name == "unknown" and start == end:
        name = _UNKNOWN  # db-export's placeholder for an address without a symbol
    _state.symbols[symbol_id] = (name, _state.dsos.get(dso_id, _UNKNOWN))


def branch_type_table(*x: Any) -> None:
    """Branch types matter only for branch-stack recordings."""


def call_path_table(*x: Any) -> None:
    _state.call_paths[x[0]] = (x[1], x[2])


def call_return_table(*x: Any) -> None:
    """Only written with perf_db_export_calls, which is off."""


def sample_table(*x: Any) -> None:
    thread = _state.threads.get(x[3], (None, None))
    cpu = x[10]
    frame = _state.symbols.get(x[6], (_UNKNOWN, _state.dsos.get(x[5], _UNKNOWN)))
    stack = _stack(x[21]) or [list(frame)]
    _emit({"ev": _state.events.get(x[1]), "comm": _state.comms.get(x[4]), "pid": thread[0], "tid": thread[1],
           "cpu": None if cpu < 0 or cpu == 0xFFFFFFFF else cpu, "time_ns": x[9], "period": x[15],
           "sym": stack[0][0], "dso": stack[0][1], "stack": stack})


def _emit_exec(comm: str, thread_id: int, time_ns: int) -> None:
    pid, tid = _state.threads.get(thread_id, (None, None))
    _emit({"task": "exec", "pid": pid, "tid": tid, "comm": comm, "time_ns": time_ns})


def _stack(call_path_id: int) -> list[list[str]]:
    """Frames leaf first; call paths are exported once and shared, so memoise per id."""
    known = _state.stacks.get(call_path_id)
    if known is not None:
        return known
    frames: list[list[str]] = []
    node = call_path_id
    while node in _state.call_paths:
        parent, symbol_id = _state.call_paths[node]
        if parent == 0:
            break  # the root call path stands for "no frame"
        frames.append(list(_state.symbols.get(symbol_id, (_UNKNOWN, _UNKNOWN))))
        node = parent
    _state.stacks[call_path_id] = frames
    return frames


def _perf_data_path() -> str | None:
    """The perf.data perf is reading: the script's argument, else ``-i`` of perf's own command line."""
    if len(sys.argv) > 1:
        return os.path.abspath(sys.argv[1])
    try:
        with open("/proc/self/cmdline", "rb") as f:
            args = [a.decode("utf-8", "replace") for a in f.read().split(b"\0")]
    except OSError:
        return None
    path = "perf.data"
    for i, arg in enumerate(args):
        if arg in ("-i", "--input") and i + 1 < len(args):
            path = args[i + 1]
        elif arg.startswith("--input="):
            path = arg.split("=", 1)[1]
        elif arg.startswith("-i") and len(arg) > 2 and not arg.startswith("--"):
            path = arg[2:]
    return None if path == "-" else os.path.abspath(path)


def _clock_data(path: str) -> tuple[int | None, tuple[int, int] | None] | None:
    """(clockid, (tod_ns, clock_ns)) from the perf.data header; (None, None) without -k; None if unreadable."""
    try:
        with open(path, "rb") as f:
            head = f.read(104)
            if len(head) < 104 or head[:8] != b"PERFILE2":
                return None
            data_offset, data_size = struct.unpack_from("<QQ", head, 40)
            features = int.from_bytes(head[72:104], "little")
            if not features >> _HEADER_CLOCK_DATA & 1:
                return (None, None)
            index = bin(features & ((1 << _HEADER_CLOCK_DATA) - 1)).count("1")
            f.seek(data_offset + data_size + 16 * index)
            offset, size = struct.unpack("<QQ", f.read(16))
            f.seek(offset)
            _version, clockid, tod_ns, clock_ns = struct.unpack("<IIQQ", f.read(24))
    except (OSError, struct.error):
        return None
    return (clockid, (tod_ns, clock_ns)) if size >= 24 else (None, None)
