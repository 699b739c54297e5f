"""Read ``perf script`` output (text, or the JSON Lines of ``EXPORT_SCRIPT``) into an Arrow table.

perf's text output is made for people, so the parser keys on content, never on columns
(perf-sysctl-clocks.md §1.1–1.8; real examples in tests/perf_examples/). Handled:

- the one-line form (no callchain, or ``-G``): ``comm tid [cpu] time: period event:  ip sym+off (dso)``,
  with comm right-aligned and possibly containing spaces;
- the callchain form (``perf record -g``): a header line ending in ``event:``, then one
  ``\\t<addr> <sym>+<off> (<dso>)`` line per frame, leaf first, and a blank line. Frame
  addresses may be absolute or map-relative; only symbol and dso are kept;
- ``-F`` variants: ``pid/tid`` or ``tid``, no comm, ``[cpu]`` (``[-01]`` means none), a ``tod``
  date before the time, no period, no event, no dso, ``--ns`` or µs times, ``srcline`` continuation
  lines, ``(inlined)`` frames;
- ``--header`` comment lines, for ``# clockid:`` and ``# reference time:``;
- ``--show-task-events`` records: ``PERF_RECORD_COMM exec`` becomes an `ExecEvent`, and
  COMM/FORK/EXIT records tell which process a thread belongs to, to fill ``pid`` when perf printed
  only the tid.

The JSON Lines export (first non-blank character ``{``) is read object by object: the export
header (clock id, reference time), samples, and exec records; ``[ip, sym, dso]`` frames of other
hand-written exports are accepted too. Both forms produce the same rows for the same perf.data.

A line that is none of these becomes a `PerfReject`: garbage, invalid UTF-8 (a sample then keeps its
other frames), a line over 1 MiB, or an unterminated last line (perf ends every line, so that is a
truncated file). An input with rejects and no sample or task event at all (a gctrace log, perf's own
error message such as "Cannot print 'cpu' field") raises `InputError` instead: it is the wrong file.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from gclens._errors import InputError, UsageError
from gclens._schemas import PERF_SAMPLES
from gclens._sources import SourceLike, expand, read_lines

EXPORT_SCRIPT: str = str(Path(__file__).with_name("perf_export.py"))
"""Path of the perf script that writes the JSON Lines export: ``perf script -s EXPORT_SCRIPT``."""

SAMPLES_SCHEMA: pa.Schema = pa.schema(list(PERF_SAMPLES)[:12])
"""The columns `read_perf` fills: the first 12 of ``perf_samples``."""

CLOCK_IDS: dict[int, str] = {0: "realtime", 1: "monotonic", 4: "monotonic_raw", 7: "boottime", 11: "tai"}
"""Names of the ``perf record -k`` clock ids, as ``PerfCapture.clock`` reports them."""
CLOCKS = frozenset({*CLOCK_IDS.values(), "perf_local", "unknown"})

GIVE_UP_AFTER = 1000
"""Rejected lines without a single sample after which the input is declared not perf output."""
_TEXT_LIMIT = 300
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


@dataclass(frozen=True)
class PerfCapture:
    """One perf script output: its samples and what is known about its clock.

    ``clock`` is ``monotonic`` (``-k mono``), another ``-k`` clock name, ``perf_local`` (a header
    without clock id: perf's sched_clock), or ``unknown`` (no header). ``reference`` is the
    (wall-clock ns, perf-clock ns) pair perf took at record start, from ``# reference time``.
    """

    name: str
    samples: pa.Table
    clock: str
    reference: tuple[int, int] | None
    exec_events: list[ExecEvent]
    rejects: list[PerfReject]
    lines_read: int


def read_perf(source: SourceLike, *, name: str | None = None, clock: str | None = None) -> PerfCapture:
    """Read perf script text or JSON Lines (path, .gz/.zst, or file object) into a `PerfCapture`.

    ``clock`` overrides the detected clock: plain ``perf script`` output has no header, so only the
    caller knows it was recorded with ``-k mono``.
    """
    if clock is not None and clock not in CLOCKS:
        raise UsageError(f"unknown perf clock {clock!r}; expected one of {', '.join(sorted(CLOCKS))}")
    sources = expand(source)
    if len(sources) != 1:
        raise InputError(f"{source}: read_perf reads one capture, this names {len(sources)} files")
    src = sources[0]
    label = name or src.name
    reader = _Reader(label)
    for line in read_lines(src):
        reader.feed(line.no, line.raw, line.terminated, line.length)
    return reader.finish(clock)


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


class _Reader:
    """Decodes lines, picks text or JSON by the first non-blank character, collects the results."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.columns = _Columns()
        self.meta = _Meta()
        self.rejects: list[PerfReject] = []
        self.lines = 0
        self.parser: _TextParser | _JsonParser | None = None
        self.symbols = _Symbols()

    def reject(self, no: int, text: str, reason: str) -> None:
        if len(text) > _TEXT_LIMIT:
            text = text[:_TEXT_LIMIT] + "…"
        self.rejects.append(PerfReject(no, text, reason))
        if len(self.rejects) >= GIVE_UP_AFTER and not self._found_any():
            raise self._not_perf()

    def feed(self, no: int, raw: bytes, terminated: bool, length: int) -> None:
        self.lines = no
        if no == 1 and raw.startswith(b"PERFILE"):
            raise InputError(f"{self.name}: this is a binary perf.data file; convert it first with "
                             f"`perf script --ns -F +pid --show-task-events --header` or `perf script -s "
                             f"{EXPORT_SCRIPT}`")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            self.reject(no, raw.decode("utf-8", "replace"), f"invalid UTF-8 at byte {exc.start + 1}")
            return
        if length > len(raw):
            self.reject(no, text, f"line of {length:,} bytes is too long to parse")
            return
        if self.parser is None:
            text = text.removeprefix("\ufeff")
            if not text.strip():
                return
            self.parser = self._pick(text)
        if not terminated and isinstance(self.parser, _TextParser) and text.strip():
            self.reject(no, text, "last line has no newline: the input looks truncated")
            return
        self.parser.line(no, text)

    def _pick(self, first: str) -> _TextParser | _JsonParser:
        if first.lstrip().startswith("{"):
            return _JsonParser(self.columns, self.meta, self.reject, self.symbols)
        return _TextParser(self.columns, self.meta, self.reject, self.symbols)

    def _found_any(self) -> bool:
        return bool(self.columns.time_ns) or self.meta.task_events > 0

    def _not_perf(self) -> InputError:
        first = self.rejects[0]
        return InputError(f"{self.name}:{first.line_no}: no perf sample found, this is not perf script output; "
                          f"first unrecognised line ({first.reason}): {first.text}")

    def finish(self, clock: str | None) -> PerfCapture:
        if self.parser is not None:
            self.parser.close()
        if self.rejects and not self._found_any():
            raise self._not_perf()
        self.columns.fill_pids(self.meta.pid_of())
        try:
            table = self.columns.table(self.name)
        except (pa.ArrowException, OverflowError) as exc:  # values are range-checked; this is a backstop
            raise InputError(f"{self.name}: cannot build the samples table: {exc}") from None
        return PerfCapture(self.name, table, clock or self.meta.clock(), self.meta.reference,
                           self.meta.exec_events, self.rejects, self.lines)


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
_TIME = re.compile(r"(?<!\S)(\d{1,10})\.(\d{6,9}):(?!\S)")
_MISC = re.compile(r"[\d\]]\s+[KUHGgMESx]{1,5}$")
_MISC_LETTERS = frozenset("KUHGgMESx")
_TOD = re.compile(r"\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?$")
_REST = re.compile(r"\s*(?:(\d{1,19})\s+(?=\S+:(?:\s|$)))?(?:(\S+?):(?:\s+|$))?(.*)$")
_EXEC = re.compile(r"PERF_RECORD_COMM exec: (.*):(\d{1,10})/(\d{1,10})\s*$")
_COMM = re.compile(r"PERF_RECORD_COMM: .*:(\d{1,10})/(\d{1,10})\s*$")
_FORK = re.compile(r"PERF_RECORD_(?:FORK|EXIT)\((\d{1,10}):(\d{1,10})\)")
_CLOCKID = re.compile(r"#\s*clockid:\s*\S+\s*\((\d+)\)")
_EVENT_CLOCKID = re.compile(r"\buse_clockid = 1\b.*\bclockid = (\d+)")
_REFERENCE = re.compile(r"=\s*(\d+)\.(\d+)\s*\(TOD\)\s*=\s*(\d+)\.(\d+)")
_HEADER_KEYS = ("# ========", "# captured on", "# header version", "# perf version", "# cmdline", "# event :")


def _ns(seconds: str, fraction: str) -> int:
    """Exact ns from ``sec.frac`` (6 digits are µs, 9 are ns): no float rounding."""
    return int(seconds) * _NS + int(fraction[:9].ljust(9, "0"))


class _TextParser:
    """State machine over perf script text: a header line opens a sample, a blank line closes it."""

    def __init__(self, columns: _Columns, meta: _Meta, reject: Callable[[int, str, str], None],
                 symbols: _Symbols) -> None:
        self.columns, self.meta, self.reject, self.symbols = columns, meta, reject, symbols
        self.head: _Head | None = None
        self.frames: list[tuple[str | None, str | None]] = []

    def line(self, no: int, text: str) -> None:
        if not text or text.isspace():
            self.close()
            return
        first = text[0]
        if first == "\t" or (first == " " and text.lstrip(" ")[:1] == "\t"):
            self._frame(no, text)
        elif first == "#":
            self._comment(text)
        elif (m := _TIME.search(text)) is not None:
            self._header(no, text, m)
        elif self.head is not None and text.startswith("  "):
            pass  # srcline (or other per-frame) continuation line
        elif text.startswith("PERF_RECORD_"):
            pass  # a record without a time, e.g. PERF_RECORD_FINISHED_ROUND (--show-round-events)
        else:
            self.reject(no, text, "not a perf sample, callchain frame, task event or header line")

    def _frame(self, no: int, text: str) -> None:
        addr, _, rest = text.strip().partition(" ")
        if self.head is None:
            self.reject(no, text, "callchain frame outside a sample (its header line is missing)")
        elif not _is_hex(addr):
            self.reject(no, text, "callchain frame without a hex address")
        else:
            self.frames.append(self.symbols.frame(rest))

    def _comment(self, text: str) -> None:
        if text.startswith(_HEADER_KEYS):
            self.meta.header_seen = True
        if text.startswith("# clockid:") and (m := _CLOCKID.match(text)):
            self.meta.clockid = int(m[1])
        elif text.startswith("# reference time") and (m := _REFERENCE.search(text)):
            self.meta.reference = (_ns(m[1], m[2]), _ns(m[3], m[4]))
        elif text.startswith("# event :") and (m := _EVENT_CLOCKID.search(text)):
            self.meta.event_clockid = int(m[1])

    def _header(self, no: int, text: str, m: re.Match[str]) -> None:
        self.close()
        time_ns = _ns(m[1], m[2])
        comm, pid, tid, cpu = _prefix(text[:m.start()])
        rest = text[m.end():]
        body = rest.lstrip()
        if body.startswith("PERF_RECORD_"):
            self._task(body, time_ns, comm)
            return
        r = _REST.match(rest)
        assert r is not None  # every group is optional
        period = int(r[1]) if r[1] else None
        if period is not None and period >= _I64:
            self.reject(no, text, "period does not fit in 64 bits")
            return
        head = _Head(time_ns, pid, tid, cpu, comm, self.symbols.string(r[2]), period)
        addr, _, symdso = r[3].strip().partition(" ")
        if addr and _is_hex(addr) and symdso:
            head.sym, head.dso = self.symbols.frame(symdso)
        self.head = head

    def _task(self, body: str, time_ns: int, comm: str | None) -> None:
        self.meta.task_events += 1
        if m := _EXEC.match(body):
            pid, tid = int(m[2]), int(m[3])
            self.meta.thread(pid, tid)
            if time_ns:  # time 0: synthesized for a process that existed before perf started
                self.meta.exec_events.append(ExecEvent(pid, tid, m[1], time_ns))
        elif m := (_COMM.match(body) or _FORK.match(body)):
            self.meta.thread(int(m[1]), int(m[2]))

    def close(self) -> None:
        head = self.head
        if head is None:
            return
        frames = self.frames
        if frames:
            stack = tuple(f[0] or "[unknown]" for f in frames)
            dso = next((f[1] for f in frames if f[1] is not None), None)  # an inlined leaf lives in its caller's dso
            self.columns.add(head, stack, stack[0], dso)
            self.frames = []
        else:
            self.columns.add(head, (head.sym,) if head.sym else (), head.sym, head.dso)
        self.head = None


def _prefix(pre: str) -> tuple[str | None, int | None, int | None, int | None]:
    """``comm pid/tid [cpu] tod`` before the time, read right to left: comm may contain spaces."""
    pre = pre.rstrip()
    if pre[-1:].isdigit() and (t := _TOD.search(pre, max(0, len(pre) - 40))):
        pre = pre[:t.start()]
    if pre[-1:] in _MISC_LETTERS and (m := _MISC.search(pre, max(0, len(pre) - 8))):
        pre = pre[:m.start() + 1]  # -F misc flags (K, U, x, ...) follow a tid or [cpu]
    cpu = None
    if pre.endswith("]"):
        i = pre.rfind("[")
        value = pre[i + 1:-1]
        if i >= 0 and value.lstrip("-").isascii() and value.lstrip("-").isdigit() and len(value) <= 6:
            cpu = int(value) if int(value) >= 0 else None
            pre = pre[:i].rstrip()
    head, _, last = pre.rpartition(" ")
    pid = tid = None
    p, slash, t2 = last.partition("/")
    if _small_int(p) and (not slash or _small_int(t2)):
        if slash:
            pid, tid = int(p), int(t2)
        else:
            tid = int(p)
        pre = head
    return pre.strip() or None, pid, tid, cpu


def _small_int(text: str) -> bool:
    return 0 < len(text) <= 10 and text.isascii() and text.isdigit()


class _Bad(Exception):
    """A JSON line that is valid JSON but not a valid export record."""


class _JsonParser:
    """One JSON object per line: the export header, samples, and exec task records."""

    def __init__(self, columns: _Columns, meta: _Meta, reject: Callable[[int, str, str], None],
                 symbols: _Symbols) -> None:
        self.columns, self.meta, self.reject, self.symbols = columns, meta, reject, symbols

    def line(self, no: int, text: str) -> None:
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return
        try:
            obj = json.loads(stripped)
        except ValueError as exc:
            self.reject(no, text, f"invalid JSON ({getattr(exc, 'msg', exc)})")
            return
        try:
            self._record(obj)
        except _Bad as exc:
            self.reject(no, text, str(exc))

    def _record(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise _Bad("JSON value is not an object")
        if "gclens_perf_export" in obj:
            self._header(obj)
        elif obj.get("task") == "exec":
            self._exec(obj)
        elif "time_ns" in obj:
            self._sample(obj)
        else:
            raise _Bad("JSON object is neither a sample, an exec record nor the export header")

    def _header(self, obj: dict[str, Any]) -> None:
        self.meta.header_seen = True
        self.meta.header_read = obj.get("header_read") is not False
        self.meta.clockid = _opt_int(obj, "clockid")
        ref = obj.get("reference")
        if isinstance(ref, list) and len(ref) == 2 and all(_is_int(v) for v in ref):
            self.meta.reference = (ref[0], ref[1])

    def _exec(self, obj: dict[str, Any]) -> None:
        self.meta.task_events += 1
        pid, tid, time_ns = _req_int(obj, "pid"), _req_int(obj, "tid"), _req_int(obj, "time_ns")
        comm = self._str(obj.get("comm")) or ""
        self.meta.thread(pid, tid)
        if time_ns:
            self.meta.exec_events.append(ExecEvent(pid, tid, comm, time_ns))

    def _sample(self, obj: dict[str, Any]) -> None:
        cpu = _opt_int(obj, "cpu")
        if cpu is not None and not 0 <= cpu < 1 << 31:
            cpu = None  # 4294967295 (-1 as u32): cpu not sampled
        head = _Head(_req_int(obj, "time_ns"), _opt_int(obj, "pid"), _opt_int(obj, "tid"), cpu,
                     self._str(obj.get("comm")), self._str(obj.get("ev", obj.get("event"))), _opt_int(obj, "period"))
        frames = [self._frame(f) for f in obj.get("stack") or ()]
        if frames:
            stack = tuple(f[0] for f in frames)
            dso = next((f[1] for f in frames if f[1] is not None), None)
            self.columns.add(head, stack, stack[0], dso)
            return
        sym = obj.get("sym")
        name = self.symbols.sym(self._str(sym) or "") if sym is not None else None
        self.columns.add(head, (name,) if name else (), name, self._str(obj.get("dso")))

    def _frame(self, frame: Any) -> tuple[str, str | None]:
        """``[sym, dso]`` (this module's export) or ``[ip, sym, dso]`` (a common hand-written export)."""
        if not isinstance(frame, list) or len(frame) not in (2, 3):
            raise _Bad("stack frame is not [sym, dso] or [ip, sym, dso]")
        sym, dso = frame[-2], frame[-1]
        return self.symbols.sym(self._str(sym) or ""), self._str(dso)

    def _str(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _Bad(f"expected a string, got {value!r}")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Bad("string is not valid Unicode (lone surrogate)") from None
        return self.symbols.string(value)

    def close(self) -> None:
        """Every JSON line is complete in itself."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_I64 <= value < _I64


def _opt_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise _Bad(f"{key} is not a 64-bit integer: {value!r}")
    return int(value)


def _req_int(obj: dict[str, Any], key: str) -> int:
    value = _opt_int(obj, key)
    if value is None:
        raise _Bad(f"{key} is missing")
    return value
