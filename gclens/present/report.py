"""A self-contained HTML report: KPIs per run, findings with evidence, figures, inputs.

One file, figures embedded as PNG, no script and no network. Every string that came from a log,
a snapshot, a perf capture or a file name goes through Jinja2's autoescaping.

Given the output of ``gclens.align`` too, the report adds the settings findings, a Settings
section (snapshots, what changed when, KPIs before and after), an Alignment section (how each
run was placed on perf's clock, and how sure that is) and the perf and before/after figures.
"""

from __future__ import annotations

import base64
import io
import math
import re
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import jinja2
import polars as pl
from matplotlib.figure import Figure

from gclens.analysis import Limits, verdict
from gclens.analysis._finding import SEVERITY_ORDER  # noqa: F401  (was defined here; kept importable)
from gclens.analysis.findings import trend_span_is_enough
from gclens.analysis.judge import check
from gclens.analysis.pressure import VMSCAN_EVENT
from gclens.analysis.segments import kpis_by_snapshot
from gclens.context.align import Aligned
from gclens.context.settings import settings_changes
from gclens.pipeline.trace import Trace
from gclens.present import plot
from gclens.present.render import verdict_text
from gclens.store.schemas import SCHEMA_VERSION

__all__ = ["KPI_COLUMNS", "MAX_REJECTS", "MAX_RUN_FIGURES", "VERDICT_WORDS", "go_version", "render_report",
           "report_with_findings"]

MAX_RUN_FIGURES = 6
MAX_REJECTS = 50
KPI_COLUMNS = [
    ("cycles", "GC cycles"), ("gc_per_s", "GC/s"), ("stw_p99_ms", "STW p99 (ms)"),
    ("stw_max_ms", "STW max (ms)"), ("over_threshold", "pauses over limit"),
    ("worst_window_pct", "GC CPU worst window (%)"), ("gc_cpu_pct", "GC CPU (%)"),
    ("peak_heap_mib", "peak heap (MiB)"), ("live_slope_mib_per_min", "live heap trend (MiB/min)"),
    ("threads_max", "threads max"),
]


VERDICT_WORDS = {"pass": "pass", "limit": "fail", "no-evidence": "no evidence"}


def render_report(trace: Trace, *, limits: Limits | None = None, title: str | None = None,
                  aligned: Aligned | None = None) -> str:
    """The report as an HTML string (see ``gclens report``); ``aligned`` adds settings and perf."""
    return report_with_findings(trace, limits=limits, title=title, aligned=aligned)[0]


