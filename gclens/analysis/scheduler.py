"""Scheduler pressure from schedtrace: run queues, idle Ps, spinning and thread growth."""

from __future__ import annotations

import polars as pl

from gclens.analysis._common import RUN

__all__ = ["sched_stats"]


def sched_stats(sched: pl.DataFrame) -> pl.DataFrame:
    """One row per run: global and local run-queue pressure, idle Ps, threads, GOMAXPROCS changes.

    Local run-queue lengths are read without a lock and can wrap to ~4294967295; values above
    2**31 are treated as 0 (a transient race, not a queue of four billion goroutines).
    """
    local = pl.col("local_runqueues").list.eval(
        pl.when(pl.element() > 2**31).then(0).otherwise(pl.element())).list.sum()
    return (
        sched.filter(pl.col("local_runqueues").is_not_null())
        .sort([*RUN, "t_s"])
        .with_columns(local_total=local)
        .group_by(RUN, maintain_order=True)
        .agg(
            pl.len().alias("snapshots"),
            pl.col("runqueue").max().alias("global_runqueue_max"),
            pl.col("runqueue").mean().alias("global_runqueue_mean"),
            pl.col("local_total").max().alias("local_runqueue_max"),
            (pl.col("local_total") / pl.col("gomaxprocs")).mean().alias("local_runqueue_per_p_mean"),
            (pl.col("idleprocs") / pl.col("gomaxprocs")).mean().alias("idle_procs_frac_mean"),
            pl.col("spinningthreads").max().alias("spinning_max"),
            pl.col("threads").first().alias("threads_first"),
            pl.col("threads").max().alias("threads_max"),
            pl.col("gomaxprocs").unique(maintain_order=True).alias("gomaxprocs_values"),
            (pl.col("gomaxprocs").diff().fill_null(0) != 0).sum().alias("gomaxprocs_changes"),
        )
    )
