"""KPIs per settings snapshot: did the pauses and the GC CPU move when a setting changed?

``gclens.align`` gives each cycle the snapshot in effect at its start (``gc_settings``). Cutting a
run where the snapshot in effect changes gives *segments*; each gets the pause and GC CPU KPIs
of its cycles and the keys that differ from the previous segment's snapshot (usage counters and
pressure left out, as in ``settings_changes``).

A change is only seen by the next capture, so the cycles between the change and that capture
still count for the old snapshot: the boundary is late by up to one snapshot interval. Cycles
before the first capture form a segment without a snapshot: their settings are unknown.
"""

from __future__ import annotations

import polars as pl

from gclens.analysis._common import RUN
from gclens.analysis.gccpu import gc_cpu_per_cycle
from gclens.analysis.pauses import nearest_rank
from gclens.context.settings import COUNTER_PATTERN, settings_changes

__all__ = ["SEGMENTS_SCHEMA", "kpis_by_snapshot"]

SEGMENTS_SCHEMA: dict[str, pl.DataType] = {
    "source": pl.String(), "run_id": pl.Int32(), "segment": pl.UInt32(), "snapshot_id": pl.String(),
    "snapshots": pl.UInt32(), "snapshot_t_s": pl.Float64(), "first_gc": pl.Int64(), "last_gc": pl.Int64(),
    "cycles": pl.UInt32(), "forced": pl.UInt32(), "t_start_s": pl.Float64(), "t_end_s": pl.Float64(),
    "stw_max_ms": pl.Float64(), "stw_p99_ms": pl.Float64(), "gc_cpu_pct": pl.Float64(),
    "changed": pl.List(pl.String()), "changes": pl.List(pl.String()),
}


def kpis_by_snapshot(gc: pl.DataFrame, gc_settings: pl.DataFrame, settings: pl.DataFrame, *,
                     exclude_forced: bool = False, merge_unchanged: bool = False) -> pl.DataFrame:
    """One row per run and snapshot segment: cycles, STW max and p99, GC CPU, what changed.

    ``stw_*`` use the nearest-rank rule over the segment's cycles (forced ones too, unless
    ``exclude_forced``); ``gc_cpu_pct`` is the CPU fields over the segment's wall time ×
    GOMAXPROCS (``gc_cpu_per_cycle`` intervals). ``changed`` lists the keys that differ from the
    previous segment's snapshot (null when there is none to compare with) and ``changes`` the
    same as ``key: before -> after``. With ``merge_unchanged``, consecutive segments where nothing
    changed are merged: one row per settings epoch, the before/after view.
    """
    cycles = _cycles(gc, gc_settings, exclude_forced)
    if cycles.is_empty():
        return pl.DataFrame(schema=SEGMENTS_SCHEMA)
    segments = _segments(cycles, settings)
    if merge_unchanged:
        epochs = _epochs(segments)
        cycles = cycles.join(epochs.select(*RUN, "segment", "epoch"), on=[*RUN, "segment"], how="left").drop(
            "segment").rename({"epoch": "segment"})
        segments = epochs.filter(pl.col("starts_epoch")).with_columns(pl.col("epoch").alias("segment"))
    kpis = _aggregate(cycles, exclude_forced)
    meta = segments.select(*RUN, "segment", "changed", "changes")
    out = kpis.join(meta, on=[*RUN, "segment"], how="left").sort(*RUN, "segment")
    times = _snapshot_times(gc_settings, settings)
    out = out.join(times, on=[*RUN, "snapshot_id"], how="left", nulls_equal=False)
    return out.select([pl.col(name).cast(dtype) for name, dtype in SEGMENTS_SCHEMA.items()])


def _cycles(gc: pl.DataFrame, gc_settings: pl.DataFrame, exclude_forced: bool) -> pl.DataFrame:
    """Each cycle with its GC CPU, capacity, snapshot and segment number (1, 2, ... per run)."""
    per = gc_cpu_per_cycle(gc, exclude_forced=exclude_forced).select(
        *RUN, "gc_num", "t_end_s", "capacity_ms", "gc_cpu_ms")
    placed = (gc_settings.select(*RUN, "gc_num", "snapshot_id") if gc_settings.height
              else pl.DataFrame(schema={"source": pl.String, "run_id": pl.Int32, "gc_num": pl.Int64,
                                        "snapshot_id": pl.String}))
    cycles = (gc.select(*RUN, "gc_num", "t_s", "stw_ms", "forced")
              .join(per, on=[*RUN, "gc_num"], how="left")
              .join(placed, on=[*RUN, "gc_num"], how="left")
              .sort(*RUN, "gc_num"))
    starts = pl.col("snapshot_id").ne_missing(pl.col("snapshot_id").shift(1).over(RUN))
    first = pl.int_range(pl.len()).over(RUN) == 0
    return cycles.with_columns((starts | first).cast(pl.UInt32).cum_sum().over(RUN).alias("segment"))


