"""What the live view and the metrics show, kept from the pipeline's batches in bounded memory.

The pipeline hands over the same (table, rows) batches it writes to the files. ``LiveState``
keeps, per run, the gc rows of the last ``long_window_s`` of trace time (plus a margin, at most
``MAX_RECENT`` rows), the cycle count, the longest pause and the last SCHED row; ``live_kpis``
turns the recent rows into the KPIs with the analyses' own maths (``gc_cpu_per_cycle``: GC CPU
from the gc line's CPU fields, never the cumulative ``%``; nearest-rank percentiles). Time is
the trace's own (seconds since runtime start), so a replayed or followed log reads as it ran.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from gclens.analysis._common import CYCLE_CPU_COLS
from gclens.analysis.gccpu import gc_cpu_per_cycle
from gclens.analysis.limits import Limits
from gclens.analysis.pauses import nearest_rank
from gclens.store.schemas import rows_to_arrow

__all__ = ["MAX_RECENT", "Finding", "LiveKpis", "LiveState", "live_kpis"]

MAX_RECENT = 20_000
"""gc rows kept per run at most (60 s at over 300 cycles/s): memory stays flat whatever the rate."""
_MARGIN_S = 5.0  # older rows kept beyond the long window: the first interval in it needs its start
_GC_COLUMNS = ["source", "run_id", "line_no", "gc_num", "t_s", "wall_ms", "stw_ms", "procs", "forced", *CYCLE_CPU_COLS,
               "cpu_idle_ms", "heap_live_mib", "heap_goal_mib"]
_SCHED_COLUMNS = ["t_s", "gomaxprocs", "idleprocs", "threads", "runqueue", "local_runqueues"]


@dataclass(frozen=True)
class LiveKpis:
    """One run's KPIs now. Ratios are fractions (0.05 = 5 %); None: not enough cycles yet."""

    source: str
    run_id: int
    cycles: int
    t_s: float | None  # end of the last cycle, seconds since runtime start
    cycles_per_s: float | None
    stw_last_ms: float | None
    stw_p99_ms: float | None  # over the long window
    stw_max_ms: float | None  # over the whole run
    gc_cpu_short: float | None
    gc_cpu_long: float | None
    long_complete: bool  # the run is older than the long window
    heap_live_mib: int | None
    heap_goal_mib: int | None
    sched: dict[str, Any] | None  # the last SCHED row: gomaxprocs, threads, runqueue, local_runqueue_sum


@dataclass(frozen=True)
class Finding:
    """A limit crossed or a problem seen, as it happened."""

    rule: str
    source: str
    run_id: int | None
    message: str


def live_kpis(recent: pl.DataFrame, *, source: str, run_id: int, cycles: int, stw_max_ms: float | None,
              sched: dict[str, Any] | None = None, short_s: float = 10.0, long_s: float = 60.0,
              cpu_quota: float | None = None, exclude_forced: bool = False) -> LiveKpis:
    """KPIs of one run from its recent gc rows (sorted by gc_num): windows end at the last cycle's end.

    GC CPU over a window is Σ GC CPU / Σ capacity of the intervals ending in it, as ``check``
    computes its windows; cycles/s counts the cycles ending in the short window.
    """
    empty = LiveKpis(source, run_id, cycles, None, None, None, None, stw_max_ms, None, None, False,
                     None, None, sched)
    if recent.is_empty():
        return empty
    per = gc_cpu_per_cycle(recent, cpu_quota=cpu_quota, exclude_forced=exclude_forced)
    t_end = float(per["t_end_s"].max())  # type: ignore[arg-type]
    last = recent.row(-1, named=True)
    in_long = recent.filter(per["t_end_s"] > t_end - long_s)
    short_n = int((per["t_end_s"] > t_end - short_s).sum())
    return LiveKpis(
        source, run_id, cycles, t_end,
        short_n / min(short_s, t_end) if t_end > 0 else None,
        last["stw_ms"], _float(in_long.select(nearest_rank(pl.col("stw_ms"), 0.99)).item()), stw_max_ms,
        _ratio(per, t_end, short_s), _ratio(per, t_end, long_s), t_end >= long_s,
        last["heap_live_mib"], last["heap_goal_mib"], sched)


def _ratio(per: pl.DataFrame, t_end: float, window_s: float) -> float | None:
    known = per.filter((pl.col("t_end_s") > t_end - window_s) & pl.col("capacity_ms").is_not_null())
    capacity = float(known["capacity_ms"].sum())
    return float(known["gc_cpu_ms"].sum()) / capacity if capacity > 0 else None


def _float(value: Any) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


@dataclass
class _Run:
    recent: pl.DataFrame | None = None
    cycles: int = 0
    stw_max_ms: float | None = None
    sched: dict[str, Any] | None = None
    over_cpu: bool = False  # the long window was over the limit at the last cycle


