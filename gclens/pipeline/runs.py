"""Tie each line of a source to its run, its GC cycle and its scheddetail dump, a chunk at a time.

Time model (design.md §2). Which run a gc or SCHED line belongs to is ``splitter``'s rule.
Lines without a clock of their own:

* `pacer: assist ratio`, the old `H_m_prev` line and the new `% CPU` line are printed during
  cycle N *before* the `gc N` line, so they take the cycle and run of the next gc line;
* `pacer: sweep done` and `scav` lines are printed when cycle N's sweeping ends. The gc line is
  printed after the world restarts, so real traces (go1.25, go1.27 here) show sweep done and
  scav for cycle N *before* `gc N`: once cycle N has announced itself (a pending line above),
  they belong to it; otherwise to the last gc line;
* every other line (scan, events) takes the last gc line seen in its run;
* scheddetail P/M/G lines take the time of the SCHED header of their dump.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import polars as pl

from gclens.pipeline.splitter import LIVE_RUNS, Run, Splitter

__all__ = ["DUMP_TABLES", "Assembler", "concat"]

_BEFORE_GC_LINE = ["assist_ratio", "old_pacer", "cpu_pacer"]
_END_OF_SWEEP = ["sweep_done", "scav"]
DUMP_TABLES = ["sched_p", "sched_m", "sched_g"]
_CLOCKED = ["gc", "sched"]


class Assembler:
    """Places one source's rows in runs and cycles, a chunk of rows at a time.

    Python touches only the clocked rows (the run splitter); every other row takes its run,
    cycle and dump from them by Polars expressions. Rows come out in line order, except the
    lines that wait for the gc line of their cycle, which come out with it (``_emit``, ``_sub``
    order them so). The runs table is kept up to date as rows settle.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.splitter = Splitter()
        self.reasons: dict[int, str] = {}
        self.pending: pl.DataFrame | None = None  # rows waiting for the gc line of their cycle
        self.last_gc: dict[int, int] = {}
        self.runs: dict[int, dict[str, Any]] = {}

    def feed(self, ready: pl.DataFrame) -> pl.DataFrame | None:
        """Rows that are settled: run, cycle and dump filled in; the rest wait in ``pending``."""
        if ready.is_empty():
            return None
        ready = self._place(ready)
        is_gc = pl.col("_table") == "gc"
        kind = pl.col("kind")
        carried = self.pending is not None and self.pending.height > 0
        seg = is_gc.cast(pl.Int64).cum_sum()
        before = kind.is_in(_BEFORE_GC_LINE).fill_null(False)
        earlier = (before.cast(pl.Int64).cum_sum().over(seg) - before.cast(pl.Int64)) > 0
        eos = kind.is_in(_END_OF_SWEEP).fill_null(False)
        frame = ready.with_columns(
            _pend=~is_gc & (before | (eos & (earlier | ((seg == 0) & carried)))),
            _next_gc=pl.when(is_gc).then(pl.col("gc_num")).backward_fill(),
            _next_run=pl.when(is_gc).then(pl.col("run_id")).backward_fill(),
            _next_order=pl.when(is_gc).then(pl.col("_order")).backward_fill(),
            _last_gc=pl.when(is_gc).then(pl.col("gc_num")).forward_fill().over("run_id"),
        )
        frame = self._fill_cycles(frame)
        waiting = frame.filter(pl.col("_pend") & pl.col("_next_gc").is_null())
        now = frame.filter(~(pl.col("_pend") & pl.col("_next_gc").is_null()))
        carried_rows = self._settle_carried(frame)
        self.pending = concat([self.pending if carried_rows is None else None, _strip(waiting)])
        for run_id, gc_num in frame.filter(is_gc).group_by("run_id").agg(pl.col("gc_num").last()).iter_rows():
            self.last_gc[run_id] = gc_num
        settled = concat([carried_rows, _strip(now)])
        if settled is not None:
            self._account(settled)
        return settled

    def settle_leftover(self) -> pl.DataFrame | None:
        """At the end: rows still waiting take the cycle after their run's last gc line."""
        if self.pending is None or self.pending.is_empty():
            return None
        run_id = int(self.pending["run_id"][0])
        last = self.last_gc.get(run_id)
        settled = self.pending.with_columns(
            gc_num=pl.lit(None if last is None else last + 1, dtype=pl.Int64),
            run_id=pl.lit(run_id, dtype=pl.Int64), _emit=pl.col("_order"), _sub=pl.lit(0, dtype=pl.Int32))
        self.pending = None
        self._account(settled)
        return settled

    def close_runs(self) -> list[dict[str, Any]]:
        """The runs table rows of runs that can take no more lines, handed over and forgotten.

        Keeps memory flat on logs with thousands of restarts (a crash-looping pod).
        """
        oldest_live = self.splitter.opened - LIVE_RUNS
        waiting = set() if self.pending is None else set(self.pending["run_id"].to_list())
        done = sorted(k for k in self.runs if k < oldest_live and k not in waiting)
        for run_id in done:
            self.last_gc.pop(run_id, None)
            self.reasons.pop(run_id, None)
        return [self.runs.pop(k) for k in done]

    def finish(self) -> list[dict[str, Any]]:
        """Every run not handed over yet, in order (after ``settle_leftover``)."""
        return [self.runs.pop(k) for k in sorted(self.runs)]

    def _place(self, ready: pl.DataFrame) -> pl.DataFrame:
        """Run ids (and the scheddetail header in effect) from the sequential run splitter."""
        clocked = ready.select(pl.arg_where(pl.col("_table").is_in(_CLOCKED))).to_series().to_numpy()
        splitter = self.splitter
        if splitter.current is None and (not len(clocked) or clocked[0] != 0):
            self._remember(splitter.place("events", 0, None, None, None))  # rows before any clock
        init = splitter.current
        header = None if init is None else init.header  # before the placements below change it
        first = (None if init is None else init.run_id, None if header is None else header[0],
                 None if header is None else header[1])
        rows = ready.filter(pl.col("_table").is_in(_CLOCKED)).select(
            pl.col("_table") == "gc", "line_no", pl.col("gc_num").fill_null(0), "t_s",
            pl.col("detail").fill_null(False))
        is_gc, line_no, gc_num, t_s, detail = (series.to_numpy() for series in rows.get_columns())
        runs, hdr_no, hdr_t = splitter.place_all(is_gc, line_no, gc_num, t_s, detail, self._remember)
        index = np.searchsorted(clocked, np.arange(ready.height), side="right") - 1
        before, at = index < 0, np.maximum(index, 0)
        picked = {}
        for name, values, start, missing, dtype in (("run_id", runs, first[0], -1, pl.Int64),
                                                    ("_hdr_no", hdr_no, first[1], -1, pl.Int64),
                                                    ("_hdr_t", hdr_t, first[2], np.nan, pl.Float64)):
            spread = values[at] if len(values) else np.full(ready.height, missing, dtype=values.dtype)
            spread[before] = missing if start is None else start
            picked[name] = _series(spread, missing, dtype)
        return ready.with_columns(**picked)

    def _remember(self, run: Run) -> None:
        self.reasons.setdefault(run.run_id, run.cut_reason)

    def _fill_cycles(self, frame: pl.DataFrame) -> pl.DataFrame:
        """gc_num of every row that is not a gc or SCHED line; t_s of scheddetail rows."""
        known = pl.col("run_id").replace_strict(list(self.last_gc), list(self.last_gc.values()),
                                                default=None, return_dtype=pl.Int64) if self.last_gc \
            else pl.lit(None, dtype=pl.Int64)
        table = pl.col("_table")
        dump = table.is_in(DUMP_TABLES)
        frame = frame.with_columns(
            gc_num=pl.when(table == "gc").then(pl.col("gc_num"))
            .when(pl.col("_pend")).then(pl.col("_next_gc"))
            .when((table == "sched") | dump).then(None)
            .otherwise(pl.coalesce(pl.col("_last_gc"), known)),
            run_id=pl.when(pl.col("_pend")).then(pl.coalesce(pl.col("_next_run"), pl.col("run_id")))
            .otherwise(pl.col("run_id")),
            _emit=pl.when(pl.col("_pend")).then(pl.col("_next_order")).otherwise(pl.col("_order")),
            _sub=pl.when(pl.col("_pend")).then(0).otherwise(1),
        )
        if frame.select(dump.any()).item():
            frame = frame.with_columns(
                sched_line_no=pl.when(dump).then(pl.col("_hdr_no")).otherwise(pl.col("sched_line_no")),
                t_s=pl.when(dump).then(pl.col("_hdr_t")).otherwise(pl.col("t_s")),
            )
        return frame

    def _settle_carried(self, frame: pl.DataFrame) -> pl.DataFrame | None:
        """Rows that waited from earlier chunks, settled by this chunk's first gc line (if any)."""
        if self.pending is None or self.pending.is_empty():
            return None
        first_gc = frame.filter(pl.col("_table") == "gc").head(1)
        if first_gc.is_empty():
            return None
        gc_num, run_id, order = first_gc.select("gc_num", "run_id", "_order").row(0)
        carried = self.pending.with_columns(
            gc_num=pl.lit(gc_num, dtype=pl.Int64), run_id=pl.lit(run_id, dtype=pl.Int64),
            _emit=pl.lit(order, dtype=pl.Int64), _sub=pl.lit(0, dtype=pl.Int32))
        self.pending = None
        return carried

    def _account(self, settled: pl.DataFrame) -> None:
        """Keep the runs table up to date with the settled rows, in emission order."""
        if settled.is_empty():
            return
        table = pl.col("_table")
        procs = pl.when(table == "gc").then(pl.col("procs")).when(table == "sched").then(pl.col("gomaxprocs"))
        per_run = settled.sort("_emit", "_sub", "_order").group_by("run_id", maintain_order=True).agg(
            first_line=pl.col("line_no").min(), last_line=pl.col("line_no").max(),
            layouts=pl.concat_str(table, pl.lit(":"), pl.col("layout").fill_null("None")).unique(maintain_order=True),
            procs=procs.drop_nulls().unique(maintain_order=True),
            gc_lines=(table == "gc").sum(),
            gc_first=pl.col("gc_num").filter(table == "gc").first(),
            gc_last=pl.col("gc_num").filter(table == "gc").last(),
            t_last=pl.col("t_s").filter(table.is_in(_CLOCKED)).max(),
        )
        for row in per_run.iter_rows(named=True):
            run_id = row["run_id"]
            run = self.runs.setdefault(run_id, {
                "source": self.source, "run_id": run_id, "first_line": row["first_line"],
                "last_line": row["last_line"], "cut_reason": self.reasons.get(run_id, "unknown"),
                "gc_lines": 0, "gomaxprocs_seen": [], "layouts_seen": [],
            })
            run["first_line"] = min(run["first_line"], row["first_line"])
            run["last_line"] = max(run["last_line"], row["last_line"])
            _extend_unique(run["layouts_seen"], row["layouts"])
            _extend_unique(run["gomaxprocs_seen"], row["procs"])
            if row["gc_lines"]:
                run["gc_lines"] += row["gc_lines"]
                run.setdefault("gc_first", row["gc_first"])
                run["gc_last"] = row["gc_last"]
            if row["t_last"] is not None:
                run["t_last_s"] = max(run.get("t_last_s", 0.0), row["t_last"])


