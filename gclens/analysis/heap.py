"""Heap and pacing: allocation rate, live-heap trend, goal overshoot, GC frequency, and the
GOMEMLIMIT death spiral (golang/go#58106: the heap pinned at its goal while GC runs back to back).

All heap sizes come from the gc line's MB, i.e. bytes >> 20: every value is truncated by up to
1 MiB, so an allocation between two cycles (heap_start of cycle i minus heap_live of cycle i-1)
is only known to ±1 MiB; rates are therefore reported over runs, not single gaps.
"""

from __future__ import annotations

import polars as pl

from gclens.analysis._common import RUN, cycle_end_s

__all__ = ["death_spiral", "heap_per_cycle", "heap_stats", "pacer_stats"]


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
    ``live_trend_r2`` says how well a line fits (a leak grows steadily: slope > 0, r2 near 1);
    ``live_trend_span_s`` and ``live_trend_cycles`` say how much of a run the fit saw: a line
    through a few start-up cycles fits well and proves nothing (see ``Limits``).
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
        (pl.col("t_s").max() - pl.col("t_s").min()).alias("live_trend_span_s"),
        pl.len().alias("live_trend_cycles"),
        (pl.col("overshoot_mib") > 0).sum().alias("goal_overshoots"),
        pl.col("overshoot_mib").max().alias("overshoot_max_mib"),
        pl.col("forced").sum().alias("forced_cycles"),
    )


def death_spiral(gc: pl.DataFrame, *, window_s: float = 10.0, gc_cpu_pct: float = 25.0,
                 live_ratio: float = 0.95, max_headroom: float = 1.05, min_cycles_per_s: float = 4.0,
                 min_cycles: int = 10, min_goal_mib: int = 16) -> pl.DataFrame:
    """Windows where the live heap sits at a memory-limit goal while the GC runs back to back.

    That is the memory-limit death spiral: GOMEMLIMIT binds, every cycle's goal is what the limit
    leaves for the heap, the marked heap fills it, and the next cycle starts at once. A cycle is
    flagged when, over the ``window_s`` ending at it (medians over the window's cycles, so that
    one odd cycle decides nothing; the last line's goal is often absurd, see sample_traces):

    * GC CPU (every cycle) exceeds ``gc_cpu_pct``;
    * at least ``min_cycles_per_s`` cycles per second, and ``min_cycles`` in the window;
    * the live heap is at least ``live_ratio`` of the goal: the marked heap fills the goal;
    * the goal is at most ``max_headroom`` × the previous cycle's live heap: no room over what
      survived. A GOGC goal is at least (1 + GOGC/100) × that (1.10 at GOGC=10 in the samples);
      the limit's goal stops following the heap (1.00 in every whatif-memlimit run);
    * the goal is at least ``min_goal_mib`` (MiB truncation is then small noise).

    The goal need not be flat: it moves with stacks, fragmentation and unscavenged memory (67-80
    MiB under an 80 MiB limit in go1.21/whatif-memlimit). The references, from the sample runs:
    whatif-memlimit (live/goal 1.00, goal 1.00x the last live heap, 9-25 cycles/s, 55-73 % GC
    CPU over 10 s) is flagged; memlimit-scav (limit-driven too, but live/goal 0.25-0.61, 5-7
    cycles/s, 0.1 % GC CPU) and whatif-gogc10 (60-73 % GC CPU, 10-25 cycles/s, but live/goal
    0.91 and 1.10x headroom: GOGC's cost, which the gc-cpu rule reports) are not.
    """
    from gclens.analysis.gccpu import gc_cpu_windows

    windows = gc_cpu_windows(gc, window_s=window_s)
    heap = (
        gc.sort([*RUN, "gc_num"])
        .with_columns(t_end_s=cycle_end_s(),
                      live_over_goal=pl.col("heap_live_mib") / pl.col("heap_goal_mib"),
                      goal_headroom=pl.col("heap_goal_mib") / pl.col("heap_live_mib").shift(1).over(RUN))
        .with_columns(t_end_ns=(pl.col("t_end_s") * 1e9).round().cast(pl.Int64))
        .rolling("t_end_ns", period=f"{round(window_s * 1e9)}i", group_by=RUN)
        .agg(pl.col("gc_num").last(), pl.col("heap_live_mib").last(), pl.col("heap_goal_mib").last(),
             pl.col("live_over_goal").median(), pl.col("goal_headroom").median(),
             pl.col("heap_goal_mib").median().alias("goal_median_mib"), pl.len().alias("window_cycles"),
             pl.col("t_end_s").last().alias("_end"))
        .with_columns(cycles_per_s=pl.col("window_cycles") / pl.min_horizontal(pl.col("_end"), pl.lit(window_s)))
    )
    return (
        windows.select(*RUN, "gc_num", "t_end_s", "gc_cpu_pct").join(heap, on=[*RUN, "gc_num"])
        .filter((pl.col("gc_cpu_pct") > gc_cpu_pct) & (pl.col("live_over_goal") >= live_ratio)
                & (pl.col("goal_headroom") <= max_headroom) & (pl.col("cycles_per_s") >= min_cycles_per_s)
                & (pl.col("window_cycles") >= min_cycles) & (pl.col("goal_median_mib") >= min_goal_mib))
        .select(*RUN, "gc_num", "t_end_s", "gc_cpu_pct", "cycles_per_s", "heap_live_mib", "heap_goal_mib",
                "live_over_goal", "goal_headroom")
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
