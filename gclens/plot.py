"""Matplotlib figures shared by the notebooks and the HTML report.

Every function takes frames, draws one Figure and returns it; nothing is shown or saved here (in
Jupyter, `%matplotlib inline` displays a returned Figure). Axes carry units, the limits from
`gclens check` are drawn as labelled lines, and forced cycles are marked so they are not mistaken
for pacer-driven ones.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl
from matplotlib.figure import Figure  # not pyplot: no global state, no GUI backend needed

from gclens.analysis._common import RUN
from gclens.analysis.gccpu import gc_cpu_per_cycle, gc_cpu_windows

Marker = tuple[float, str]
"""A vertical marker on the time axis: (seconds since runtime start, label), e.g. a setting change."""


def _one_run(frame: pl.DataFrame, source: str | None, run_id: int | None) -> pl.DataFrame:
    """The rows of one run: the given one, or the first in the frame."""
    if frame.is_empty():
        return frame
    first = frame.row(0, named=True)
    source = first["source"] if source is None else source
    run_id = first["run_id"] if run_id is None else run_id
    return frame.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))


def _markers(axes: Sequence[object], markers: Sequence[Marker]) -> None:
    for t, label in markers:
        for i, ax in enumerate(axes):
            ax.axvline(t, color="tab:purple", linestyle=":", linewidth=1,  # type: ignore[attr-defined]
                       label=label if i == 0 else None)


def timeline(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None,
             max_stw_ms: float = 1.0, max_gc_cpu_pct: float = 5.0, window_s: float = 10.0,
             markers: Sequence[Marker] = ()) -> Figure:
    """Heap, stop-the-world pauses and windowed GC CPU of one run, on one time axis.

    Top: heap at cycle start, end and marked live, and the goal (MiB). Middle: each cycle's
    pause with the ``max_stw_ms`` limit. Bottom: GC CPU over ``window_s`` windows with the
    ``max_gc_cpu_pct`` limit. Forced cycles are drawn as crosses; ``markers`` as dotted lines.
    """
    run = _one_run(gc, source, run_id).sort("gc_num")
    fig = Figure(figsize=(10, 7.5), layout="constrained")
    heap_ax, stw_ax, cpu_ax = fig.subplots(3, 1, sharex=True)
    t = run["t_s"].to_numpy()
    for col, style in (("heap_start_mib", "-"), ("heap_end_mib", "-"), ("heap_live_mib", "-")):
        heap_ax.plot(t, run[col].to_numpy(), style, linewidth=1, label=col.removesuffix("_mib").replace("_", " "))
    heap_ax.step(t, run["heap_goal_mib"].to_numpy(), where="post", color="black", linewidth=1,
                 linestyle="--", label="goal")
    heap_ax.set_ylabel("heap (MiB)")
    _clip_goal(heap_ax, run)
    forced = run.filter(pl.col("forced"))
    stw_ax.vlines(t, 0, run["stw_ms"].to_numpy(), color="tab:blue", linewidth=1.5, label="STW pause")
    stw_ax.plot(forced["t_s"].to_numpy(), forced["stw_ms"].to_numpy(), "x", color="tab:red",
                label="forced cycle")
    stw_ax.axhline(max_stw_ms, color="tab:red", linestyle="--", linewidth=1, label=f"{max_stw_ms:g} ms limit")
    stw_ax.set_ylabel("STW pause (ms)")
    windows = gc_cpu_windows(run, window_s=window_s).sort("t_end_s")
    cpu_ax.plot(windows["t_end_s"].to_numpy(), windows["gc_cpu_pct"].to_numpy(), color="tab:green",
                label=f"GC CPU, {window_s:g} s window")
    cpu_ax.axhline(max_gc_cpu_pct, color="tab:red", linestyle="--", linewidth=1,
                   label=f"{max_gc_cpu_pct:g} % limit")
    cpu_ax.set_ylabel("GC CPU (% of capacity)")
    cpu_ax.set_xlabel("time since runtime start (s)")
    _markers((heap_ax, stw_ax, cpu_ax), markers)
    for ax in (heap_ax, stw_ax, cpu_ax):
        ax.legend(loc="upper left", fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle(_title(run, "GC timeline"))
    return fig


def _clip_goal(ax: object, run: pl.DataFrame) -> None:
    """Keep the heap readable when one goal is off scale (e.g. GOGC set to off mid-cycle)."""
    heap_max = run.select(pl.max_horizontal(pl.col("heap_start_mib", "heap_end_mib").max())).item()
    goal_max = int(run.select(pl.col("heap_goal_mib").max().fill_null(0)).item())
    if heap_max and goal_max > 10 * heap_max:
        ax.set_ylim(0, heap_max * 1.5)  # type: ignore[attr-defined]
        ax.annotate(f"goal off scale (up to {goal_max:,} MiB)", xy=(0.99, 0.95),  # type: ignore[attr-defined]
                    xycoords="axes fraction", ha="right", va="top", fontsize="small", color="tab:red")


def pause_distribution(gc: pl.DataFrame, *, max_stw_ms: float = 1.0,
                       include_forced: bool = False) -> Figure:
    """Histogram (log-spaced bins) and cumulative distribution of STW pauses, all runs together."""
    kept = gc if include_forced else gc.filter(~pl.col("forced"))
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
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.suptitle(f"STW pauses ({stw.size} cycles{'' if include_forced else ', forced excluded'})")
    return fig


def gc_cpu(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None,
           window_s: float = 10.0, max_gc_cpu_pct: float = 5.0) -> Figure:
    """GC CPU of one run: each cycle's share of its interval, the sliding window, idle mark apart."""
    run = _one_run(gc, source, run_id)
    per = gc_cpu_per_cycle(run).filter(pl.col("capacity_ms") > 0)
    windows = gc_cpu_windows(run, window_s=window_s).sort("t_end_s")
    fig = Figure(figsize=(10, 4), layout="constrained")
    ax = fig.subplots()
    ax.plot(per["t_end_s"].to_numpy(), per["gc_cpu_pct"].to_numpy(), ".", alpha=0.6, label="per cycle")
    ax.plot(per["t_end_s"].to_numpy(), per["idle_mark_pct"].to_numpy(), ".", color="tab:gray", alpha=0.5,
            label="idle mark (not GC cost)")
    ax.plot(windows["t_end_s"].to_numpy(), windows["gc_cpu_pct"].to_numpy(), color="tab:green",
            label=f"{window_s:g} s window")
    ax.axhline(max_gc_cpu_pct, color="tab:red", linestyle="--", label=f"{max_gc_cpu_pct:g} % limit")
    ax.set_xlabel("time since runtime start (s)")
    ax.set_ylabel("GC CPU (% of capacity)")
    ax.legend(fontsize="small")
    ax.grid(alpha=0.3)
    fig.suptitle(_title(run, "GC CPU"))
    return fig


