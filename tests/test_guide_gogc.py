"""The tuning guide's adaptive GOGC (shared/tuning-guide.md §3), exactly as the guide states it."""

from __future__ import annotations

import json
import math
import re

import polars as pl
import pytest

import gclens
from conftest import SAMPLES, run
from gclens.analysis.guide_gogc import CAVEATS, guide_gogc, live_growth_per_s
from gclens.analysis.whatif import fit, predict, steady_cycles

RUN = SAMPLES / "go1.21" / "whatif-gogc100.stderr"


@pytest.mark.parametrize(("rt", "growth", "gogc", "clamped"), [
    (0, 0.0, 80, None),  # base 80, no penalty
    (50, 0.0, 93, None),  # 80 + 20 ln 2 = 93.86
    (200, 0.0, 112, None),  # 80 + 20 ln 5 = 112.19
    (200, 0.05, 112, None),  # the penalty starts above 5 %/s
    (200, 0.55, 92, None),  # 112.19 - 40 * 0.5 = 92.19
    (1e6, 0.0, 200, "200"),  # the upper clamp
    (50, 5.0, 30, "30"),  # 5 = 500 %/s: 93.86 - 198 < 30
])
def test_the_formula_as_the_guide_writes_it(rt: float, growth: float, gogc: int, clamped: str | None) -> None:
    value = guide_gogc(rt, growth)
    assert (value.gogc, value.clamped) == (gogc, clamped)
    assert value.base == pytest.approx(80 + 20 * math.log(1 + rt / 50))


def test_the_caveats_state_what_the_formula_gives() -> None:
    """The guide's comment says RT 50 ms adds +20 and RT 200 ms +32: the caveat's figures are the
    formula's own, and with no growth the value never leaves [80, 200]."""
    added = {rt: guide_gogc(rt, 0).base - 80 for rt in (50, 200)}
    numbers = [float(x) for x in re.findall(r"\+([0-9.]+)", CAVEATS[0])]
    assert numbers == [20, round(added[50], 1), round(added[200], 1)]
    assert all(80 <= guide_gogc(rt, 0).gogc <= 200 for rt in (0, 1, 50, 150, 1e4, 1e9))


def test_growth_is_the_live_heap_trend_as_a_fraction_per_second() -> None:
    real = gclens.read_trace(RUN).gc
    gc = real.head(4).with_columns(t_s=pl.Series([0.0, 1.0, 2.0, 3.0]),
                                   heap_live_mib=pl.Series([90, 100, 110, 120], dtype=real["heap_live_mib"].dtype))
    assert live_growth_per_s(gc) == pytest.approx(10 / 105)  # 10 MiB/s over a mean of 105 MiB
    assert live_growth_per_s(gc.head(1)) == 0.0
    steady = steady_cycles(real, fit(real))
    assert abs(live_growth_per_s(steady)) < 0.05  # a steady live heap: no penalty


def test_whatif_shows_the_heuristic_beside_the_models_prediction_for_it() -> None:
    gc = gclens.read_trace(RUN).gc
    model = fit(gc)
    value = guide_gogc(200, live_growth_per_s(steady_cycles(gc, model)))
    expected = predict(model, gogc=value.gogc)
    proc = run("whatif", str(RUN), "--rt-p95-ms", "200")
    assert proc.returncode == 0, proc.stderr
    assert f"GOGC={value.gogc} for P95 200 ms" in proc.stdout
    assert f"the model at GOGC={value.gogc}: {expected['gc_per_s']:.2f} GC/s" in proc.stdout
    assert proc.stdout.count("caveat:") == len(CAVEATS)
    rows = json.loads(run("whatif", str(RUN), "--rt-p95-ms", "200", "--format", "json").stdout)
    heuristic = [r for r in rows if r.get("kind") == "guide_heuristic"]
    assert len(heuristic) == 1 and heuristic[0]["gogc"] == value.gogc
    assert heuristic[0]["prediction"]["gc_cpu_pct"] == pytest.approx(expected["gc_cpu_pct"])


def test_a_response_time_out_of_range_is_refused() -> None:
    proc = run("whatif", str(RUN), "--rt-p95-ms", "-1")
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--rt-p95-ms" in proc.stderr
