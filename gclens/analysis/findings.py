"""Findings: rules, written as data, evaluated on the per-run KPIs.

Each rule names a KPI column, the limit it is compared with, and what to tell the reader.
A finding carries its evidence (the cycles that broke the limit) so that a CI log or a report
can point at the lines. Limits come from ``Limits`` (CLI flags or a TOML file).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import polars as pl

from gclens.analysis._common import RUN
from gclens.analysis._finding import FINDINGS_SCHEMA, SEVERITY_ORDER, Severity
from gclens.analysis._finding import finding as _finding
from gclens.analysis.evidence import input_findings
from gclens.analysis.heap import death_spiral
from gclens.analysis.kpis import run_kpis
from gclens.analysis.limits import Limits
from gclens.analysis.pauses import pauses_over
from gclens.pipeline.trace import Trace

__all__ = ["FINDINGS_SCHEMA", "RULES", "Limits", "Rule", "evaluate", "kpis_under", "trend_span_is_enough"]
GC_GUIDE = "https://go.dev/doc/gc-guide"
SPIRAL_GC_CPU_PCT = 25.0
"""The GC's own mark-phase CPU goal: a spiral's GC CPU is above it (and above max_gc_cpu_pct)."""


@dataclass(frozen=True)
class Rule:
    """One check: the KPI it reads, the limit it compares with, and what it tells the reader."""

    id: str
    severity: Severity
    kpi: str
    limit: str
    unit: str
    message: str
    remediation: str
    reference: str = GC_GUIDE


RULES: tuple[Rule, ...] = (
    Rule("stw-pause", "error", "stw_max_ms", "max_stw_ms", "ms",
         "stop-the-world pause of {value:.3g} ms exceeds {limit:g} ms ({count} cycles over{forced_note})",
         "Long sweep termination often means goroutines that do not reach a preemption point or "
         "CPU throttling (cgroup cpu.max); long mark termination, a large number of goroutines or "
         "Ps. Check GOMAXPROCS against the CPU quota.",
         "https://go.dev/doc/gc-guide#Latency"),
    Rule("gc-cpu", "error", "worst_window_pct", "max_gc_cpu_pct", "%",
         "GC used {value:.3g} % of CPU capacity over its worst {window:g} s window "
         "(limit {limit:g} %{forced_note})",
         "Give the heap more room (raise GOGC, or GOMEMLIMIT with GOGC=off), or allocate less: "
         "GC CPU is proportional to allocation rate over heap headroom.",
         "https://go.dev/doc/gc-guide#Understanding_costs"),
    Rule("live-heap-growth", "warning", "live_slope_mib_per_min", "max_live_growth_mib_per_min",
         "MiB/min", "live heap grows {value:.3g} MiB/min over {span:.0f} s and {cycles} cycles "
         "(fit r2 {r2:.2f}): leak suspected",
         "Take heap profiles some minutes apart (pprof -base) to find what keeps growing.",
         "https://go.dev/doc/diagnostics#profiling"),
    Rule("runqueue-pressure", "warning", "local_runqueue_per_p_mean", "max_runqueue_per_p",
         "goroutines", "{value:.3g} runnable goroutines wait per P on average",
         "The process is CPU-bound: more CPU (cpu.max), fewer runnable goroutines, or check "
         "GOMAXPROCS against the cores actually available.",
         "https://pkg.go.dev/runtime#hdr-Environment_Variables"),
    Rule("forced-gc", "info", "forced_cycles", "max_forced_cycles", "cycles",
         "{value:.0f} forced cycles (runtime.GC / debug.FreeOSMemory){forced_note}",
         "Forced collections are rarely needed; each is a full cycle run on demand.",
         "https://pkg.go.dev/runtime#GC"),
    Rule("goal-overshoot", "info", "goal_overshoots", "max_goal_overshoots", "cycles",
         "the heap overshot its goal in {value:.0f} cycles (by up to {overshoot:.0f} MiB)",
         "Frequent overshoot means allocation outpaces marking; assists then slow the mutator.",
         "https://go.dev/doc/gc-guide#GOGC"),
    Rule("thread-growth", "warning", "thread_growth", "max_thread_growth", "x",
         "OS threads grew {value:.3g}x during the run",
         "Threads grow with blocking syscalls and cgo calls; watch kernel.threads-max, "
         "pids.max and debug.SetMaxThreads.",
         "https://pkg.go.dev/runtime/debug#SetMaxThreads"),
)


def kpis_under(trace: Trace, limits: Limits) -> pl.DataFrame:
    """The per-run KPIs computed the way ``limits`` asks (windows, quota, forced cycles)."""
    return run_kpis(trace, max_stw_ms=limits.max_stw_ms, window_s=limits.window_s,
                    short_window_s=limits.short_window_s, cpu_quota=limits.cpu_quota,
                    exclude_forced=limits.exclude_forced)


def evaluate(trace: Trace, limits: Limits | None = None, *, kpis: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every finding for every run of ``trace`` under ``limits``, worst first.

    ``kpis`` from ``kpis_under(trace, limits)`` saves computing them again. Findings about the
    input (a source without GC cycles, a log cut mid-line, rejected lines) come with them:
    ``gclens.analysis.evidence.verdict`` tells a limit exceeded from no evidence at all.
    """
    limits = limits or Limits()
    kpis = kpis_under(trace, limits) if kpis is None else kpis
    rows: list[dict[str, Any]] = []
    growth = kpis.with_columns(thread_growth=pl.col("threads_max") / pl.col("threads_first"))
    for run in growth.iter_rows(named=True):
        rows.extend(_rule_findings(trace, run, limits))
    rows.extend(_special_findings(trace, limits, kpis))
    rows.extend(input_findings(trace, allow_empty=limits.allow_empty))
    frame = pl.DataFrame(rows, schema=FINDINGS_SCHEMA)
    return frame.sort(pl.col("severity").replace_strict(SEVERITY_ORDER), "source", "run_id")


