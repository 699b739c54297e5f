"""Matplotlib figures shared by the notebooks and the HTML report.

Every function takes frames, draws one Figure and returns it; nothing is shown or saved here (in
Jupyter, `%matplotlib inline` displays a returned Figure). Axes carry units, the limits from
`gclens check` are drawn as labelled lines, and forced cycles are marked so they are not mistaken
for pacer-driven ones.

The trace figures are here; the figures over ``gclens align``'s context (perf phases, settings
changes, page-cache pressure) are ``gclens.present.plot_context``, the shared axes ``gclens.present.plot_axes``.
Every name is importable from here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.figure import Figure  # not pyplot: no global state, no GUI backend needed
from matplotlib.ticker import MaxNLocator

from gclens.analysis.gccpu import gc_cpu_per_cycle, gc_cpu_windows
from gclens.present.plot_axes import Clock, Marker, _log_ticks, _markers, _one_run, _time_axis, _title, run_clock
from gclens.present.plot_context import (
    PHASE_COLORS,
    PHASES,
    WORK_COLORS,
    before_after,
    page_cache_pressure,
    perf_phases,
    setting_markers,
)

__all__ = ["PHASES", "PHASE_COLORS", "WORK_COLORS", "Clock", "Marker", "before_after", "gc_cpu",
           "page_cache_pressure", "pause_distribution", "perf_phases", "run_clock", "scheduler", "setting_markers",
           "timeline", "whatif"]


def timeline(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None,
             max_stw_ms: float = 1.0, max_gc_cpu_pct: float = 5.0, window_s: float = 10.0,
             markers: Sequence[Marker] = (), worst_window: tuple[float, float] | None = None,
             cpu_quota: float | None = None, exclude_forced: bool = False) -> Figure:
    """Heap, stop-the-world pauses and windowed GC CPU of one run, on one time axis.

    Top: heap at cycle start, end and marked live, and the goal (MiB). Middle: each cycle's
    pause with the ``max_stw_ms`` limit. Bottom: GC CPU over ``window_s`` windows with the
    ``max_gc_cpu_pct`` limit; windows that end before ``window_s`` of the run has passed are
    partial (a few cycles over a short span, often start-up) and drawn grey and dashed, apart
    from the complete ones that the limit is about. ``worst_window`` (end in s, %) marks the
    window the KPI and the gc-cpu finding report (``cpu_quota`` and ``exclude_forced`` as for
    the KPI, so that the line and the KPI are the same numbers). The x axis is the wall clock when the lines
    carry ``ts`` (``run_clock``). Forced cycles are drawn as crosses; ``markers`` as dotted lines.
    """
    run = _one_run(gc, source, run_id).sort("gc_num")
    clock = run_clock(run)
    at = clock[0]
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    heap_ax, stw_ax, cpu_ax = fig.subplots(3, 1, sharex=True)
    t = at(run["t_s"].to_numpy())
    for col, style in (("heap_start_mib", "-"), ("heap_end_mib", "-"), ("heap_live_mib", "-")):
        heap_ax.plot(t, run[col].to_numpy(), style, linewidth=1, label=col.removesuffix("_mib").replace("_", " "))
    heap_ax.step(t, run["heap_goal_mib"].to_numpy(), where="post", color="black", linewidth=1,
                 linestyle="--", label="goal")
    heap_ax.set_ylabel("heap (MiB)")
    _clip_goal(heap_ax, run)
    forced = run.filter(pl.col("forced"))
    stw_ax.vlines(t, 0, run["stw_ms"].to_numpy(), color="tab:blue", linewidth=1.5, label="STW pause")
    stw_ax.plot(at(forced["t_s"].to_numpy()), forced["stw_ms"].to_numpy(), "x", color="tab:red",
                label="forced cycle")
    stw_ax.axhline(max_stw_ms, color="tab:red", linestyle="--", linewidth=1, label=f"{max_stw_ms:g} ms limit")
    stw_ax.set_ylabel("STW pause (ms)")
    windows = gc_cpu_windows(run, window_s=window_s, cpu_quota=cpu_quota, exclude_forced=exclude_forced)
    _window_panel(cpu_ax, windows.sort("t_end_s"), window_s, max_gc_cpu_pct, worst_window, at)
    _time_axis(cpu_ax, clock)
    _markers((heap_ax, stw_ax, cpu_ax), markers, clock)
    for ax in (heap_ax, stw_ax, cpu_ax):
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle(_title(run, "GC timeline"))
    return fig


def _window_panel(ax: Any, windows: pl.DataFrame, window_s: float, limit_pct: float,
                  worst: tuple[float, float] | None, at: Callable[[Any], Any]) -> None:
    """Complete windows solid green, partial ones grey dashed, the KPI's worst window a dot."""
    partial = windows.filter(~pl.col("complete"))
    complete = windows.filter(pl.col("complete"))
    if partial.height:
        ax.plot(at(partial["t_end_s"].to_numpy()), partial["gc_cpu_pct"].to_numpy(), color="tab:gray",
                linestyle="--", linewidth=1, label=f"partial window (< {window_s:g} s of run)")
    if complete.height:
        if partial.height:  # join the two lines where the first complete window starts
            complete = pl.concat([partial.tail(1), complete])
        ax.plot(at(complete["t_end_s"].to_numpy()), complete["gc_cpu_pct"].to_numpy(), color="tab:green",
                label=f"GC CPU, {window_s:g} s window")
    if worst is not None and worst[0] is not None and worst[1] is not None:
        ax.plot(at([worst[0]]), [worst[1]], "o", color="tab:red" if worst[1] > limit_pct else "tab:green",
                label=f"worst window (KPI): {worst[1]:.3g} %")
    ax.axhline(limit_pct, color="tab:red", linestyle="--", linewidth=1, label=f"{limit_pct:g} % limit")
    ax.set_ylabel("GC CPU (% of capacity)")
    top = max(float(windows["gc_cpu_pct"].max() or 0.0), limit_pct)  # type: ignore[arg-type]
    ax.set_ylim(0, top * 1.45)  # headroom for the legend above the lines


