"""perf script's text output, one line at a time, keyed on content rather than columns (see
``gclens.perf`` for every form handled).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from gclens.context.perf_rows import _I64, _NS, ExecEvent, _Columns, _Head, _is_hex, _Meta, _Symbols

__all__: list[str] = []

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
