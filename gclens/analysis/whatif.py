"""What-if: GC cycles/s, GC CPU and peak heap under other GOGC / GOMEMLIMIT values, from one run.

``fit`` measures one run's steady state (background cycles once the live heap has settled): the
allocation rate, the reachable heap and its trend, what is allocated during each mark, the mark's
duration and CPU (the gc line's CPU fields, idle workers left out as the runtime does), how far
past the goal the heap gets, and the goal formula of its Go release. ``predict`` runs the pacer's
steady state (``_pacer_model``) at another setting with those parameters; at the fitted run's own
setting it gives back that run's figures, which every output shows beside the predictions.

Uncertainty is structural, so it is given as a range: the cost per cycle has a part per MiB of
reachable heap (what the mark scans, fitted to the run) and a part per MiB of heap goal that one
run cannot separate from it (a prior measured on the sample grid, varied over its range).
``recommend`` promises only what the top of that range keeps, and refuses when the run cannot
support the promise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from gclens._errors import UsageError
from gclens._validate import size_mib
from gclens.analysis import _whatif_steady as _m
from gclens.analysis._pacer_model import MARK_CPU_PER_P, SPIRAL_SHARE, Pacer, gogc_goal, solve

__all__ = ["Fit", "fit", "observe", "parse_size_mib", "predict", "recommend", "steady_cycles", "workload"]

MIN_CYCLES = 8
GC_BOUND_PCT = 50.0
GC_CEILING_PCT = 50.0
"""Where the GC runs back to back it takes about half the CPU: 45-58 % in the GC-bound sample runs
(GOGC 10 and a memory limit at the live heap); the runtime's CPU limiter (go1.19+) caps it at 50 %
under a memory limit. Cycles/s is capped so that GC CPU stays under this (or under the fitted
run's own figure, when it was GC-bound)."""
BOUND_SHARE = 0.22
"""A mark allocation above 22 % of the runway means the trigger floor (30 %) set it."""
RUNWAY_SHARE = 0.28
"""W / (G - M) when the trigger floor binds: 0.25-0.29 in the bound sample runs (0.3 less overshoot)."""
EXTRAPOLATION = 4.0
"""Predictions beyond 4x (or under 1/4 of) the fitted GOGC are extrapolations: flagged, never recommended."""
HEAP_COST_MS_PER_MIB = 0.15
"""CPU-ms per cycle per MiB of heap goal, beside the cost per MiB of reachable heap: a cycle also
costs in proportion to the heap's size. The trace cannot separate the two (the goal moves with the
reachable heap), so this is a measured prior: 0.17-0.23 (go1.21, go1.25) and 0.08-0.10 (go1.27,
green tea) on both programs of the sample grid, GOMAXPROCS=2. The range spans 0 to twice it."""
HEAP_COST_RANGE = (0.0, 2 * HEAP_COST_MS_PER_MIB)
FEEDBACK_STEPS = 2
"""The mark's allocation lengthens the mark (its cost), which lets it allocate more: followed twice,
not to a fixed point, which need not exist (runaway at GOGC 400+ on a growing heap)."""
NONHEAP_SHARE = 0.15
"""Share of GOMEMLIMIT that is not heap goal when the fitted run cannot show it: 5 % (churn) to
27 % (growheap, free pages not yet returned) in the sample grid."""
POINTS = 8
"""A growing reachable heap is evaluated at this many points across the fitted window."""


@dataclass(frozen=True)
class Fit:
    """The model of one run, with the evidence behind each parameter and the run's own figures."""

    source: str
    run_id: int
    cycles: int
    window_s: float
    procs: float
    goal_formula: str
    gogc_observed: float
    gogc_fitted: float | None  # the GOGC the model is pinned at (given, else gogc_observed); None: off
    alloc_mib_per_s: float
    live_mib: float
    reachable_mib: float
    reachable_growth_mib_per_s: float
    roots_mib: float
    mark_alloc_mib: float
    mark_ms: float
    runway_bound: bool
    limit_bound: bool
    cost_ms: float
    cost_spread: tuple[float, float]
    cost_sums: tuple[float, float, float]  # over the cycles: CPU-ms, heap goal MiB, reachable + roots MiB
    cost_reason: str
    peak_overshoot: float
    observed: dict[str, float]
    pacer: Pacer
    warnings: list[str] = field(default_factory=list)


def fit(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None,
        gogc: float | None = None, memlimit_mib: float | None = None) -> Fit:
    """Fit the model on one run (the first one unless named). UsageError when it cannot.

    ``gogc`` and ``memlimit_mib``: the settings the run was made with, when known (the trace does
    not print them). With ``gogc`` the model is pinned to give back the run's figures at that
    value; without it, at the GOGC its goals imply (``gogc_observed``), which the gc line's MiB
    truncation blurs on small heaps. The limit tells how much of it is not heap, which a run the
    limit did not bind cannot show (5 % of the limit is assumed then).
    """
    every = _m.one_run(gc, source, run_id)
    steady = _m.steady(every.filter(~pl.col("forced")))
    if steady.height < MIN_CYCLES:
        raise UsageError(f"what-if needs at least {MIN_CYCLES} steady GC cycles; this run has "
                         f"{steady.height} (run it longer)")
    c = _m.arrays(steady)
    _m.check_modelable(c)
    new_goal = bool(steady["stacks_mib"].is_not_null().all())
    reach, growth, middle = _m.reachable(c)
    known = np.isfinite(c["goal"])
    goals = np.where(known, c["goal"], float(np.mean(c["goal"][known])) if known.any() else 0.0)
    why = _cost_reason(reach + c["roots"], goals, c["cost"])
    pacer, m = _pacer(c, new_goal, gogc, memlimit_mib, float(np.mean(c["cost"][1:])))
    # goals in the model's own terms (MiB rounding can put the printed ones a few % off the formula)
    sums = (float(np.sum(c["cost"][1:])), float(np.sum(goals[1:])) * m["goal"] / m["seen_goal"],
            float(np.sum((reach + c["roots"])[1:])))
    model = Fit(
        source=every["source"][0], run_id=int(every["run_id"][0]), cycles=steady.height, window_s=m["window"],
        procs=round(m["procs"], 2), goal_formula="go1.18+: M + (M + stacks + globals) x GOGC/100" if new_goal
        else "before go1.18: M x (1 + GOGC/100)", gogc_observed=m["gogc_seen"],
        gogc_fitted=None if m["limit_sets_goal"] else m["pinned"], alloc_mib_per_s=m["alloc"],
        live_mib=m["marked"], reachable_mib=middle, reachable_growth_mib_per_s=growth,
        roots_mib=m["roots"], mark_alloc_mib=m["w0"], mark_ms=m["mark_ms"], runway_bound=m["bound"],
        limit_bound=m["limit_bound"], cost_ms=m["cost"],
        cost_spread=_spread(c["cost"] / np.maximum(reach + c["roots"], 1e-9) * (middle + m["roots"])),
        cost_sums=sums, cost_reason=why,
        peak_overshoot=1.0, observed=_m.observed(c), pacer=pacer,
        warnings=_fit_warnings(every, steady, m["limit_bound"]),
    )
    # the highest goal across the window, as predict computes it, against the run's own peak
    top = _scenario(model, None if m["limit_sets_goal"] else m["pinned"],
                    memlimit_mib if m["limit_bound"] or m["limit_sets_goal"] else None,
                    (model.reachable_mib, model.window_s), False, heap_cost=HEAP_COST_MS_PER_MIB)
    return replace(model, peak_overshoot=model.observed["peak_heap_mib"] / max(top["heap_goal_mib"], 1e-9))


def _pacer(c: _m.Cycles, new_goal: bool, gogc: float | None, memlimit: float | None,
           cost: float) -> tuple[Pacer, dict[str, Any]]:
    """The pacer's parameters from the run's means, and the means themselves.

    Indexes pair each cycle with the previous one's mark: cycle i allocates from the previous
    mark's end (live_i-1) to its own mark's end (end_i), so the means close on the run's figures.
    """
    window = float(c["end_s"][-1] - c["end_s"][0])
    m: dict[str, Any] = {
        "window": window, "alloc": float(np.sum(c["end"][1:] - c["live"][:-1])) / window,
        "w0": float(np.mean(c["end"][:-1] - c["start"][:-1])), "marked": float(np.mean(c["live"][:-1])),
        "roots": float(np.mean(c["roots"])), "gogc_seen": _m.gogc_seen(c, new_goal),
        "cost": cost, "mark_ms": float(np.mean(c["mark_ms"][:-1])),
        "procs": float(np.sum(np.diff(c["end_s"]) * c["procs"][1:])) / window,  # time-weighted GOMAXPROCS
    }
    goals = c["goal"][1:][np.isfinite(c["goal"][1:])]
    seen_goal = float(np.mean(goals)) if goals.size else m["marked"]
    w0, marked, procs, alloc, mark_ms = m["w0"], m["marked"], m["procs"], m["alloc"], m["mark_ms"]
    m["limit_bound"] = limit_bound = seen_goal - marked <= SPIRAL_SHARE * marked
    m["pinned"] = pinned = gogc if gogc is not None else m["gogc_seen"]
    formula = gogc_goal(marked, m["roots"], pinned, new_goal=new_goal)
    # the run's limit set its goal: GOGC off, or goals under what GOGC would give
    m["limit_sets_goal"] = limit_sets = memlimit is not None and (gogc is None or seen_goal < 0.95 * formula)
    goal = seen_goal if limit_bound or limit_sets else formula
    m["goal"], m["seen_goal"] = goal, seen_goal
    runway0 = goal - marked
    m["bound"] = bound = limit_bound or w0 >= BOUND_SHARE * runway0
    rho = w0 / (alloc * mark_ms / 1000) if mark_ms > 0 and alloc > 0 else 1.0
    u = MARK_CPU_PER_P if bound or mark_ms <= 0 else m["cost"] / (mark_ms * procs)
    free = rho * alloc * m["cost"] / (u * procs * 1000)
    nonheap = memlimit - goal if memlimit is not None and (limit_bound or limit_sets) else (
        NONHEAP_SHARE * memlimit if memlimit is not None else 0.0)
    pacer = Pacer(new_goal=new_goal, roots_mib=m["roots"], procs=procs, mark_alloc_share=rho, mark_cpu_per_p=u,
                  runway_share=w0 / runway0 if bound and not limit_bound else RUNWAY_SHARE,
                  free_scale=max(1.0, w0 / free) if bound and not limit_bound else (w0 / free if free > 0 else 1.0),
                  overshoot=float(np.mean(c["end"][1:])) / goal, nonheap_mib=max(nonheap, m["roots"]))
    return pacer, m


def predict(model: Fit, *, gogc: float | None, memlimit_mib: float | None = None,
            live_mib: float | None = None, window_s: float | None = None, cpu_bound: bool = False) -> dict[str, Any]:
    """One scenario: GOGC (None for off) and an optional memory limit, in MiB.

    ``live_mib`` replaces the fitted reachable heap (its level mid-period), ``window_s`` the fitted
    run's length (a growing heap spans growth x window around that level). ``cpu_bound``: the
    program allocates as fast as its CPU allows (a batch job, a benchmark), so GC CPU taken from it
    slows its allocation:
    A' = A x (1 - f') / (1 - f). Otherwise the allocation rate is the fitted run's (a service
    serving a given load), as in the GC guide.
    """
    out: dict[str, Any] = {"gogc": "off" if gogc is None else gogc, "memlimit_mib": memlimit_mib,
                           "warnings": [], "observed": model.observed}
    if gogc is None and memlimit_mib is None:
        out.update(gc_per_s=0.0, gc_cpu_pct=0.0, gc_cpu_pct_range=(0.0, 0.0), gc_per_s_range=(0.0, 0.0),
                   peak_heap_mib=None, peak_heap_mib_range=None, heap_goal_mib=math.inf,
                   memory_limit_binds=False, death_spiral=False, extrapolated=False)
        out["warnings"].append("GOGC=off without a memory limit: the heap grows without bound")
        return out
    span = (model.reachable_mib if live_mib is None else live_mib, model.window_s if window_s is None else window_s)
    point = _scenario(model, gogc, memlimit_mib, span, cpu_bound, heap_cost=HEAP_COST_MS_PER_MIB)
    ends = [_scenario(model, gogc, memlimit_mib, span, cpu_bound, heap_cost=h) for h in HEAP_COST_RANGE]
    pairs = {k: (min(e[k] for e in (point, *ends)), max(e[k] for e in (point, *ends)))
             for k in ("gc_per_s", "gc_cpu_pct", "peak_heap_mib")}
    base = model.gogc_fitted
    ratio = gogc / base if gogc is not None and base else 1.0
    extrapolated = not 1 / EXTRAPOLATION <= ratio <= EXTRAPOLATION
    out.update(point, gc_per_s_range=pairs["gc_per_s"], gc_cpu_pct_range=pairs["gc_cpu_pct"],
               peak_heap_mib_range=pairs["peak_heap_mib"], extrapolated=extrapolated)
    if extrapolated:
        out["warnings"].append(f"GOGC={gogc:g} is {ratio:.1f}x the fitted GOGC ({base:g}): "
                               "an extrapolation, outside what the run can vouch for")
    if point["death_spiral"]:
        out["warnings"].append("the memory limit leaves no room above the live heap: GC would run "
                               "back to back (death spiral)")
    elif point["gc_cpu_pct"] > GC_BOUND_PCT:
        out["warnings"].append(f"over {GC_BOUND_PCT:.0f} % GC CPU the program is GC-bound: assists and "
                               "the scheduler change its behaviour and this model overestimates")
    return out


def recommend(model: Fit, *, target_gc_cpu_pct: float, cpu_bound: bool = False) -> dict[str, Any]:
    """The smallest GOGC (least heap) whose whole predicted GC CPU range stays under the target.

    Refused when the fitted run's cost per cycle is too scattered to promise anything, or when
    the answer would lie beyond ``EXTRAPOLATION`` x the fitted GOGC.
    """
    if model.limit_bound or model.observed["gc_cpu_pct"] > GC_BOUND_PCT:
        return {"gogc": None, "reason": "the fitted run is GC-bound (a memory limit at its live heap or over "
                                        f"{GC_BOUND_PCT:.0f} % GC CPU): fit a run with room to breathe"}
    low, high = model.cost_spread
    if model.cost_ms <= 0 or (high - low) > model.cost_ms:
        return {"gogc": None, "reason": f"the cost per cycle is too scattered (IQR {low:.1f}-{high:.1f} ms around "
                                        f"{model.cost_ms:.1f} ms) to promise a GC CPU"}
    fitted = model.gogc_fitted or model.gogc_observed
    for gogc in (*range(10, 100, 5), *range(100, 400, 25), *range(400, 2001, 100)):
        if gogc > fitted * EXTRAPOLATION:
            far = fitted * EXTRAPOLATION
            edge = predict(model, gogc=far, cpu_bound=cpu_bound)["gc_cpu_pct"]
            return {"gogc": None, "reason": f"GC CPU under {target_gc_cpu_pct:g} % needs a GOGC more than "
                                            f"{EXTRAPOLATION:g}x the fitted ~{fitted:.0f} (at {far:.0f} the model "
                                            f"predicts {edge:.1f} %): measure a run there first"}
        s = predict(model, gogc=gogc, cpu_bound=cpu_bound)
        if s["gc_cpu_pct_range"][1] > target_gc_cpu_pct or s["extrapolated"]:
            continue
        return {"gogc": gogc, "gc_cpu_pct": s["gc_cpu_pct"], "gc_cpu_pct_range": s["gc_cpu_pct_range"],
                "peak_heap_mib": s["peak_heap_mib"], "peak_heap_mib_range": s["peak_heap_mib_range"],
                "assumes": "the allocation rate and reachable heap of the fitted run; the range spans the "
                           f"heap-size cost from {HEAP_COST_RANGE[0]:g} to {HEAP_COST_RANGE[1]:g} CPU-ms per MiB"}
    return {"gogc": None, "reason": f"no GOGC up to 2000 keeps GC CPU under {target_gc_cpu_pct} %"}


def observe(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None) -> dict[str, float]:
    """What a run actually did in its steady state: GC cycles/s, GC CPU % and peak heap (MiB).

    The same quantities ``predict`` gives, measured, for comparing a prediction with a real run.
    """
    steady = _m.steady(_m.one_run(gc, source, run_id).filter(~pl.col("forced")))
    if steady.height < 2:
        raise UsageError("a steady state needs at least 2 GC cycles")
    return _m.observed(_m.arrays(steady))


def workload(gc: pl.DataFrame, *, source: str | None = None, run_id: int | None = None) -> tuple[float, float]:
    """The run's steady reachable heap (marked heap less what the mark allocated, MiB, mean) and
    the length of its steady window (s).

    The reachable heap is the workload's live data, not something GOGC decides (60-62 MiB at every
    GOGC of the churn grid); a growing heap's depends on how long the run lasted. ``predict`` at
    another run's workload uses both (``live_mib``, ``window_s``).
    """
    c = _m.arrays(_m.steady(_m.one_run(gc, source, run_id).filter(~pl.col("forced"))))
    return _m.reachable(c)[2], float(c["end_s"][-1] - c["end_s"][0])


def steady_cycles(gc: pl.DataFrame, model: Fit) -> pl.DataFrame:
    """The background cycles of the fitted run once its live heap has settled (what ``fit`` used)."""
    return _m.steady(_m.one_run(gc, model.source, model.run_id).filter(~pl.col("forced")))


def parse_size_mib(text: str) -> float:
    """`512MiB`, `2GiB`, `1.5G`, `800M` or a plain number of MiB (more than zero)."""
    try:
        return size_mib(text)
    except ValueError as exc:
        raise UsageError(str(exc)) from None


def _scenario(model: Fit, gogc: float | None, memlimit: float | None, span: tuple[float, float], cpu_bound: bool,
              *, heap_cost: float) -> dict[str, Any]:
    """The pacer's state at ``POINTS`` points of the reachable heap's trend across the fitted window."""
    base, window = span
    offsets = (np.arange(POINTS) + 0.5) / POINTS - 0.5
    reach = [max(base + model.reachable_growth_mib_per_s * window * o, 0.0) for o in offsets]
    seen = model.observed["gc_cpu_pct"] / 100
    ceiling = max(GC_CEILING_PCT, model.observed["gc_cpu_pct"])  # a GC-bound fitted run shows its own
    fraction = seen
    for _ in range(30 if cpu_bound else 1):
        alloc = model.alloc_mib_per_s * (1 - fraction) / max(1 - seen, 0.05) if cpu_bound else model.alloc_mib_per_s
        states, rates, cpus = [], [], []
        for r in reach:
            state, cost = _state_with_cost(model, r, alloc, gogc, memlimit, heap_cost)
            rate = alloc / state.alloc_per_cycle_mib if math.isfinite(state.alloc_per_cycle_mib) else 0.0
            # GC-bound: assists and the CPU limiter keep GC near half the CPU, so cycles cannot come faster
            rate = min(rate, ceiling / 100 * model.pacer.procs * 1000 / cost) if cost > 0 else rate
            states.append(state)
            rates.append(rate)
            cpus.append(min(100 * rate * cost / (model.pacer.procs * 1000), 100.0))
        new = float(np.mean(cpus)) / 100
        if abs(new - fraction) < 1e-5:
            break
        fraction = 0.5 * (fraction + new)
    top = max(states, key=lambda s: s.goal_mib)
    return {"gc_per_s": float(np.mean(rates)), "gc_cpu_pct": float(np.mean(cpus)), "heap_goal_mib": top.goal_mib,
            "peak_heap_mib": top.goal_mib * model.peak_overshoot, "memory_limit_binds": any(s.limited for s in states),
            "death_spiral": any(s.spiral for s in states), "runway_bound": any(s.runway_bound for s in states)}


def _state_with_cost(model: Fit, reachable: float, alloc: float, gogc: float | None, memlimit: float | None,
                     heap_cost: float) -> tuple[Any, float]:
    """Solve the state; the cost per cycle depends on the goal it finds (and the mark's duration on
    the cost), so follow that ``FEEDBACK_STEPS`` times."""
    w, cost = model.mark_alloc_mib, model.cost_ms
    for _ in range(FEEDBACK_STEPS):
        state = solve(model.pacer, reachable=reachable, alloc=alloc, cost_ms=cost, gogc=gogc, memlimit=memlimit,
                      mark_alloc_guess=w)
        w, cost = state.mark_alloc_mib, _cost(model, state.goal_mib, reachable, heap_cost)
    return state, cost


def _cost(model: Fit, goal: float, reachable: float, heap_cost: float) -> float:
    """CPU-ms per cycle: per MiB of reachable heap + roots (what the mark scans, the GC guide's
    model) plus ``heap_cost`` per MiB of heap goal; the first part is fitted so that the run's own
    cycles add up to its measured GC CPU."""
    total, goals, scanned = model.cost_sums
    heap_cost = min(heap_cost, 0.5 * total / goals) if goals > 0 else 0.0  # never more than half the run's cost
    per_mib = (total - heap_cost * goals) / scanned if scanned > 0 else 0.0
    return float(per_mib * (reachable + model.roots_mib) + heap_cost * (goal if math.isfinite(goal) else 0.0))


def _cost_reason(scanned: np.ndarray, goals: np.ndarray, cost: np.ndarray) -> str:
    """Which cost model, and what the run itself says about it."""
    total = float(((cost - cost.mean()) ** 2).sum())
    design = np.column_stack([scanned, goals])
    fitted, *_ = np.linalg.lstsq(design, cost, rcond=None)
    r2 = 1 - float(((cost - design @ fitted) ** 2).sum()) / total if total else 0.0
    moving = _m.slope(np.arange(len(scanned), dtype=float), scanned) != 0.0
    said = (f"the reachable heap moves in this run and the two terms explain its cycles' cost (r2 {r2:.2f})"
            if moving else "the reachable heap is steady in this run, so at its own heap the measured cost is used")
    return (f"per MiB of reachable heap + roots, plus {HEAP_COST_MS_PER_MIB} CPU-ms per MiB of heap goal "
            f"(a prior measured on the sample grid, range {HEAP_COST_RANGE[0]:g}-{HEAP_COST_RANGE[1]:g}); {said}")


def _spread(values: np.ndarray) -> tuple[float, float]:
    return float(np.percentile(values, 25)), float(np.percentile(values, 75))


def _fit_warnings(every: pl.DataFrame, steady: pl.DataFrame, limit_bound: bool) -> list[str]:
    warnings = []
    forced = int(every["forced"].sum())
    if forced:  # GOGC does not decide when runtime.GC() runs: the model is the pacer's cycles
        warnings.append(f"{forced} forced cycles (runtime.GC / debug.FreeOSMemory) are left out of the fit: "
                        "GOGC does not change them; their CPU comes on top of every prediction")
    if limit_bound:
        warnings.append("the heap goal sits at the live heap: a memory limit set this run's goal, so its GOGC "
                        "is unknown (give the limit with --run-memlimit for limit scenarios)")
    elif steady.filter(pl.col("heap_goal_mib") > _m.ABSURD_GOAL * pl.col("heap_live_mib").clip(lower_bound=1)).height:
        warnings.append("some cycles print an unset heap goal (more than 64x the live heap): left out of the goal")
    return warnings


