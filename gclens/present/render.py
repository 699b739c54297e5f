"""Turn analysis frames into text, JSON and JUnit XML: strings, so notebooks can use them too."""

from __future__ import annotations

import json
import math
from typing import TYPE_CHECKING, Any
from xml.etree import ElementTree as ET

import polars as pl

from gclens.analysis.evidence import NO_GC_LINES, verdict
from gclens.analysis.findings import RULES

if TYPE_CHECKING:
    from gclens.context.align import Aligned

__all__ = ["CONTEXT_KEYS", "Heuristic", "alignment_text", "context_text", "diff_json", "diff_text", "findings_json",
           "findings_junit", "findings_text", "summary_text", "verdict_text", "whatif_json", "whatif_text"]

_SUMMARY_KPIS = [
    ("cycles", "GC cycles counted", "{:.0f}"), ("gc_per_s", "GC cycles per second", "{:.2f}"),
    ("stw_p50_ms", "STW pause p50 (ms)", "{:.3f}"), ("stw_p99_ms", "STW pause p99 (ms)", "{:.3f}"),
    ("stw_max_ms", "STW pause max (ms)", "{:.3f}"),
    ("over_threshold", "pauses over the limit", "{:.0f}"),
    ("gc_cpu_pct", "GC CPU over the run (%)", "{:.2f}"),
    ("worst_window_pct", "GC CPU, worst window (%)", "{:.2f}"),
    ("worst_short_window_pct", "GC CPU, worst short window (%)", "{:.2f}"),
    ("forced_gc_cpu_pct", "GC CPU of forced cycles (%)", "{:.2f}"),
    ("forced_share_pct", "forced cycles' share of GC CPU (%)", "{:.1f}"),
    ("idle_mark_pct", "idle mark CPU (%, not GC cost)", "{:.2f}"),
    ("assist_share_pct", "assists' share of GC CPU (%)", "{:.1f}"),
    ("alloc_mib_per_s", "allocation rate (MiB/s)", "{:.1f}"),
    ("live_mean_mib", "live heap mean (MiB)", "{:.1f}"), ("peak_heap_mib", "peak heap (MiB)", "{:.0f}"),
    ("live_slope_mib_per_min", "live heap trend (MiB/min)", "{:+.2f}"),
    ("forced_cycles", "forced cycles", "{:.0f}"),
    ("global_runqueue_max", "global run queue max", "{:.0f}"),
    ("local_runqueue_per_p_mean", "local run queue per P, mean", "{:.2f}"),
    ("threads_max", "OS threads max", "{:.0f}"),
]


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def findings_json(findings: pl.DataFrame, kpis: pl.DataFrame) -> str:
    """Findings and per-run KPIs as one JSON document; ``verdict`` is pass, limit or no-evidence."""
    doc = {
        "ok": verdict(findings) == "pass",
        "verdict": verdict(findings),
        "findings": [{k: _clean(v) for k, v in row.items()} for row in findings.iter_rows(named=True)],
        "runs": [{k: _clean(v) for k, v in row.items()} for row in kpis.iter_rows(named=True)],
    }
    return json.dumps(doc, indent=2, default=str)


def findings_text(findings: pl.DataFrame) -> str:
    """One line per finding, worst first, then the verdict."""
    lines = []
    for f in findings.iter_rows(named=True):
        where = f"{f['source']}" + ("" if f["run_id"] is None else f" run {f['run_id']}")
        cycles = f" (gc {', '.join(map(str, f['evidence_gc'][:10]))})" if f["evidence_gc"] else ""
        lines.append(f"{f['severity'].upper():7} {f['rule']}: {where}: {f['message']}{cycles}")
    lines.append(f"gclens check: {verdict_text(findings)}")
    return "\n".join(lines)


def verdict_text(findings: pl.DataFrame) -> str:
    """The verdict in words: limits exceeded, sources without GC cycles, or all limits met."""
    errors = findings.filter(pl.col("severity") == "error")
    empty = int((errors["rule"] == NO_GC_LINES).sum())
    exceeded = errors.height - empty
    parts = [f"{exceeded} limit(s) exceeded"] if exceeded else []
    parts += [f"{empty} source(s) without GC cycles: no evidence, not a pass"] if empty else []
    return "; ".join(parts) or "all limits met"


