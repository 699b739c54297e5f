"""Matplotlib figures shared by the notebooks and the HTML report.

Every function takes frames, draws one Figure and returns it; nothing is shown or saved here (in
Jupyter, `%matplotlib inline` displays a returned Figure). Axes carry units, the limits from
`gclens check` are drawn as labelled lines, and forced cycles are marked so they are not mistaken
for pacer-driven ones.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

import numpy as np
import polars as pl
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.figure import Figure  # not pyplot: no global state, no GUI backend needed
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from gclens.align import Aligned, top_functions
from gclens.analysis._common import RUN
from gclens.analysis.gccpu import gc_cpu_per_cycle, gc_cpu_windows
from gclens.analysis.pressure import PER_S, VMSCAN_EVENT, WINDOW_S, pressure_before_cycles, pressure_per_second
from gclens.analysis.segments import kpis_by_snapshot
from gclens.settings import settings_changes

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


Clock = tuple[Callable[[Any], Any], str]
"""Seconds since runtime start -> x values, and the x-axis label that says which clock it is."""


def run_clock(run: pl.DataFrame) -> Clock:
    """The wall clock (UTC) of a run when its lines carry ``ts`` (a collector envelope anchors the
    run to about a millisecond), else seconds since runtime start: a reader matches a figure
    with dashboards and incidents by the time of day, not by seconds since an unknown start."""
    if run.is_empty() or "ts" not in run.columns or run["ts"].null_count() == run.height:
        return (lambda t: np.asarray(t, dtype=float)), "seconds since runtime start (s)"
    anchored = run.drop_nulls("ts").select(
        (pl.col("ts").dt.epoch("ns") - (pl.col("t_s") * 1e9).round().cast(pl.Int64)).median()).item()
    zero = np.datetime64(int(anchored), "ns")

    def at(t: Any) -> Any:
        return zero + (np.asarray(t, dtype=float) * 1e9).round().astype("timedelta64[ns]")
    return at, f"wall clock, UTC, {str(zero)[:10]} (from the log's timestamps)"


def _time_axis(ax: Any, clock: Clock) -> None:
    """Label the clock; wall-clock ticks as time of day (the date is in the label)."""
    ax.set_xlabel(clock[1])
    if clock[1].startswith("wall"):
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=4, maxticks=9))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]


def _markers(axes: Sequence[object], markers: Sequence[Marker], clock: Clock | None = None) -> None:
    at = clock[0] if clock is not None else (lambda t: t)
    for t, label in markers:
        for i, ax in enumerate(axes):
            ax.axvline(at(t), color="tab:purple", linestyle=":", linewidth=1,  # type: ignore[attr-defined]
                       label=label if i == 0 else None)


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


def _log_ticks(ax: Any) -> None:
    """Plain numbers (0.1, 1, 10 ms, not 10^-1) at 1-2-5 steps over a short range, decades
    over a long one, and no labels on minor ticks: matplotlib labels those over ranges under a
    decade or two, and they run into each other."""
    low, high = ax.get_xlim()
    decades = np.log10(high / low) if low > 0 else 10
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


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


def _title(run: pl.DataFrame, what: str) -> str:
    if run.is_empty():
        return f"{what} (no data)"
    first = run.select(RUN).row(0)
    return f"{what}: {first[0]} run {first[1]}"


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


PHASES = ("sweep_term", "mark", "mark_term", "none")
"""GC phases of a perf sample, in cycle order; ``none`` is between cycles."""
WORK_COLORS = {"mark": "tab:green", "assist": "tab:orange", "write_barrier": "tab:olive", "stw": "tab:red",
               "sweep": "tab:blue", "scavenge": "tab:cyan", "mutator": "lightgray"}
"""One colour per ``gc_work`` label (``mutator`` = no GC signature on the stack), stable across figures."""
PHASE_COLORS = {"sweep_term": "tab:red", "mark": "tab:green", "mark_term": "tab:purple", "none": "tab:gray"}


def perf_phases(perf_samples: pl.DataFrame, *, top: int = 8,
                weight: Literal["samples", "period"] = "samples") -> Figure:
    """perf samples by the GC phase they fell in, split by the GC work on their stack, and the
    leaf functions that dominate each phase.

    Left: one stacked bar per phase (samples, or sampled CPU time when ``weight="period"``), so
    assists and write barriers during mark stand out from the background workers. Right: the
    ``top`` leaf functions of each phase as a share of that phase's samples. Samples of runs
    that could not be aligned have no phase and are left out.
    """
    placed = perf_samples.filter(pl.col("gc_phase").is_not_null()).with_columns(
        pl.col("gc_work").fill_null("mutator"))
    value = pl.len().cast(pl.Float64) if weight == "samples" else pl.col("period").sum() / 1e6
    counts = {(p, w): v for p, w, v in placed.group_by("gc_phase", "gc_work").agg(value.alias("v")).iter_rows()}
    tops = top_functions(placed, by="gc_phase", n=top)
    fig = Figure(figsize=(12, max(4.5, 0.2 * tops.height + 1.5)), layout="constrained")
    bar_ax, top_ax = fig.subplots(1, 2, width_ratios=[1, 1.7])
    x = np.arange(len(PHASES))
    bottom = np.zeros(len(PHASES))
    for work, color in WORK_COLORS.items():
        heights = np.array([counts.get((phase, work), 0.0) for phase in PHASES])
        if heights.any():
            bar_ax.bar(x, heights, bottom=bottom, color=color, label=work.replace("_", " "))
            bottom += heights
    bar_ax.set_xticks(x, list(PHASES))
    bar_ax.set_xlabel("GC phase at the sample (none = between cycles)")
    bar_ax.set_ylabel("perf samples" if weight == "samples" else f"sampled time ({_period_unit(placed)})")
    if bottom.any():
        bar_ax.legend(title="work on the stack", fontsize="small")
    bar_ax.grid(axis="y", alpha=0.3)
    totals = dict(placed.group_by("gc_phase").len().iter_rows())
    _top_bars(top_ax, tops, totals)
    fig.suptitle(f"perf samples by GC phase: {placed.height} samples of {_runs_text(placed)}")
    return fig


def _period_unit(samples: pl.DataFrame) -> str:
    """cpu-clock and task-clock periods are ns; other events count occurrences."""
    events = {e.split(":")[0] for e in samples["event"].drop_nulls().unique().to_list()}  # cpu-clock:u -> cpu-clock
    return "ms" if events and events <= {"cpu-clock", "task-clock"} else "events / 1e6"


def _runs_text(samples: pl.DataFrame) -> str:
    runs = samples.select("source", "run_id").unique().height
    return f"{runs} aligned run{'s' if runs != 1 else ''}"


def _top_bars(ax: Any, tops: pl.DataFrame, totals: dict[str, int]) -> None:
    """Horizontal bars of each phase's top leaf functions, grouped and coloured by phase."""
    labels: list[str] = []
    y = 0
    for phase in PHASES:
        rows = tops.filter(pl.col("gc_phase") == phase)
        for i, (sym, share, samples) in enumerate(rows.select("sym", "share_pct", "samples").iter_rows()):
            label = f"{phase} ({totals.get(phase, 0)} samples)" if i == 0 else None
            ax.barh(-y, share, color=PHASE_COLORS[phase], label=label)
            ax.annotate(f"{samples}", (share, -y), xytext=(3, 0), textcoords="offset points", va="center",
                        fontsize="x-small")
            labels.append(_short(sym or "?", 48))
            y += 1
    ax.set_yticks(-np.arange(y), labels, fontsize="small")
    ax.set_xlabel("share of the phase's samples (%); number = samples")
    ax.set_title("top leaf functions per GC phase", fontsize="medium")
    if y:
        ax.legend(title="GC phase", fontsize="small", loc="lower right")
    ax.grid(axis="x", alpha=0.3)


