"""The tuning guide's adaptive GOGC heuristic, exactly as the guide states it, with its flaws named.

The guide gclens grew from (shared/tuning-guide.md §3) sets GOGC every second from the service's
P95 response time ``rt_p95`` (ms) and the heap's growth rate ``g``::

    base    = 80 + 20 · ln(1 + rt_p95 / 50)
    penalty = max(0, 40 · (g − 0.05))
    GOGC    = trunc(min(200, max(30, base − penalty)))

It is a heuristic with no model of cost, so gclens shows its value beside the what-if model's
prediction for that value. A trace has no request latency: ``rt_p95`` is the user's. ``g`` is
read here as the guide's code comment reads it, a fraction per second (0.05 = 5 %/s), taken from
the trend of the live heap after each cycle (the heap's saw-tooth has no growth rate of its own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import polars as pl

from gclens.analysis.heap import heap_stats

__all__ = ["CAVEATS", "GUIDE", "GuideGogc", "guide_gogc", "live_growth_per_s"]

GUIDE = "the tuning guide, §3 (adaptive GOGC)"
CAVEATS = (
    "the guide says RT 50 ms adds +20 to GOGC; its formula gives +13.9 (RT 200 ms: +32.2, as it says)",
    "the guide's unit of heap growth is inconsistent (text: %/s; code comment: a fraction per second, "
    "0.05 = 5 %/s; table: 0.08 %/s); gclens uses the code's fraction per second",
    "with no heap growth the value lies in [80, 200]: the floor of 30 is reached only through the penalty",
    "the heuristic has no cost model: it cannot say what GC CPU or peak heap its value leads to "
    "(the what-if line beside it does)",
)


@dataclass(frozen=True)
class GuideGogc:
    """The heuristic's value and its parts, for one response time and growth rate."""

    rt_p95_ms: float
    growth_per_s: float
    base: float
    penalty: float
    gogc: int
    clamped: str | None  # "200" or "30" when a clamp decided the value
    caveats: tuple[str, ...] = field(default=CAVEATS)


def guide_gogc(rt_p95_ms: float, growth_per_s: float) -> GuideGogc:
    """The guide's GOGC for a P95 response time (ms) and a heap growth rate (fraction per second)."""
    if not rt_p95_ms >= 0 or not math.isfinite(rt_p95_ms):
        raise ValueError(f"rt_p95_ms must be a finite number >= 0, got {rt_p95_ms!r}")
    base = 80 + 20 * math.log(1 + rt_p95_ms / 50)
    penalty = max(0.0, 40 * (growth_per_s - 0.05))
    raw = base - penalty
    clamped = "200" if raw > 200 else "30" if raw < 30 else None
    return GuideGogc(rt_p95_ms, growth_per_s, base, penalty, math.trunc(min(200.0, max(30.0, raw))), clamped)


def live_growth_per_s(gc: pl.DataFrame) -> float:
    """The live heap's growth as a fraction per second: ``heap_stats``' trend of the live heap
    after each cycle over the mean live heap (0 for fewer than two cycles or a flat heap)."""
    if gc.height < 2:
        return 0.0
    slope, mean = heap_stats(gc).select("live_slope_mib_per_min", "live_mean_mib").row(0)
    if slope is None or mean is None or mean <= 0 or not math.isfinite(slope):
        return 0.0
    return float(slope / 60 / mean)