def _rule_findings(trace: Trace, run: dict[str, Any], limits: Limits) -> list[dict[str, Any]]:
    out = []
    for rule in RULES:
        value, limit = run.get(rule.kpi), getattr(limits, rule.limit)
        if value is None or limit is None or not value > limit:
            continue
        if rule.id == "live-heap-growth" and not _trend_is_evidence(run, limits):
            continue
        evidence, span = _evidence(trace, rule, run, limits)
        message = rule.message.format(
            value=value, limit=limit, count=len(evidence), window=limits.window_s,
            r2=run.get("live_trend_r2") or 0, span=run.get("live_trend_span_s") or 0,
            cycles=run.get("live_trend_cycles") or 0, overshoot=run.get("overshoot_max_mib") or 0,
            forced_note=_forced_note(trace, rule.id, run, limits, evidence))
        out.append(_finding(rule.id, rule.severity, run, value, limit, rule.unit, span, evidence,
                            message, rule.remediation, rule.reference))
    return out


def _trend_is_evidence(run: dict[str, Any], limits: Limits) -> bool:
    """A live-heap trend is a leak's evidence only when a line fits (r2 >= 0.8) over at least
    ``min_live_trend_span_s`` and ``min_live_trend_cycles`` of the run.

    Why 60 s and 20 cycles (the defaults), from real traces: heaps are built at start-up and
    swing with program phases, and a line through a few such cycles fits well. In the samples the
    heap is built within 0.2 s (16-23 cycles at GOGC=10, r2 near 1) and settles within 4 s; the
    churn program swings it 4 <-> 48 MiB every 4 s. In the users' corpus a start-up doubling the
    heap every cycle lasts 7 s and 10 cycles (golang/go#37116, 3 -> 1587 MiB), and a burst loads
    543 MiB in 0.1 s after 77 s of quiet (#42642, 10 cycles). Without these minimums, 8 of the 16
    corpus runs with gc lines (2-11 cycles over 0.009-7 s, r2 0.93-1.0) were called leaks. 60 s is
    eight times the longest start-up seen; 20 cycles twice the cycles of the longest start-up.
    """
    return (run.get("live_trend_r2") or 0) >= 0.8 and trend_span_is_enough(run, limits)


def trend_span_is_enough(run: dict[str, Any], limits: Limits) -> bool:
    """Whether a run's live-heap fit saw enough of it (``min_live_trend_span_s`` and
    ``min_live_trend_cycles``) for its MiB/min to mean anything: the report shows no trend
    for shorter runs, as the leak rule draws no conclusion from them."""
    return ((run.get("live_trend_span_s") or 0) >= limits.min_live_trend_span_s
            and (run.get("live_trend_cycles") or 0) >= limits.min_live_trend_cycles)