def _segments(cycles: pl.DataFrame, settings: pl.DataFrame) -> pl.DataFrame:
    """Each segment's snapshot and what differs from the previous segment's snapshot."""
    segments = cycles.group_by(*RUN, "segment", maintain_order=True).agg(pl.col("snapshot_id").first())
    segments = segments.with_columns(pl.col("snapshot_id").shift(1).over(RUN).alias("previous"))
    changed, changes = [], []
    for previous, current in segments.select("previous", "snapshot_id").iter_rows():
        diff = _diff(settings, previous, current)
        changed.append(None if diff is None else diff["key"].to_list())
        changes.append(None if diff is None else [
            f"{k}: {_shown(b)} -> {_shown(a)}" for k, b, a in diff.select("key", "before", "after").iter_rows()])
    return segments.with_columns(pl.Series("changed", changed, dtype=pl.List(pl.String)),
                                 pl.Series("changes", changes, dtype=pl.List(pl.String)))


def _diff(settings: pl.DataFrame, previous: str | None, current: str | None) -> pl.DataFrame | None:
    """``settings_changes`` between two snapshots only (so a change that was undone is not one),
    plus the keys only one of them has (``GOMEMLIMIT`` set where it was not), which it skips."""
    if previous is None or current is None:
        return None
    pair = settings.filter(pl.col("snapshot_id").is_in([previous, current]))
    changed = settings_changes(pair).select("key", "before", "after")
    settled = pair.filter(~pl.col("key").str.contains(COUNTER_PATTERN.pattern))
    before = set(settled.filter(pl.col("snapshot_id") == previous)["key"].to_list())
    after = set(settled.filter(pl.col("snapshot_id") == current)["key"].to_list())
    shown = pl.coalesce(pl.col("value"), pl.lit("error: ") + pl.col("error"))
    appeared = settled.filter((pl.col("snapshot_id") == current) & pl.col("key").is_in(sorted(after - before)))
    gone = settled.filter((pl.col("snapshot_id") == previous) & pl.col("key").is_in(sorted(before - after)))
    extra = pl.concat([appeared.select("key", pl.lit(None, pl.String).alias("before"), shown.alias("after")),
                       gone.select("key", shown.alias("before"), pl.lit(None, pl.String).alias("after"))])
    return pl.concat([changed, extra]).unique("key", keep="first", maintain_order=True).sort("key")


def _shown(value: str | None) -> str:
    return "absent" if value is None else value


def _epochs(segments: pl.DataFrame) -> pl.DataFrame:
    """Number the runs of segments where nothing changed: a new epoch at each change, and where
    the snapshot becomes known (cycles before the first capture are never merged with later ones)."""
    known = pl.col("snapshot_id").is_not_null()
    starts = ((pl.int_range(pl.len()).over(RUN) == 0) | (pl.col("changed").list.len() > 0).fill_null(False)
              | known.ne(known.shift(1).over(RUN)).fill_null(False))
    epochs = segments.with_columns(starts.alias("starts_epoch")).with_columns(
        pl.col("starts_epoch").cast(pl.UInt32).cum_sum().over(RUN).alias("epoch"))
    return epochs.select(*RUN, "segment", "epoch", "starts_epoch", "snapshot_id", "changed", "changes")


def _aggregate(cycles: pl.DataFrame, exclude_forced: bool) -> pl.DataFrame:
    kept = cycles.filter(~pl.col("forced")) if exclude_forced else cycles
    pauses = kept.group_by(*RUN, "segment").agg(
        pl.col("stw_ms").max().alias("stw_max_ms"), nearest_rank(pl.col("stw_ms"), 0.99).alias("stw_p99_ms"))
    known = pl.col("capacity_ms").is_not_null()
    totals = cycles.group_by(*RUN, "segment", maintain_order=True).agg(
        pl.col("snapshot_id").first(), pl.col("snapshot_id").n_unique().alias("_ids"),
        pl.col("snapshot_id").null_count().alias("_nulls"),
        pl.col("gc_num").min().alias("first_gc"), pl.col("gc_num").max().alias("last_gc"),
        pl.len().alias("cycles"), pl.col("forced").sum().alias("forced"),
        pl.col("t_s").min().alias("t_start_s"), pl.col("t_end_s").max().alias("t_end_s"),
        (100 * pl.col("gc_cpu_ms").filter(known).sum() / pl.col("capacity_ms").filter(known).sum())
        .alias("gc_cpu_pct"))
    snapshots = pl.col("_ids") - (pl.col("_nulls") > 0).cast(pl.UInt32)
    return totals.with_columns(snapshots.alias("snapshots")).drop("_ids", "_nulls").join(
        pauses, on=[*RUN, "segment"], how="left")


def _snapshot_times(gc_settings: pl.DataFrame, settings: pl.DataFrame) -> pl.DataFrame:
    """When each snapshot was captured, in the run's seconds since runtime start."""
    basis = (gc_settings.drop_nulls("mono_ns")
             .select(*RUN, (pl.col("mono_ns") - (pl.col("t_s") * 1e9).round().cast(pl.Int64)).alias("mono0"))
             .group_by(RUN, maintain_order=True).first())
    captured = settings.select("snapshot_id", "captured_mono_ns").unique().drop_nulls()
    return basis.join(captured, how="cross").select(
        *RUN, "snapshot_id", ((pl.col("captured_mono_ns") - pl.col("mono0")) / 1e9).alias("snapshot_t_s"))
