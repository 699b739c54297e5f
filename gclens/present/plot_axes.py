"""What every figure of ``gclens.plot`` shares: one run out of a frame, its clock (wall clock when
the log has timestamps, else seconds since runtime start), markers and titles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import polars as pl
from matplotlib.dates import AutoDateLocator, DateFormatter
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from gclens.analysis._common import RUN

__all__ = ["Clock", "Marker", "run_clock"]

Marker = tuple[float, str]
"""A vertical marker on the time axis: (seconds since runtime start, label), e.g. a setting change."""


def _one_run(frame: pl.DataFrame, source: str | None, run_id: int | None) -> pl.DataFrame:
    """The rows of one run: the given one, or the first in the frame."""
    if frame.is_empty():
        return frame
    first = frame.row(0, named=True)
    source = first["source"] if source is None else source
    run_id = first["run_id"] if run_id is None else run_id
    return frame.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))


Clock = tuple[Callable[[Any], Any], str]
"""Seconds since runtime start -> x values, and the x-axis label that says which clock it is."""


def run_clock(run: pl.DataFrame) -> Clock:
    """The wall clock (UTC) of a run when its lines carry ``ts`` (a collector envelope anchors the
    run to about a millisecond), else seconds since runtime start: a reader matches a figure
    with dashboards and incidents by the time of day, not by seconds since an unknown start."""
    if run.is_empty() or "ts" not in run.columns or run["ts"].null_count() == run.height:
        return (lambda t: np.asarray(t, dtype=float)), "seconds since runtime start (s)"
    anchored = run.drop_nulls("ts").select(
        (pl.col("ts").dt.epoch("ns") - (pl.col("t_s") * 1e9).round().cast(pl.Int64)).median()).item()
    zero = np.datetime64(int(anchored), "ns")

    def at(t: Any) -> Any:
        return zero + (np.asarray(t, dtype=float) * 1e9).round().astype("timedelta64[ns]")
    return at, f"wall clock, UTC, {str(zero)[:10]} (from the log's timestamps)"


def _time_axis(ax: Any, clock: Clock) -> None:
    """Label the clock; wall-clock ticks as time of day (the date is in the label)."""
    ax.set_xlabel(clock[1])
    if clock[1].startswith("wall"):
        ax.xaxis.set_major_locator(AutoDateLocator(minticks=4, maxticks=9))  # type: ignore[no-untyped-call]
        ax.xaxis.set_major_formatter(DateFormatter("%H:%M:%S"))  # type: ignore[no-untyped-call]


def _markers(axes: Sequence[object], markers: Sequence[Marker], clock: Clock | None = None) -> None:
    at = clock[0] if clock is not None else (lambda t: t)
    for t, label in markers:
        for i, ax in enumerate(axes):
            ax.axvline(at(t), color="tab:purple", linestyle=":", linewidth=1,  # type: ignore[attr-defined]
                       label=label if i == 0 else None)


def _log_ticks(ax: Any) -> None:
    """Plain numbers (0.1, 1, 10 ms, not 10^-1) at 1-2-5 steps over a short range, decades
    over a long one, and no labels on minor ticks: matplotlib labels those over ranges under a
    decade or two, and they run into each other."""
    low, high = ax.get_xlim()
    decades = np.log10(high / low) if low > 0 else 10
    ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def _title(run: pl.DataFrame, what: str) -> str:
    if run.is_empty():
        return f"{what} (no data)"
    first = run.select(RUN).row(0)
    return f"{what}: {first[0]} run {first[1]}"
