"""The steady state of one traced run, measured: which cycles count, and their figures as arrays.

``whatif.fit`` builds its model on these; ``whatif.observe`` reports them. Kept apart from the model
so what a run *did* is computed in one place, the same way for the fitted run and for the runs it
is checked against.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from gclens._errors import UsageError
from gclens.analysis._common import CYCLE_CPU_COLS, RUN, cycle_end_s

__all__ = [
    "ABSURD_GOAL",
    "Cycles",
    "arrays",
    "check_modelable",
    "gogc_seen",
    "observed",
    "one_run",
    "reachable",
    "slope",
    "steady",
    "theil_sen",
]

Cycles = dict[str, np.ndarray]
"""Per steady cycle: end_s, start, end, live, goal (NaN when unset), roots, cost, mark_ms, procs."""


MIN_LIVE_MIB = 2.0
SWING = 0.5
"""A run whose reachable heap's 10-90 % spread around its trend exceeds half its level is refused."""
GROWING = 0.25
ABSURD_GOAL = 64.0
"""A printed goal above 64x the live heap is the runtime's unset goal (seen as ~8e12 MB), not a goal."""


def theil_sen(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Robust slope (median of pairwise slopes) and the r2 of that line: one outlier cycle cannot tilt it."""
    i, j = np.triu_indices(len(x), 1)
    dx = x[j] - x[i]
    if not np.any(dx != 0):
        return 0.0, 0.0
    slope = float(np.median((y[j] - y[i])[dx != 0] / dx[dx != 0]))
    residual = y - (float(np.median(y - slope * x)) + slope * x)
    total = float(((y - y.mean()) ** 2).sum())
    return slope, (1 - float((residual ** 2).sum()) / total) if total else 0.0



def slope(t: np.ndarray, y: np.ndarray) -> float:
    """Theil-Sen trend of the reachable heap, MiB/s; zero unless it moves 10 % across the window."""
    slope, _ = theil_sen(t, y)
    span = abs(slope) * float(t[-1] - t[0])
    return slope if span >= 0.1 * max(float(np.median(y)), 1.0) else 0.0



def arrays(steady: pl.DataFrame) -> Cycles:
    """The steady cycles as arrays, heap sizes in MiB as printed (bytes>>20)."""
    def mib(col: str) -> np.ndarray:
        return steady[col].cast(pl.Float64).fill_null(0.0).to_numpy()

    live, goal = mib("heap_live_mib"), mib("heap_goal_mib")
    return {
        "end_s": steady["t_end_s"].to_numpy(), "start": mib("heap_start_mib"), "end": mib("heap_end_mib"),
        "live": live, "goal": np.where(goal > ABSURD_GOAL * np.maximum(live, 1), np.nan, goal),
        "roots": mib("stacks_mib") + mib("globals_mib"),
        "cost": steady["gc_cpu_ms"].to_numpy(), "mark_ms": steady["clock_mark_ms"].fill_null(0).to_numpy(),
        "procs": steady["procs"].to_numpy(),
    }



def check_modelable(c: Cycles) -> None:
    """Refuse runs the model cannot describe: a heap too small for MiB figures, or one that swings."""
    live = float(np.median(c["live"]))
    if live < MIN_LIVE_MIB:
        raise UsageError(f"the live heap is {live:.0f} MiB as printed (bytes>>20): too small for the gc line's "
                         f"MiB figures to carry a model (needs at least {MIN_LIVE_MIB:.0f} MiB)")
    reach = c["live"] - (c["end"] - c["start"])
    trend = slope(c["end_s"], reach)
    rest = reach - trend * (c["end_s"] - c["end_s"][0])
    spread = float(np.percentile(rest, 90) - np.percentile(rest, 10)) / max(float(np.median(reach)), 1.0)
    if spread > SWING:
        raise UsageError(f"the live heap swings ({np.min(c['live']):.0f}-{np.max(c['live']):.0f} MiB, "
                         f"{spread:.0%} beyond its trend): there is no steady state to model")



def gogc_seen(c: Cycles, new_goal: bool) -> float:
    """The GOGC the run's goals imply, median over cycles (goal_i from the previous cycle's mark)."""
    scanned = c["live"][:-1] + (c["roots"][:-1] if new_goal else 0.0)
    implied = 100 * (c["goal"][1:] - c["live"][:-1]) / np.maximum(scanned, 1e-9)
    implied = implied[np.isfinite(implied)]
    return float(np.median(implied)) if implied.size else 100.0



def observed(c: Cycles) -> dict[str, float]:
    ends = c["end_s"]
    capacity = float(np.sum(np.diff(ends) * 1000 * c["procs"][1:]))
    span = float(ends[-1] - ends[0])
    return {"gc_per_s": (len(ends) - 1) / span if span > 0 else 0.0,
            "gc_cpu_pct": 100 * float(np.sum(c["cost"][1:])) / capacity if capacity else 0.0,
            "peak_heap_mib": float(np.max(c["end"]))}



def one_run(gc: pl.DataFrame, source: str | None, run_id: int | None) -> pl.DataFrame:
    if gc.is_empty():
        raise UsageError("what-if needs gc lines (GODEBUG=gctrace=1)")
    first = gc.row(0, named=True)
    pick = (pl.col("source") == (source or first["source"])) & (
        pl.col("run_id") == (first["run_id"] if run_id is None else run_id))
    cpu = pl.sum_horizontal([pl.col(c).fill_null(0.0) for c in CYCLE_CPU_COLS])
    return gc.filter(pick).sort([*RUN, "gc_num"]).with_columns(t_end_s=cycle_end_s(), gc_cpu_ms=cpu)



def steady(run: pl.DataFrame) -> pl.DataFrame:
    """Cycles once the live heap has reached 90 % of its level in the second half of the run.

    A heap that keeps growing has no level to reach: when the second half's last quarter sits more
    than ``GROWING`` above its first, every cycle after the first tenth (start-up) counts, and the
    model follows the trend instead.
    """
    half = run.tail(max(run.height // 2, 1))
    level = float(half["heap_live_mib"].median() or 0)  # type: ignore[arg-type]
    quarter = max(half.height // 4, 1)
    first, last = (float(part["heap_live_mib"].median() or 0) for part in (half.head(quarter), half.tail(quarter)))  # type: ignore[arg-type]
    if level > 0 and last - first > GROWING * level:
        return run.slice(run.height // 10)
    reached = run.with_columns(ok=(pl.col("heap_live_mib") >= 0.9 * level).cum_max())
    return reached.filter(pl.col("ok")).drop("ok")


def reachable(c: Cycles) -> tuple[np.ndarray, float, float]:
    """Per cycle the reachable heap (marked less what the mark allocated, MiB), its Theil-Sen trend
    (MiB/s, zero when flat) and its level at the window's middle in time.

    The level is the cycles' mean moved along the trend from their mean time: a growing heap has
    more cycles while it is small, so the plain mean would sit early in the window.
    """
    reach = c["live"] - (c["end"] - c["start"])
    growth = slope(c["end_s"], reach)
    middle = (c["end_s"][0] + c["end_s"][-1]) / 2
    level = float(np.mean(reach[:-1]) + growth * (middle - np.mean(c["end_s"][:-1])))
    return reach, growth, level
