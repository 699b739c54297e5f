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

import polars as pl

from gclens.pipeline.runs import concat
from gclens.pipeline.splitter import LIVE_RUNS

__all__ = ["ANCHOR_SAMPLES", "MAX_WAITING_ROWS", "Anchorer"]

ANCHOR_SAMPLES = 64
MAX_WAITING_ROWS = 100_000
_RECENT_CYCLES = 4096
_CLOCKED = ["gc", "sched"]  # rows that carry their own runtime time


@dataclass
class _RunClock:
    """What is known of one run's anchor."""

    start_ns: int | None = None
    decided: bool = False
    wall: list[int] = field(default_factory=list)
    sched_wall: list[int] = field(default_factory=list)
    mono: list[int] = field(default_factory=list)
    clocked_rows: int = 0
    boot_id: str | None = None


class Anchorer:
    """Streams settled rows through, filling ``ts`` once each run's anchor is known.

    A plain log (``timeless``) has nothing to wait for: its rows flow at once, with a ``ts``
    only when the user gave the start. Rows of an enveloped run wait, in emission order, until
    its first ``ANCHOR_SAMPLES`` gc and SCHED lines have been seen.
    """

    def __init__(self, *, start_ns: int | None = None, timeless: bool = False) -> None:
        self.start_ns = start_ns
        self.timeless = timeless
        self.clocks: dict[int, _RunClock] = {}
        self.cycles: dict[tuple[int, int], float] = {}  # recent cycles' times, for rows without one
        self.waiting: pl.DataFrame | None = None  # settled rows of runs whose anchor is not known yet

    @property
    def _stamps(self) -> bool:
        return self.start_ns is not None or not self.timeless

    def feed(self, settled: pl.DataFrame | None) -> pl.DataFrame | None:
        """The rows whose run's anchor is known (these and earlier ones), with ``ts``."""
        if settled is not None and settled.height:
            if self._stamps:
                settled = self._with_cycle_times(settled)
            self._observe(settled)
            if not self._stamps:
                return settled  # a plain log without --start: every run is decided, no ts
        frame = concat([self.waiting, settled])
        if frame is None:
            return None
        counts = dict(frame.group_by("run_id").len().iter_rows())
        newest = max(self.clocks, default=0)
        for run_id, clock in self.clocks.items():
            finished = run_id <= newest - LIVE_RUNS  # a later run started long ago: this one ended
            if not clock.decided and (finished or counts.get(run_id, 0) >= MAX_WAITING_ROWS
                                      or clock.clocked_rows >= ANCHOR_SAMPLES):
                self._decide(clock)
        return self._release(frame)

    def close(self, runs: list[dict[str, Any]]) -> pl.DataFrame | None:
        """Settle runs that can take no more lines: their waiting rows, and their anchors in their
        runs rows; then forget them."""
        for run in runs:
            clock = self.clocks.setdefault(run["run_id"], _RunClock())
            if not clock.decided:
                self._decide(clock)
            run.update(self._describe(clock))
        out = self._release(self.waiting)
        for run in runs:
            self.clocks.pop(run["run_id"], None)
        return out

    def _observe(self, settled: pl.DataFrame) -> None:
        """Collect the run's start estimates from its first clocked lines (line order)."""
        for run_id in settled["run_id"].unique().to_list():
            clock = self.clocks.setdefault(run_id, _RunClock())
            if not clock.decided and (self.timeless or self.start_ns is not None):
                self._decide(clock)  # nothing to estimate
        wanted = [k for k, c in self.clocks.items() if not c.decided and c.clocked_rows < ANCHOR_SAMPLES]
        if not wanted:
            return
        clocked = settled.filter(pl.col("_table").is_in(_CLOCKED) & pl.col("run_id").is_in(wanted)).sort("_order")
        clocked = clocked.filter(pl.int_range(pl.len()).over("run_id") < ANCHOR_SAMPLES)
        names = [c for c in ("_table", "run_id", "t_s", "wall_ms", "_log_ns", "_log_ts_res", "_mono_ns", "_boot_id")
                 if c in clocked.columns]
        for row in clocked.select(names).iter_rows(named=True):
            _observe(self.clocks[row["run_id"]], row)

    def _decide(self, clock: _RunClock) -> None:
        clock.start_ns = self.start_ns if self.start_ns is not None else _median(_first(clock))
        clock.decided = True

    def _release(self, frame: pl.DataFrame | None) -> pl.DataFrame | None:
        """Rows of decided runs, with ``ts``; the others wait."""
        if frame is None or frame.is_empty():
            self.waiting = None
            return None
        decided = {k: c.start_ns for k, c in self.clocks.items() if c.decided}
        ready = pl.col("run_id").is_in(list(decided))
        self.waiting = concat([frame.filter(~ready)])
        out = frame.filter(ready)
        if out.is_empty() or not self._stamps:
            return out.drop("_cycle_t", strict=False)
        start = pl.col("run_id").replace_strict(list(decided), list(decided.values()), default=None,
                                                return_dtype=pl.Int64)
        t = pl.coalesce(pl.col("t_s"), pl.when(pl.col("gc_num").is_not_null()).then(pl.col("_cycle_t")))
        return out.with_columns(ts=start + (t * 1e9).round().cast(pl.Int64)).drop("_cycle_t")

    def _with_cycle_times(self, settled: pl.DataFrame) -> pl.DataFrame:
        """Remember the gc lines' times, and give every row its cycle's time (``_cycle_t``)."""
        gc = settled.filter(pl.col("_table") == "gc")
        for run_id, gc_num, t_s in gc.select("run_id", "gc_num", "t_s").iter_rows():
            self.cycles[(run_id, gc_num)] = t_s
        while len(self.cycles) > _RECENT_CYCLES:
            del self.cycles[next(iter(self.cycles))]
        lookup = pl.DataFrame([(r, g, t) for (r, g), t in self.cycles.items()],
                              schema={"run_id": pl.Int64, "gc_num": pl.Int64, "_cycle_t": pl.Float64}, orient="row")
        return settled.join(lookup, on=["run_id", "gc_num"], how="left", maintain_order="left", nulls_equal=False)

    def _describe(self, clock: _RunClock) -> dict[str, Any]:
        estimates = _first(clock)
        info: dict[str, Any] = {"mono_start_ns": _median(clock.mono[:ANCHOR_SAMPLES]), "boot_id": clock.boot_id,
                                "start_ts": clock.start_ns}
        if self.start_ns is not None:
            info.update(anchor="given by the user (--start)", anchor_lines=0)
        elif clock.start_ns is not None:
            kind = "gc" if clock.wall else "SCHED"
            info.update(anchor=f"median of {len(estimates)} envelope times ({kind} lines)",
                        anchor_lines=len(estimates), anchor_spread_ms=_mad_ms(estimates))
        return info