@dataclass
class LiveState:
    """Takes the pipeline's batches (any thread); ``kpis()`` and ``findings`` read them (any thread).

    ``on_cycles`` (if set) is called with each batch of new gc rows (a Polars frame) and
    ``on_finding`` with each finding, from the pipeline's thread: for the metrics.
    """

    limits: Limits = field(default_factory=Limits)
    max_findings: int = 100
    on_cycles: Any = None
    on_sched: Any = None
    on_finding: Any = None
    on_rejects: Any = None
    runs: dict[tuple[str, int], _Run] = field(default_factory=dict)
    findings: deque[Finding] = field(default_factory=deque)
    finding_count: int = 0
    rejected_lines: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)

    def add(self, name: str, rows: list[dict[str, Any]] | pa.Table) -> None:
        """One batch, as the pipeline yields it."""
        if name not in ("gc", "sched", "rejects"):
            return
        table = rows if isinstance(rows, pa.Table) else rows_to_arrow(name, rows)
        if not table.num_rows:
            return
        frame = pl.from_arrow(table)
        assert isinstance(frame, pl.DataFrame)
        if name == "gc":
            self._add_gc(frame.select(_GC_COLUMNS))
        elif name == "sched":
            self._add_sched(frame)
        else:
            self._add_rejects(frame)

    def _add_gc(self, gc: pl.DataFrame) -> None:
        for (source, run_id), rows in gc.group_by(["source", "run_id"], maintain_order=True):
            key = (str(source), int(run_id))  # type: ignore[call-overload]
            with self.lock:
                if key not in self.runs and key[1] > 0:
                    self._fire("restart", key, f"run {key[1]} began: the process restarted (gc numbers went back)")
                run = self.runs.setdefault(key, _Run())
                run.cycles += rows.height
                top = rows["stw_ms"].max()
                if top is not None:
                    run.stw_max_ms = max(float(top), run.stw_max_ms or 0.0)  # type: ignore[arg-type]
                recent = rows if run.recent is None else pl.concat([run.recent, rows], how="vertical_relaxed")
                newest = float(recent["t_s"].max())  # type: ignore[arg-type]
                keep = self.limits.window_s + _MARGIN_S
                run.recent = recent.filter(pl.col("t_s") >= newest - keep).tail(MAX_RECENT)
            self._judge(key, rows)
            if self.on_cycles is not None:
                self.on_cycles(key, rows, self.kpis_of(key))

    def _judge(self, key: tuple[str, int], rows: pl.DataFrame) -> None:
        """Fire the limit findings: each pause over the limit, the long window crossing its limit."""
        limit = self.limits.max_stw_ms
        for row in rows.filter(pl.col("stw_ms") > limit).iter_rows(named=True):
            self._fire("stw", key, f"gc {row['gc_num']} @{row['t_s']:.3f}s: STW {row['stw_ms']:.3g} ms "
                                   f"over the {limit:g} ms limit")
        kpis = self.kpis_of(key)
        run = self.runs[key]
        over = (kpis.long_complete and kpis.gc_cpu_long is not None
                and 100 * kpis.gc_cpu_long > self.limits.max_gc_cpu_pct)
        if over and not run.over_cpu:
            self._fire("gc-cpu", key, f"GC CPU {100 * (kpis.gc_cpu_long or 0):.1f}% over the last "
                                      f"{self.limits.window_s:g} s (limit {self.limits.max_gc_cpu_pct:g}%) "
                                      f"at {kpis.t_s:.1f}s")
        run.over_cpu = over

    def _add_sched(self, sched: pl.DataFrame) -> None:
        for (source, run_id), rows in sched.group_by(["source", "run_id"], maintain_order=True):
            key = (str(source), int(run_id))  # type: ignore[call-overload]
            last = rows.select(_SCHED_COLUMNS).row(-1, named=True)
            local = [q for q in (last.pop("local_runqueues") or []) if q is not None and q < 1 << 31]
            last["local_runqueue_sum"] = sum(local)
            with self.lock:
                self.runs.setdefault(key, _Run()).sched = last
            if self.on_sched is not None:
                self.on_sched(key, last)

    def _add_rejects(self, rejects: pl.DataFrame) -> None:
        with self.lock:
            self.rejected_lines += rejects.height
        first = rejects.row(0, named=True)
        if self.on_rejects is not None:
            self.on_rejects(str(first["source"]), rejects.height)
        more = f" (and {rejects.height - 1} more)" if rejects.height > 1 else ""
        self._fire("rejects", (str(first["source"]), None),
                   f"line {first['line_no']} rejected: {first['reason']}{more}")

    def _fire(self, rule: str, key: tuple[str, int | None], message: str) -> None:
        finding = Finding(rule, key[0], key[1], message)
        with self.lock:
            self.findings.append(finding)
            while len(self.findings) > self.max_findings:
                self.findings.popleft()
            self.finding_count += 1
        if self.on_finding is not None:
            self.on_finding(finding)

    def kpis_of(self, key: tuple[str, int]) -> LiveKpis:
        with self.lock:
            run = self.runs[key]
            recent = run.recent if run.recent is not None else pl.DataFrame(schema={c: pl.Float64 for c in _GC_COLUMNS})
            cycles, stw_max, sched = run.cycles, run.stw_max_ms, run.sched
        return live_kpis(recent, source=key[0], run_id=key[1], cycles=cycles, stw_max_ms=stw_max, sched=sched,
                         short_s=self.limits.short_window_s, long_s=self.limits.window_s,
                         cpu_quota=self.limits.cpu_quota, exclude_forced=self.limits.exclude_forced)

    def kpis(self) -> list[LiveKpis]:
        """Every run's KPIs, in the order the runs appeared."""
        with self.lock:
            keys = list(self.runs)
        return [self.kpis_of(key) for key in keys]

    def recent_findings(self, n: int = 5) -> list[Finding]:
        with self.lock:
            return list(self.findings)[-n:]
