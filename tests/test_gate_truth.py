"""`gclens check` against the runtime's own ground truth: MemStats written by each sample program
at exit (sample_traces/*/*.truth.json), on every sample run whose cycles all come back: the
`applog` runs, whose runtime lines whole application lines tore, included.

The `spliced` runs are left out: their application wrote 2-byte fragments into runtime lines, so
some cycles are rejected and the run-level figure lacks them (tests/test_sample_traces.py checks
what survives).

**GC CPU.** F is gclens's run-level figure (``gc_cpu_pct`` of the run: the CPU fields of every
cycle, forced ones too, over GOMAXPROCS × the time to the end of the last cycle); T is
``gc_cpu_fraction`` × 100. Derived from these runs (the table is in the closing note of #17):

* go1.19-1.22 print the pause CPU the runtime counts (stwprocs × pause wall), so the runtime's
  numerator is the printed CPU fields before their truncation: T − F is what truncation took
  (F reads low) less the effect of the runtime's longer denominator (it runs to the MemStats read
  at exit, up to 0.6 s after the last cycle). Observed: F − T from −2.5 % to +1.0 % of T.
  Bound: |F − T| <= 3 % of T.
* go1.23+ charge pause CPU as pause wall × GOMAXPROCS from the moment every P stopped, plus the
  CPU spent stopping (mgc.go ``accumulateGCPauseTime``): anywhere from 0 to (sweep termination +
  mark termination clock, rounded up) × GOMAXPROCS, which the gc line does not tell. It prints
  stwprocs × the whole pause. Every outlier is this: pauses-long on go1.23-1.27 (GOMAXPROCS 32 on
  2 CPUs, pauses of up to 18 ms: go1.25 T 2.01 % against F 1.32 %) and, from go1.26, runs where
  stopping the world is most of each short pause (churn-full go1.27: T 0.30 %, F 0.53 %;
  crash-deadlock go1.27: T 0.34 %, F 0.76 %). Bound: T − (3 % of T + U) <= F <= T + 3 % of T + D,
  where D is the printed pause CPU (the runtime may count none of it) and U is the pause clocks ×
  GOMAXPROCS minus D (what it may count on top), both as % of capacity.

Both F and T also lie in the interval ``gclens.consistency.gc_cpu_cum_bounds`` gives for the
runtime's cumulative GC CPU at the last cycle (the one whose truncation the printed `N%` is).

**Pauses.** The largest printed pause (sweep + mark termination clock, every cycle) against the
largest ``pauses[].pause_ns``: printed values are truncated (``gclens.consistency.stw_bounds``),
and from go1.22 PauseNs starts a few µs after the printed phase (test_sample_traces: 0.1 ms).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import polars as pl
import pytest

import gclens
from conftest import SAMPLES, run_in_process, sample_runs
from gclens.analysis import gc_cpu_per_cycle, gc_cpu_stats
from gclens.analysis.consistency import gc_cpu_cum_bounds, ms_quantum, stw_bounds

RUNS = [r for r in sample_runs() if r.get("truth") and r["program"] != "spliced"]
IDS = [r["file"] for r in RUNS]
RELATIVE = 0.03
"""The share of T that print truncation and the time after the last cycle explain (see above)."""


def _minor(run: dict[str, Any]) -> int:
    match = re.match(r"go1\.(\d+)", run["go_version"])
    assert match
    return int(match.group(1))


@cache
def _gc(file: str) -> pl.DataFrame:
    return gclens.read_trace(SAMPLES / file).gc


def _truth(run: dict[str, Any]) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((SAMPLES / run["truth"]).read_text())
    return truth


def _pause_terms(run: dict[str, Any]) -> tuple[float, float]:
    """(U, D) of the module docstring, in % of capacity; (0, 0) before go1.23."""
    if _minor(run) < 23:
        return 0.0, 0.0
    gc = _gc(run["file"])
    capacity = float(gc_cpu_per_cycle(gc)["capacity_ms"].sum())
    printed = float(gc.select(pl.col("cpu_sweep_term_ms") + pl.col("cpu_mark_term_ms")).to_series().sum())
    clocks = [pl.col(c) + ms_quantum(c) for c in ("clock_sweep_term_ms", "clock_mark_term_ms")]
    most = float(gc.select(pl.sum_horizontal(clocks) * pl.col("procs")).to_series().sum())
    return 100 * (most - printed) / capacity, 100 * printed / capacity


def _bounds(run: dict[str, Any]) -> tuple[float, float]:
    """The interval F must lie in, given T (module docstring)."""
    t = 100 * _truth(run)["gc_cpu_fraction"]
    up, down = _pause_terms(run)
    return t - RELATIVE * t - up, t + RELATIVE * t + down


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_run_gc_cpu_agrees_with_the_runtimes_gc_cpu_fraction(run: dict[str, Any]) -> None:
    gc, truth = _gc(run["file"]), _truth(run)
    stats = gc_cpu_stats(gc).row(0, named=True)
    f, t = stats["gc_cpu_pct"], 100 * truth["gc_cpu_fraction"]
    low, high = _bounds(run)
    assert low <= f <= high, (f, t)
    era = "gomaxprocs" if _minor(run) >= 23 else "stwprocs"
    last = gc_cpu_cum_bounds(gc, pause_cpu=era).row(-1, named=True)
    lo, hi = last["gc_cpu_cum_lo_pct"], last["gc_cpu_cum_hi_pct"]
    assert lo - 1e-9 <= f <= hi + 1e-9
    elapsed_s = (truth["exit_unix_ns"] - truth["start_unix_ns"]) / 1e9  # to the MemStats read, at most
    end_s = stats["duration_s"]
    assert lo * end_s / (end_s + max(0.0, elapsed_s - end_s)) <= t <= hi
    assert last["gc_cpu_cum_min_pct"] <= last["gc_cpu_cum_pct"] <= last["gc_cpu_cum_max_pct"]


def test_forced_cycles_are_part_of_the_runtimes_figure() -> None:
    """On the runs with forced cycles, leaving them out moves F away from T (churn: 4 forced
    cycles, 4-12 % of GC CPU): the runtime counts them, so gclens does by default."""
    closer = farther = 0
    for run in RUNS:
        gc = _gc(run["file"])
        if not gc["forced"].any() or _minor(run) >= 23:
            continue
        t = 100 * _truth(run)["gc_cpu_fraction"]
        every = gc_cpu_stats(gc)["gc_cpu_pct"][0]
        background = gc_cpu_stats(gc, exclude_forced=True)["gc_cpu_pct"][0]
        assert background < every
        closer += abs(every - t) < abs(background - t)
        farther += abs(every - t) > abs(background - t)
    assert closer > 0 and farther == 0


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_check_agrees_with_the_truth(run: dict[str, Any]) -> None:
    """Limits just below the runtime's own figures fail (exit 1), just above pass as far as GC CPU
    and pauses go. "Just": by the bounds of the module docstring. The GC CPU limit applies to the
    worst window; a window longer than the run (3600 s) is the whole run, T's span."""
    gc, truth = _gc(run["file"]), _truth(run)
    low, high = _bounds(run)
    printed = float(gc["stw_ms"].max())  # type: ignore[arg-type]
    true_pause = max(p["pause_ns"] for p in truth["pauses"]) / 1e6
    slack = 0.0 if _minor(run) <= 21 else 0.1
    assert printed - slack <= true_pause < float(stw_bounds(gc)["stw_max_ms"].max())  # type: ignore[arg-type]

    def check(cpu_limit: float, stw_limit: float) -> tuple[int, set[str]]:
        code, out, err = run_in_process("check", str(SAMPLES / run["file"]), "--format", "json",
                                        "--window-s", "3600", "--max-gc-cpu-pct", repr(cpu_limit),
                                        "--max-stw-ms", repr(stw_limit))
        assert err == "", err
        return code, {f["rule"] for f in json.loads(out)["findings"] if f["severity"] == "error"}

    above = check(min(high + 0.001, 100.0), max(printed, true_pause) + 0.001)
    assert not {"gc-cpu", "stw-pause"} & above[1]
    below_cpu = low - 0.001
    if below_cpu <= 0:  # pauses-long on go1.23+: the runtime's pause charge at GOMAXPROCS=32 is unknown
        assert run["scenario"] == "pauses-long" and _minor(run) >= 23
        below_cpu = 100.0
    code, rules = check(below_cpu, min(printed, true_pause) - 0.001)
    assert code == 1 and "stw-pause" in rules
    assert ("gc-cpu" in rules) == (below_cpu < 100.0)
