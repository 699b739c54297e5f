"""A chunk of parsed rows as the later stages take it, whichever engine parsed them.

Rows parsed as columns (``_columnar``) and rows parsed line by line (``_parse``, Lark or the
fast engine on one line, envelopes) both become a ``Chunk``: a narrow ``skeleton`` of every row
in line order with only the columns the stages decide on, and each table's own columns keyed
by ``_order``. The splice guard, run assembly, anchoring and the table build (``_stages``) then
exist once, over frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import polars as pl

from gclens.store.schemas import polars_types

if TYPE_CHECKING:
    from gclens.pipeline.records import Record

__all__ = ["ANCHOR_COLUMNS", "Chunk", "chunk_frame", "joined", "record_frames"]

_BASE = {"kind": pl.String, "gc_num": pl.Int64, "t_s": pl.Float64, "detail": pl.Boolean, "layout": pl.String,
         "procs": pl.Int64, "gomaxprocs": pl.Int64, "sched_line_no": pl.Int64, "_text": pl.String}
"""Columns the later stages read, present in every chunk (null where a table lacks them)."""

ANCHOR_COLUMNS = {"wall_ms": pl.Float64, "_log_ns": pl.Int64, "_log_ts_res": pl.Int64, "_mono_ns": pl.Int64,
                  "_boot_id": pl.String}
"""What anchoring a run on its envelope times reads from its gc and SCHED rows: in the skeleton
only where rows carry them (a plain log has no envelope times)."""


@dataclass
class Chunk:
    """One block's rows: a narrow ``skeleton`` the later stages decide on (every row, in line
    order, only the columns they read) and each table's own columns, by ``_order``."""

    skeleton: pl.DataFrame
    tables: dict[str, pl.DataFrame]


def record_frames(records: list[Record]) -> list[pl.DataFrame]:
    """Rows parsed line by line (``Record``), as frames like ``_columnar.served_frames``.

    A rejoined torn line can give two rows with one line number: ``_order`` keeps them apart.
    Envelope times ride along in the anchor columns of gc and SCHED rows.
    """
    seen: dict[int, int] = {}
    by_table: dict[str, list[tuple[Record, int]]] = {}
    for rec in records:
        seen[rec.line_no] = seen.get(rec.line_no, -1) + 1
        by_table.setdefault(rec.table, []).append((rec, rec.line_no * 4 + seen[rec.line_no]))
    frames = []
    for table, recs in by_table.items():
        frame = pl.from_dicts([r.row for r, _ in recs], schema=polars_types(table), strict=False)
        extra: dict[str, Any] = {"line_no": pl.Series([r.line_no for r, _ in recs], dtype=pl.Int64),
                 "_order": pl.Series([order for _, order in recs], dtype=pl.Int64), "_table": pl.lit(table),
                 "_text": pl.Series([r.text for r, _ in recs], dtype=pl.String)}
        if table in ("gc", "sched") and any("log_ts" in r.row for r, _ in recs):
            extra.update(_anchor_inputs([r.row for r, _ in recs]))
        frames.append(frame.with_columns(**extra))
    return frames


def _anchor_inputs(rows: list[dict[str, Any]]) -> dict[str, pl.Series]:
    """The envelope's times of each row, as the anchor columns (``_log_ns``: ``log_ts`` in ns)."""
    keys = {"_log_ns": "log_ts", "_log_ts_res": "_log_ts_res", "_mono_ns": "_mono_ns", "_boot_id": "_boot_id"}
    return {name: pl.Series([row.get(key) for row in rows], dtype=ANCHOR_COLUMNS[name])
            for name, key in keys.items()}


def joined(first: Chunk | None, second: Chunk | None) -> Chunk | None:
    """One chunk holding the rows of both (the rows served as columns and those taken line by line)."""
    if first is None or second is None:
        return first or second
    tables = dict(first.tables)
    for name, frame in second.tables.items():
        tables[name] = pl.concat([tables[name], frame], how="diagonal_relaxed") if name in tables else frame
    return Chunk(pl.concat([first.skeleton, second.skeleton], how="diagonal_relaxed").sort("_order"), tables)


def chunk_frame(frames: list[pl.DataFrame]) -> Chunk | None:
    """One chunk's rows of every table (frames with ``_table``, ``_order`` and table columns)."""
    frames = [f for f in frames if f.height]
    if not frames:
        return None
    read = [*_BASE, *ANCHOR_COLUMNS]
    narrow = [f.select("_order", "line_no", "_table", *[c for c in read if c in f.columns]) for f in frames]
    skeleton = pl.concat(narrow, how="diagonal_relaxed").sort("_order")
    missing = [pl.lit(None, dtype=dtype).alias(name) for name, dtype in _BASE.items() if name not in skeleton.columns]
    if missing:
        skeleton = skeleton.with_columns(missing)
    by_table: dict[str, list[pl.DataFrame]] = {}
    for frame in frames:
        private = ["_table", "_text", *[c for c in ANCHOR_COLUMNS if c.startswith("_")]]
        by_table.setdefault(frame["_table"][0], []).append(frame.drop(private, strict=False))
    tables = {name: parts[0] if len(parts) == 1 else pl.concat(parts, how="diagonal_relaxed")
              for name, parts in by_table.items()}
    return Chunk(skeleton, tables)