def _series(values: Any, missing: float, dtype: Any) -> pl.Series:
    """A numpy array as a Polars column, ``missing`` (-1 or NaN) as null. A short one goes
    through a list: Polars' numpy route imports ``numpy.ma`` (7 ms, more than a small log's chunk
    takes to place)."""
    if len(values) > _SHORT:
        series = pl.Series(values, nan_to_null=True)
        return (series if missing != -1 else series.replace(-1, None)).cast(dtype)
    items = values.tolist()
    return pl.Series([None if v == missing or v != v else v for v in items], dtype=dtype)


_SHORT = 4096


def concat(frames: list[pl.DataFrame | None]) -> pl.DataFrame | None:
    """The frames with rows, one below the other (columns missing in one are null there)."""
    present = [f for f in frames if f is not None and f.height]
    if not present:
        return None
    return present[0] if len(present) == 1 else pl.concat(present, how="diagonal_relaxed")


def _strip(frame: pl.DataFrame) -> pl.DataFrame:
    """Without the helper columns of one chunk's assembly."""
    return frame.drop("_next_gc", "_next_run", "_next_order", "_last_gc", "_hdr_no", "_hdr_t", "_pend", strict=False)


def _extend_unique(values: list[Any], new: list[Any]) -> None:
    for value in new:
        if value not in values:
            values.append(value)