def _forced_note(trace: Trace, rule: str, run: dict[str, Any], limits: Limits, evidence: list[int]) -> str:
    """What a finding says about forced cycles: counted (and how many of the evidence) or not."""
    if rule == "stw-pause":
        forced = _run_gc(trace, run).filter(pl.col("forced") & pl.col("gc_num").is_in(evidence)).height
        note = f", {forced} of them forced" if forced else ""
        return note + ("; forced cycles excluded" if limits.exclude_forced else "")
    if rule == "gc-cpu":
        if limits.exclude_forced:
            return "; background cycles only: forced ones excluded"
        forced_pct = run.get("worst_window_forced_pct") or 0.0
        return f"; every cycle counted, forced ones {forced_pct:.2g} %" if forced_pct else "; every cycle counted"
    if rule == "forced-gc":
        pct, share = run.get("forced_gc_cpu_pct") or 0.0, run.get("forced_share_pct") or 0.0
        where = ("left out of GC CPU and pauses (exclude_forced)" if limits.exclude_forced
                 else "counted in GC CPU and pauses, as the runtime counts them")
        return f": {pct:.2g} % of CPU capacity, {share:.2g} % of GC CPU; {where}"
    return ""


def _evidence(trace: Trace, rule: Rule, run: dict[str, Any],
              limits: Limits) -> tuple[list[int], tuple[float | None, float | None]]:
    if rule.id == "stw-pause":
        over = pauses_over(_run_gc(trace, run), limits.max_stw_ms, exclude_forced=limits.exclude_forced)
        return over["gc_num"].to_list(), (over["t_s"].min(), over["t_s"].max())  # type: ignore[return-value]
    if rule.id == "gc-cpu":
        end = run["worst_window_end_s"]
        return [], (max(0.0, end - limits.window_s), end)
    return [], (None, run.get("t_last_s"))


def _run_gc(trace: Trace, run: dict[str, Any]) -> pl.DataFrame:
    return trace.gc.filter((pl.col("source") == run["source"]) & (pl.col("run_id") == run["run_id"]))


def _special_findings(trace: Trace, limits: Limits, kpis: pl.DataFrame) -> list[dict[str, Any]]:
    """Findings that are not one KPI against one limit."""
    out = []
    threshold = max(SPIRAL_GC_CPU_PCT, limits.max_gc_cpu_pct)
    spiral = death_spiral(trace.gc, gc_cpu_pct=threshold)
    for (source, run_id), rows in spiral.group_by(RUN, maintain_order=True):
        run = {"source": source, "run_id": run_id}
        ends = rows["t_end_s"].to_list()
        fills, headroom, rate = (float(rows[c].median()) for c in  # type: ignore[arg-type]
                                 ("live_over_goal", "goal_headroom", "cycles_per_s"))
        worst = float(rows["gc_cpu_pct"].max())  # type: ignore[arg-type]
        out.append(_finding(
            "memory-limit-death-spiral", "error", run, worst, threshold, "%", (min(ends), max(ends)),
            rows["gc_num"].to_list(),
            f"the live heap sits at the memory-limit goal (live/goal {fills:.2f}, goal {headroom:.2f}x the "
            f"last live heap) with {rate:.0f} GC cycles/s and up to {worst:.0f} % GC CPU: the memory limit "
            "binds (golang/go#58106)",
            "Raise GOMEMLIMIT or the container limit, or reduce the live heap; keep GOGC on so the "
            "limit is a backstop, not the pacer.", "https://go.dev/doc/gc-guide#Memory_limit"))
    mismatch = kpis.filter(pl.col("cum_pct_mismatches") > 0)
    for run in mismatch.iter_rows(named=True):
        out.append(_finding(
            "cumulative-pct-mismatch", "warning", run, float(run["cum_pct_mismatches"]), 0.0,
            "cycles", (None, None), [],
            "the printed cumulative GC % disagrees with its CPU fields: lines missing from the "
            "log, or a second Go runtime writing to the same stream",
            "Check the rejects table and the runs table.", ""))
    return out
