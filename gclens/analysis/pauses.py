"""Stop-the-world pauses: per cycle, their distribution, and the cycles over a threshold.

A pause is sweep termination + mark termination wall clock (``stw_ms``); the concurrent mark
phase is not a pause. Forced cycles (`runtime.GC()`, and before go1.9 whole STW collections)
count like any other, as in the runtime's PauseNs: their pauses stop the program all the same.
They are marked (``forced``, ``over_threshold_forced``); ``exclude_forced=True`` leaves them out.
"""

from __future__ import annotations

import itertools

import polars as pl

from gclens.analysis._common import RUN, cycles

__all__ = ["QUANTILES", "nearest_rank", "pause_histogram", "pause_stats", "pauses_over"]

QUANTILES = (0.5, 0.9, 0.99, 0.999)


def pause_stats(gc: pl.DataFrame, *, exclude_forced: bool = False,
                threshold_ms: float = 1.0) -> pl.DataFrame:
    """One row per run: pause count, percentiles, max, and cycles over ``threshold_ms``.

    Percentiles use the nearest-rank rule (a pause that really happened), so p99 of 50 cycles
    is the largest. ``over_sweep_term`` / ``over_mark_term`` count the over-threshold cycles
    whose longer phase was sweep termination or mark termination, ``over_threshold_forced``
    those that were forced cycles.

    >>> import polars as pl
    >>> gc = pl.DataFrame({"source": ["a"] * 3, "run_id": [0] * 3, "forced": [False] * 3,
    ...     "stw_ms": [0.2, 1.5, 0.4], "clock_sweep_term_ms": [0.1, 1.4, 0.3],
    ...     "clock_mark_term_ms": [0.1, 0.1, 0.1]})
    >>> pause_stats(gc).select("cycles", "stw_p50_ms", "stw_max_ms", "over_threshold").row(0)
    (3, 0.4, 1.5, 1)
    """
    over = pl.col("stw_ms") > threshold_ms
    sweep_longer = pl.col("clock_sweep_term_ms") >= pl.col("clock_mark_term_ms")
    quantiles = [nearest_rank(pl.col("stw_ms"), q).alias(f"stw_p{_label(q)}_ms") for q in QUANTILES]
    return (
        cycles(gc, exclude_forced=exclude_forced)
        .group_by(RUN, maintain_order=True)
        .agg(
            pl.len().alias("cycles"),
            *quantiles,
            pl.col("stw_ms").max().alias("stw_max_ms"),
            pl.col("stw_ms").sum().alias("stw_total_ms"),
            over.sum().alias("over_threshold"),
            (over & pl.col("forced")).sum().alias("over_threshold_forced"),
            (over & sweep_longer).sum().alias("over_sweep_term"),
            (over & ~sweep_longer).sum().alias("over_mark_term"),
        )
        .with_columns(pl.lit(threshold_ms).alias("threshold_ms"))
    )


def pauses_over(gc: pl.DataFrame, threshold_ms: float = 1.0, *,
                exclude_forced: bool = False) -> pl.DataFrame:
    """The cycles whose pause exceeded ``threshold_ms``, with the phase that made it long."""
    return (
        cycles(gc, exclude_forced=exclude_forced)
        .filter(pl.col("stw_ms") > threshold_ms)
        .select(*RUN, "gc_num", "line_no", "t_s", "stw_ms", "clock_sweep_term_ms",
                "clock_mark_term_ms", "forced", "procs")
        .with_columns(
            phase=pl.when(pl.col("clock_sweep_term_ms") >= pl.col("clock_mark_term_ms"))
            .then(pl.lit("sweep_term")).otherwise(pl.lit("mark_term")))
    )


def pause_histogram(gc: pl.DataFrame, *, exclude_forced: bool = False,
                    edges_ms: tuple[float, ...] = (0.01, 0.1, 0.5, 1, 2, 5, 10, 50, 100)) -> pl.DataFrame:
    """Counts of pauses per bucket (log-spaced edges in ms), per run."""
    labels = [f"<{edges_ms[0]}"] + [f"{a}-{b}" for a, b in itertools.pairwise(edges_ms)]
    labels.append(f">={edges_ms[-1]}")
    return (
        cycles(gc, exclude_forced=exclude_forced)
        .with_columns(bucket=pl.col("stw_ms").cut(list(edges_ms), labels=labels, left_closed=True))
        .group_by([*RUN, "bucket"], maintain_order=True).agg(pl.len().alias("cycles"))
        .sort([*RUN, "bucket"])
    )


def nearest_rank(values: pl.Expr, q: float) -> pl.Expr:
    """The q-quantile by the nearest-rank rule: the ceil(q·n)-th smallest value (1-based)."""
    rank = (pl.len() * q).ceil().cast(pl.Int64) - 1
    return values.sort().get(pl.max_horizontal(rank, pl.lit(0)))


def _label(q: float) -> str:
    return f"{q * 100:g}".replace(".", "")
