"""GC CPU per cycle and over sliding windows, computed from the CPU fields of the gc line.

The printed ``N%`` is cumulative since start; what a reader needs is the cost *now*. Time is
cut into intervals that end at each cycle's end (``t_s`` + wall time): interval i runs from the
end of cycle i-1 (or from runtime start) to the end of cycle i and holds cycle i's GC CPU
(sweep termination + assist + background + mark termination; idle mark is reported apart,
as the runtime counts it as free). Capacity is the interval length × GOMAXPROCS of the cycle,
or × ``cpu_quota`` (cgroup cpu.max in CPUs) when that is lower: GOMAXPROCS can exceed the quota.

Every cycle counts, forced ones too, as in the runtime's own GCCPUFraction and printed %: a
``runtime.GC()`` burns the same CPU as any other cycle. The forced cycles' part is reported beside
the total (``forced_gc_cpu_pct``); ``exclude_forced`` leaves it out of ``gc_cpu_pct`` for those
who want the pacer's background cycles only.
"""

from __future__ import annotations

import polars as pl

from gclens.analysis._common import CYCLE_CPU_COLS, RUN, cycle_end_s

__all__ = ["gc_cpu_per_cycle", "gc_cpu_stats", "gc_cpu_windows"]


def gc_cpu_per_cycle(gc: pl.DataFrame, *, cpu_quota: float | None = None,
                     exclude_forced: bool = False) -> pl.DataFrame:
    """One row per cycle: ``interval_ms``, ``capacity_ms``, ``gc_cpu_ms``, ``gc_cpu_pct``...

    ``forced_gc_cpu_ms`` is a forced cycle's CPU (0 for the others), whether or not it counts in
    ``gc_cpu_ms`` (it does unless ``exclude_forced``; the interval is kept either way: time
    passed). ``idle_mark_pct`` is the idle mark workers' share of capacity. When a log starts
    after `gc 1`, its first cycle's interval is unknown (null).
    """
    procs = pl.col("procs").cast(pl.Float64)
    if cpu_quota is not None:
        procs = pl.min_horizontal(procs, pl.lit(float(cpu_quota)))
    cpu = pl.sum_horizontal([pl.col(c).fill_null(0.0) for c in CYCLE_CPU_COLS])
    forced_cpu = pl.when(pl.col("forced")).then(cpu).otherwise(0.0)
    if exclude_forced:
        cpu = pl.when(pl.col("forced")).then(0.0).otherwise(cpu)
    end = cycle_end_s()
    out = (
        gc.sort([*RUN, "gc_num"])
        .with_columns(t_end_s=end)
        .with_columns(
            interval_ms=(pl.col("t_end_s") - _previous_end()) * 1000,
            gc_cpu_ms=cpu, forced_gc_cpu_ms=forced_cpu, idle_mark_ms=pl.col("cpu_idle_ms").fill_null(0.0),
        )
        .with_columns(capacity_ms=pl.col("interval_ms") * procs)
    )
    return out.with_columns(
        gc_cpu_pct=100 * pl.col("gc_cpu_ms") / pl.col("capacity_ms"),
        idle_mark_pct=100 * pl.col("idle_mark_ms") / pl.col("capacity_ms"),
    ).select(*RUN, "gc_num", "line_no", "t_s", "t_end_s", "forced", "procs", "interval_ms",
             "capacity_ms", "gc_cpu_ms", "gc_cpu_pct", "forced_gc_cpu_ms", "idle_mark_ms",
             "idle_mark_pct", "cpu_assist_ms")


def _previous_end() -> pl.Expr:
    """End of the previous cycle; runtime start for `gc 1`; unknown when the log starts later."""
    first = pl.when(pl.col("gc_num") == 1).then(0.0).otherwise(None)
    return pl.col("t_end_s").shift(1).over(RUN).fill_null(first)


