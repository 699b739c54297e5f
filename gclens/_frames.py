"""The pipeline's later stages over frames: splice guard, runs, cycles and anchors, per chunk.

The same decisions as the row-at-a-time stages (``_sequence``, ``_runs``, ``_anchor``), taken
for a whole chunk of rows at once, for plain logs (no envelope: no collector times to anchor
on). Python touches only what is sequential by nature (placing the gc and SCHED lines into runs)
and the few rows a vectorised test flags (a possible splice); the rest are Polars expressions.
The fast engine uses these stages; ``--engine lark`` keeps the row-at-a-time ones, and the
differential tests demand identical tables from both.

A chunk is one "wide" frame: every runtime row of the chunk whatever its table, in line order
(``_order``), with ``_table`` naming its table and the union of the tables' columns.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import polars as pl

from gclens._columnar import Chunk
from gclens._parse import Record, SourceResult
from gclens._runs import _BEFORE_GC_LINE, _DUMP_TABLES, _END_OF_SWEEP, _LIVE_RUNS, _Splitter
from gclens._schemas import SCHEMAS, polars_types
from gclens._sequence import MAX_HELD, _gc_damage, _sched_damage

Batch = tuple[str, Any]
_RECENT_CYCLES = 4096  # as in _anchor
_CLOCKED = ["gc", "sched"]


class FrameStages:
    """Streams one plain source's chunks into table batches, keeping state across chunks."""

    def __init__(self, result: SourceResult, *, start_ns: int | None) -> None:
        self.result = result
        self.source = result.source.name
        self.start_ns = start_ns
        self.held: pl.DataFrame | None = None  # guard: rows waiting for their next neighbour
        self.last: dict[str, dict[str, Any]] = {}  # guard: the last settled gc and SCHED rows
        self.splitter = _Splitter()
        self.reasons: dict[int, str] = {}
        self.pending: pl.DataFrame | None = None  # rows waiting for the gc line of their cycle
        self.last_gc: dict[int, int] = {}
        self.runs: dict[int, dict[str, Any]] = {}
        self.cycles: dict[tuple[int, int], float] = {}
        self.store: dict[str, list[pl.DataFrame]] = {}  # each table's columns of rows not yet out

    def feed(self, chunk: Chunk | None, *, final: bool = False) -> Iterator[Batch]:
        """Batches for one chunk; its rows are decided on in its skeleton, in line order."""
        if chunk is not None:
            for name, frame in chunk.tables.items():
                self.store.setdefault(name, []).append(frame)
        ready, rejects = self._guard(None if chunk is None else chunk.skeleton, final)
        if rejects:
            self._forget({int(r["_order"]) for r in rejects})
            yield "rejects", [{k: v for k, v in r.items() if k != "_order"} for r in rejects]
        settled = self._assemble(ready)
        if final:
            settled = _concat([settled, self._settle_leftover()])
        yield from self._tables(settled)
        if final:
            runs = [self._describe(self.runs[k]) for k in sorted(self.runs)]
            yield "runs", runs
        else:
            closed = self._close_runs()
            if closed:
                yield "runs", closed

    # -- splice guard (as _sequence.SpliceGuard) -------------------------------------------

    def _guard(self, chunk: pl.DataFrame | None, final: bool) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        pending = _concat([self.held, chunk])
        if pending is None or pending.is_empty():
            self.held = None
            return _EMPTY, []
        pending = pending.with_row_index("_i")
        bad: dict[int, str] = {}
        last_index = []
        for kind in _CLOCKED:
            rows = pending.filter(pl.col("_table") == kind)
            if rows.height:
                last_index.append(int(rows["_i"][-1]))
                bad.update(self._judge(kind, rows))
        cut = pending.height if final or not last_index else max(min(last_index), pending.height - MAX_HELD)
        ready, self.held = pending.slice(0, cut).drop("_i"), pending.slice(cut).drop("_i")
        for kind in _CLOCKED:
            rows = ready.filter(pl.col("_table") == kind)
            if rows.height:
                self.last[kind] = rows.row(rows.height - 1, named=True)
        if not bad:
            return ready, []
        flagged = ready.filter(pl.col("_order").is_in(list(bad)))
        rejects = [{"_order": row["_order"], "source": self.source, "line_no": row["line_no"], "column": None,
                    "family": "gctrace" if row["_table"] == "gc" else "sched",
                    "reason": bad[row["_order"]], "text": row["_text"]}
                   for row in flagged.select("_order", "line_no", "_table", "_text").iter_rows(named=True)]
        self.result.record_count -= len(rejects)
        self.result.reject_count += len(rejects)
        return ready.filter(~pl.col("_order").is_in(list(bad))), rejects

    def _judge(self, kind: str, rows: pl.DataFrame) -> dict[int, str]:
        """Reasons by ``_order`` for rows whose numbers carry spliced digits (see _sequence)."""
        fields = ["gc_num", "procs", "t_s"] if kind == "gc" else ["t_s"]
        seq = rows.select("_order", *fields)
        if kind in self.last:
            seq = pl.concat([pl.DataFrame([{k: self.last[kind][k] for k in ("_order", *fields)}],
                                          schema=seq.schema), seq])
        t0, t, t1 = pl.col("t_s").shift(1), pl.col("t_s"), pl.col("t_s").shift(-1)
        if kind == "gc":
            a, n, b = pl.col("gc_num").shift(1), pl.col("gc_num"), pl.col("gc_num").shift(-1)
            p0, p, p1 = pl.col("procs").shift(1), pl.col("procs"), pl.col("procs").shift(-1)
            maybe = (((a < b) & ~((a < n) & (n < b)) & (b - a <= 1000)) | ((p0 == p1) & (p1 != p))
                     | ((t0 <= t1) & ~((t0 <= t) & (t <= t1))))
        else:
            maybe = ~((t0 <= t) & (t <= t1))
        inner = pl.col("_order").shift(1).is_not_null() & pl.col("_order").shift(-1).is_not_null()
        flagged = seq.with_row_index("_k").filter(inner & maybe.fill_null(True))
        if flagged.is_empty():
            return {}
        check = _gc_damage if kind == "gc" else _sched_damage
        out = {}
        for k in flagged["_k"].to_list():  # few: only these rows become Python dicts
            before, row, after = seq.slice(k - 1, 3).rows(named=True)
            reason = check(before, row, after)
            if reason:
                out[row["_order"]] = reason
        return out

    # -- runs and cycles (as _runs.Assembler) --------------------------------------------------

    def _assemble(self, ready: pl.DataFrame) -> pl.DataFrame | None:
        """Rows that are settled: run, cycle and dump filled in; the rest wait in ``pending``."""
        if ready.is_empty():
            return None
        ready = self._place(ready)
        is_gc = pl.col("_table") == "gc"
        kind = pl.col("kind") if "kind" in ready.columns else pl.lit(None, dtype=pl.String)
        carried = self.pending is not None and self.pending.height > 0
        seg = is_gc.cast(pl.Int64).cum_sum()
        before = kind.is_in(list(_BEFORE_GC_LINE)).fill_null(False)
        earlier = (before.cast(pl.Int64).cum_sum().over(seg) - before.cast(pl.Int64)) > 0
        eos = kind.is_in(list(_END_OF_SWEEP)).fill_null(False)
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
        self.pending = _concat([self.pending if carried_rows is None else None, _strip(waiting)])
        gc_rows = frame.filter(is_gc)
        for run_id, gc_num in gc_rows.group_by("run_id").agg(pl.col("gc_num").last()).iter_rows():
            self.last_gc[run_id] = gc_num
        self._remember_cycles(gc_rows)
        settled = _concat([carried_rows, _strip(now)])
        if settled is not None:
            self._account(settled)
        return settled

    def _place(self, ready: pl.DataFrame) -> pl.DataFrame:
        """Run ids (and the scheddetail header in effect) from the sequential run splitter."""
        clocked = ready.select(pl.arg_where(pl.col("_table").is_in(_CLOCKED))).to_series().to_numpy()
        runs, hdr_no, hdr_t = [], [], []
        splitter = self.splitter
        if splitter.current is None and (not len(clocked) or clocked[0] != 0):
            self._remember(splitter.place(Record(0, "events", {}, "")))  # rows before any clock
        init = splitter.current
        header = None if init is None else init.header  # before the placements below change it
        first = (None if init is None else init.run_id, None if header is None else header.line_no,
                 None if header is None else header.row["t_s"])
        for table, line_no, gc_num, t_s, detail in ready[clocked].select(
                "_table", "line_no", "gc_num", "t_s", "detail").iter_rows():
            run = splitter.place(Record(line_no, table, {"gc_num": gc_num, "t_s": t_s, "detail": detail}, ""))
            self._remember(run)
            runs.append(run.run_id)
            hdr_no.append(run.header.line_no if run.header else None)
            hdr_t.append(run.header.row["t_s"] if run.header else None)
        index = np.searchsorted(clocked, np.arange(ready.height), side="right") - 1
        before = pl.Series(index < 0)
        picked = {}
        for name, values, start, dtype in (("run_id", runs, first[0], pl.Int64),
                                           ("_hdr_no", hdr_no, first[1], pl.Int64),
                                           ("_hdr_t", hdr_t, first[2], pl.Float64)):
            spread = pl.Series(values, dtype=dtype).gather(np.maximum(index, 0)) if values \
                else pl.Series([None] * ready.height, dtype=dtype)
            picked[name] = pl.when(before).then(pl.lit(start, dtype=dtype)).otherwise(spread)
        return ready.with_columns(**picked)

    def _remember(self, run: Any) -> None:
        self.reasons.setdefault(run.run_id, run.cut_reason)

    def _fill_cycles(self, frame: pl.DataFrame) -> pl.DataFrame:
        """gc_num of every row that is not a gc or SCHED line; t_s of scheddetail rows."""
        known = pl.col("run_id").replace_strict(list(self.last_gc), list(self.last_gc.values()),
                                                default=None, return_dtype=pl.Int64) if self.last_gc \
            else pl.lit(None, dtype=pl.Int64)
        table = pl.col("_table")
        dump = table.is_in(list(_DUMP_TABLES))
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
                sched_line_no=pl.when(dump).then(pl.col("_hdr_no")).otherwise(pl.col("sched_line_no")
                                                                             if "sched_line_no" in frame.columns
                                                                             else None),
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

    def _settle_leftover(self) -> pl.DataFrame | None:
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

    def _remember_cycles(self, gc_rows: pl.DataFrame) -> None:
        if self.start_ns is None:
            return
        for run_id, gc_num, t_s in gc_rows.select("run_id", "gc_num", "t_s").iter_rows():
            self.cycles[(run_id, gc_num)] = t_s
        while len(self.cycles) > _RECENT_CYCLES:
            del self.cycles[next(iter(self.cycles))]

    def _account(self, settled: pl.DataFrame) -> None:
        """Keep the runs table up to date (as _runs.Assembler._account), in emission order."""
        if settled.is_empty():
            return
        table = pl.col("_table")
        layout = pl.col("layout") if "layout" in settled.columns else pl.lit(None, dtype=pl.String)
        procs = pl.when(table == "gc").then(pl.col("procs") if "procs" in settled.columns else None) \
            .when(table == "sched").then(pl.col("gomaxprocs") if "gomaxprocs" in settled.columns else None)
        per_run = settled.sort("_emit", "_sub", "_order").group_by("run_id", maintain_order=True).agg(
            first_line=pl.col("line_no").min(), last_line=pl.col("line_no").max(),
            layouts=pl.concat_str(table, pl.lit(":"), layout.fill_null("None")).unique(maintain_order=True),
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

    def _close_runs(self) -> list[dict[str, Any]]:
        """Runs that can take no more lines (as _runs.Assembler.close_runs), described."""
        oldest_live = self.splitter.opened - _LIVE_RUNS
        waiting = set() if self.pending is None else set(self.pending["run_id"].to_list())
        done = sorted(k for k in self.runs if k < oldest_live and k not in waiting)
        for run_id in done:
            self.last_gc.pop(run_id, None)
            self.reasons.pop(run_id, None)
        return [self._describe(self.runs.pop(k)) for k in done]

    def _describe(self, run: dict[str, Any]) -> dict[str, Any]:
        """The anchor of a run of a plain log: the user's --start, or none (nothing is guessed)."""
        run.update(mono_start_ns=None, boot_id=None, start_ts=self.start_ns)
        if self.start_ns is not None:
            run.update(anchor="given by the user (--start)", anchor_lines=0)
        return run

    # -- output ------------------------------------------------------------------------------

    def _forget(self, orders: set[int]) -> None:
        """Drop rejected rows' table columns."""
        for name, parts in self.store.items():
            self.store[name] = [part.filter(~pl.col("_order").is_in(list(orders))) for part in parts]

    def _tables(self, settled: pl.DataFrame | None) -> Iterator[Batch]:
        """Each table's settled rows: its own columns joined with what the stages decided."""
        if settled is None or settled.is_empty():
            return
        settled = self._timestamps(settled)
        container = self.result.container
        for (table,), decided in settled.group_by("_table", maintain_order=True):
            name = str(table)
            schema = polars_types(name)
            owned = [c for c in _DECIDED if c in schema and c in decided.columns
                     and (c != "t_s" or name in _DUMP_TABLES)]
            parts = self.store.pop(name, [])
            stored = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")
            rows, rest = _settled_rows(stored, decided.select("_order", *owned))
            if rest is not None:
                self.store[name] = [rest]
            extra = {"source": pl.lit(self.source)}
            if container:
                extra["container"] = pl.lit(container)
            rows = rows.with_columns(**extra)
            columns = [pl.col(c).cast(dtype) if c in rows.columns else pl.lit(None, dtype=dtype).alias(c)
                       for c, dtype in schema.items()]
            yield name, rows.select(columns).to_arrow().cast(SCHEMAS[name])

    def _timestamps(self, settled: pl.DataFrame) -> pl.DataFrame:
        """``ts`` from the user's start (as _anchor.Anchorer with ``start_ns`` and no envelope)."""
        if self.start_ns is None:
            return settled
        lookup = pl.DataFrame([(r, g, t) for (r, g), t in self.cycles.items()],
                              schema={"run_id": pl.Int64, "gc_num": pl.Int64, "_cycle_t": pl.Float64}, orient="row")
        settled = settled.join(lookup, on=["run_id", "gc_num"], how="left", maintain_order="left", nulls_equal=False)
        t = pl.coalesce(pl.col("t_s"), pl.when(pl.col("gc_num").is_not_null()).then(pl.col("_cycle_t")))
        return settled.with_columns(ts=(self.start_ns + (t * 1e9).round().cast(pl.Int64)))


_EMPTY = pl.DataFrame()
_DECIDED = ("run_id", "gc_num", "t_s", "sched_line_no", "ts")
"""Columns the stages decide (the rest of a row is as parsed)."""


def _settled_rows(stored: pl.DataFrame, decided: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame | None]:
    """A table's stored rows that are settled, in line order, with the decided columns (after
    ``_order``); and the stored rows still waiting, if any. Usually every stored row is settled:
    then the decided columns are put beside them, no join needed."""
    stored, decided = (f if f["_order"].is_sorted() else f.sort("_order") for f in (stored, decided))
    if stored.height == decided.height and stored["_order"].equals(decided["_order"]):
        return stored.drop(decided.columns[1:], strict=False).hstack(decided.drop("_order")), None
    rest = stored.join(decided.select("_order"), on="_order", how="anti")
    rows = stored.drop(decided.columns[1:], strict=False).join(decided, on="_order", how="inner").sort("_order")
    return rows, rest if rest.height else None


def _concat(frames: list[pl.DataFrame | None]) -> pl.DataFrame | None:
    present = [f for f in frames if f is not None and f.height]
    if not present:
        return None
    return present[0] if len(present) == 1 else pl.concat(present, how="diagonal_relaxed")


def _strip(frame: pl.DataFrame) -> pl.DataFrame:
    """Without the helper columns of one chunk's assembly."""
    return frame.drop([c for c in ("_next_gc", "_next_run", "_next_order", "_last_gc", "_hdr_no", "_hdr_t", "_pend")
                       if c in frame.columns])


def _extend_unique(values: list[Any], new: list[Any]) -> None:
    for value in new:
        if value not in values:
            values.append(value)
