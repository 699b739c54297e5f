"""Bounds that undo the runtime's print truncation, and the cumulative-% consistency check.

The gc line prints durations with ``fmtNSAsMS``, which truncates to about two significant
digits: ``4.5`` means a value in [4.5, 4.6) ms. These functions turn each printed value into
the interval the true value lies in, so comparisons against other measurements (MemStats
PauseNs, the printed cumulative %) are exact rather than "close enough".

The printed ``N%`` is ``int(100 × GC CPU since start / (GOMAXPROCS × time since start))``,
idle mark time excluded (go-trace-formats §2.3). Per era, the numerator is:

* go1.5:      Σ (cpu_sweep_term + cpu_scan + cpu_assist + cpu_background + cpu_mark_term)
* go1.6-1.22: Σ (cpu_sweep_term + cpu_assist + cpu_background + cpu_mark_term)
* go1.23+:    Σ (cpu_assist + cpu_background + P), where the pause CPU P is charged at
              GOMAXPROCS, not min(GOMAXPROCS, NCPU), and only from the moment all Ps stopped
              (mgc.go ``accumulateGCPauseTime``), plus the CPU spent stopping them; so
              0 ≤ P ≤ stw × GOMAXPROCS, and the printed phases only bound it.

The 1.18+ gc line does not tell 1.22 from 1.23: ``pause_cpu="either"`` accepts both.
The denominator is Σ GOMAXPROCS × elapsed time up to the end of the cycle (``t_s`` + the
cycle's wall time), measured from the first procresize, shortly before runtime start.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

__all__ = ["INIT_SLACK_S", "PauseCpu", "gc_cpu_cum_bounds", "ms_quantum", "stw_bounds"]

PauseCpu = Literal["stwprocs", "gomaxprocs", "either"]

_CPU_NON_IDLE = ["cpu_sweep_term_ms", "cpu_scan_ms", "cpu_assist_ms", "cpu_background_ms",
                 "cpu_mark_term_ms"]
_CLOCKS = ["clock_sweep_term_ms", "clock_scan_ms", "clock_install_wb_ms", "clock_mark_ms",
           "clock_mark_term_ms"]
_MARK_CPU = ["cpu_assist_ms", "cpu_background_ms"]
_STW_CLOCKS = ["clock_sweep_term_ms", "clock_mark_term_ms"]
INIT_SLACK_S = 0.002
"""Time between the scheduler's first procresize and runtime.main (the % clock starts earlier)."""


def ms_quantum(col: str | pl.Expr) -> pl.Expr:
    """Width of the truncation interval of a printed fmtNSAsMS value (0 for nulls).

    ``12`` → 1, ``4.5`` → 0.1, ``0.45`` → 0.01, ``0.045`` and ``0`` → 0.001.
    """
    v = pl.col(col) if isinstance(col, str) else col
    return (
        pl.when(v.is_null()).then(0.0)
        .when(v >= 10).then(1.0)
        .when(v >= 1).then(0.1)
        .when(v >= 0.1).then(0.01)
        .otherwise(0.001)
    )


def _upper(cols: list[str]) -> pl.Expr:
    return pl.sum_horizontal([pl.col(c).fill_null(0) + ms_quantum(c) for c in cols])


def _lower(cols: list[str]) -> pl.Expr:
    return pl.sum_horizontal([pl.col(c).fill_null(0) for c in cols])


def stw_bounds(gc: pl.DataFrame) -> pl.DataFrame:
    """Add ``stw_max_ms``: the true pause lies in [stw_ms, stw_max_ms) given print truncation."""
    return gc.with_columns(stw_max_ms=_upper(_STW_CLOCKS))


def gc_cpu_cum_bounds(gc: pl.DataFrame, *, pause_cpu: PauseCpu = "either") -> pl.DataFrame:
    """Recompute the printed cumulative % from the CPU fields, as an interval per cycle.

    Adds ``gc_cpu_cum_lo_pct`` and ``gc_cpu_cum_hi_pct`` (the interval the runtime's own GC CPU
    fraction since start, × 100, lies in at the end of the cycle: its GCCPUFraction then),
    ``gc_cpu_cum_min_pct`` and ``gc_cpu_cum_max_pct`` (the truncated integer percentages the
    runtime could have printed) and ``gc_cpu_cum_consistent`` (the printed value lies within
    them; null where it cannot be checked). ``pause_cpu`` picks the era's accounting of
    pause CPU: "stwprocs" (go1.5-1.22), "gomaxprocs" (go1.23+) or "either". Cycles are taken
    per source and run, in gc_num order; only cycles preceded by every cycle since gc 1 can be
    checked (the sums start at process start), so a log that starts late or lost a line leaves
    the rest null.
    """
    procs = pl.col("procs").cast(pl.Float64)
    lows, highs = [], []
    if pause_cpu in ("stwprocs", "either"):
        lows.append(_lower(_CPU_NON_IDLE))
        highs.append(_upper(_CPU_NON_IDLE))
    if pause_cpu in ("gomaxprocs", "either"):
        lows.append(_lower(_MARK_CPU))
        highs.append(_upper(_MARK_CPU) + _upper(_STW_CLOCKS) * procs)
    end_lo = pl.col("t_s") + _lower(_CLOCKS) / 1000
    end_hi = pl.col("t_s") + 0.001 + _upper(_CLOCKS) / 1000 + INIT_SLACK_S
    by = ["source", "run_id"]
    out = gc.sort([*by, "gc_num"]).with_columns(
        _num_lo=pl.min_horizontal(lows).cum_sum().over(by),
        _num_hi=pl.max_horizontal(highs).cum_sum().over(by),
        _den_lo=_procs_time(end_lo, procs, by), _den_hi=_procs_time(end_hi, procs, by),
    )
    # the sums must start at gc 1 and miss no cycle (a rejected line leaves a gap)
    seen_all = pl.col("gc_num") == pl.int_range(1, pl.len() + 1).over(by)
    checkable = seen_all.cum_min().over(by)
    return out.with_columns(
        gc_cpu_cum_lo_pct=pl.when(checkable).then(100 * pl.col("_num_lo") / pl.col("_den_hi")),
        gc_cpu_cum_hi_pct=pl.when(checkable).then(100 * pl.col("_num_hi") / pl.col("_den_lo")),
    ).with_columns(
        gc_cpu_cum_min_pct=pl.col("gc_cpu_cum_lo_pct").floor().cast(pl.Int32),
        gc_cpu_cum_max_pct=pl.col("gc_cpu_cum_hi_pct").floor().cast(pl.Int32),
    ).with_columns(
        gc_cpu_cum_consistent=pl.col("gc_cpu_cum_pct").is_between(
            pl.col("gc_cpu_cum_min_pct"), pl.col("gc_cpu_cum_max_pct")),
    ).drop("_num_lo", "_num_hi", "_den_lo", "_den_hi")


def _procs_time(end_s: pl.Expr, procs: pl.Expr, by: list[str]) -> pl.Expr:
    """Σ GOMAXPROCS × elapsed ms up to each cycle's end (GOMAXPROCS as of each cycle)."""
    step = end_s - end_s.shift(1, fill_value=0.0).over(by)
    return (step * 1000 * procs).cum_sum().over(by)