def findings_junit(findings: pl.DataFrame, kpis: pl.DataFrame) -> str:
    """JUnit XML: one test case per run and rule; an error finding is a failure, a source without
    GC cycles an error (nothing could be checked)."""
    suite = ET.Element("testsuite", name="gclens check")
    by_key = {(f["rule"], f["source"], f["run_id"]): f for f in findings.iter_rows(named=True)}
    rules = [r.id for r in RULES] + sorted({r for r, _, _ in by_key} - {r.id for r in RULES})
    failures = errors = tests = 0
    for run in kpis.select("source", "run_id").iter_rows(named=True):
        for rule in rules:
            finding = by_key.pop((rule, run["source"], run["run_id"]), None)
            tests += 1
            failures += _testcase(suite, rule, run["source"], run["run_id"], finding) == "failure"
    for (rule, source, run_id), finding in by_key.items():  # findings about a whole source
        tests += 1
        outcome = _testcase(suite, rule, source, run_id, finding)
        failures += outcome == "failure"
        errors += outcome == "error"
    suite.set("tests", str(tests))
    suite.set("failures", str(failures))
    suite.set("errors", str(errors))
    return ET.tostring(suite, encoding="unicode", xml_declaration=True)


def _testcase(suite: ET.Element, rule: str, source: str, run_id: int | None,
              finding: dict[str, Any] | None) -> str:
    """Add one test case; say whether it passed, failed (a limit) or erred (no evidence)."""
    name = f"{rule} [{source}" + ("" if run_id is None else f" run {run_id}") + "]"
    case = ET.SubElement(suite, "testcase", classname=f"gclens.{rule}", name=name)
    if finding is None:
        return "pass"
    text = f"{finding['message']}\n{finding['remediation']}\n{finding['reference']}".strip()
    if finding["severity"] == "error":
        outcome = "error" if rule == NO_GC_LINES else "failure"
        ET.SubElement(case, outcome, message=finding["message"], type=rule).text = text
        return outcome
    ET.SubElement(case, "system-out").text = f"{finding['severity']}: {text}"
    return "pass"


def summary_text(kpis: pl.DataFrame, findings: pl.DataFrame, *, top: int = 5) -> str:
    """One screen per run: its KPIs, then its most severe findings."""
    blocks = []
    for run in kpis.iter_rows(named=True):
        head = f"== {run['source']} run {run['run_id']}"
        counted = "background only, forced excluded" if run.get("forced_excluded") else "every cycle, forced too"
        lines = [head, f"  {'pauses and GC CPU count':<34} {counted}"]
        for key, label, fmt in _SUMMARY_KPIS:
            value = run.get(key)
            if value is not None and not (isinstance(value, float) and math.isnan(value)):
                lines.append(f"  {label:<34} {fmt.format(value)}")
        mine = findings.filter((pl.col("source") == run["source"])
                               & (pl.col("run_id").is_null() | (pl.col("run_id") == run["run_id"])))
        for f in mine.head(top).iter_rows(named=True):
            lines.append(f"  {f['severity'].upper():7} {f['rule']}: {f['message']}")
        if mine.is_empty():
            lines.append("  no findings")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) if blocks else "no runs found"


def diff_text(diff: pl.DataFrame, *, exclude_forced: bool = False) -> str:
    """The KPI deltas as an aligned table, regressions marked, and which cycles were counted."""
    lines = [f"{'kpi':<17} {'before':>12} {'after':>12} {'delta %':>9}"]
    for row in diff.iter_rows(named=True):
        def show(v: float | None) -> str:
            return "-" if v is None else f"{v:.4g}"
        mark = "  REGRESSION" if row["regression"] else ""
        pct = "-" if row["delta_pct"] is None else f"{row['delta_pct']:+.1f}"
        lines.append(f"{row['kpi']:<17} {show(row['before']):>12} {show(row['after']):>12} {pct:>9}{mark}")
    lines.append("pauses and GC CPU: " + ("background cycles only (forced excluded)" if exclude_forced
                                          else "every cycle, forced ones too"))
    return "\n".join(lines)


def diff_json(diff: pl.DataFrame, *, exclude_forced: bool = False) -> str:
    rows = [{k: _clean(v) for k, v in row.items()} for row in diff.iter_rows(named=True)]
    return json.dumps({"regression": any(r["regression"] for r in rows), "forced_excluded": exclude_forced,
                       "kpis": rows}, indent=2)


Heuristic = tuple[Any, dict[str, Any]]
"""The tuning guide's adaptive GOGC (``analysis.guide_gogc.GuideGogc``) and the model's prediction for it."""


