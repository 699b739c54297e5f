"""Heap and pacing: allocation rate, live-heap trend, goal overshoot, GC frequency, and the
GOMEMLIMIT death spiral (golang/go#58106: the heap pinned at its goal while GC runs back to back).

All heap sizes come from the gc line's MB, i.e. bytes >> 20: every value is truncated by up to
1 MiB, so an allocation between two cycles (heap_start of cycle i minus heap_live of cycle i-1)
is only known to ±1 MiB; rates are therefore reported over runs, not single gaps.
"""

from __future__ import annotations

import polars as pl

from gclens.analysis._common import RUN, cycle_end_s


def heap_per_cycle(gc: pl.DataFrame) -> pl.DataFrame:
    """One row per cycle: MiB allocated since the previous cycle ended, the gap, and overshoot."""
    return (
        gc.sort([*RUN, "gc_num"])
        .with_columns(t_end_s=cycle_end_s())
        .with_columns(
            allocated_mib=pl.col("heap_start_mib") - pl.col("heap_live_mib").shift(1).over(RUN),
            gap_s=pl.col("t_s") - pl.col("t_end_s").shift(1).over(RUN),
            overshoot_mib=pl.col("heap_end_mib") - pl.col("heap_goal_mib"),
        )
        .select(*RUN, "gc_num", "t_s", "t_end_s", "forced", "heap_start_mib", "heap_end_mib",
                "heap_live_mib", "heap_goal_mib", "allocated_mib", "gap_s", "overshoot_mib")
    )


def heap_stats(gc: pl.DataFrame) -> pl.DataFrame:
    """One row per run: GC frequency, allocation rate, live heap and its trend, goal overshoots.

    ``live_slope_mib_per_min`` is the least-squares slope of heap_live over cycle start times;
    ``live_trend_r2`` says how well a line fits (a leak grows steadily: slope > 0, r2 near 1).
    """
    per = heap_per_cycle(gc)
    t, live = pl.col("t_s"), pl.col("heap_live_mib").cast(pl.Float64)
    slope = pl.cov(t, live) / pl.col("t_s").var()
    return per.group_by(RUN, maintain_order=True).agg(
        pl.len().alias("cycles"),
        (pl.len() / pl.col("t_end_s").max()).alias("gc_per_s"),
        (pl.col("allocated_mib").sum() / (pl.col("t_end_s").max() - pl.col("t_end_s").min()))
        .alias("alloc_mib_per_s"),
        pl.col("heap_live_mib").mean().alias("live_mean_mib"),
        pl.col("heap_live_mib").max().alias("live_max_mib"),
        pl.col("heap_end_mib").max().alias("peak_heap_mib"),
        (slope * 60).alias("live_slope_mib_per_min"),
        (pl.corr(t, live) ** 2).alias("live_trend_r2"),
        (pl.col("overshoot_mib") > 0).sum().alias("goal_overshoots"),
        pl.col("overshoot_mib").max().alias("overshoot_max_mib"),
        pl.col("forced").sum().alias("forced_cycles"),
    )


def death_spiral(gc: pl.DataFrame, *, window_s: float = 10.0, gc_cpu_pct: float = 25.0,
                 goal_ratio: float = 0.95, goal_flatness: float = 1.05, min_cycles: int = 5,
                 min_goal_mib: int = 16) -> pl.DataFrame:
    """Windows where the heap sits at a goal that no longer grows while GC CPU climbs.

    That is the memory-limit death spiral: with GOMEMLIMIT binding, the goal stays flat at the
    limit, the live heap fills it, and the GC runs back to back. A cycle is flagged when, over
    the window ending at it, GC CPU exceeds ``gc_cpu_pct``, the live heap is at least
    ``goal_ratio`` of the goal, and the goal varied by at most ``goal_flatness`` (max/min). A
    small GOGC also keeps live close to goal, but its goal follows the live heap (not flat) and
    stays GOGC % above it: GOGC=10 gives live/goal ≈ 0.91, under the default 0.95. A spiral is
    sustained (``min_cycles`` in the window) and on heaps where MiB truncation is small noise
    (goal of at least ``min_goal_mib``).
    """
    from gclens.analysis.gccpu import gc_cpu_windows

    windows = gc_cpu_windows(gc, window_s=window_s, include_forced=True)
    goals = (
        gc.filter(pl.col("heap_goal_mib") >= max(min_goal_mib, 1))
        .sort([*RUN, "gc_num"])
        .with_columns(t_end_ns=(cycle_end_s() * 1e9).round().cast(pl.Int64))
        .rolling("t_end_ns", period=f"{round(window_s * 1e9)}i", group_by=RUN)
        .agg(pl.col("gc_num").last(), pl.col("heap_live_mib").last(), pl.col("heap_goal_mib").last(),
             (pl.col("heap_goal_mib").max() / pl.col("heap_goal_mib").min()).alias("goal_spread"),
             pl.len().alias("window_cycles"))
    )
    return (
        windows.join(goals, on=[*RUN, "gc_num"])
        .with_columns(live_over_goal=pl.col("heap_live_mib") / pl.col("heap_goal_mib"))
        .filter((pl.col("gc_cpu_pct") > gc_cpu_pct) & (pl.col("live_over_goal") >= goal_ratio)
                & (pl.col("goal_spread") <= goal_flatness) & (pl.col("window_cycles") >= min_cycles))
        .select(*RUN, "gc_num", "t_end_s", "gc_cpu_pct", "heap_live_mib", "heap_goal_mib",
                "live_over_goal", "goal_spread")
    )


def pacer_stats(pacer: pl.DataFrame) -> pl.DataFrame:
    """One row per run from gcpacertrace: cons/mark, mark CPU utilisation, controller resets.

    ``cpu_util_pct`` is the new pacer's (go1.18+) mark-phase utilisation, assists included;
    the goal is 25 %. Runs without pacer lines get no row.
    """
    mark = pacer.filter(pl.col("kind") == "cpu_pacer")
    return mark.group_by(RUN, maintain_order=True).agg(
        pl.col("cons_mark").last().alias("cons_mark_last"),
        pl.col("cons_mark").mean().alias("cons_mark_mean"),
        pl.col("cpu_util_pct").mean().alias("mark_cpu_util_mean_pct"),
        pl.col("controller_reset").sum().alias("pacer_controller_resets"),
        (pl.col("goal_delta_bytes") > 0).sum().alias("mark_over_goal_cycles"),
    )