def scheduler(sched: pl.DataFrame, *, source: str | None = None, run_id: int | None = None) -> Figure:
    """Run queues of one run: global queue and threads over time, and a per-P heatmap."""
    run = _one_run(sched.filter(pl.col("local_runqueues").is_not_null()), source, run_id).sort("t_s")
    fig = Figure(figsize=(10, 6), layout="constrained")
    line_ax, heat_ax = fig.subplots(2, 1, sharex=True)
    t = run["t_s"].to_numpy()
    line_ax.plot(t, run["runqueue"].to_numpy(), label="global run queue")
    line_ax.plot(t, run["threads"].to_numpy(), label="OS threads")
    line_ax.plot(t, run["idleprocs"].to_numpy(), label="idle Ps")
    line_ax.set_ylabel("count")
    line_ax.legend(fontsize="small")
    line_ax.grid(alpha=0.3)
    width = max((len(q) for q in run["local_runqueues"].to_list()), default=0)
    grid = np.zeros((width, run.height))
    for j, queues in enumerate(run["local_runqueues"].to_list()):
        grid[: len(queues), j] = [0 if q > 2**31 else q for q in queues]
    if run.height:
        edges = np.append(t, t[-1] + (t[-1] - t[-2] if run.height > 1 else 1))
        mesh = heat_ax.pcolormesh(edges, np.arange(width + 1), grid, cmap="viridis", shading="flat")
        fig.colorbar(mesh, ax=heat_ax, label="runnable goroutines")
    heat_ax.set_ylabel("P")
    heat_ax.set_xlabel("time since first schedtrace (s)")
    fig.suptitle(_title(run, "Scheduler run queues"))
    return fig


def _title(run: pl.DataFrame, what: str) -> str:
    if run.is_empty():
        return f"{what} (no data)"
    first = run.select(RUN).row(0)
    return f"{what}: {first[0]} run {first[1]}"


def whatif(model: object, *, observed: Sequence[tuple[float, float, float]] = (),
           gogc_range: tuple[float, float] = (10, 400)) -> Figure:
    """Predicted GC CPU and peak heap across GOGC (with the fit's range), observed runs as dots.

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