def whatif_json(model: Any, scenarios: list[dict[str, Any]], advice: dict[str, Any],
                heuristic: Heuristic | None = None) -> str:
    """The what-if as a JSON array: first the fitted run's own figures (``kind`` "observed"), then
    one object per scenario (the fit and advice repeated in each); with ``heuristic``, a last object
    of ``kind`` "guide_heuristic" holds it and its prediction."""
    fitted = {k: _clean(v) for k, v in vars(model).items() if k != "pacer"}
    fitted["pacer"] = {k: _clean(v) for k, v in vars(model.pacer).items()}
    observed = {"kind": "observed", "source": model.source, "run_id": model.run_id,
                "gogc": model.gogc_fitted, "gogc_observed": round(model.gogc_observed, 1), **model.observed}
    rows = [observed, *({"kind": "prediction", **{k: _clean(v) for k, v in s.items()}, "fit": fitted,
                         "recommendation": advice} for s in scenarios)]
    if heuristic is not None:
        value, predicted = heuristic
        rows.append({"kind": "guide_heuristic", "source": "the tuning guide, §3", **vars(value),
                     "prediction": {k: _clean(v) for k, v in predicted.items()}})
    return json.dumps(rows, indent=2, default=str)


def whatif_text(model: Any, scenarios: list[dict[str, Any]], advice: dict[str, Any],
                heuristic: Heuristic | None = None) -> str:
    """The fit, the fitted run's own figures, one line per scenario, the recommendation, and the
    guide's heuristic if asked."""
    seen = model.observed
    growth = (f", growing {model.reachable_growth_mib_per_s:.2f} MiB/s" if model.reachable_growth_mib_per_s else "")
    lines = [
        f"fitted on {model.source} run {model.run_id}: {model.cycles} steady cycles over {model.window_s:.1f} s, "
        f"GOMAXPROCS {model.procs:g}, allocation {model.alloc_mib_per_s:.1f} MiB/s, reachable heap "
        f"{model.reachable_mib:.0f} MiB{growth} + {model.mark_alloc_mib:.1f} MiB allocated per mark, roots "
        f"{model.roots_mib:.0f} MiB; goal {model.goal_formula}",
        f"cost per cycle: {model.cost_ms:.2f} CPU-ms ({model.cost_reason})",
        f"{'GOGC':>6} {'limit MiB':>10} {'GC/s':>8} {'GC CPU %':>9} {'range %':>13} {'peak MiB':>9} {'range MiB':>11}",
        f"{_fitted_gogc(model):>6} {'':>10} {seen['gc_per_s']:>8.2f} {seen['gc_cpu_pct']:>9.2f} "
        f"{'':>13} {seen['peak_heap_mib']:>9.0f} {'':>11}  <- observed (the fitted run)",
    ]
    for s in scenarios:
        low, high = s["gc_cpu_pct_range"]
        peak = "-" if s["peak_heap_mib"] is None else f"{s['peak_heap_mib']:.0f}"
        span = "-" if s.get("peak_heap_mib_range") is None else "{:.0f}-{:.0f}".format(*s["peak_heap_mib_range"])
        limit = "-" if s["memlimit_mib"] is None else f"{s['memlimit_mib']:.0f}"
        lines.append(f"{s['gogc']!s:>6} {limit:>10} {s['gc_per_s']:>8.2f} {s['gc_cpu_pct']:>9.2f} "
                     f"{low:>6.2f}-{high:<6.2f} {peak:>9} {span:>11}"
                     + ("  DEATH SPIRAL" if s.get("death_spiral") else ""))
        lines += [f"       ! {w}" for w in s["warnings"]]
    lines += [f"note: {w}" for w in model.warnings]
    if advice.get("gogc") is not None:
        low, high = advice["gc_cpu_pct_range"]
        lines.append(f"recommendation: GOGC={advice['gogc']}: GC CPU {advice['gc_cpu_pct']:.1f} % "
                     f"(range {low:.1f}-{high:.1f} %), peak heap {advice['peak_heap_mib']:.0f} MiB "
                     "(range {:.0f}-{:.0f} MiB); assumes {}".format(*advice["peak_heap_mib_range"], advice["assumes"]))
    else:
        lines.append(f"recommendation: none ({advice['reason']})")
    if heuristic is not None:
        lines += _heuristic_lines(*heuristic)
    return "\n".join(lines)


