"""Which run (process lifetime) each gc and SCHED line belongs to: the one part of the
assembly that is sequential by nature (design.md §2).

A gc line continues the run whose last cycle is its predecessor (n-1, not earlier in time);
failing that, the current run if it moves forward (lost lines leave gaps); otherwise it starts
a new run: gc numbers restarted (a restart, a `go run`/`go test` child) or went back.
Preferring exact continuations keeps two interleaved runtimes (a child inheriting GODEBUG, a
c-shared library) in two runs instead of flipping between them. SCHED lines continue the run
whose SCHED clock they follow. Stretches where the current run simply goes on are placed at
once (``_Breaks``); only the lines that break one go through the rules above one by one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LIVE_RUNS", "Run", "Splitter"]

LIVE_RUNS = 8
"""Runs a line may still continue: interleaved runtimes are a handful, restarts are many."""


@dataclass
class Run:
    """What one run has seen so far."""

    run_id: int
    cut_reason: str
    gc_num: int | None = None
    gc_t: float | None = None
    sched_t: float | None = None
    header: tuple[int, float] | None = None  # (line, time) of the SCHED line whose dump follows

    def continues_exactly(self, n: int, t: float) -> bool:
        return self.gc_num is not None and n == self.gc_num + 1 and t >= (self.gc_t or 0.0)

    def moves_forward(self, n: int, t: float) -> bool:
        return self.gc_num is None or (n > self.gc_num and t >= (self.gc_t or 0.0))


@dataclass
class Splitter:
    """Assigns each clocked row (gc or SCHED line) to a run, opening runs as needed: sequential
    by nature, so the one part of the assembly done row by row (on the clocked rows only)."""

    runs: list[Run] = field(default_factory=list)  # the last LIVE_RUNS: older ones take no more lines
    current: Run | None = None
    opened: int = 0

    def place(self, table: str, line_no: int, gc_num: int | None, t_s: float | None, detail: bool | None) -> Run:
        if table == "gc":
            assert gc_num is not None and t_s is not None
            self.current = self._for_gc(gc_num, t_s)
            self.current.gc_num, self.current.gc_t = gc_num, t_s
        elif table == "sched":
            assert t_s is not None
            self.current = self._for_sched(t_s)
            self.current.sched_t = t_s
            self.current.header = (line_no, t_s) if detail else None
        elif self.current is None:
            self.current = self._open("start of source")
        return self.current

    def place_all(self, is_gc: Any, line_no: Any, gc_num: Any, t_s: Any, detail: Any,
                  opened: Callable[[Run], None]) -> tuple[Any, Any, Any]:
        """``place`` for many clocked rows (numpy arrays): each row's run, and the (line, time) of
        the SCHED header in effect after it (-1 and NaN for none). Stretches where the current run
        simply goes on (gc n+1 after n, clocks not going back) are placed at once; only the rows
        that break a stretch (a restart, another runtime's line) go through ``place``."""
        count = len(is_gc)
        runs = np.empty(count, np.int64)
        hdr_no, hdr_t = np.full(count, -1, np.int64), np.full(count, np.nan)
        breaks = _Breaks(is_gc, gc_num, t_s)
        i = 0
        while i < count:
            k = breaks.stretch(i, self.current, gc_num, t_s)
            if k > i:
                self._go_on(slice(i, k), runs, hdr_no, hdr_t, is_gc, line_no, gc_num, t_s, detail)
                i = k
            if i < count:
                run = self.place("gc" if is_gc[i] else "sched", int(line_no[i]), int(gc_num[i]), float(t_s[i]),
                                 bool(detail[i]))
                opened(run)
                runs[i] = run.run_id
                if run.header is not None:
                    hdr_no[i], hdr_t[i] = run.header
                i += 1
        return runs, hdr_no, hdr_t

    def _go_on(self, rows: slice, runs: Any, hdr_no: Any, hdr_t: Any, is_gc: Any, line_no: Any, gc_num: Any,
               t_s: Any, detail: Any) -> None:
        """Rows the current run takes as they come: its id, and the SCHED header carried forward."""
        cur = self.current
        assert cur is not None
        runs[rows] = cur.run_id
        gc = is_gc[rows]
        if gc.all():  # gc lines only (the common case): the header stays, the run's cycle moves on
            hdr_no[rows], hdr_t[rows] = cur.header if cur.header is not None else (-1, np.nan)
            cur.gc_num, cur.gc_t = int(gc_num[rows.stop - 1]), float(t_s[rows.stop - 1])
            return
        marks = np.where(gc, -2, np.where(detail[rows], line_no[rows], -1))  # -2: a gc line keeps the header
        start_no, start_t = cur.header if cur.header is not None else (-1, np.nan)
        values = np.concatenate(([start_no], marks))
        times = np.concatenate(([start_t], t_s[rows]))
        last = np.maximum.accumulate(np.where(values != -2, np.arange(len(values)), 0))
        hdr_no[rows], hdr_t[rows] = values[last][1:], np.where(values[last] == -1, np.nan, times[last])[1:]
        if gc.any():
            cur.gc_num, cur.gc_t = int(gc_num[rows][gc][-1]), float(t_s[rows][gc][-1])
        if (~gc).any():
            cur.sched_t = float(t_s[rows][~gc][-1])
            cur.header = None if hdr_no[rows][-1] == -1 else (int(hdr_no[rows][-1]), float(hdr_t[rows][-1]))

    def _for_gc(self, n: int, t: float) -> Run:
        cur = self.current
        if cur is not None and cur.continues_exactly(n, t):
            return cur
        exact = [r for r in self.runs[-LIVE_RUNS:] if r.continues_exactly(n, t)]
        if exact:
            return exact[-1]
        if cur is not None and cur.moves_forward(n, t):
            return cur
        if cur is None:
            return self._open("start of source")
        if cur.gc_num is not None and n <= cur.gc_num:
            return self._open(f"gc numbers restart: gc {n} after gc {cur.gc_num}")
        return self._open(f"gc clock went back: @{t:.3f}s after @{cur.gc_t:.3f}s")

    def _for_sched(self, t: float) -> Run:
        cur = self.current
        if cur is not None and (cur.sched_t is None or t >= cur.sched_t):
            return cur
        behind = [r for r in self.runs[-LIVE_RUNS:] if r.sched_t is not None and r.sched_t <= t]
        if behind:
            return max(behind, key=lambda r: r.sched_t or 0.0)
        if cur is None:
            return self._open("start of source")
        return self._open(f"SCHED clock went back: {t * 1000:.0f}ms after {(cur.sched_t or 0) * 1000:.0f}ms")

    def _open(self, reason: str) -> Run:
        run = Run(self.opened, "start of source" if not self.opened else reason)
        self.opened += 1
        self.runs.append(run)
        del self.runs[:-LIVE_RUNS]
        return run


class _Breaks:
    """Where a chunk's clocked rows stop going on from the row of their kind before them: a gc
    line that is not n+1 after the gc line before it, or a clock that went back. Within a stretch
    every row belongs to the current run, so only a stretch's first gc and SCHED rows need to be
    checked against the run itself (the splitter's state)."""

    def __init__(self, is_gc: Any, gc_num: Any, t_s: Any) -> None:
        self.gc, self.sched = np.flatnonzero(is_gc), np.flatnonzero(~is_gc)
        n, t, st = gc_num[self.gc], t_s[self.gc], t_s[self.sched]
        self.gc_breaks = self.gc[1:][~((n[1:] == n[:-1] + 1) & (t[1:] >= t[:-1]))]
        self.sched_breaks = self.sched[1:][~(st[1:] >= st[:-1])]
        self.count = len(is_gc)

    def stretch(self, i: int, cur: Run | None, gc_num: Any, t_s: Any) -> int:
        """The end of the rows from ``i`` on that ``cur`` takes as they come (``i``: none)."""
        if cur is None or cur.gc_num is None:
            return i
        stops = [self.count]
        g = _first_at(self.gc, i)
        if g is not None:
            goes_on = gc_num[g] == cur.gc_num + 1 and t_s[g] >= (cur.gc_t or 0.0)
            stops.append(_first_at(self.gc_breaks, g + 1, self.count) if goes_on else g)
        s = _first_at(self.sched, i)
        if s is not None:
            goes_on = cur.sched_t is None or t_s[s] >= cur.sched_t
            stops.append(_first_at(self.sched_breaks, s + 1, self.count) if goes_on else s)
        return int(min(stops))


def _first_at(positions: Any, at: int, default: Any = None) -> Any:
    """The first of the sorted ``positions`` at or after ``at``."""
    k = int(np.searchsorted(positions, at))
    return int(positions[k]) if k < len(positions) else default
