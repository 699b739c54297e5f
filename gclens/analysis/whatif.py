"""What-if: GC cycles, GC CPU and peak heap under other GOGC / GOMEMLIMIT values, from one run.

The model is the Go GC guide's (go.dev/doc/gc-guide, "Understanding costs"), fitted per run
on its steady state (cycles once the live heap has settled):

* allocation rate A (MiB/s): allocated during each cycle's mark (heap_end - heap_start) plus
  between cycles (next heap_start - heap_live), over the time between cycle starts;
* live heap L and scannable roots R (stacks + globals, go1.18+), MiB;
* GC CPU per cycle: measured (median over steady cycles) at the run's live heap; a robust
  Theil-Sen line F + c x (L + R) over every cycle (the growth phase gives the spread) splits it
  into a fixed and a scan-proportional part, and c moves the cost to another live heap;
* heap goal G = L x (1 + GOGC/100) (at least 4 MiB x GOGC/100), capped by GOMEMLIMIT minus the
  roots; each cycle lets the heap grow by G - L, so cycles/s = A / (G - L);
* GC CPU % = cycles/s x cost per cycle / (GOMAXPROCS x 1000 ms) x 100; the runtime's CPU limiter
  caps GC at about 50 % when the memory limit binds;
* peak heap = G (plus the overshoot seen in the run).

When G - L vanishes (a memory limit at or below the live heap) the GC runs back to back: the
death spiral (golang/go#58106). Heap sizes are the gc line's MB (bytes >> 20, truncated), so the
model cannot see below 1 MiB; a run with fewer than ``MIN_CYCLES`` steady cycles is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from gclens._errors import UsageError
from gclens._validate import size_mib
from gclens.analysis._common import CYCLE_CPU_COLS, RUN, cycle_end_s

MIN_CYCLES = 8
GC_BOUND_PCT = 50.0
GC_CPU_LIMITER_PCT = 50.0
HEAP_MINIMUM_MIB = 4.0


@dataclass(frozen=True)
class Fit:
    """The model of one run, with the evidence behind each parameter."""

    source: str
    run_id: int
    cycles: int
    procs: int
    gogc_observed: float
    alloc_mib_per_s: float
    alloc_spread: tuple[float, float]
    live_mib: float
    roots_mib: float
    fixed_ms: float
    per_mib_ms: float
    cost_ms: float
    cost_spread: tuple[float, float]
    r2: float
    overshoot: float
    observed_gc_cpu_pct: float
    warnings: list[str] = field(default_factory=list)


def fit(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None) -> Fit:
    """Fit the model on one run (the first one unless named). UsageError when it cannot."""
    every = _one_run(gc, source, run_id)
    run = every.filter(~pl.col("forced"))
    steady = _steady(run)
    if steady.height < MIN_CYCLES:
        raise UsageError(f"what-if needs at least {MIN_CYCLES} steady GC cycles; this run has "
                         f"{steady.height} (run it longer)")
    periods = _periods(steady)
    live = float(steady["heap_live_mib"].median())  # type: ignore[arg-type]
    roots = float(steady.select(pl.col("stacks_mib").fill_null(0) + pl.col("globals_mib").fill_null(0))
                  .to_series().median())  # type: ignore[arg-type]
    fixed, per_mib, r2 = _theil_sen(run)
    costs = steady["gc_cpu_ms"].to_numpy()
    warnings = []
    forced = every.height - run.height
    if forced:  # GOGC does not decide when runtime.GC() runs: the model is the pacer's cycles
        warnings.append(f"{forced} forced cycles (runtime.GC / debug.FreeOSMemory) are left out of the fit: "
                        "GOGC does not change them; their CPU comes on top of every prediction")
    if r2 < 0.5:
        warnings.append(f"GC CPU per cycle is poorly explained by the scanned heap (r2 {r2:.2f}): "
                        "predictions use the measured cost per cycle")
    goal_ratio = float((steady["heap_goal_mib"] / steady["heap_live_mib"].clip(lower_bound=1)).median())  # type: ignore[arg-type]
    return Fit(
        source=run["source"][0], run_id=int(run["run_id"][0]), cycles=steady.height,
        procs=int(steady["procs"].median()),  # type: ignore[arg-type]
        gogc_observed=100 * (goal_ratio - 1), alloc_mib_per_s=float(np.median(periods)),
        alloc_spread=(float(np.percentile(periods, 25)), float(np.percentile(periods, 75))),
        live_mib=live, roots_mib=roots, fixed_ms=fixed, per_mib_ms=per_mib,
        cost_ms=float(np.median(costs)),
        cost_spread=(float(np.percentile(costs, 25)), float(np.percentile(costs, 75))), r2=r2,
        overshoot=float((steady["heap_end_mib"] / steady["heap_goal_mib"].clip(lower_bound=1)).median()),  # type: ignore[arg-type]
        observed_gc_cpu_pct=_steady_gc_cpu(steady), warnings=warnings,
    )


def predict(model: Fit, *, gogc: float | None, memlimit_mib: float | None = None,
            live_mib: float | None = None, cpu_bound: bool = False) -> dict[str, Any]:
    """One scenario: GOGC (None for off) and an optional memory limit, in MiB.

    ``cpu_bound``: the program allocates as fast as its CPU allows (a batch job, a benchmark),
    so GC CPU taken from it slows its allocation: A' = A x (1 - f') / (1 - f), solved for the
    scenario's GC CPU fraction f'. Otherwise the allocation rate is the fitted run's (a service
    serving a given load), as in the GC guide.
    """
    live = model.live_mib if live_mib is None else live_mib
    goal = math.inf if gogc is None else max(live * (1 + gogc / 100), HEAP_MINIMUM_MIB * gogc / 100)
    limited = False
    if memlimit_mib is not None and memlimit_mib - model.roots_mib < goal:
        goal, limited = memlimit_mib - model.roots_mib, True
    out: dict[str, Any] = {"gogc": "off" if gogc is None else gogc, "memlimit_mib": memlimit_mib,
                           "memory_limit_binds": limited, "heap_goal_mib": goal, "warnings": []}
    runway = goal - live
    if math.isinf(goal):
        out.update(gc_per_s=0.0, gc_cpu_pct=0.0, gc_cpu_pct_range=(0.0, 0.0), peak_heap_mib=None,
                   death_spiral=False)
        out["warnings"].append("GOGC=off without a memory limit: the heap grows without bound")
        return out
    # the measured cost per cycle at the run's live heap; the fitted slope only moves it to another
    slope = model.per_mib_ms if model.r2 >= 0.5 else 0.0
    cost = max(model.cost_ms + slope * (live - model.live_mib), 0.0)
    spiral = runway <= 0.05 * live
    rates = [model.alloc_spread[0], model.alloc_mib_per_s, model.alloc_spread[1]]
    costs = [model.cost_spread[0] * cost / model.cost_ms, cost, model.cost_spread[1] * cost / model.cost_ms]
    seen = model.observed_gc_cpu_pct / 100 if cpu_bound else None
    pcts = [_gc_cpu(rate, c, runway, model.procs, limited, seen) for rate, c in zip(rates, costs, strict=True)]
    # cycles follow from the GC CPU: each costs `cost` CPU-ms out of GOMAXPROCS x 1000 per second
    gc_per_s = pcts[1] / 100 * model.procs * 1000 / cost if cost else 0.0
    out.update(gc_per_s=gc_per_s, gc_cpu_pct=pcts[1], gc_cpu_pct_range=(min(pcts), max(pcts)),
               peak_heap_mib=max(goal, live) * model.overshoot, death_spiral=spiral)
    if spiral:
        out["warnings"].append("the memory limit leaves no room above the live heap: GC would run "
                               "back to back (death spiral)")
    elif pcts[1] > GC_BOUND_PCT:
        out["warnings"].append(f"over {GC_BOUND_PCT:.0f} % GC CPU the program is GC-bound: assists and "
                               "the scheduler change its behaviour and this model overestimates")
    return out


def _gc_cpu(rate: float, cost_ms: float, runway: float, procs: int, limited: bool,
            seen_fraction: float | None) -> float:
    """GC CPU % for an allocation rate, a cost per cycle and a runway (goal - live), in MiB.

    With ``seen_fraction`` (cpu-bound), the rate scales with the mutator's CPU share:
    f = k (1 - f) with k = cost x rate / ((1 - seen) x runway x capacity), so f = k / (1 + k).
    """
    if runway <= 0:
        return GC_CPU_LIMITER_PCT if limited else 100.0
    k = rate / runway * cost_ms / (procs * 1000)
    if seen_fraction is not None:
        k /= max(1 - seen_fraction, 0.05)
        k = k / (1 + k)
    pct = 100 * min(k, 1.0)
    return min(pct, GC_CPU_LIMITER_PCT) if limited else pct


def recommend(model: Fit, *, target_gc_cpu_pct: float) -> dict[str, Any]:
    """The smallest GOGC (least heap) whose predicted GC CPU stays under the target."""
    for gogc in (*range(10, 100, 5), *range(100, 400, 25), *range(400, 2001, 100)):
        scenario = predict(model, gogc=gogc)
        if scenario["gc_cpu_pct"] <= target_gc_cpu_pct:
            return {"gogc": gogc, "gc_cpu_pct": scenario["gc_cpu_pct"],
                    "peak_heap_mib": scenario["peak_heap_mib"],
                    "assumes": "the allocation rate and live heap of the fitted run"}
    return {"gogc": None, "reason": f"no GOGC up to 2000 keeps GC CPU under {target_gc_cpu_pct} %"}


def steady_cycles(gc: pl.DataFrame, model: Fit) -> pl.DataFrame:
    """The background cycles of the fitted run once its live heap has settled (what ``fit`` used)."""
    return _steady(_one_run(gc, model.source, model.run_id).filter(~pl.col("forced")))


def _one_run(gc: pl.DataFrame, source: str | None, run_id: int | None) -> pl.DataFrame:
    if gc.is_empty():
        raise UsageError("what-if needs gc lines (GODEBUG=gctrace=1)")
    first = gc.row(0, named=True)
    pick = (pl.col("source") == (source or first["source"])) & (
        pl.col("run_id") == (first["run_id"] if run_id is None else run_id))
    cpu = pl.sum_horizontal([pl.col(c).fill_null(0.0) for c in CYCLE_CPU_COLS])
    return gc.filter(pick).sort([*RUN, "gc_num"]).with_columns(t_end_s=cycle_end_s(), gc_cpu_ms=cpu)


def _steady(run: pl.DataFrame) -> pl.DataFrame:
    """Cycles once the live heap has reached 90 % of its level in the second half of the run."""
    half = run.tail(max(run.height // 2, 1))
    level = float(half["heap_live_mib"].median() or 0)  # type: ignore[arg-type]
    reached = run.with_columns(ok=(pl.col("heap_live_mib") >= 0.9 * level).cum_max())
    return reached.filter(pl.col("ok")).drop("ok")


def _steady_gc_cpu(steady: pl.DataFrame) -> float:
    ends = steady["t_end_s"].to_numpy()
    capacity = float(np.sum(np.diff(ends) * 1000 * steady["procs"].to_numpy()[1:]))
    return 100 * float(steady["gc_cpu_ms"][1:].sum()) / capacity if capacity else 0.0


def _periods(steady: pl.DataFrame) -> np.ndarray:
    """Allocation rate between consecutive cycle starts, MiB/s."""
    s = steady
    allocated = (s["heap_end_mib"] - s["heap_start_mib"])[:-1].to_numpy() + (
        s["heap_start_mib"][1:].to_numpy() - s["heap_live_mib"][:-1].to_numpy())
    dt = np.diff(s["t_s"].to_numpy())
    ok = dt > 0
    return np.asarray(allocated[ok] / dt[ok], dtype=float)


def _theil_sen(run: pl.DataFrame) -> tuple[float, float, float]:
    """Robust line GC CPU (ms) = fixed + per_mib x scanned MiB, and its r2."""
    x = run.select(pl.col("heap_live_mib") + pl.col("stacks_mib").fill_null(0)
                   + pl.col("globals_mib").fill_null(0)).to_series().to_numpy().astype(float)
    y = run["gc_cpu_ms"].to_numpy().astype(float)
    i, j = np.triu_indices(len(x), 1)
    dx = x[j] - x[i]
    slopes = (y[j] - y[i])[dx != 0] / dx[dx != 0]
    if slopes.size == 0:
        return float(np.median(y)), 0.0, 0.0
    slope = float(np.median(slopes))
    intercept = float(np.median(y - slope * x))
    residual = y - (intercept + slope * x)
    total = float(((y - y.mean()) ** 2).sum())
    return intercept, slope, 1 - float((residual ** 2).sum()) / total if total else 0.0


def parse_size_mib(text: str) -> float:
    """`512MiB`, `2GiB`, `1.5G`, `800M` or a plain number of MiB (more than zero)."""
    try:
        return size_mib(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def observe(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None) -> dict[str, float]:
    """What a run actually did in its steady state: GC cycles/s, GC CPU % and peak heap (MiB).

    The same quantities ``predict`` gives, measured, for comparing a prediction with a real run.
    """
    steady = _steady(_one_run(gc, source, run_id).filter(~pl.col("forced")))
    if steady.height < 2:
        raise UsageError("a steady state needs at least 2 GC cycles")
    ends = steady["t_end_s"].to_numpy()
    return {"gc_per_s": (steady.height - 1) / float(ends[-1] - ends[0]),
            "gc_cpu_pct": _steady_gc_cpu(steady),
            "peak_heap_mib": float(steady["heap_end_mib"].max())}  # type: ignore[arg-type]