def _clip_goal(ax: object, run: pl.DataFrame) -> None:
    """Keep the heap readable when one goal is off scale (e.g. GOGC set to off mid-cycle)."""
    heap_max = run.select(pl.max_horizontal(pl.col("heap_start_mib", "heap_end_mib").max())).item()
    goal_max = int(run.select(pl.col("heap_goal_mib").max().fill_null(0)).item())
    if heap_max and goal_max > 10 * heap_max:
        ax.set_ylim(0, heap_max * 1.5)  # type: ignore[attr-defined]
        ax.annotate(f"goal off scale (up to {goal_max:,} MiB)", xy=(0.99, 0.95),  # type: ignore[attr-defined]
                    xycoords="axes fraction", ha="right", va="top", fontsize="small", color="tab:red")


def pause_distribution(gc: pl.DataFrame, *, max_stw_ms: float = 1.0,
                       exclude_forced: bool = False) -> Figure:
    """Histogram (log-spaced bins) and cumulative distribution of STW pauses, all runs together
    (forced cycles too, unless ``exclude_forced``)."""
    kept = gc.filter(~pl.col("forced")) if exclude_forced else gc
    stw = np.sort(kept["stw_ms"].to_numpy())
    fig = Figure(figsize=(10, 4), layout="constrained")
    hist_ax, cdf_ax = fig.subplots(1, 2)
    low = max(stw.min(), 0.001) if stw.size else 0.001
    bins = np.logspace(np.log10(low), np.log10(max(stw.max(), max_stw_ms) * 1.1), 30) if stw.size else 10
    hist_ax.hist(np.maximum(stw, low), bins=bins, color="tab:blue", label="cycles")
    hist_ax.set_xscale("log")
    hist_ax.set_xlabel("STW pause (ms)")
    hist_ax.set_ylabel("cycles")
    cdf_ax.step(stw, np.arange(1, stw.size + 1) / max(stw.size, 1), where="post", label="CDF")
    cdf_ax.set_xscale("log")
    cdf_ax.set_xlabel("STW pause (ms)")
    cdf_ax.set_ylabel("fraction of cycles")
    for ax in (hist_ax, cdf_ax):
        ax.axvline(max_stw_ms, color="tab:red", linestyle="--", label=f"{max_stw_ms:g} ms limit")
        _log_ticks(ax)
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle(f"STW pauses ({stw.size} cycles{', forced excluded' if exclude_forced else ''})")
    return fig


def gc_cpu(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None,
           window_s: float = 10.0, max_gc_cpu_pct: float = 5.0) -> Figure:
    """GC CPU of one run: each cycle's share of its interval, the sliding window, idle mark apart."""
    run = _one_run(gc, source, run_id)
    clock = run_clock(run)
    per = gc_cpu_per_cycle(run).filter(pl.col("capacity_ms") > 0)
    windows = gc_cpu_windows(run, window_s=window_s).sort("t_end_s")
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(clock[0](per["t_end_s"].to_numpy()), per["gc_cpu_pct"].to_numpy(), ".", alpha=0.6, label="per cycle")
    ax.plot(clock[0](per["t_end_s"].to_numpy()), per["idle_mark_pct"].to_numpy(), ".", color="tab:gray",
            alpha=0.5, label="idle mark (not GC cost)")
    _window_panel(ax, windows, window_s, max_gc_cpu_pct, None, clock[0])
    _time_axis(ax, clock)
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.suptitle(_title(run, "GC CPU"))
    return fig


