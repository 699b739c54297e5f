"""Which settings snapshot was in effect at each GC cycle (the ``gc_settings`` table).

An as-of join on CLOCK_MONOTONIC when the snapshot and the run share a boot; otherwise the wall
clock, with the basis recorded per row so that a reader knows how far to trust it.
"""

from __future__ import annotations

import polars as pl

from gclens.context.align_offset import _empty, _run_start_ns, _runs
from gclens.pipeline.trace import Trace
from gclens.store.schemas import GC_SETTINGS

__all__ = ["BOOT_TOLERANCE_NS", "gc_settings"]

BOOT_TOLERANCE_NS = 30_000_000_000
"""Two readings of (CLOCK_REALTIME - CLOCK_MONOTONIC) within this belong to one boot: NTP slews it by
ms a day, a reboot moves it by the boot's whole uptime."""


def gc_settings(trace: Trace, settings: pl.DataFrame, alignment: pl.DataFrame,
                boot_walls: dict[str, int] | None = None) -> pl.DataFrame:
    """Each cycle with the snapshot in effect at its start (as-of join on CLOCK_MONOTONIC), within one boot.

    CLOCK_MONOTONIC restarts at every boot, so a snapshot is only joined to a run of its own boot:
    the run's boot is known from journald's boot id, or from the wall-clock time of its monotonic
    zero (perf's reference time, the run's wall-clock start) matched to the snapshots' clock pairs.
    Snapshots with a wall-clock time only (``sysctl -a`` text) are put on the boot's monotonic clock
    through that same zero. ``boot_walls`` maps a perf source to its (realtime - monotonic).
    """
    snaps = _snapshot_clocks(settings)
    frames = []
    for source, run_id in _runs(trace.gc):
        mono_start, basis, pid, boot_wall, boot_id = _time_basis(trace, snaps, alignment, source, run_id,
                                                                 boot_walls or {})
        mine, why = _same_boot(snaps, boot_wall, boot_id)
        if why:
            basis = f"{basis}; {why}" if basis else why
        cycles = trace.gc.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)).select(
            "source", "run_id", "gc_num", "t_s")
        cycles = cycles.with_columns(
            (pl.lit(mono_start, pl.Int64) + (pl.col("t_s") * 1e9).round().cast(pl.Int64)).alias("mono_ns"),
            pl.lit(basis, pl.String).alias("time_basis"))
        if pid is not None:
            mine = mine.filter(pl.col("pid").is_null() | (pl.col("pid") == pid))
        frames.append(_asof(cycles, mine))
    if not frames:
        return _empty(GC_SETTINGS)
    return pl.concat(frames).select(GC_SETTINGS.names)


def _snapshot_clocks(settings: pl.DataFrame) -> pl.DataFrame:
    """One row per snapshot: its clocks, and the wall-clock time of its boot's monotonic zero."""
    wall = pl.col("captured_ts").dt.epoch("us") * 1000
    return (settings.select("snapshot_id", "captured_mono_ns", "captured_ts", "boot_id", "host", "pid")
            .unique("snapshot_id", maintain_order=True)
            .with_columns(wall.alias("wall_ns"), (wall - pl.col("captured_mono_ns")).alias("boot_wall_ns")))


