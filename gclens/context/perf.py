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

from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from gclens._errors import InputError, UsageError
from gclens.context.perf_json import _JsonParser
from gclens.context.perf_rows import CLOCK_IDS, CLOCKS, SAMPLES_SCHEMA, ExecEvent, PerfReject, _Columns, _Meta, _Symbols
from gclens.context.perf_text import _TextParser
from gclens.read.sources import SourceLike, expand, read_lines

__all__ = ["CLOCKS", "CLOCK_IDS", "EXPORT_SCRIPT", "GIVE_UP_AFTER", "SAMPLES_SCHEMA", "ExecEvent", "PerfCapture",
           "PerfReject", "read_perf"]

EXPORT_SCRIPT: str = str(Path(__file__).with_name("perf_export.py"))
"""Path of the perf script that writes the JSON Lines export: ``perf script -s EXPORT_SCRIPT``."""


GIVE_UP_AFTER = 1000
"""Rejected lines without a single sample after which the input is declared not perf output."""
_TEXT_LIMIT = 300


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
