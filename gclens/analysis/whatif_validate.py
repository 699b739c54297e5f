"""Hold the what-if model to account: fit on each of several runs of one program, predict the others.

A user with runs of their service at a few GOGC values gets the same table the README shows for
the sample grid: for every (fitted run, predicted run) pair the observed and predicted cycles/s,
GC CPU and peak heap and their relative errors, so they can see how far the model can be trusted
for their program before acting on a recommendation.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from gclens._errors import UsageError
from gclens.analysis.whatif import fit, observe, predict

__all__ = ["MEASURES", "Run", "cross_validate"]

MEASURES = ("gc_per_s", "gc_cpu_pct", "peak_heap_mib")


@dataclass(frozen=True)
class Run:
    """One traced run and the settings it was made with (GOGC None: off)."""

    gc: pl.DataFrame
    gogc: float | None
    memlimit_mib: float | None = None
    label: str = ""


def cross_validate(runs: list[Run], *, cpu_bound: bool = False) -> pl.DataFrame:
    """One row per (fitted, predicted) pair, the fitted run's own prediction included.

    Runs the model refuses to fit (too few cycles, no steady state) appear only as predicted runs.
    Columns: fitted, fitted_gogc, predicted, gogc, memlimit_mib, extrapolated, and per measure
    ``observed_<m>``, ``predicted_<m>``, ``error_<m>`` (relative: predicted / observed - 1).
    """
    seen = {i: observe(r.gc) for i, r in enumerate(runs)}
    rows = []
    for i, base in enumerate(runs):
        try:
            model = fit(base.gc, gogc=base.gogc, memlimit_mib=base.memlimit_mib)
        except UsageError:
            continue
        for j, other in enumerate(runs):
            guess = predict(model, gogc=other.gogc, memlimit_mib=other.memlimit_mib, cpu_bound=cpu_bound)
            row: dict[str, object] = {"fitted": base.label or str(i), "fitted_gogc": base.gogc,
                                      "predicted": other.label or str(j), "gogc": other.gogc,
                                      "memlimit_mib": other.memlimit_mib, "extrapolated": guess["extrapolated"]}
            for m in MEASURES:
                observed, predicted = seen[j][m], guess[m]
                row |= {f"observed_{m}": observed, f"predicted_{m}": predicted,
                        f"error_{m}": (predicted / observed - 1) if observed and predicted is not None else None}
            rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)