def _fitted_gogc(model: Any) -> str:
    """The fitted run's GOGC as given (``--run-gogc``), else ``~`` the one its goals imply."""
    if model.gogc_fitted is None:
        return "off"
    given = abs(model.gogc_fitted - model.gogc_observed) > 1e-9
    return f"{model.gogc_fitted:g}" if given else f"~{model.gogc_observed:.0f}"


def _heuristic_lines(value: Any, predicted: dict[str, Any]) -> list[str]:
    clamp = f", clamped at {value.clamped}" if value.clamped else ""
    peak = "-" if predicted["peak_heap_mib"] is None else f"{predicted['peak_heap_mib']:.0f} MiB"
    return [
        f"tuning guide heuristic (a rule of thumb, not a model): GOGC={value.gogc} for P95 "
        f"{value.rt_p95_ms:g} ms and live-heap growth {value.growth_per_s * 100:.2f} %/s "
        f"(base {value.base:.1f} - penalty {value.penalty:.1f}{clamp})",
        f"  the model at GOGC={value.gogc}: {predicted['gc_per_s']:.2f} GC/s, GC CPU "
        f"{predicted['gc_cpu_pct']:.2f} %, peak heap {peak}",
        *[f"  caveat: {c}" for c in value.caveats],
    ]


def alignment_text(aligned: Aligned) -> str:
    """What ``gclens align`` found: one line per run and perf source with its verdict, then the settings join."""
    lines = []
    for row in aligned.alignment.iter_rows(named=True):
        first, *rest = _alignment_line(row)
        lines += [f"run {row['source']}#{row['run_id']} ~ {first}", *rest]
    samples = aligned.perf_samples
    if samples.height:
        labelled = samples.filter(pl.col("gc_phase").is_not_null())
        lines.append(f"perf samples: {samples.height:,} read, "
                     f"{labelled.height:,} placed on a run's timeline (GC phase or none)")
    if aligned.settings.height:
        snapshots = aligned.settings["snapshot_id"].n_unique()
        placed = aligned.gc_settings.filter(pl.col("snapshot_id").is_not_null()).height
        lines.append(f"settings: {snapshots} snapshots, {aligned.settings.height:,} values; "
                     f"{placed:,} of {aligned.gc_settings.height:,} cycles matched to the snapshot in effect")
        timed = aligned.settings.unique("snapshot_id").group_by("time_source").len().sort("time_source")
        for how, count in timed.iter_rows():
            if how in ("mtime", "file name", "option", None):
                said = {"mtime": "the file's mtime (a copy changes it: give --snapshot-time or use gclens snapshot)",
                        "file name": "the time in the file name", "option": "--snapshot-time",
                        None: "nothing: no capture time, so never matched to a cycle"}[how]
                lines.append(f"  {count} snapshot(s) timed by {said}")
        for basis in aligned.gc_settings["time_basis"].drop_nulls().unique(maintain_order=True).to_list():
            if "boot" in basis:
                lines.append(f"  {basis}")
        from gclens.context.settings import settings_changes

        for change in settings_changes(aligned.settings).iter_rows(named=True):
            lines.append(f"  changed: {change['key']} {change['before']} -> {change['after']} "
                         f"(between {change['snapshot_before']} and {change['snapshot_after']})")
    if not lines:
        lines.append("nothing to align: give --perf and/or --snapshot")
    return "\n".join(lines)


CONTEXT_KEYS = ("GOGC", "GOMEMLIMIT", "GOMAXPROCS", "memory.max", "memory.high", "cpu.max", "cpu.cfs_quota_us",
                "memory.limit_in_bytes", "thp.enabled", "thp.defrag", "vm.overcommit_memory", "vm.swappiness")
"""Settings shown as 'in effect' beside a run: the ones the settings rules read first."""


