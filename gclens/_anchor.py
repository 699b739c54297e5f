"""Wall-clock anchors: when t_s = 0 of each run happened, so every row can get a `ts`.

Runtime times are monotonic and relative to runtime start. An envelope time (``log_ts``) says
when the collector saw a line: a gc line is written at the *end* of its cycle, so each gc line
gives the estimate ``log_ts - (t_s + wall time)``; a SCHED line gives ``log_ts - t_s`` (its base is
the first schedtrace call, within milliseconds of runtime start). A run's anchor is the median of
the estimates from its first ``ANCHOR_SAMPLES`` gc and SCHED lines (collector delays and truncated times make
single lines noisy), its spread their median absolute deviation. Rows of a run wait (at most
``MAX_WAITING_ROWS``) until its anchor is known, so memory stays bounded on endless input.
Without envelope times there is no anchor unless the user gives the start time: nothing is
guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gclens._runs import Rows

ANCHOR_SAMPLES = 64
MAX_WAITING_ROWS = 100_000
_RECENT_CYCLES = 4096
_LIVE_RUNS = 8  # as in _runs: older runs receive no more lines
_CLOCKED = ("gc", "sched")  # rows that carry their own runtime time


@dataclass
class _RunClock:
    """What is known of one run's anchor, and its rows waiting for it."""

    start_ns: int | None = None
    decided: bool = False
    wall: list[int] = field(default_factory=list)
    sched_wall: list[int] = field(default_factory=list)
    mono: list[int] = field(default_factory=list)
    clocked_rows: int = 0
    boot_id: str | None = None
    waiting: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


class Anchorer:
    """Streams rows through, filling ``ts`` once each run's anchor is known."""

    def __init__(self, *, start_ns: int | None = None, timeless: bool = False) -> None:
        self.start_ns = start_ns
        self.timeless = timeless  # a plain log: no line carries a time, nothing to wait for
        self.runs: dict[int, _RunClock] = {}
        self.cycle_t: dict[tuple[int, int], float] = {}

    def feed(self, rows: Rows) -> Rows:
        out: Rows = {}
        for row in rows.get("gc", []):  # first: the lines of a cycle that precede its gc line need it
            self.cycle_t[(row["run_id"], row["gc_num"])] = row["t_s"]
        while len(self.cycle_t) > _RECENT_CYCLES:
            del self.cycle_t[next(iter(self.cycle_t))]
        in_order = sorted(((row["line_no"], i, table, row) for table, batch in rows.items()
                           for i, row in enumerate(batch)), key=lambda x: (x[0], x[1]))
        for _, _, table, row in in_order:  # line order: the anchor uses a run's first lines
            self._take(out, table, row)
        newest = max(self.runs, default=0)
        for run_id, clock in self.runs.items():
            finished = run_id <= newest - _LIVE_RUNS  # a later run started long ago: this one ended
            if not clock.decided and (finished or len(clock.waiting) >= MAX_WAITING_ROWS or self._enough(clock)):
                self._decide(out, clock)
        return out

    def close(self, runs: list[dict[str, Any]]) -> Rows:
        """Settle runs that can take no more lines: write their anchors into their rows, forget them."""
        out: Rows = {}
        for run in runs:
            clock = self.runs.pop(run["run_id"], _RunClock())
            if not clock.decided:
                self._decide(out, clock)
            run.update(_describe(clock, given=self.start_ns is not None))
        return out

    def finish(self, runs: list[dict[str, Any]]) -> Rows:
        """Decide every run still waiting, and write the anchors into the runs rows."""
        out: Rows = {}
        for clock in self.runs.values():
            if not clock.decided:
                self._decide(out, clock)
        for run in runs:
            clock = self.runs.get(run["run_id"], _RunClock())
            run.update(_describe(clock, given=self.start_ns is not None))
        return out

    def _take(self, out: Rows, table: str, row: dict[str, Any]) -> None:
        clock = self.runs.setdefault(row["run_id"], _RunClock())
        if not clock.decided and (self.timeless or self.start_ns is not None):
            self._decide(out, clock)  # nothing to estimate: rows flow in line order
        if table in _CLOCKED and not clock.decided:
            _observe(clock, table, row)
        if clock.decided:
            self._fill(out, table, row, clock)
        else:
            clock.waiting.append((table, row))

    def _enough(self, clock: _RunClock) -> bool:
        return self.timeless or self.start_ns is not None or clock.clocked_rows >= ANCHOR_SAMPLES

    def _decide(self, out: Rows, clock: _RunClock) -> None:
        estimates = _first(clock)
        clock.start_ns = self.start_ns if self.start_ns is not None else _median(estimates)
        clock.decided = True
        for table, row in clock.waiting:
            self._fill(out, table, row, clock)
        clock.waiting = []

    def _fill(self, out: Rows, table: str, row: dict[str, Any], clock: _RunClock) -> None:
        if clock.start_ns is not None:
            t = row.get("t_s")
            if t is None and row.get("gc_num") is not None:
                t = self.cycle_t.get((row["run_id"], row["gc_num"]))
            if t is not None:
                row["ts"] = clock.start_ns + round(t * 1e9)
        out.setdefault(table, []).append(row)


def _observe(clock: _RunClock, table: str, row: dict[str, Any]) -> None:
    """Collect one line's estimates of the run's start, from the run's first gc/SCHED lines only."""
    if clock.clocked_rows >= ANCHOR_SAMPLES:
        return
    clock.clocked_rows += 1
    elapsed = row["t_s"] + (row["wall_ms"] / 1000 if table == "gc" else 0.0)
    offset = round(elapsed * 1e9)
    if row.get("log_ts") is not None:
        # a collector that truncates its times saw the line within [log_ts, log_ts + resolution)
        seen = int(row["log_ts"]) + int(row.get("_log_ts_res") or 0) // 2
        (clock.wall if table == "gc" else clock.sched_wall).append(seen - offset)
    if row.get("_mono_ns") is not None:
        clock.mono.append(int(row["_mono_ns"]) - offset)
    clock.boot_id = clock.boot_id or row.get("_boot_id")


def _first(clock: _RunClock) -> list[int]:
    """The estimates the anchor uses: those of the run's first lines, wherever chunks were cut."""
    return (clock.wall or clock.sched_wall)[:ANCHOR_SAMPLES]


def _describe(clock: _RunClock, *, given: bool) -> dict[str, Any]:
    estimates = _first(clock)
    info: dict[str, Any] = {"mono_start_ns": _median(clock.mono[:ANCHOR_SAMPLES]), "boot_id": clock.boot_id,
                            "start_ts": clock.start_ns}
    if given:
        info.update(anchor="given by the user (--start)", anchor_lines=0)
    elif clock.start_ns is not None:
        kind = "gc" if clock.wall else "SCHED"
        info.update(anchor=f"median of {len(estimates)} envelope times ({kind} lines)",
                    anchor_lines=len(estimates), anchor_spread_ms=_mad_ms(estimates))
    return info


def _median(values: list[int]) -> int | None:
    if not values:
        return None
    import statistics  # here: 5 ms to import, and a plain log (no envelope times) never needs it

    return round(statistics.median(values))


def _mad_ms(values: list[int]) -> float:
    import statistics

    mid = statistics.median(values)
    return statistics.median(abs(v - mid) for v in values) / 1e6
