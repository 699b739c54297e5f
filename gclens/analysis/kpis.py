"""Per-run KPIs: the analyses joined into one row per run, the input of findings and diff."""

from __future__ import annotations

import polars as pl

from gclens.analysis._common import RUN
from gclens.analysis.consistency import gc_cpu_cum_bounds
from gclens.analysis.gccpu import gc_cpu_stats
from gclens.analysis.heap import heap_stats, pacer_stats
from gclens.analysis.pauses import pause_stats
from gclens.analysis.scheduler import sched_stats
from gclens.pipeline.trace import Trace

__all__ = ["run_kpis"]


def run_kpis(trace: Trace, *, max_stw_ms: float = 1.0, window_s: float = 60.0,
             short_window_s: float = 10.0, cpu_quota: float | None = None,
             exclude_forced: bool = False) -> pl.DataFrame:
    """One row per run of the trace with pause, GC CPU, heap and scheduler KPIs.

    Pauses and GC CPU count every cycle, forced ones too, unless ``exclude_forced``.

    Runs without gc lines (schedtrace only) keep their scheduler KPIs and null GC columns.
    """
    gc = trace.gc
    runs = trace.runs.select(*RUN, "gc_lines", "t_last_s")
    pieces = [
        pause_stats(gc, exclude_forced=exclude_forced, threshold_ms=max_stw_ms),
        gc_cpu_stats(gc, window_s=window_s, short_window_s=short_window_s, cpu_quota=cpu_quota,
                     exclude_forced=exclude_forced).drop("cycles"),
        heap_stats(gc).drop("cycles"),
        _cum_pct_check(gc),
        sched_stats(trace.sched),
        pacer_stats(trace.pacer),
    ]
    for piece in pieces:
        runs = runs.join(piece, on=RUN, how="left")
    return runs


def _cum_pct_check(gc: pl.DataFrame) -> pl.DataFrame:
    """Count cycles whose printed % disagrees with the CPU fields (where it can be checked)."""
    checked = gc_cpu_cum_bounds(gc, pause_cpu="either")
    return checked.group_by(RUN, maintain_order=True).agg(
        (~pl.col("gc_cpu_cum_consistent")).sum().alias("cum_pct_mismatches"),
        pl.col("gc_cpu_cum_pct").last().alias("gc_cpu_cum_pct_last"),
    )