def _observe(clock: _RunClock, row: dict[str, Any]) -> None:
    """One line's estimates of the run's start, from the run's first gc/SCHED lines only."""
    if clock.clocked_rows >= ANCHOR_SAMPLES:
        return
    clock.clocked_rows += 1
    gc = row["_table"] == "gc"
    elapsed = row["t_s"] + (row["wall_ms"] / 1000 if gc else 0.0)
    offset = round(elapsed * 1e9)
    if row.get("_log_ns") is not None:
        # a collector that truncates its times saw the line within [log_ts, log_ts + resolution)
        seen = int(row["_log_ns"]) + int(row.get("_log_ts_res") or 0) // 2
        (clock.wall if gc else clock.sched_wall).append(seen - offset)
    if row.get("_mono_ns") is not None:
        clock.mono.append(int(row["_mono_ns"]) - offset)
    clock.boot_id = clock.boot_id or row.get("_boot_id")


def _first(clock: _RunClock) -> list[int]:
    """The estimates the anchor uses: those of the run's first lines, wherever chunks were cut."""
    return (clock.wall or clock.sched_wall)[:ANCHOR_SAMPLES]


def _median(values: list[int]) -> int | None:
    if not values:
        return None
    import statistics  # here: 5 ms to import, and a plain log (no envelope times) never needs it

    return round(statistics.median(values))


def _mad_ms(values: list[int]) -> float:
    import statistics

    mid = statistics.median(values)
    return statistics.median(abs(v - mid) for v in values) / 1e6
