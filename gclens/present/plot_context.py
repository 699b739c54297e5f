"""Figures over the context ``gclens align`` adds: perf samples by GC phase, settings changes as
markers, before/after boxes per settings snapshot, and page-cache pressure around cycles. Kept
apart from the trace-only figures because they read the ``Aligned`` frames.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import polars as pl
from matplotlib.figure import Figure  # not pyplot: no global state, no GUI backend needed

from gclens.analysis.pressure import PER_S, VMSCAN_EVENT, WINDOW_S, pressure_before_cycles, pressure_per_second
from gclens.analysis.segments import kpis_by_snapshot
from gclens.context.align import Aligned, top_functions
from gclens.context.settings import settings_changes
from gclens.present.plot_axes import Marker, _one_run, _time_axis, _title, run_clock

__all__ = ["PHASES", "PHASE_COLORS", "WORK_COLORS", "before_after", "page_cache_pressure", "perf_phases",
           "setting_markers"]

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
