"""Findings: rules, written as data, evaluated on the per-run KPIs.

Each rule names a KPI column, the limit it is compared with, and what to tell the reader.
A finding carries its evidence (the cycles that broke the limit) so that a CI log or a report
can point at the lines. Limits come from ``Limits`` (CLI flags or a TOML file).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Literal

import polars as pl

from gclens._errors import UsageError
from gclens._trace import Trace
from gclens.analysis._common import RUN
from gclens.analysis.heap import death_spiral
from gclens.analysis.kpis import run_kpis
from gclens.analysis.pauses import pauses_over

Severity = Literal["error", "warning", "info"]
GC_GUIDE = "https://go.dev/doc/gc-guide"


@dataclass(frozen=True)
class Limits:
    """Thresholds of `gclens check`; every field is also a CLI flag and a key of [check] in TOML."""

    max_stw_ms: float = 1.0
    max_gc_cpu_pct: float = 5.0
    window_s: float = 60.0
    short_window_s: float = 10.0
    cpu_quota: float | None = None
    max_live_growth_mib_per_min: float = 10.0
    max_runqueue_per_p: float = 4.0
    max_thread_growth: float = 10.0
    max_forced_cycles: float = 0.0
    max_goal_overshoots: float = 0.0
    include_forced: bool = False

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> Limits:
        """Read ``[check]`` from a TOML file; explicit overrides (CLI flags) win."""
        try:
            table = tomllib.loads(Path(path).read_text()).get("check", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{path}: cannot read limits ({exc})") from None
        known = {f.name for f in fields(cls)}
        unknown = set(table) - known
        if unknown:
            raise UsageError(f"{path}: unknown keys in [check]: {', '.join(sorted(unknown))}")
        return replace(cls(**table), **{k: v for k, v in overrides.items() if v is not None})


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
         "stop-the-world pause of {value:.3g} ms exceeds {limit:g} ms ({count} cycles over)",
         "Long sweep termination often means goroutines that do not reach a preemption point or "
         "CPU throttling (cgroup cpu.max); long mark termination, a large number of goroutines or "
         "Ps. Check GOMAXPROCS against the CPU quota.",
         "https://go.dev/doc/gc-guide#Latency"),
    Rule("gc-cpu", "error", "worst_window_pct", "max_gc_cpu_pct", "%",
         "GC used {value:.3g} % of CPU capacity over its worst {window:g} s window "
         "(limit {limit:g} %)",
         "Give the heap more room (raise GOGC, or GOMEMLIMIT with GOGC=off), or allocate less: "
         "GC CPU is proportional to allocation rate over heap headroom.",
         "https://go.dev/doc/gc-guide#Understanding_costs"),
    Rule("live-heap-growth", "warning", "live_slope_mib_per_min", "max_live_growth_mib_per_min",
         "MiB/min", "live heap grows {value:.3g} MiB/min (fit r2 {r2:.2f}): leak suspected",
         "Take heap profiles some minutes apart (pprof -base) to find what keeps growing.",
         "https://go.dev/doc/diagnostics#profiling"),
    Rule("runqueue-pressure", "warning", "local_runqueue_per_p_mean", "max_runqueue_per_p",
         "goroutines", "{value:.3g} runnable goroutines wait per P on average",
         "The process is CPU-bound: more CPU (cpu.max), fewer runnable goroutines, or check "
         "GOMAXPROCS against the cores actually available.",
         "https://pkg.go.dev/runtime#hdr-Environment_Variables"),
    Rule("forced-gc", "info", "forced_cycles", "max_forced_cycles", "cycles",
         "{value:.0f} forced cycles (runtime.GC / debug.FreeOSMemory), kept apart from the KPIs",
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
                    include_forced=limits.include_forced)


def evaluate(trace: Trace, limits: Limits = Limits(), *, kpis: pl.DataFrame | None = None) -> pl.DataFrame:
    """Every finding for every run of ``trace`` under ``limits``, worst first.

    ``kpis`` from ``kpis_under(trace, limits)`` saves computing them again.
    """
    kpis = kpis_under(trace, limits) if kpis is None else kpis
    rows: list[dict[str, Any]] = []
    growth = kpis.with_columns(thread_growth=pl.col("threads_max") / pl.col("threads_first"))
    for run in growth.iter_rows(named=True):
        rows.extend(_rule_findings(trace, run, limits))
    rows.extend(_special_findings(trace, limits, kpis))
    order = {"error": 0, "warning": 1, "info": 2}
    frame = pl.DataFrame(rows, schema=FINDINGS_SCHEMA)
    return frame.sort(pl.col("severity").replace_strict(order), "source", "run_id")


FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "rule": pl.String(), "severity": pl.String(), "source": pl.String(), "run_id": pl.Int32(),
    "value": pl.Float64(), "limit": pl.Float64(), "unit": pl.String(), "t_start_s": pl.Float64(),
    "t_end_s": pl.Float64(), "evidence_gc": pl.List(pl.Int64), "message": pl.String(),
    "remediation": pl.String(), "reference": pl.String(),
}


def _rule_findings(trace: Trace, run: dict[str, Any], limits: Limits) -> list[dict[str, Any]]:
    out = []
    for rule in RULES:
        value, limit = run.get(rule.kpi), getattr(limits, rule.limit)
        if value is None or limit is None or not value > limit:
            continue
        if rule.id == "live-heap-growth" and (run["live_trend_r2"] or 0) < 0.8:
            continue
        evidence, span = _evidence(trace, rule, run, limits)
        message = rule.message.format(value=value, limit=limit, count=len(evidence),
                                      window=limits.window_s, r2=run.get("live_trend_r2") or 0,
                                      overshoot=run.get("overshoot_max_mib") or 0)
        out.append(_finding(rule.id, rule.severity, run, value, limit, rule.unit, span, evidence,
                            message, rule.remediation, rule.reference))
    return out


def _evidence(trace: Trace, rule: Rule, run: dict[str, Any],
              limits: Limits) -> tuple[list[int], tuple[float | None, float | None]]:
    if rule.id == "stw-pause":
        over = pauses_over(_run_gc(trace, run), limits.max_stw_ms, include_forced=limits.include_forced)
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
    spiral = death_spiral(trace.gc, gc_cpu_pct=max(25.0, limits.max_gc_cpu_pct))
    for (source, run_id), rows in spiral.group_by(RUN, maintain_order=True):
        run = {"source": source, "run_id": run_id}
        ends = rows["t_end_s"].to_list()
        out.append(_finding(
            "memory-limit-death-spiral", "error", run, max(rows["gc_cpu_pct"].to_list()), 25.0,
            "%", (min(ends), max(ends)), rows["gc_num"].to_list(),
            "heap pinned at its goal while GC CPU climbs: the memory limit binds (golang/go#58106)",
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
    rejects = trace.rejects
    for (source,), rows in rejects.group_by(["source"], maintain_order=True):
        out.append(_finding(
            "rejected-lines", "warning", {"source": source, "run_id": None}, float(rows.height),
            0.0, "lines", (None, None), [], f"{rows.height} runtime-looking lines did not parse",
            "See the rejects table (line numbers and reasons).", ""))
    return out


def _finding(rule: str, severity: str, run: dict[str, Any], value: float, limit: float,
             unit: str, span: tuple[float | None, float | None], evidence: list[int],
             message: str, remediation: str, reference: str) -> dict[str, Any]:
    return {"rule": rule, "severity": severity, "source": run["source"], "run_id": run["run_id"],
            "value": value, "limit": limit, "unit": unit, "t_start_s": span[0],
            "t_end_s": span[1], "evidence_gc": evidence, "message": message,
            "remediation": remediation, "reference": reference}
