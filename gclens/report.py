"""A self-contained HTML report: KPIs per run, findings with evidence, figures, inputs.

One file, figures embedded as PNG, no script and no network. Every string that came from a log
or a file name goes through Jinja2's autoescaping.
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
from gclens.analysis import Limits, evaluate, kpis_under

MAX_RUN_FIGURES = 6
MAX_REJECTS = 50
KPI_COLUMNS = [
    ("cycles", "GC cycles"), ("gc_per_s", "GC/s"), ("stw_p99_ms", "STW p99 (ms)"),
    ("stw_max_ms", "STW max (ms)"), ("over_threshold", "pauses over limit"),
    ("worst_window_pct", "GC CPU worst window (%)"), ("gc_cpu_pct", "GC CPU (%)"),
    ("peak_heap_mib", "peak heap (MiB)"), ("live_slope_mib_per_min", "live heap trend (MiB/min)"),
    ("threads_max", "threads max"),
]


def render_report(trace: Trace, *, limits: Limits | None = None, title: str | None = None) -> str:
    """The report as an HTML string (see ``gclens report``)."""
    limits = limits or Limits()
    kpis = kpis_under(trace, limits)
    findings = evaluate(trace, limits, kpis=kpis)
    env = jinja2.Environment(loader=jinja2.PackageLoader("gclens", "templates"),
                             autoescape=True, undefined=jinja2.StrictUndefined)
    sources = trace.frame("sources")
    return env.get_template("report.html.j2").render(
        title=title or ", ".join(sources["source"].to_list()[:3]) + (" ..." if sources.height > 3 else ""),
        generated=datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), version=_version(),
        schema_version=SCHEMA_VERSION, limits=limits, kpi_columns=KPI_COLUMNS,
        runs=[_formatted(row) for row in kpis.iter_rows(named=True)],
        errors=int((findings["severity"] == "error").sum()),
        findings=[{**f, "evidence": ", ".join(map(str, f["evidence_gc"][:20]))}
                  for f in findings.iter_rows(named=True)],
        figures=_figures(trace, limits), sources=sources.to_dicts(),
        rejects=trace.frame("rejects").head(MAX_REJECTS).to_dicts(),
    )


def _formatted(row: dict[str, Any]) -> dict[str, Any]:
    def show(value: Any) -> Any:
        if isinstance(value, float):
            return "" if math.isnan(value) else f"{value:.3g}"
        return "" if value is None else value
    return {key: show(value) for key, value in row.items()}


def _figures(trace: Trace, limits: Limits) -> list[dict[str, str]]:
    gc, sched = trace.frame("gc"), trace.frame("sched")
    out = []
    runs = gc.select("source", "run_id").unique(maintain_order=True).head(MAX_RUN_FIGURES)
    for source, run_id in runs.iter_rows():
        where = f"{source} run {run_id}"
        out.append(_png(plot.timeline(gc, source=source, run_id=run_id, max_stw_ms=limits.max_stw_ms,
                                      max_gc_cpu_pct=limits.max_gc_cpu_pct),
                        f"GC timeline of {where}", "Heap, STW pauses and windowed GC CPU over time."))
    if gc.height:
        out.append(_png(plot.pause_distribution(gc, max_stw_ms=limits.max_stw_ms),
                        "STW pause distribution", "All runs; forced cycles excluded."))
    summaries = sched.filter(pl.col("local_runqueues").is_not_null())
    for source, run_id in summaries.select("source", "run_id").unique(maintain_order=True).head(
            MAX_RUN_FIGURES).iter_rows():
        out.append(_png(plot.scheduler(sched, source=source, run_id=run_id),
                        f"Scheduler of {source} run {run_id}", "Global and per-P run queues."))
    return out


def _png(fig: Figure, alt: str, caption: str) -> dict[str, str]:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    return {"png": base64.b64encode(buffer.getvalue()).decode(), "alt": alt, "caption": caption}


def _version() -> str:
    try:
        return version("gclens")
    except PackageNotFoundError:
        return "dev"