def gc_cpu_windows(gc: pl.DataFrame, *, window_s: float = 60.0, cpu_quota: float | None = None,
                   exclude_forced: bool = False) -> pl.DataFrame:
    """GC CPU over a sliding window ending at each cycle's end, one row per cycle.

    ``gc_cpu_pct`` = Σ GC CPU / Σ capacity over the intervals ending in (t - window, t];
    ``forced_gc_cpu_pct`` is the forced cycles' part of capacity in the same window.
    ``complete`` is false while less than ``window_s`` of the run has elapsed.
    """
    per = gc_cpu_per_cycle(gc, cpu_quota=cpu_quota, exclude_forced=exclude_forced).filter(
        pl.col("capacity_ms").is_not_null())
    period = f"{round(window_s * 1e9)}i"
    return (
        per.with_columns(t_end_ns=(pl.col("t_end_s") * 1e9).round().cast(pl.Int64))
        .sort([*RUN, "t_end_ns"])
        .rolling("t_end_ns", period=period, group_by=RUN)
        .agg(pl.col("gc_cpu_ms").sum(), pl.col("forced_gc_cpu_ms").sum(), pl.col("capacity_ms").sum(),
             pl.col("gc_num").last(), pl.col("t_end_s").last(), pl.len().alias("cycles"))
        .with_columns(
            gc_cpu_pct=100 * pl.col("gc_cpu_ms") / pl.col("capacity_ms"),
            forced_gc_cpu_pct=100 * pl.col("forced_gc_cpu_ms") / pl.col("capacity_ms"),
            complete=pl.col("t_end_s") >= window_s,
            window_s=pl.lit(window_s),
        )
        .drop("t_end_ns")
    )


def gc_cpu_stats(gc: pl.DataFrame, *, window_s: float = 60.0, short_window_s: float = 10.0,
                 cpu_quota: float | None = None, exclude_forced: bool = False) -> pl.DataFrame:
    """One row per run: overall GC CPU %, the worst ``window_s`` and ``short_window_s`` windows,
    idle mark %, the assists' share of GC CPU, and the forced cycles' part.

    ``forced_gc_cpu_pct`` is the forced cycles' CPU as % of capacity and ``forced_share_pct``
    their share of all GC CPU, counted or not; ``forced_excluded`` says which ``gc_cpu_pct`` is.
    """
    per = gc_cpu_per_cycle(gc, cpu_quota=cpu_quota, exclude_forced=exclude_forced).filter(
        pl.col("capacity_ms").is_not_null())
    every = pl.col("gc_cpu_ms").filter(~pl.col("forced")).sum() + pl.col("forced_gc_cpu_ms").sum()
    overall = per.group_by(RUN, maintain_order=True).agg(
        pl.len().alias("cycles"),
        (100 * pl.col("gc_cpu_ms").sum() / pl.col("capacity_ms").sum()).alias("gc_cpu_pct"),
        (100 * pl.col("forced_gc_cpu_ms").sum() / pl.col("capacity_ms").sum()).alias("forced_gc_cpu_pct"),
        (100 * pl.col("forced_gc_cpu_ms").sum() / every).alias("forced_share_pct"),
        (100 * pl.col("idle_mark_ms").sum() / pl.col("capacity_ms").sum()).alias("idle_mark_pct"),
        (100 * pl.col("cpu_assist_ms").fill_null(0).sum() / pl.col("gc_cpu_ms").sum())
        .alias("assist_share_pct"),
        pl.col("t_end_s").max().alias("duration_s"),
    ).with_columns(pl.lit(exclude_forced).alias("forced_excluded"))
    for name, width in (("worst_window", window_s), ("worst_short_window", short_window_s)):
        worst = _worst(gc_cpu_windows(gc, window_s=width, cpu_quota=cpu_quota,
                                      exclude_forced=exclude_forced), name)
        overall = overall.join(worst, on=RUN, how="left")
    return overall


def _worst(windows: pl.DataFrame, name: str) -> pl.DataFrame:
    """The highest complete window per run; a run shorter than the window is its own window
    (the last one, which covers it all), not the few first cycles of a partial window."""
    last = pl.col("t_end_s") == pl.col("t_end_s").max().over(RUN)
    full = windows.filter(pl.col("complete") | (~pl.col("complete").any().over(RUN) & last))
    return full.sort("gc_cpu_pct", descending=True).group_by(RUN, maintain_order=True).first().select(
        *RUN, pl.col("gc_cpu_pct").alias(f"{name}_pct"), pl.col("t_end_s").alias(f"{name}_end_s"),
        pl.col("forced_gc_cpu_pct").alias(f"{name}_forced_pct"))
