"""The rows a perf reader collects, shared by the text and the JSON parser: per-column lists, the
clock metadata, interned symbols, and the small records (exec events, rejects) a capture carries.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field

import pyarrow as pa

from gclens.store.schemas import PERF_SAMPLES

__all__ = ["CLOCKS", "CLOCK_IDS", "SAMPLES_SCHEMA", "ExecEvent", "PerfReject"]

SAMPLES_SCHEMA: pa.Schema = pa.schema(list(PERF_SAMPLES)[:12])
"""The columns `read_perf` fills: the first 12 of ``perf_samples``."""

CLOCK_IDS: dict[int, str] = {0: "realtime", 1: "monotonic", 4: "monotonic_raw", 7: "boottime", 11: "tai"}
"""Names of the ``perf record -k`` clock ids, as ``PerfCapture.clock`` reports them."""
CLOCKS = frozenset({*CLOCK_IDS.values(), "perf_local", "unknown"})


_NS = 1_000_000_000
_I64 = 1 << 63


@dataclass(frozen=True)
class ExecEvent:
    """A process exec perf saw (``PERF_RECORD_COMM exec``): the anchor closest to a Go runtime start."""

    pid: int
    tid: int
    comm: str
    time_ns: int


@dataclass(frozen=True)
class PerfReject:
    """A line that is no part of perf script output, kept so that nothing is dropped silently."""

    line_no: int
    text: str
    reason: str


class _Columns:
    """Per-column Python lists, turned into one Arrow table at the end (cheaper than per-row dicts)."""

    def __init__(self) -> None:
        self.time_ns: list[int] = []
        self.pid: list[int | None] = []
        self.tid: list[int | None] = []
        self.cpu: list[int | None] = []
        self.comm: list[str | None] = []
        self.event: list[str | None] = []
        self.period: list[int | None] = []
        self.sym: list[str | None] = []
        self.dso: list[str | None] = []
        self.stack: list[tuple[str, ...]] = []
        self._stacks: dict[tuple[str, ...], tuple[str, ...]] = {}

    def add(self, head: _Head, stack: tuple[str, ...], sym: str | None, dso: str | None) -> None:
        self.time_ns.append(head.time_ns)
        self.pid.append(head.pid)
        self.tid.append(head.tid)
        self.cpu.append(head.cpu)
        self.comm.append(head.comm)
        self.event.append(head.event)
        self.period.append(head.period)
        self.sym.append(sym)
        self.dso.append(dso)
        self.stack.append(self._stacks.setdefault(stack, stack))

    def fill_pids(self, pid_of: dict[int, int]) -> None:
        """Give tid-only samples the pid that task events tie the tid to."""
        if pid_of and None in self.pid:
            pairs = zip(self.pid, self.tid, strict=True)
            self.pid = [p if p is not None or t is None else pid_of.get(t) for p, t in pairs]

    def table(self, name: str) -> pa.Table:
        n = len(self.time_ns)
        values = [[name] * n, list(range(n)), self.time_ns, self.pid, self.tid, self.cpu, self.comm,
                  self.event, self.period, self.sym, self.dso, self.stack]
        arrays = [pa.array(v, type=f.type) for v, f in zip(values, SAMPLES_SCHEMA, strict=True)]
        return pa.Table.from_arrays(arrays, schema=SAMPLES_SCHEMA)


@dataclass
class _Head:
    """The fields of a sample header line."""

    time_ns: int
    pid: int | None
    tid: int | None
    cpu: int | None
    comm: str | None
    event: str | None = None
    period: int | None = None
    sym: str | None = None
    dso: str | None = None


@dataclass
class _Meta:
    """What the input says about itself: header, clock, task events."""

    header_seen: bool = False
    clockid: int | None = None
    event_clockid: int | None = None
    header_read: bool | None = None  # JSON export: False when perf.data's header was unreadable
    reference: tuple[int, int] | None = None
    exec_events: list[ExecEvent] = field(default_factory=list)
    pids: dict[int, set[int]] = field(default_factory=dict)
    task_events: int = 0

    def thread(self, pid: int, tid: int) -> None:
        self.pids.setdefault(tid, set()).add(pid)

    def pid_of(self) -> dict[int, int]:
        """tid -> pid, for tids that belong to exactly one process in this capture."""
        return {tid: next(iter(p)) for tid, p in self.pids.items() if len(p) == 1}

    def clock(self) -> str:
        cid = self.clockid if self.clockid is not None else self.event_clockid
        if cid is not None:
            return CLOCK_IDS.get(cid, f"clockid_{cid}")
        if self.header_read is False:
            return "unknown"
        return "perf_local" if self.header_seen else "unknown"


class _Symbols:
    """Normalised, interned symbol and dso strings: perf repeats the same few thousand names."""

    def __init__(self) -> None:
        self.frames: dict[str, tuple[str | None, str | None]] = {}
        self.syms: dict[str, str] = {}
        self.strings: dict[str, str] = {}

    def frame(self, text: str) -> tuple[str | None, str | None]:
        """``sym+0xoff (dso)`` -> (sym, dso); dso is None for inlined frames and when not printed."""
        hit = self.frames.get(text)
        if hit is None:
            raw, dso = _split_dso(text.strip())
            if dso == "inlined":
                dso = None
            hit = self.frames[text] = (self.sym(raw) if raw else None, self.string(dso))
        return hit

    def sym(self, raw: str) -> str:
        """Symbol without ``+0x..`` offset and ``.abi0``/``.abiinternal`` suffix, so names match across forms."""
        hit = self.syms.get(raw)
        if hit is None:
            hit = self.syms[raw] = sys.intern(_normalise(raw))
        return hit

    def string(self, value: str | None) -> str | None:
        if value is None:
            return None
        return self.strings.setdefault(value, value)


def _normalise(raw: str) -> str:
    sym = raw.strip()
    head, plus, offset = sym.rpartition("+0x")
    if plus and offset and _is_hex(offset):
        sym = head
    for suffix in (".abi0", ".abiinternal"):
        sym = sym.removesuffix(suffix)
    return sym or "[unknown]"


def _split_dso(text: str) -> tuple[str, str | None]:
    """Split ``sym (dso)`` at the last balanced parenthesised group: dsos like ``/x (deleted)`` nest."""
    if not text.endswith(")"):
        return text, None
    i = text.rfind(" (")
    if i >= 0 and "(" not in text[i + 2:-1] and ")" not in text[i + 2:-1]:
        return text[:i], text[i + 2:-1]
    depth = 0
    for j in range(len(text) - 1, -1, -1):
        if text[j] == ")":
            depth += 1
        elif text[j] == "(":
            depth -= 1
            if depth == 0:
                return (text[:j - 1], text[j + 1:-1]) if j > 0 and text[j - 1] == " " else (text, None)
    return text, None


_is_hex = re.compile(r"[0-9a-f]+").fullmatch