def report_with_findings(trace: Trace, *, limits: Limits | None = None, title: str | None = None,
                         aligned: Aligned | None = None) -> tuple[str, pl.DataFrame]:
    """The report and the findings it shows: ``gclens report`` exits by them as check does."""
    limits = limits or Limits()
    checked = check(trace, limits, aligned=aligned)  # as `gclens check` judges: one verdict
    findings, kpis = checked.findings, checked.kpis
    env = jinja2.Environment(loader=jinja2.PackageLoader("gclens.present", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    sources = trace.frame("sources")
    clocks = {(src, run): plot.run_clock(rows) for (src, run), rows in trace.gc.group_by(
        ["source", "run_id"], maintain_order=True)}
    shown = [_shown_trend(row, limits) for row in kpis.iter_rows(named=True)]
    html = env.get_template("report.html.j2").render(
        title=title or ", ".join(sources["source"].to_list()[:3]) + (" ..." if sources.height > 3 else ""),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), version=_version(),
        schema_version=SCHEMA_VERSION, limits=limits, kpi_columns=KPI_COLUMNS,
        runs=[_formatted(row) for row in shown],
        tiles=[_tiles(row, trace, limits) for row in shown[:MAX_RUN_FIGURES]],
        more_runs=max(0, len(shown) - MAX_RUN_FIGURES),
        errors=int((findings["severity"] == "error").sum()), verdict=verdict_text(findings),
        verdict_word=VERDICT_WORDS[verdict(findings)],
        findings=[{**f, "evidence": _evidence_text(f, clocks.get((f["source"], f["run_id"])))}
                  for f in findings.iter_rows(named=True)],
        figures=_figures(trace, limits, aligned, kpis), sources=sources.to_dicts(),
        rejects=trace.frame("rejects").head(MAX_REJECTS).to_dicts(),
        settings=_settings_section(trace, aligned, limits) if aligned is not None else None,
        alignment=_alignment_rows(aligned) if aligned is not None and (
            aligned.alignment.height or aligned.perf_samples.height) else None,
    )
    return html, findings


def _shown_trend(row: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The run's KPIs with the live-heap trend blanked where the fit saw too little of the run
    to mean anything (the leak rule's minimum span and cycles): a 1,200 MiB/min "trend" over a
    3 s start-up says nothing about a leak."""
    if trend_span_is_enough(row, limits) or row.get("live_slope_mib_per_min") is None:
        return row
    span, cycles = row.get("live_trend_span_s") or 0.0, row.get("live_trend_cycles") or 0
    short = (f"{span:.0f} s < {limits.min_live_trend_span_s:g} s" if span < limits.min_live_trend_span_s
             else f"{cycles} cycles < {limits.min_live_trend_cycles}")
    return {**row, "live_slope_mib_per_min": f"n/a ({short})"}


def go_version(layouts: list[str] | None) -> str:
    """The Go versions that print every line layout seen, e.g. ``go1.25`` or ``go1.18–1.25``:
    each layout is known for a range of releases (``gc:go1.18+``, ``pacer:go1.10-1.25``)."""
    low, high = (1, 0), (1, 10**6)
    for layout in layouts or []:
        m = re.search(r"go(\d+)\.(\d+)(\+|-(\d+)\.(\d+))?$", layout)
        if m is None:
            continue
        low = max(low, (int(m[1]), int(m[2])))
        if m[3] and m[3] != "+":
            high = min(high, (int(m[4]), int(m[5])))
        elif not m[3]:
            high = min(high, (int(m[1]), int(m[2])))
    if low == (1, 0) or low > high:
        return "unknown"
    if low == high:
        return f"go{low[0]}.{low[1]}"
    return f"go{low[0]}.{low[1]}+" if high[1] == 10**6 else f"go{low[0]}.{low[1]}–{high[0]}.{high[1]}"


def _tiles(row: dict[str, Any], trace: Trace, limits: Limits) -> dict[str, Any]:
    """The run at a glance: the KPIs a gate decides on, each against its limit (ok, over, none)."""
    def number(key: str) -> float | None:
        value = row.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    def tile(label: str, value: float | None, fmt: str, limit: float | None = None, note: str = "") -> dict[str, str]:
        state = "none" if value is None else "over" if limit is not None and value > limit else "ok"
        return {"label": label, "value": "–" if value is None else fmt.format(value), "state": state, "note": note}

    run_rows = trace.runs.filter((pl.col("source") == row["source"]) & (pl.col("run_id") == row["run_id"]))
    runs_row = run_rows.row(0, named=True) if run_rows.height else {}
    procs = sorted(set(runs_row.get("gomaxprocs_seen") or []))
    duration = number("duration_s") or number("t_last_s")
    start = runs_row.get("start_ts")
    window = f"{limits.window_s:g} s" + ("" if (duration or 0) >= limits.window_s else ", run shorter: all of it")
    return {
        "source": row["source"], "run_id": row["run_id"],
        "tiles": [
            tile("STW p99", number("stw_p99_ms"), "{:.3g} ms", limits.max_stw_ms),
            tile("STW max", number("stw_max_ms"), "{:.3g} ms", limits.max_stw_ms, f"limit {limits.max_stw_ms:g} ms"),
            tile("GC CPU worst window", number("worst_window_pct"), "{:.3g} %", limits.max_gc_cpu_pct,
                 f"{window}; limit {limits.max_gc_cpu_pct:g} %"),
            tile("GC cycles", number("cycles"), "{:.0f}"),
            tile("duration", duration, "{:.1f} s",
                 note="" if start is None else "from " + start.strftime("%Y-%m-%d %H:%M:%S UTC")),
            {"label": "Go", "value": go_version(runs_row.get("layouts_seen")), "state": "info",
             "note": "from the line layouts"},
            {"label": "GOMAXPROCS", "value": ", ".join(map(str, procs)) or "–", "state": "info", "note": ""},
        ],
    }


def _evidence_text(f: dict[str, Any], clock: plot.Clock | None) -> str:
    """What a finding rests on, never blank: its cycles, else its time span, else its line,
    else its value against the limit."""
    if f["evidence_gc"]:
        more = f" (+{len(f['evidence_gc']) - 20} more)" if len(f["evidence_gc"]) > 20 else ""
        return "gc " + ", ".join(map(str, f["evidence_gc"][:20])) + more
    if f["evidence_line"] is not None:
        return f"line {f['evidence_line']}"
    value = f"{f['value']:.3g} {f['unit']} (limit {f['limit']:.3g})"
    if f["t_end_s"] is None:
        return value
    start = f["t_start_s"] if f["t_start_s"] is not None else 0.0
    span = f"{start:.1f}–{f['t_end_s']:.1f} s since start"
    if clock is not None and clock[1].startswith("wall"):
        a, b = (str(x)[11:23] for x in clock[0]([start, f["t_end_s"]]))
        span = f"{a}–{b} UTC"
    return f"{value} over {span}"


def _formatted(row: dict[str, Any]) -> dict[str, Any]:
    def show(value: Any) -> Any:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.3g}"
        if isinstance(value, datetime):
            return value.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        if isinstance(value, list):
            return ", ".join(map(str, value))
        return "" if value is None else value
    return {key: show(value) for key, value in row.items()}


def _figures(trace: Trace, limits: Limits, aligned: Aligned | None = None,
             kpis: pl.DataFrame | None = None) -> list[dict[str, str]]:
    gc, sched = trace.frame("gc"), trace.frame("sched")
    worst = {} if kpis is None else {(s, r): (e, p) for s, r, e, p in kpis.select(
        "source", "run_id", "worst_window_end_s", "worst_window_pct").iter_rows()}
    out = []
    runs = gc.select("source", "run_id").unique(maintain_order=True).head(MAX_RUN_FIGURES)
    for source, run_id in runs.iter_rows():
        where = f"{source} run {run_id}"
        markers = plot.setting_markers(aligned, source=source, run_id=run_id) if aligned is not None else []
        caption = (f"Heap, STW pauses and GC CPU over {limits.window_s:g} s windows, as the gate counts them; "
                   f"grey dashed: partial windows (less than {limits.window_s:g} s of the run behind them), "
                   "the dot: the worst window the KPI and findings report.")
        if markers:
            caption += " Dotted lines: the snapshot that first saw a setting change (it happened before)."
        out.append(_png(plot.timeline(gc, source=source, run_id=run_id, max_stw_ms=limits.max_stw_ms,
                                      max_gc_cpu_pct=limits.max_gc_cpu_pct, markers=markers,
                                      window_s=limits.window_s, worst_window=worst.get((source, run_id)),
                                      cpu_quota=limits.cpu_quota, exclude_forced=limits.exclude_forced),
                        f"GC timeline of {where}", caption))
        if aligned is not None:
            out += _aligned_figures(trace, aligned, limits, source, run_id)
    if gc.height:
        counted = "forced cycles excluded." if limits.exclude_forced else "every cycle, forced ones too."
        out.append(_png(plot.pause_distribution(gc, max_stw_ms=limits.max_stw_ms, exclude_forced=limits.exclude_forced),
                        "STW pause distribution", f"All runs; {counted}"))
    summaries = sched.filter(pl.col("local_runqueues").is_not_null())
    for source, run_id in summaries.select("source", "run_id").unique(maintain_order=True).head(
            MAX_RUN_FIGURES).iter_rows():
        out.append(_png(plot.scheduler(sched, source=source, run_id=run_id),
                        f"Scheduler of {source} run {run_id}",
                        "Global run queue, idle Ps against GOMAXPROCS, OS threads, and per-P run queues."))
    return out


def _aligned_figures(trace: Trace, aligned: Aligned, limits: Limits, source: str,
                     run_id: int) -> list[dict[str, str]]:
    """perf samples by phase and the before/after comparison of one run, when there is data."""
    out = []
    where = f"{source} run {run_id}"
    samples = aligned.perf_samples.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
    events = samples.filter(pl.col("event") == VMSCAN_EVENT)
    samples = samples.filter(pl.col("event") != VMSCAN_EVENT)
    if events.height:
        out.append(_png(plot.page_cache_pressure(trace.gc, events, source=source, run_id=run_id,
                                                 max_stw_ms=limits.max_stw_ms),
                        f"page-cache pressure beside GC, {where}",
                        f"{VMSCAN_EVENT} events per second (the tuning guide's §4 line-up) and each cycle's "
                        "STW; red: cycles after the threshold in the 5 s before. A correlation, not a cause."))
    if samples.height:
        out.append(_png(plot.perf_phases(samples), f"perf samples by GC phase, {where}",
                        "Samples by the GC phase they fell in, split by the GC work on the stack; top leaf "
                        "functions per phase."))
    placed = aligned.gc_settings.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
    if placed["snapshot_id"].drop_nulls().len():
        fig = plot.before_after(trace.gc, aligned.gc_settings, aligned.settings, source=source, run_id=run_id,
                                max_stw_ms=limits.max_stw_ms, max_gc_cpu_pct=limits.max_gc_cpu_pct,
                                exclude_forced=limits.exclude_forced)
        out.append(_png(fig, f"Before/after setting changes, {where}",
                        "STW pauses and GC CPU per settings epoch: a new epoch starts at the snapshot that "
                        "first saw a change."))
    return out


def _settings_section(trace: Trace, aligned: Aligned, limits: Limits) -> dict[str, Any] | None:
    """Snapshots taken, what changed when (in each run's seconds), and KPIs per settings epoch."""
    settings = aligned.settings
    if settings.is_empty():
        return None
    snapshots = settings.group_by("snapshot_id", maintain_order=True).agg(
        pl.col("snapshot_source").first().alias("source"), pl.col("captured_ts").first(), pl.col("host").first(),
        pl.col("pid").first(),
        pl.col("value").is_not_null().sum().alias("n_values"), pl.col("error").is_not_null().sum().alias("n_errors"))
    changes = settings_changes(settings)
    when = _change_times(aligned.gc_settings, changes)
    epochs = kpis_by_snapshot(trace.gc, aligned.gc_settings, settings, exclude_forced=limits.exclude_forced,
                              merge_unchanged=True)
    return {"snapshots": [_formatted(r) for r in snapshots.iter_rows(named=True)],
            "changes": [{**_formatted(r), "when": w} for r, w in zip(changes.iter_rows(named=True), when, strict=True)],
            "epochs": [{**_formatted(r), "what": _epoch_text(r)} for r in epochs.iter_rows(named=True)]}


def _change_times(gc_settings: pl.DataFrame, changes: pl.DataFrame) -> list[str]:
    """Each change's interval in the runs' seconds since runtime start: after the capture that
    last saw the old value, up to the one that first saw the new one."""
    basis = (gc_settings.drop_nulls("mono_ns").group_by("source", "run_id", maintain_order=True)
             .agg((pl.col("mono_ns") - (pl.col("t_s") * 1e9).round().cast(pl.Int64)).first().alias("mono0")))
    out = []
    for before, after in changes.select("after_mono_ns", "changed_by_mono_ns").iter_rows():
        spans = [f"{(before - mono0) / 1e9:.3f}–{(after - mono0) / 1e9:.3f} s (run {run_id})"
                 for _, run_id, mono0 in basis.iter_rows() if before is not None and after is not None]
        out.append("; ".join(spans))
    return out


def _epoch_text(row: dict[str, Any]) -> str:
    if row["snapshot_id"] is None:
        return "before the first snapshot (settings unknown)"
    if row["changes"]:
        return "; ".join(row["changes"])
    return "first snapshot" if row["changed"] is None else "unchanged"


def _alignment_rows(aligned: Aligned) -> list[dict[str, Any]]:
    """How each run was placed on each perf capture's clock, with the samples it labelled."""
    counts = aligned.perf_samples.group_by("perf_source", "source", "run_id").agg(
        pl.len().alias("samples"), pl.col("gc_work").is_in(["mark", "assist", "write_barrier"]).sum().alias("marks"))
    rows = aligned.alignment.join(counts, on=["perf_source", "source", "run_id"], how="left")
    return [_formatted(r) for r in rows.iter_rows(named=True)]


def _png(fig: Figure, alt: str, caption: str) -> dict[str, str]:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return {"png": base64.b64encode(buffer.getvalue()).decode(), "alt": alt, "caption": caption}


def _version() -> str:
    try:
        return version("gclens")
    except PackageNotFoundError:
        return "dev"
