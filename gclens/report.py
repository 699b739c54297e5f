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
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

import jinja2
import polars as pl
from matplotlib.figure import Figure

from gclens import plot
from gclens._schemas import SCHEMA_VERSION
from gclens._trace import Trace
from gclens.align import Aligned
from gclens.analysis import Limits, evaluate, kpis_under
from gclens.analysis.segments import kpis_by_snapshot
from gclens.analysis.settings_rules import settings_findings
from gclens.render import verdict_text
from gclens.settings import settings_changes

MAX_RUN_FIGURES = 6
MAX_REJECTS = 50
KPI_COLUMNS = [
    ("cycles", "GC cycles"), ("gc_per_s", "GC/s"), ("stw_p99_ms", "STW p99 (ms)"),
    ("stw_max_ms", "STW max (ms)"), ("over_threshold", "pauses over limit"),
    ("worst_window_pct", "GC CPU worst window (%)"), ("gc_cpu_pct", "GC CPU (%)"),
    ("peak_heap_mib", "peak heap (MiB)"), ("live_slope_mib_per_min", "live heap trend (MiB/min)"),
    ("threads_max", "threads max"),
]


SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}


def render_report(trace: Trace, *, limits: Limits | None = None, title: str | None = None,
                  aligned: Aligned | None = None) -> str:
    """The report as an HTML string (see ``gclens report``); ``aligned`` adds settings and perf."""
    return report_with_findings(trace, limits=limits, title=title, aligned=aligned)[0]


def report_with_findings(trace: Trace, *, limits: Limits | None = None, title: str | None = None,
                         aligned: Aligned | None = None) -> tuple[str, pl.DataFrame]:
    """The report and the findings it shows: ``gclens report`` exits by them as check does."""
    limits = limits or Limits()
    kpis = kpis_under(trace, limits)
    findings = evaluate(trace, limits, kpis=kpis)
    if aligned is not None and aligned.settings.height:
        extra = settings_findings(trace, aligned.settings, aligned.gc_settings, limits)
        findings = pl.concat([findings, extra]).sort(pl.col("severity").replace_strict(SEVERITY_ORDER),
                                                     "source", "run_id", maintain_order=True)
    env = jinja2.Environment(loader=jinja2.PackageLoader("gclens", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    sources = trace.frame("sources")
    html = env.get_template("report.html.j2").render(
        title=title or ", ".join(sources["source"].to_list()[:3]) + (" ..." if sources.height > 3 else ""),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), version=_version(),
        schema_version=SCHEMA_VERSION, limits=limits, kpi_columns=KPI_COLUMNS,
        runs=[_formatted(row) for row in kpis.iter_rows(named=True)],
        errors=int((findings["severity"] == "error").sum()), verdict=verdict_text(findings),
        findings=[{**f, "evidence": ", ".join(map(str, f["evidence_gc"][:20]))}
                  for f in findings.iter_rows(named=True)],
        figures=_figures(trace, limits, aligned), sources=sources.to_dicts(),
        rejects=trace.frame("rejects").head(MAX_REJECTS).to_dicts(),
        settings=_settings_section(trace, aligned, limits) if aligned is not None else None,
        alignment=_alignment_rows(aligned) if aligned is not None and (
            aligned.alignment.height or aligned.perf_samples.height) else None,
    )
    return html, findings


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


def _figures(trace: Trace, limits: Limits, aligned: Aligned | None = None) -> list[dict[str, str]]:
    gc, sched = trace.frame("gc"), trace.frame("sched")
    out = []
    runs = gc.select("source", "run_id").unique(maintain_order=True).head(MAX_RUN_FIGURES)
    for source, run_id in runs.iter_rows():
        where = f"{source} run {run_id}"
        markers = plot.setting_markers(aligned, source=source, run_id=run_id) if aligned is not None else []
        caption = "Heap, STW pauses and windowed GC CPU over time."
        if markers:
            caption += " Dotted lines: the snapshot that first saw a setting change (it happened before)."
        out.append(_png(plot.timeline(gc, source=source, run_id=run_id, max_stw_ms=limits.max_stw_ms,
                                      max_gc_cpu_pct=limits.max_gc_cpu_pct, markers=markers),
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
                        f"Scheduler of {source} run {run_id}", "Global and per-P run queues."))
    return out


def _aligned_figures(trace: Trace, aligned: Aligned, limits: Limits, source: str,
                     run_id: int) -> list[dict[str, str]]:
    """perf samples by phase and the before/after comparison of one run, when there is data."""
    out = []
    where = f"{source} run {run_id}"
    samples = aligned.perf_samples.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
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
