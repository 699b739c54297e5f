"""Compare two traces (before/after a change): KPI deltas and regressions."""

from __future__ import annotations

import math
from typing import Any

import polars as pl

from gclens.analysis._common import cycles
from gclens.analysis.gccpu import gc_cpu_per_cycle
from gclens.pipeline.trace import Trace

__all__ = ["KPIS", "diff_kpis", "trace_kpis"]

# KPI name → (unit, smallest change that counts, whatever the percentage)
KPIS: dict[str, tuple[str, float]] = {
    "stw_p50_ms": ("ms", 0.01), "stw_p99_ms": ("ms", 0.05), "stw_max_ms": ("ms", 0.1),
    "gc_cpu_pct": ("%", 0.5), "forced_gc_cpu_pct": ("%", 0.5), "gc_per_s": ("1/s", 0.1), "live_mean_mib": ("MiB", 1.0),
    "peak_heap_mib": ("MiB", 1.0),
}


def trace_kpis(trace: Trace, *, exclude_forced: bool = False) -> dict[str, float | None]:
    """Whole-trace KPIs (all runs together): pause percentiles, GC CPU, GC rate, heap.

    Pauses and GC CPU count every cycle unless ``exclude_forced``; ``forced_gc_cpu_pct`` is the
    forced cycles' part of capacity either way."""
    gc = cycles(trace.gc, exclude_forced=exclude_forced)
    per = gc_cpu_per_cycle(trace.gc, exclude_forced=exclude_forced).filter(
        pl.col("capacity_ms").is_not_null())
    stw = gc["stw_ms"]
    duration = float(per["interval_ms"].sum()) / 1000
    return {
        "stw_p50_ms": _quantile(stw, 0.5), "stw_p99_ms": _quantile(stw, 0.99),
        "stw_max_ms": _num(stw.max()),
        "gc_cpu_pct": _ratio_pct(per["gc_cpu_ms"].sum(), per["capacity_ms"].sum()),
        "forced_gc_cpu_pct": _ratio_pct(per["forced_gc_cpu_ms"].sum(), per["capacity_ms"].sum()),
        "gc_per_s": trace.gc.height / duration if duration else None,
        "live_mean_mib": _num(trace.gc["heap_live_mib"].mean()),
        "peak_heap_mib": _num(trace.gc["heap_end_mib"].max()),
    }


def diff_kpis(before: Trace, after: Trace, *, max_regression_pct: float = 10.0,
              exclude_forced: bool = False) -> pl.DataFrame:
    """One row per KPI: before, after, delta, delta_pct and ``regression`` (worse by more than
    ``max_regression_pct`` and by more than the KPI's noise floor). Lower is better for all."""
    a = trace_kpis(before, exclude_forced=exclude_forced)
    b = trace_kpis(after, exclude_forced=exclude_forced)
    rows: list[dict[str, Any]] = []
    for name, (unit, floor) in KPIS.items():
        x, y = a[name], b[name]
        delta = None if x is None or y is None else y - x
        pct = None if delta is None or not x else 100 * delta / x
        worse = delta is not None and delta > floor and (pct is None or pct > max_regression_pct)
        rows.append({"kpi": name, "unit": unit, "before": x, "after": y, "delta": delta,
                     "delta_pct": pct, "regression": worse})
    return pl.DataFrame(rows, schema={"kpi": pl.String, "unit": pl.String, "before": pl.Float64,
                                      "after": pl.Float64, "delta": pl.Float64,
                                      "delta_pct": pl.Float64, "regression": pl.Boolean})


def _ratio_pct(num: Any, den: Any) -> float | None:
    return 100 * float(num) / float(den) if den else None


def _quantile(series: pl.Series, q: float) -> float | None:
    if not series.len():
        return None
    return _num(series.sort()[max(0, math.ceil(q * series.len()) - 1)])


def _num(value: Any) -> float | None:
    return None if value is None else float(value)
