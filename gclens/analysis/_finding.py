"""The shape of a finding, shared by every set of rules (KPI rules, input rules, settings rules)."""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

Severity = Literal["error", "warning", "info"]
SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}

FINDINGS_SCHEMA: dict[str, pl.DataType] = {
    "rule": pl.String(), "severity": pl.String(), "source": pl.String(), "run_id": pl.Int32(),
    "value": pl.Float64(), "limit": pl.Float64(), "unit": pl.String(), "t_start_s": pl.Float64(),
    "t_end_s": pl.Float64(), "evidence_gc": pl.List(pl.Int64), "evidence_line": pl.Int64(),
    "evidence_text": pl.String(), "message": pl.String(), "remediation": pl.String(),
    "reference": pl.String(),
}
"""``evidence_gc`` lists the cycles that are the evidence; ``evidence_line`` and ``evidence_text``
point at one input line when a line is (a log cut inside a runtime line)."""


def finding(rule: str, severity: str, run: dict[str, Any], value: float, limit: float,
            unit: str, span: tuple[float | None, float | None], evidence: list[int],
            message: str, remediation: str, reference: str, *, line: int | None = None,
            text: str | None = None) -> dict[str, Any]:
    """One finding row (``FINDINGS_SCHEMA``)."""
    return {"rule": rule, "severity": severity, "source": run["source"], "run_id": run["run_id"],
            "value": value, "limit": limit, "unit": unit, "t_start_s": span[0],
            "t_end_s": span[1], "evidence_gc": evidence, "evidence_line": line,
            "evidence_text": text, "message": message, "remediation": remediation,
            "reference": reference}
