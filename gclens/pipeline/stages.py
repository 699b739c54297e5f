"""The pipeline's later stages, once, over frames: splice guard, runs and cycles, anchors, tables.

Every source comes here as chunks (``_chunks.Chunk``) whichever engine parsed it: a plain log
parsed as columns a block at a time (``_columnar``), or any source parsed line by line
(``--engine lark``, the reference, and enveloped logs, whose collector times anchor runs).
Each stage keeps only the state it needs across chunks (the last rows of each kind, the current
run, the rows waiting for their gc line or their run's anchor), so memory is bounded by the
chunk size, not by the input:

* ``_sequence.SpliceGuard`` rejects rows whose numbers carry digits other output spliced in;
* ``_runs.Assembler`` places rows in runs (process lifetimes), cycles and scheddetail dumps;
* ``_anchor.Anchorer`` gives rows their wall-clock ``ts`` once their run's anchor is known;
* the table build joins what the stages decided to each table's own columns, in its schema.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import polars as pl

from gclens.pipeline.anchor import Anchorer
from gclens.pipeline.runs import DUMP_TABLES, Assembler, concat
from gclens.pipeline.sequence import SpliceGuard
from gclens.store.schemas import SCHEMAS, polars_types

if TYPE_CHECKING:
    from gclens.pipeline.chunks import Chunk
    from gclens.pipeline.parse import SourceResult

__all__ = ["Stages"]

Batch = tuple[str, Any]
_AS_ROWS = 2_000
"""Up to this many rows a table's batch goes out as rows (dicts), which the sinks lay out in
Arrow themselves (``_rows_arrow``), until ``pyarrow.compute`` is imported: Polars' Arrow types
need a cast, and the cast's first use imports it (40 ms, more than a small log takes to parse);
after that, casting costs less than laying out rows in Python."""
_DECIDED = ("run_id", "gc_num", "t_s", "sched_line_no", "ts")
"""Columns the stages decide (the rest of a row is as parsed)."""


class Stages:
    """Streams one source's chunks into table batches: Arrow tables, or rows (dicts) for a small
    batch before ``pyarrow.compute`` is loaded (``_AS_ROWS``); rejects and runs as rows."""

    def __init__(self, result: SourceResult, *, start_ns: int | None, timeless: bool) -> None:
        self.result = result
        self.guard = SpliceGuard(result)
        self.assembler = Assembler(result.source.name)
        self.anchorer = Anchorer(start_ns=start_ns, timeless=timeless)
        self.store: dict[str, list[pl.DataFrame]] = {}  # each table's columns of rows not yet out

    def feed(self, chunk: Chunk | None, *, final: bool = False) -> Iterator[Batch]:
        """Batches for one chunk; its rows are decided on in its skeleton, in line order."""
        if chunk is not None:
            for name, frame in chunk.tables.items():
                self.store.setdefault(name, []).append(frame)
        ready, rejects = self.guard.feed(None if chunk is None else chunk.skeleton, final=final)
        if rejects:
            self._forget({int(r["_order"]) for r in rejects})
            yield "rejects", [{k: v for k, v in r.items() if k != "_order"} for r in rejects]
        settled = self.assembler.feed(ready)
        if final:
            settled = concat([settled, self.assembler.settle_leftover()])
        yield from self._tables(self.anchorer.feed(settled))
        runs = self.assembler.finish() if final else self.assembler.close_runs()
        if runs or final:
            yield from self._tables(self.anchorer.close(runs))
            yield "runs", runs

    def _forget(self, orders: set[int]) -> None:
        """Drop rejected rows' table columns."""
        for name, parts in self.store.items():
            self.store[name] = [part.filter(~pl.col("_order").is_in(list(orders))) for part in parts]

    def _tables(self, settled: pl.DataFrame | None) -> Iterator[Batch]:
        """Each table's settled rows: its own columns joined with what the stages decided."""
        if settled is None or settled.is_empty():
            return
        container = self.result.container
        for (table,), decided in settled.group_by("_table", maintain_order=True):
            name = str(table)
            schema = polars_types(name)
            owned = [c for c in _DECIDED if c in schema and c in decided.columns
                     and (c != "t_s" or name in DUMP_TABLES)]
            parts = self.store.pop(name, [])
            stored = parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")
            rows, rest = _settled_rows(stored, decided.select("_order", *owned))
            if rest is not None:
                self.store[name] = [rest]
            extra = {"source": pl.lit(self.result.source.name)}
            if container:  # the envelope's own container name, where it gives one, wins
                extra["container"] = pl.coalesce(pl.col("container"), pl.lit(container)) \
                    if "container" in rows.columns else pl.lit(container)
            rows = rows.with_columns(**extra)
            columns = [pl.col(c).cast(dtype) if c in rows.columns else pl.lit(None, dtype=dtype).alias(c)
                       for c, dtype in schema.items()]
            rows = rows.select(columns)
            if rows.height <= _AS_ROWS and "pyarrow.compute" not in sys.modules:  # the sinks lay them out
                times = [c for c, dtype in schema.items() if dtype == pl.Datetime]  # as rows: ns since the epoch
                yield name, rows.with_columns(pl.col(times).cast(pl.Int64)).to_dicts()
            else:
                yield name, rows.to_arrow().cast(SCHEMAS[name])


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