def _same_boot(snaps: pl.DataFrame, boot_wall: int | None, boot_id: str | None) -> tuple[pl.DataFrame, str]:
    """The snapshots of the run's boot, each with a monotonic capture time; why others were left out."""
    boots = snaps.drop_nulls("boot_id")["boot_id"].unique().to_list()
    if boot_id is None and boot_wall is not None:
        near = snaps.filter((pl.col("boot_wall_ns") - boot_wall).abs() < BOOT_TOLERANCE_NS).drop_nulls("boot_id")
        boot_id = near["boot_id"][0] if near.height else None
    if boot_id is None and len(boots) > 1:
        return snaps.clear(), (f"snapshots from {len(boots)} boots and nothing ties the run to one "
                               "(record perf with --header, or give --start): none joined")
    chosen = boot_id if boot_id is not None else (boots[0] if boots else None)
    # journald writes the boot id without dashes, /proc/sys/kernel/random/boot_id with them
    same = pl.col("boot_id").str.replace_all("-", "").str.to_lowercase()
    own = same == chosen.replace("-", "").lower() if chosen is not None else pl.lit(False)
    if boot_wall is not None:
        later = snaps.filter(pl.col("boot_wall_ns") > boot_wall + BOOT_TOLERANCE_NS)["boot_wall_ns"].min()
        after = pl.col("wall_ns") >= boot_wall
        if later is not None:
            after = after & (pl.col("wall_ns") < later)
        own = own | (pl.col("boot_id").is_null() & after)  # wall-clock only: taken during this boot
        mono = pl.coalesce(pl.col("captured_mono_ns"), pl.col("wall_ns") - boot_wall)
    else:
        own = own | pl.col("boot_id").is_null()
        mono = pl.col("captured_mono_ns")
    mine = snaps.filter(own).with_columns(mono.alias("captured_mono_ns")).drop_nulls("captured_mono_ns")
    left = snaps.height - snaps.filter(own).height
    why = f"{left} snapshot(s) of another boot left out" if left and len(boots) > 1 else ""
    return mine.sort("captured_mono_ns"), why


def _asof(cycles: pl.DataFrame, snaps: pl.DataFrame) -> pl.DataFrame:
    if cycles["mono_ns"].null_count() == cycles.height or snaps.is_empty():
        return cycles.with_columns(pl.lit(None, pl.String).alias("snapshot_id"),
                                   pl.lit(None, pl.Float64).alias("snapshot_age_s"))
    ordered = cycles.with_row_index("_order").sort("mono_ns", nulls_last=True)
    joined = ordered.join_asof(snaps.select("snapshot_id", "captured_mono_ns"), left_on="mono_ns",
                               right_on="captured_mono_ns", strategy="backward")
    age = (pl.col("mono_ns") - pl.col("captured_mono_ns")) / 1e9
    return joined.with_columns(age.alias("snapshot_age_s")).sort("_order").drop("_order", "captured_mono_ns")


def _time_basis(trace: Trace, snaps: pl.DataFrame, alignment: pl.DataFrame, source: str, run_id: int,
                boot_walls: dict[str, int]) -> tuple[int | None, str | None, int | None, int | None, str | None]:
    """CLOCK_MONOTONIC of the run's t = 0, how it was found, the run's pid when known, and what is
    known of its boot: the wall-clock time of the boot's monotonic zero, and its boot id."""
    mono = alignment.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)
                            & (pl.col("perf_clock") == "monotonic") & pl.col("offset_ns").is_not_null())
    if mono.height:
        row = mono.sort("score", descending=True, nulls_last=True).row(0, named=True)
        return (int(row["offset_ns"]), f"perf -k mono ({row['method']}, {row['verdict']})", row["pid"],
                boot_walls.get(row["perf_source"]), None)
    runs = trace.runs.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
    run = runs.row(0, named=True) if runs.height else {}
    start_ns = _run_start_ns(trace, (source, run_id))
    if run.get("mono_start_ns") is not None:
        wall = None if start_ns is None else start_ns - int(run["mono_start_ns"])
        return int(run["mono_start_ns"]), "journald monotonic", None, wall, run.get("boot_id")
    if start_ns is not None:  # the boot that began last before the run started
        boots = snaps.drop_nulls("boot_wall_ns").filter(pl.col("boot_wall_ns") <= start_ns)
        if boots.height:
            row = boots.sort("boot_wall_ns").row(-1, named=True)
            return (start_ns - int(row["boot_wall_ns"]), f"wall clock ({run['anchor']}) via snapshot clock pair",
                    None, int(row["boot_wall_ns"]), row["boot_id"])
    return None, None, None, None, None
