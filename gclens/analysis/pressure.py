"""Page-cache pressure beside GC: the tuning guide's §4 line-up of ``vmscan:mm_vmscan_lru_isolate``.

The kernel fires this tracepoint each time reclaim takes a batch of pages off an LRU list, so its
rate says how hard the host is reclaiming (page cache first). The guide counts it per second and
ties it to GC when more than 800 events/s come in the 5 s before a cycle starts. Record it with
``perf record -a -k mono -e vmscan:mm_vmscan_lru_isolate`` beside the usual ``-k mono -g`` capture of
the program: ``align`` places the events with that capture's offset (one clock, one offset).

The threshold is the guide's and has no source. What it means depends on the kernel's batch size:
in the bundled capture (kernel 6.18, sample_traces/perf/vmscan) one event took 1 to 512 pages,
so 800 events/s is anywhere from 3 MiB/s to 1.6 GiB/s of reclaimed pages. It stays the default
because it is the guide's; pass ``per_s`` for a host whose normal rate you know (the figure
shows it), and read the finding as a correlation on the timeline, not a cause.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from gclens.analysis._finding import FINDINGS_SCHEMA, finding
from gclens.analysis.limits import Limits

__all__ = ["PER_S", "RULE", "VMSCAN_EVENT", "WINDOW_S", "pressure_before_cycles", "pressure_findings",
           "pressure_per_second"]

VMSCAN_EVENT = "vmscan:mm_vmscan_lru_isolate"
WINDOW_S = 5.0
"""The guide's look-back before each cycle start (seconds)."""
PER_S = 800.0
"""The guide's events per second over that window (no source: see the module docstring)."""
RULE = "page-cache-pressure-before-gc"
REFERENCE = "https://github.com/torvalds/linux/blob/master/include/trace/events/vmscan.h"


def _events(perf_samples: pl.DataFrame, event: str) -> pl.DataFrame:
    return perf_samples.filter((pl.col("event") == event) & pl.col("t_s").is_not_null()).select(
        "source", "run_id", "t_s")


def pressure_per_second(gc: pl.DataFrame, perf_samples: pl.DataFrame, *, event: str = VMSCAN_EVENT) -> pl.DataFrame:
    """One row per run and second of program time: the reclaim events, the GC cycles that started and
    their stop-the-world time. Seconds from the first event or cycle to the last; a second with no
    event counts 0, so record the events for the whole run (outside the capture, 0 means unknown)."""
    events = _events(perf_samples, event)
    schema = {"source": pl.String, "run_id": pl.Int32, "second": pl.Int64, "vmscan_events": pl.UInt32,
              "gc_cycles": pl.UInt32, "stw_sum_ms": pl.Float64, "stw_max_ms": pl.Float64}
    frames = []
    for source, run_id in events.select("source", "run_id").unique(maintain_order=True).iter_rows():
        mine = events.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
        cycles = gc.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
        seconds = np.floor(pl.concat([mine["t_s"], cycles["t_s"]]).to_numpy()).astype(np.int64)
        grid = pl.DataFrame({"second": np.arange(seconds.min(), seconds.max() + 1, dtype=np.int64)})
        counted = mine.group_by(pl.col("t_s").floor().cast(pl.Int64).alias("second")).agg(
            pl.len().cast(pl.UInt32).alias("vmscan_events"))
        started = cycles.group_by(pl.col("t_s").floor().cast(pl.Int64).alias("second")).agg(
            pl.len().cast(pl.UInt32).alias("gc_cycles"), pl.col("stw_ms").sum().alias("stw_sum_ms"),
            pl.col("stw_ms").max().alias("stw_max_ms"))
        frame = grid.join(counted, on="second", how="left").join(started, on="second", how="left")
        frames.append(frame.with_columns(pl.col("vmscan_events", "gc_cycles").fill_null(0),
                                         pl.col("stw_sum_ms").fill_null(0.0),
                                         pl.lit(source).alias("source"), pl.lit(run_id, pl.Int32).alias("run_id")))
    return pl.concat(frames).select(list(schema)) if frames else pl.DataFrame(schema=schema)


def pressure_before_cycles(gc: pl.DataFrame, perf_samples: pl.DataFrame, *, window_s: float = WINDOW_S,
                           event: str = VMSCAN_EVENT) -> pl.DataFrame:
    """Each cycle of a run with placed events, with ``vmscan_before_per_s``: the events in the
    ``window_s`` seconds before its start, per second (the guide's measure)."""
    events = _events(perf_samples, event)
    out = []
    for source, run_id in events.select("source", "run_id").unique(maintain_order=True).iter_rows():
        times = np.sort(events.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))["t_s"].to_numpy())
        cycles = gc.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)).select(
            "source", "run_id", "gc_num", "t_s", "stw_ms")
        start = cycles["t_s"].to_numpy()
        count = np.searchsorted(times, start, side="left") - np.searchsorted(times, start - window_s, side="left")
        out.append(cycles.with_columns(pl.Series("vmscan_before_per_s", count / window_s)))
    schema = {"source": pl.String, "run_id": pl.Int32, "gc_num": pl.Int64, "t_s": pl.Float64, "stw_ms": pl.Float64,
              "vmscan_before_per_s": pl.Float64}
    return pl.concat(out).cast(schema) if out else pl.DataFrame(schema=schema)  # type: ignore[arg-type]


def pressure_findings(gc: pl.DataFrame, perf_samples: pl.DataFrame, limits: Limits | None = None, *,
                      per_s: float = PER_S, window_s: float = WINDOW_S) -> pl.DataFrame:
    """``page-cache-pressure-before-gc`` per run: cycles that began after at least ``per_s`` reclaim
    events per second in the ``window_s`` before. A warning when one of them paused over the STW
    limit, else info; none when no events were placed."""
    limits = limits or Limits()
    before = pressure_before_cycles(gc, perf_samples, window_s=window_s)
    rows: list[dict[str, Any]] = []
    for (source, run_id), run in before.group_by("source", "run_id", maintain_order=True):
        hit = run.filter(pl.col("vmscan_before_per_s") >= per_s)
        if hit.is_empty():
            continue
        rest = run.filter(pl.col("vmscan_before_per_s") < per_s)
        long = hit.filter(pl.col("stw_ms") > limits.max_stw_ms).height
        worst, stw_hit = float(hit["vmscan_before_per_s"].max()), float(hit["stw_ms"].median())  # type: ignore[arg-type]
        stw_rest = f"{float(rest['stw_ms'].median()):.3g} ms" if rest.height else "none without pressure"  # type: ignore[arg-type]
        rows.append(finding(
            RULE, "warning" if long else "info", {"source": source, "run_id": run_id},
            worst, per_s, "events/s",
            (hit["t_s"].min(), hit["t_s"].max()), hit["gc_num"].to_list(),  # type: ignore[arg-type]
            f"{hit.height} of {run.height} cycles began after >= {per_s:g} {VMSCAN_EVENT} events/s in the "
            f"{window_s:g} s before (max {worst:.0f}/s): the host was reclaiming page "
            f"cache; median STW {stw_hit:.3g} ms for them vs {stw_rest} for the others, "
            f"{long} over {limits.max_stw_ms:g} ms. The tuning guide's threshold (800/s) has no source",
            "Find the reclaiming process (the events' comm); give the service memory headroom (memory.low, a "
            "lower GOMEMLIMIT) or move the page-cache-heavy job; the line-up is a correlation, not a cause.",
            REFERENCE))
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)
