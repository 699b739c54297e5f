"""Findings need enough evidence, on real runs: a leak is a trend over a minute and 20 cycles, not
a start-up; a death spiral is a live heap at the memory-limit goal with the GC back to back."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import gclens
from conftest import CORPUS, SAMPLES, sample_runs
from gclens.analysis import Limits, evaluate, heap_stats

EVERY_RUN = [SAMPLES / r["file"] for r in sample_runs()] + sorted(CORPUS.glob("*.txt"))
STARTUP = CORPUS / "028-go114rc1-leading-blank-cmdline-4P-37116.txt"
"""golang/go#37116: a heap doubling every cycle from 3 to 1587 MiB, 10 cycles in 7 s (r2 0.999)."""


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


def test_no_real_run_is_called_a_leak() -> None:
    """Before the minimums, 8 corpus runs of 2-11 cycles over 0.009-7 s were leaks."""
    fired = [p.name for p in EVERY_RUN if "live-heap-growth" in evaluate(gclens.read_trace(p))["rule"].to_list()]
    assert fired == []


def test_a_real_steady_growth_is_a_leak_once_it_spans_enough() -> None:
    """The rule fires on real growth when the span and cycle count asked for are there; the
    defaults (60 s, 20 cycles) are more than a start-up gives."""
    trace = gclens.read_trace(STARTUP)
    stats = heap_stats(trace.gc).row(0, named=True)
    assert stats["live_trend_r2"] > 0.99 and stats["live_trend_cycles"] == 10
    assert stats["live_trend_span_s"] == pytest.approx(6.953)
    short = Limits(min_live_trend_span_s=6.0, min_live_trend_cycles=10)
    leak = evaluate(trace, short).filter(pl.col("rule") == "live-heap-growth")
    assert leak.height == 1 and leak["value"][0] == pytest.approx(stats["live_slope_mib_per_min"])
    assert "over 7 s and 10 cycles (fit r2 1.00): leak suspected" in leak["message"][0]
    for limits in (Limits(), Limits(min_live_trend_span_s=7.0, min_live_trend_cycles=10),
                   Limits(min_live_trend_span_s=6.0, min_live_trend_cycles=11)):
        assert "live-heap-growth" not in evaluate(trace, limits)["rule"].to_list()


SPIRAL = [SAMPLES / r["file"] for r in sample_runs() if r["scenario"] == "whatif-memlimit"]
NOT_SPIRAL = [SAMPLES / r["file"] for r in sample_runs() if r["scenario"] in ("memlimit-scav", "whatif-gogc10")]


@pytest.mark.parametrize("path", SPIRAL, ids=_ids(SPIRAL))
def test_the_memory_limit_run_is_a_death_spiral(path: Path) -> None:
    """GOMEMLIMIT=80MiB with GOGC=off: every cycle limit-driven, 55-60 % GC CPU over the run."""
    trace = gclens.read_trace(path)
    spiral = evaluate(trace).filter(pl.col("rule") == "memory-limit-death-spiral").row(0, named=True)
    gc = trace.gc.filter(pl.col("gc_num").is_in(spiral["evidence_gc"]))
    assert spiral["severity"] == "error" and spiral["value"] > 50 and gc.height >= 100
    assert gc["heap_goal_mib"].median() < 100  # near the 80 MiB limit (the last goal is absurd: sample_traces/README)
    assert "the live heap sits at the memory-limit goal" in spiral["message"]
    assert "golang/go#58106" in spiral["message"]


@pytest.mark.parametrize("path", NOT_SPIRAL, ids=_ids(NOT_SPIRAL))
def test_a_binding_limit_or_a_hot_gogc_is_not_a_spiral(path: Path) -> None:
    """memlimit-scav: the limit binds but the GC barely works (0.1 % CPU); whatif-gogc10: as hot as
    the spiral (60-73 %), but GOGC's goal leaves 10 % room: the gc-cpu rule reports it."""
    rules = evaluate(gclens.read_trace(path))["rule"].to_list()
    assert "memory-limit-death-spiral" not in rules
    assert ("gc-cpu" in rules) == ("gogc10" in path.name)
