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
from gclens.analysis.whatif import fit, observe, predict, workload

__all__ = ["MEASURES", "Run", "cross_validate", "markdown", "worst_errors"]

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

    Each prediction is made at the predicted run's workload (``whatif.workload``: its reachable heap
    and steady window), which GOGC does not decide but a growing heap's run length does. Runs the
    model refuses to fit (too few cycles, no steady state) appear only as predicted runs.
    Columns: fitted, fitted_gogc, predicted, gogc, memlimit_mib, extrapolated, and per measure
    ``observed_<m>``, ``predicted_<m>``, ``error_<m>`` (relative: predicted / observed - 1).
    """
    seen = {i: observe(r.gc) for i, r in enumerate(runs)}
    loads = {i: workload(r.gc) for i, r in enumerate(runs)}
    rows = []
    for i, base in enumerate(runs):
        try:
            model = fit(base.gc, gogc=base.gogc, memlimit_mib=base.memlimit_mib)
        except UsageError:
            continue
        for j, other in enumerate(runs):
            guess = predict(model, gogc=other.gogc, memlimit_mib=other.memlimit_mib, cpu_bound=cpu_bound,
                            live_mib=None if i == j else loads[j][0], window_s=None if i == j else loads[j][1])
            row: dict[str, object] = {"fitted": base.label or str(i), "fitted_gogc": base.gogc,
                                      "predicted": other.label or str(j), "gogc": other.gogc,
                                      "memlimit_mib": other.memlimit_mib, "extrapolated": guess["extrapolated"]}
            for m in MEASURES:
                observed, predicted = seen[j][m], guess[m]
                row |= {f"observed_{m}": observed, f"predicted_{m}": predicted,
                        f"error_{m}": (predicted / observed - 1) if observed and predicted is not None else None}
            rows.append(row)
    return pl.DataFrame(rows, infer_schema_length=None)


def worst_errors(table: pl.DataFrame, *, gogc_range: tuple[float, float] = (50, 400)) -> dict[str, float]:
    """The largest relative error of each measure over pairs inside ``gogc_range`` that are not extrapolations."""
    inside = (pl.col("gogc").is_between(*gogc_range) & pl.col("fitted_gogc").is_between(*gogc_range)
              & ~pl.col("extrapolated"))
    judged = table.filter(inside)
    return {m: float(judged[f"error_{m}"].abs().max() or 0.0) for m in MEASURES}  # type: ignore[arg-type]


def markdown(tables: dict[str, pl.DataFrame], *, fitted_gogc: float = 100) -> str:
    """A Markdown table per (program, Go version): the run fitted at ``fitted_gogc`` predicting every
    run of its grid, observed / predicted and the error of each measure."""
    head = ("| program, Go | GOGC | cycles/s obs / pred | GC CPU % obs / pred | peak MiB obs / pred |\n"
            "|---|---|---|---|---|")
    lines = [head]
    for name, table in tables.items():
        rows = table.filter(pl.col("fitted_gogc") == fitted_gogc).sort(pl.col("gogc").fill_null(1e9))
        for r in rows.iter_rows(named=True):
            setting = "off" if r["gogc"] is None else f"{r['gogc']:g}"
            if r["memlimit_mib"] is not None:
                setting += f", limit {r['memlimit_mib']:g} MiB"
            if r["extrapolated"]:
                setting += " (extrapolated)"
            cells = [f"{r[f'observed_{m}']:.{d}f} / {r[f'predicted_{m}']:.{d}f} ({r[f'error_{m}']:+.0%})"
                     for m, d in zip(MEASURES, (2, 1, 0), strict=True)]
            lines.append(f"| {name} | {setting} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