def _short(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def setting_markers(aligned: Aligned | pl.DataFrame, changes: pl.DataFrame | None = None, *,
                    source: str | None = None, run_id: int | None = None, max_keys: int = 3) -> list[Marker]:
    """Setting changes as ``timeline`` markers, in the run's seconds since runtime start.

    Pass an ``Aligned`` (its settings and ``gc_settings``), or a ``gc_settings`` frame and a
    ``settings_changes`` frame. A change is only known to have happened between two captures,
    so its marker sits at the capture that first saw it (up to one snapshot interval late).
    Changes outside the run, or on a run without a clock basis, give no marker.
    """
    if isinstance(aligned, Aligned):
        gc_settings = aligned.gc_settings
        changes = settings_changes(aligned.settings) if changes is None else changes
    else:
        gc_settings = aligned
    if changes is None:
        raise TypeError("setting_markers(gc_settings, changes): the settings_changes frame is missing")
    run = _one_run(gc_settings, source, run_id).drop_nulls("mono_ns")
    if run.is_empty() or changes.is_empty():
        return []
    mono0 = run.select(pl.col("mono_ns") - (pl.col("t_s") * 1e9).round().cast(pl.Int64)).item(0, 0)
    ids = set(run["snapshot_id"].drop_nulls().to_list())
    end = run["t_s"].max()
    mine = changes.filter(pl.col("snapshot_before").is_in(ids) | pl.col("snapshot_after").is_in(ids))
    markers = []
    for (seen,), rows in mine.sort("key").group_by(["changed_by_mono_ns"], maintain_order=True):
        t = (int(seen) - mono0) / 1e9  # type: ignore[call-overload]
        if 0 <= t <= float(end) + 1:  # type: ignore[arg-type]
            markers.append((t, _change_label(rows, max_keys)))
    return sorted(markers)


def _change_label(rows: pl.DataFrame, max_keys: int) -> str:
    parts = [f"{k}: {b if b is not None else 'absent'} -> {a if a is not None else 'absent'}"
             for k, b, a in rows.select("key", "before", "after").iter_rows()]
    more = f" (+{len(parts) - max_keys} more)" if len(parts) > max_keys else ""
    return "; ".join(parts[:max_keys]) + more


def before_after(gc: pl.DataFrame, gc_settings: pl.DataFrame, settings: pl.DataFrame, *,
                 source: str | None = None, run_id: int | None = None, max_stw_ms: float = 1.0,
                 max_gc_cpu_pct: float = 5.0, exclude_forced: bool = False,
                 merge_unchanged: bool = True) -> Figure:
    """STW pauses and GC CPU of one run, per settings epoch (or per snapshot segment), labelled
    by what changed: did the change move the pauses or the GC cost?

    Left: each group's pauses as a box plot with the cycles as dots (log scale) and the
    ``max_stw_ms`` limit. Right: each group's GC CPU (CPU fields over its wall time ×
    GOMAXPROCS) with the ``max_gc_cpu_pct`` limit. The groups are the rows of
    ``gclens.analysis.segments.kpis_by_snapshot`` with the same arguments.
    """
    run = _one_run(gc, source, run_id).sort("gc_num")
    table = kpis_by_snapshot(run, gc_settings, settings, exclude_forced=exclude_forced,
                             merge_unchanged=merge_unchanged)
    kept = run.filter(~pl.col("forced")) if exclude_forced else run
    groups = [kept.filter(pl.col("gc_num").is_between(a, b))["stw_ms"].to_numpy()
              for a, b in table.select("first_gc", "last_gc").iter_rows()]
    labels = [_group_label(row) for row in table.iter_rows(named=True)]
    fig = Figure(figsize=(max(8.0, 2.2 * len(labels) + 2), 7.5), layout="constrained")
    stw_ax, cpu_ax = fig.subplots(2, 1, sharex=True)
    x = np.arange(1, len(labels) + 1)
    _pause_boxes(stw_ax, groups, x, max_stw_ms)
    cpu = table["gc_cpu_pct"].fill_null(0.0).to_numpy()
    cpu_ax.bar(x, cpu, width=0.5, color="tab:green", label="GC CPU of the cycles")
    for xi, value in zip(x, cpu, strict=True):
        cpu_ax.annotate(f"{value:.1f} %", (xi, value), xytext=(0, 2), textcoords="offset points", ha="center",
                        fontsize="small")
    cpu_ax.axhline(max_gc_cpu_pct, color="tab:red", linestyle="--", linewidth=1, label=f"{max_gc_cpu_pct:g} % limit")
    cpu_ax.set_ylabel("GC CPU (% of wall time × GOMAXPROCS)")
    cpu_ax.set_ylim(0, max(float(cpu.max(initial=0.0)), max_gc_cpu_pct) * 1.25)
    cpu_ax.set_xticks(x, labels, fontsize="small")
    for ax in (stw_ax, cpu_ax):
        ax.legend(fontsize="small", loc="best")
        ax.grid(axis="y", alpha=0.3)
    what = "settings epoch" if merge_unchanged else "snapshot segment"
    fig.suptitle(f"Before/after setting changes (per {what})\n{_title(run, 'cycles of')}", fontsize="medium")
    return fig


def _pause_boxes(ax: Any, groups: list[np.ndarray], x: np.ndarray, max_stw_ms: float) -> None:
    filled = [g if g.size else np.array([np.nan]) for g in groups]
    ax.boxplot(filled, positions=x, widths=0.5, showfliers=False)
    for xi, values in zip(x, groups, strict=True):
        jitter = np.linspace(-0.15, 0.15, values.size) if values.size > 1 else np.zeros(values.size)
        ax.plot(xi + jitter, values, ".", color="tab:blue", alpha=0.6,
                label="cycles" if xi == x[0] else None)
    ax.axhline(max_stw_ms, color="tab:red", linestyle="--", linewidth=1, label=f"{max_stw_ms:g} ms limit")
    ax.set_yscale("log")
    ax.set_ylabel("STW pause (ms)")


def _group_label(row: dict[str, Any]) -> str:
    """What a group of cycles ran under, and which cycles: the x tick of ``before_after``."""
    if row["snapshot_id"] is None:
        what = "before the first snapshot"
    elif row["changes"]:
        shown = [_short(c, 60).replace(": ", ":\n", 1) for c in row["changes"][:3]]
        what = "\n".join(shown) + (f"\n(+{len(row['changes']) - 3} more)" if len(row["changes"]) > 3 else "")
    elif row["changed"] is None:
        what = "first snapshot"
    else:
        what = "unchanged"
    return f"{what}\ngc {row['first_gc']}–{row['last_gc']}, {row['t_start_s']:.2f}–{row['t_end_s']:.2f} s"


def page_cache_pressure(gc: pl.DataFrame, perf_samples: pl.DataFrame, *, source: str | None = None,
                        run_id: int | None = None, per_s: float = PER_S, window_s: float = WINDOW_S,
                        max_stw_ms: float = 1.0) -> Figure:
    """The tuning guide's §4 line-up: reclaim events per second above, each cycle's STW below, the
    cycles that began after ``per_s`` events/s in the ``window_s`` before drawn in red."""
    run = _one_run(gc, source, run_id)
    mine = perf_samples.filter((pl.col("source") == run["source"][0]) & (pl.col("run_id") == run["run_id"][0])) \
        if run.height else perf_samples.clear()
    per_second = pressure_per_second(run, mine)
    before = pressure_before_cycles(run, mine, window_s=window_s)
    clock = run_clock(run)
    fig = Figure(figsize=(10, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    edges = per_second["second"].to_numpy().astype(float)
    counts = per_second["vmscan_events"].to_numpy()
    if len(edges):
        top.stairs(counts, clock[0](np.append(edges, edges[-1] + 1)), fill=True, alpha=0.5, label="events per second")
    whose = "the tuning guide's, no source" if per_s == PER_S else "yours"
    top.axhline(per_s, color="tab:red", linestyle="--", linewidth=1, label=f"threshold {per_s:g}/s ({whose})")
    top.set_ylabel(f"{VMSCAN_EVENT}\nper second")
    top.legend(fontsize="small")
    hit = before.filter(pl.col("vmscan_before_per_s") >= per_s)
    calm = before.filter(pl.col("vmscan_before_per_s") < per_s)
    for part, color, label in ((calm, "tab:blue", "cycle"),
                               (hit, "tab:red", f">= {per_s:g}/s in the {window_s:g} s before")):
        if part.height:
            bottom.plot(clock[0](part["t_s"].to_numpy()), part["stw_ms"].to_numpy(), ".", color=color, label=label)
    bottom.axhline(max_stw_ms, color="tab:gray", linestyle="--", linewidth=1, label=f"STW limit {max_stw_ms:g} ms")
    bottom.set_ylabel("STW per cycle (ms)")
    bottom.legend(fontsize="small")
    for ax in (top, bottom):
        ax.grid(alpha=0.3)
    _time_axis(bottom, clock)
    fig.suptitle(_title(run, "page-cache pressure beside GC") if run.height else "no GC cycles")
    return fig
