"""`check`: the one judgement of a trace, shared by ``gclens check``, ``summary``, ``report`` and ``run --check``.

Before it, the command line and the HTML report each concatenated the KPI findings with the
settings and pressure findings and sorted them, in two slightly different ways; now both call
this, so the findings a CI log shows, the ones the report lists and the exit code they lead to
cannot disagree.

>>> from gclens.analysis import check
>>> checked = check(trace, limits, aligned=aligned)  # doctest: +SKIP
>>> checked.verdict  # 'pass', 'limit' or 'no-evidence'  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

from gclens.analysis._finding import FINDINGS_SCHEMA, SEVERITY_ORDER
from gclens.analysis.evidence import Verdict, verdict
from gclens.analysis.findings import evaluate, kpis_under
from gclens.analysis.limits import Limits
from gclens.analysis.pressure import pressure_findings
from gclens.analysis.settings_rules import settings_findings

if TYPE_CHECKING:  # a type only: importing gclens.align would load the reader
    from gclens.context.align import Aligned
    from gclens.pipeline.trace import Trace

__all__ = ["Checked", "check"]


@dataclass(frozen=True)
class Checked:
    """The findings of a trace (worst first), its per-run KPIs, and what settings snapshots and perf
    samples added (also among ``findings``; empty without them)."""

    findings: pl.DataFrame
    kpis: pl.DataFrame
    context: pl.DataFrame

    @property
    def verdict(self) -> Verdict:
        """``limit``, ``no-evidence`` or ``pass``: what ``gclens check`` exits by (1, 4, 0)."""
        return verdict(self.findings)


def check(trace: Trace, limits: Limits | None = None, *, aligned: Aligned | None = None) -> Checked:
    """Judge ``trace`` under ``limits``: the KPI and input rules, then, given the output of
    ``gclens.align``, the settings rules and page-cache pressure, merged worst first."""
    limits = limits or Limits()
    kpis = kpis_under(trace, limits)
    findings = evaluate(trace, limits, kpis=kpis)
    if aligned is None:
        return Checked(findings, kpis, pl.DataFrame(schema=FINDINGS_SCHEMA))
    context = _worst_first(pl.concat([settings_findings(trace, aligned.settings, aligned.gc_settings, limits),
                                      pressure_findings(trace.gc, aligned.perf_samples, limits)]))
    return Checked(_worst_first(pl.concat([findings, context])), kpis, context)


def _worst_first(findings: pl.DataFrame) -> pl.DataFrame:
    """By severity, then source and run (findings about a whole source last); ties keep their order."""
    return findings.sort(pl.col("severity").replace_strict(SEVERITY_ORDER), "source", "run_id",
                         nulls_last=True, maintain_order=True)