def context_text(aligned: Aligned, settings_findings: pl.DataFrame | None = None) -> str:
    """What ``--perf`` and ``--snapshot`` added to a summary or check, per run: the alignment and its
    verdict, the GC share of the samples in each GC phase, the settings in effect and their findings."""
    blocks = []
    runs = aligned.gc_settings.select("source", "run_id").unique(maintain_order=True)
    if aligned.alignment.height:
        runs = pl.concat([runs, aligned.alignment.select("source", "run_id")]).unique(maintain_order=True)
    for source, run_id in runs.iter_rows():
        lines = [f"== {source} run {run_id}: what --perf/--snapshot added"]
        mine = aligned.alignment.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
        for row in mine.iter_rows(named=True):
            first, *rest = _alignment_line(row)
            lines += [f"  perf {first}", *("  " + line for line in rest)]
        lines += _phase_shares(aligned.perf_samples.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)))
        lines += _in_effect(aligned, source, run_id)
        if settings_findings is not None:
            found = settings_findings.filter((pl.col("source") == source)
                                             & (pl.col("run_id").is_null() | (pl.col("run_id") == run_id)))
            lines += [f"  settings {f['severity'].upper():7} {f['rule']}: {f['message']}"
                      for f in found.iter_rows(named=True)]
            if aligned.settings.height and found.is_empty():
                lines.append("  settings findings: none")
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _alignment_line(row: dict[str, Any]) -> list[str]:
    """A perf source's placement of a run, with its verdict; a warning line when it is ambiguous."""
    head = f"{row['perf_source']} " + (f"pid {row['pid']}" if row["pid"] is not None else "(every process)")
    if row["verdict"] == "failed":
        return [f"{head}: cannot align: {row['note']}"]
    score = "" if row["score"] is None else f", J {row['score']:.3f}"
    margin = "" if row["margin"] is None else f", margin {row['margin']:.3f}"
    pct = row["mark_in_window_pct"]
    inside = "" if pct is None else f", {pct:.1f} % of mark samples in mark"
    lines = [f"{head}: {row['verdict']}: t=0 at {row['offset_ns'] / 1e9:.6f} s {row['perf_clock']} "
             f"({row['method']}{score}{margin}{inside}; {row['mark_samples']} mark samples)"]
    if row["verdict"] == "ambiguous":
        lines.append(f"  warning: ambiguous alignment: {row['note'].rpartition('; ')[2]}; phases are labelled "
                     "but may be off by a GC period (record with -g, or narrow the search with a snapshot of "
                     "the process or --start)")
    return lines


def _phase_shares(samples: pl.DataFrame) -> list[str]:
    """Samples per GC phase and the share of them whose stack is GC work (reclaim events left out)."""
    from gclens.analysis.pressure import VMSCAN_EVENT

    samples = samples.filter(pl.col("event").ne_missing(VMSCAN_EVENT))
    if samples.is_empty():
        return []
    total = samples.height
    by = samples.group_by("gc_phase").agg(pl.len().alias("n"), pl.col("is_gc_stack").mean().alias("gc"))
    order = {"sweep_term": 0, "mark": 1, "mark_term": 2, "none": 3}
    parts = [f"{phase} {n:,} ({n / total * 100:.1f} %, GC work {gc * 100:.0f} %)" for phase, n, gc in
             sorted(by.iter_rows(), key=lambda r: order.get(r[0], 9))]
    share = samples["is_gc_stack"].sum() / total * 100
    return [f"  perf samples by GC phase: {', '.join(parts)}; GC work in {share:.1f} % of all {total:,}"]


def _in_effect(aligned: Aligned, source: str, run_id: int) -> list[str]:
    """The snapshot(s) joined to the run's cycles and their headline settings."""
    if aligned.settings.is_empty():
        return []
    cycles = aligned.gc_settings.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
    used = cycles["snapshot_id"].drop_nulls().unique(maintain_order=True).to_list()
    basis = cycles["time_basis"].drop_nulls()
    if not used:
        why = basis[0] if len(basis) else "the run has no clock shared with the snapshots (give --perf or --start)"
        return [f"  settings in effect: unknown, no snapshot matched ({why})"]
    first = aligned.settings.filter(pl.col("snapshot_id") == used[0])
    values = dict(first.filter(pl.col("key").is_in(CONTEXT_KEYS)).select("key", "value").iter_rows())
    shown = ", ".join(f"{k}={values[k]}" for k in CONTEXT_KEYS if values.get(k) is not None) or "no headline keys"
    matched = cycles["snapshot_id"].is_not_null().sum()
    lines = [f"  settings in effect: {shown} (snapshot {used[0]}; {len(used)} snapshot(s) cover "
             f"{matched} of {cycles.height} cycles)"]
    if len(used) > 1:
        from gclens.context.settings import settings_changes

        changes = settings_changes(aligned.settings.filter(pl.col("snapshot_id").is_in(used)))
        lines += [f"  changed during the run: {c['key']} {c['before']} -> {c['after']}"
                  for c in changes.iter_rows(named=True)]
    return lines
