"""Helpers shared by the analyses: grouping keys and the forced-cycle filter."""

from __future__ import annotations

import polars as pl

RUN = ["source", "run_id"]
"""Every KPI is per run: one process lifetime in one source."""

CYCLE_CPU_COLS = ["cpu_sweep_term_ms", "cpu_scan_ms", "cpu_assist_ms", "cpu_background_ms",
                  "cpu_mark_term_ms"]
"""The CPU the runtime counts as GC cost; idle mark workers are left out (they use idle Ps)."""


def cycles(gc: pl.DataFrame, *, exclude_forced: bool = False) -> pl.DataFrame:
    """The gc rows a KPI looks at: every cycle, as the runtime counts them (its GCCPUFraction,
    PauseNs and printed % include forced ones); background cycles only with ``exclude_forced``."""
    return gc.filter(~pl.col("forced")) if exclude_forced else gc


def cycle_end_s() -> pl.Expr:
    """When each cycle ended: end_i = max(t_s_i, end_(i-1)) + wall_i, per run.

    The gc line's @ is the cycle's start truncated to 1 ms, and a cycle cannot start before
    the previous one ended; without the max, a short cycle right after a long one can seem to
    end before it (seen in real go1.21 traces). Needs the frame sorted by run and gc_num.
    """
    wall_s = pl.col("wall_ms") / 1000
    done = wall_s.cum_sum().over(RUN)
    return (pl.col("t_s") - (done - wall_s)).cum_max().over(RUN) + done