def scheduler(sched: pl.DataFrame, *, source: str | None = None, run_id: int | None = None) -> Figure:
    """Run queues of one run: the global queue, idle Ps, OS threads, and a per-P heat map.

    Each count has its own axis: thousands of queued goroutines would flatten 0-32 idle Ps and a
    few dozen threads into a line at zero. Idle Ps are drawn against GOMAXPROCS; Ps are the
    heat map's integer rows.
    """
    run = _one_run(sched.filter(pl.col("local_runqueues").is_not_null()), source, run_id).sort("t_s")
    clock = run_clock(run)
    fig = Figure(figsize=(10, 9), layout="constrained")
    queue_ax, idle_ax, thread_ax, heat_ax = fig.subplots(4, 1, sharex=True, height_ratios=[1, 1, 1, 1.6])
    t = clock[0](run["t_s"].to_numpy())
    queue_ax.plot(t, run["runqueue"].to_numpy(), label="global run queue")
    queue_ax.set_ylabel("goroutines")
    idle_ax.plot(t, run["idleprocs"].to_numpy(), color="tab:green", label="idle Ps")
    idle_ax.step(t, run["gomaxprocs"].to_numpy(), where="post", color="black", linestyle="--", linewidth=1,
                 label="GOMAXPROCS")
    idle_ax.set_ylabel("Ps")
    idle_ax.set_ylim(bottom=0)
    thread_ax.plot(t, run["threads"].to_numpy(), color="tab:orange", label="OS threads")
    thread_ax.set_ylabel("threads")
    for ax in (queue_ax, idle_ax, thread_ax):
        ax.yaxis.set_major_locator(MaxNLocator(nbins=4, integer=True))
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside: lines stay visible
        ax.grid(alpha=0.3)
    width = max((len(q) for q in run["local_runqueues"].to_list()), default=0)
    grid = np.zeros((width, run.height))
    for j, queues in enumerate(run["local_runqueues"].to_list()):
        grid[: len(queues), j] = [0 if q > 2**31 else q for q in queues]
    if run.height:
        seconds = run["t_s"].to_numpy()
        edges = clock[0](np.append(seconds, seconds[-1] + (seconds[-1] - seconds[-2] if run.height > 1 else 1)))
        mesh = heat_ax.pcolormesh(edges, np.arange(width + 1) - 0.5, grid, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=heat_ax, label="runnable goroutines")
    heat_ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    heat_ax.set_ylabel("P")
    _time_axis(heat_ax, clock)
    fig.suptitle(_title(run, "Scheduler run queues"))
    return fig


def whatif(model: object, *, observed: Sequence[tuple[float, float, float]] = (),
           gogc_range: tuple[float, float] = (10, 400)) -> Figure:
    """Predicted GC CPU and peak heap across GOGC (with the fit's range), the fitted run's own
    figures as a star (the model gives them back), other observed runs as dots.

    ``model`` is a ``gclens.analysis.whatif.Fit``; ``observed`` holds (GOGC, GC CPU %, peak MiB).
    """
    from gclens.analysis.whatif import predict

    grid = np.geomspace(gogc_range[0], gogc_range[1], 60)
    rows = [predict(model, gogc=float(g)) for g in grid]  # type: ignore[arg-type]
    fig = Figure(figsize=(10, 4), layout="constrained")
    cpu_ax, heap_ax = fig.subplots(1, 2)
    cpu_ax.plot(grid, [r["gc_cpu_pct"] for r in rows], label="predicted")
    cpu_ax.fill_between(grid, [r["gc_cpu_pct_range"][0] for r in rows], [r["gc_cpu_pct_range"][1] for r in rows],
                        alpha=0.2, label="fit range")
    heap_ax.plot(grid, [r["peak_heap_mib"] for r in rows], label="predicted")
    heap_ax.fill_between(grid, [r["peak_heap_mib_range"][0] for r in rows],
                         [r["peak_heap_mib_range"][1] for r in rows], alpha=0.2, label="fit range")
    seen = model.observed  # type: ignore[attr-defined]
    gogc_fit = model.gogc_fitted or model.gogc_observed  # type: ignore[attr-defined]
    cpu_ax.plot([gogc_fit], [seen["gc_cpu_pct"]], "*", ms=14, color="black", label="fitted run (observed)")
    heap_ax.plot([gogc_fit], [seen["peak_heap_mib"]], "*", ms=14, color="black", label="fitted run (observed)")
    if observed:
        gogc, cpu, peak = zip(*observed, strict=True)
        cpu_ax.plot(gogc, cpu, "o", color="tab:red", label="observed runs")
        heap_ax.plot(gogc, peak, "o", color="tab:red", label="observed runs")
    for ax, label in ((cpu_ax, "GC CPU (% of capacity)"), (heap_ax, "peak heap (MiB)")):
        ax.set_xscale("log")
        ax.set_xlabel("GOGC")
        ax.set_ylabel(label)
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle("What-if: GOGC against GC CPU and peak heap")
    return fig


