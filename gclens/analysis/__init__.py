"""Analyses over the parsed tables: pure functions from frames to frames.

Every function takes the Polars frames of a Trace (``trace.gc``, ``trace.sched``) and returns a
new frame; nothing here reads files or prints.
"""

from gclens.analysis.diff import diff_kpis, trace_kpis
from gclens.analysis.evidence import verdict
from gclens.analysis.findings import RULES, Rule, evaluate, kpis_under
from gclens.analysis.gccpu import gc_cpu_per_cycle, gc_cpu_stats, gc_cpu_windows
from gclens.analysis.guide_claims import rules_catalogue
from gclens.analysis.heap import death_spiral, heap_per_cycle, heap_stats, pacer_stats
from gclens.analysis.judge import Checked, check
from gclens.analysis.kpis import run_kpis
from gclens.analysis.limits import Limits
from gclens.analysis.pauses import pause_histogram, pause_stats, pauses_over
from gclens.analysis.pressure import pressure_before_cycles, pressure_findings, pressure_per_second
from gclens.analysis.scheduler import sched_stats
from gclens.analysis.whatif import fit, predict, recommend
from gclens.analysis.whatif_validate import cross_validate

__all__ = [
    "RULES",
    "Checked",
    "Limits",
    "Rule",
    "check",
    "cross_validate",
    "death_spiral",
    "diff_kpis",
    "evaluate",
    "fit",
    "gc_cpu_per_cycle",
    "gc_cpu_stats",
    "gc_cpu_windows",
    "heap_per_cycle",
    "heap_stats",
    "kpis_under",
    "pacer_stats",
    "pause_histogram",
    "pause_stats",
    "pauses_over",
    "predict",
    "pressure_before_cycles",
    "pressure_findings",
    "pressure_per_second",
    "recommend",
    "rules_catalogue",
    "run_kpis",
    "sched_stats",
    "trace_kpis",
    "verdict",
]
