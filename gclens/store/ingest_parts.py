"""Rows on their way to an ingest's part files: provenance columns, partitions, buffered writers.

Split from ``ingest_parse`` (which reads the files and resumes their line numbers and runs) so each
stays one unit: this module decides where every row lands (its ingest id, labels, partition values)
and writes it; ``dataset_commit`` shares its constants and helpers when it commits the parts.
"""

from __future__ import annotations

import json
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gclens.pipeline.stream import Options
from gclens.store.ingest_plan import Task
from gclens.store.schemas import SCHEMA_VERSION, storage_table

__all__ = ["ENVELOPE_KEYS", "INGEST_ID_FIELD", "LINE_COLUMNS", "NULL_PARTITION", "Spec", "dataset_metadata",
           "doc_field", "replace_column", "with_labels"]

NULL_PARTITION = "__HIVE_DEFAULT_PARTITION__"
ENVELOPE_KEYS = ("host", "unit", "container", "stream")
LINE_COLUMNS = ("line_no", "first_line", "last_line", "sched_line_no")
_NO_ENVELOPE = frozenset({"runs", "rejects", "sources"})
_FLUSH_ROWS = 50_000
_BUFFER_ROWS = 200_000


def doc_field(name: str, type_: pa.DataType, doc: str) -> pa.Field:
    """A field documented like gclens.SCHEMAS' own (the docs travel in the Parquet files)."""
    return pa.field(name, type_, metadata={"doc": doc})


INGEST_ID_FIELD = doc_field("ingest_id", pa.string(), "The ingest that wrote the row (see _gclens_manifest).")


@dataclass(frozen=True)
class Spec:
    """What every task of one ingest shares."""

    tmp: Path
    ingest_id: str
    partition_by: tuple[str, ...]
    label_keys: tuple[str, ...]
    options: Options
    complete: bool


class _Parts:
    """Rows of one source on their way to the part files: provenance added, split by partition.

    One rule for the partition values of every table of a file (``gclens.dataset``'s docstring):
    a label wins; else the row's own value (envelope column, day of its wall clock); else, for
    rows that have none (``runs``, ``rejects``, ``sources``), the value most seen in the file's rows;
    else null (``date``: the file's modification day). Those tables wait until the file is read.
    """

    def __init__(self, spec: Spec, task: Task, writers: _Writers) -> None:
        self.spec, self.writers, self.labels = spec, writers, task.labels
        self.day = datetime.fromtimestamp(task.mtime_ns / 1e9, UTC).date()
        self.rows: Counter[str] = Counter()
        self.seen: dict[str, Counter[str]] = {k: Counter() for k in (*ENVELOPE_KEYS, "date")}
        self.held: dict[str, list[pa.Table]] = {}

    def write(self, name: str, table: pa.Table) -> None:
        table = storage_table(with_labels(table, self.labels))
        table = table.append_column(INGEST_ID_FIELD, pa.repeat(self.spec.ingest_id, table.num_rows))
        if name not in _NO_ENVELOPE:
            self._count(name, table)
            self._emit(name, table)
            return
        self.held.setdefault(name, []).append(table)  # until the file's usual host and day are known
        if sum(t.num_rows for t in self.held[name]) >= _FLUSH_ROWS:
            self._emit(name, pa.concat_tables(self.held.pop(name)))

    def close(self) -> None:
        for name, tables in self.held.items():
            self._emit(name, pa.concat_tables(tables))

    def _count(self, name: str, table: pa.Table) -> None:
        for key in self.spec.partition_by:
            if key == "date":
                values = _dates(name, table, None)
            elif key in ENVELOPE_KEYS and key in table.column_names:
                values = table.column(key)
            else:
                continue
            counts = pc.value_counts(values.drop_null()).to_pylist()
            self.seen[key].update({c["values"]: c["counts"] for c in counts})

    def _emit(self, name: str, table: pa.Table) -> None:
        keys = self.spec.partition_by
        values = [self._values(name, table, key) for key in keys]
        data = table.drop_columns([k for k in keys if k in table.column_names])
        combos = pa.table(dict(zip(keys, values, strict=True))).group_by(list(keys)).aggregate([]) if keys else None
        for combo in combos.to_pylist() if combos is not None else [{}]:
            mask = _mask(values, [combo[k] for k in keys])
            part = data.filter(mask) if mask is not None else data
            self.writers.append(name, tuple(combo[k] for k in keys), part)
            self.rows[name] += part.num_rows

    def _values(self, name: str, table: pa.Table, key: str) -> pa.Array:
        common = self.seen[key].most_common(1) if key in self.seen else []
        usual = pa.scalar(common[0][0] if common else None, pa.string())
        if key == "date":
            day = _dates(name, table, None)
            if name in _NO_ENVELOPE:
                day = pc.coalesce(day, usual)
            return pc.coalesce(day, pa.scalar(self.day.isoformat(), pa.string()))
        own = table.column(key).combine_chunks() if key in table.column_names else pa.nulls(table.num_rows, pa.string())
        return pc.coalesce(own, usual) if name in _NO_ENVELOPE else own


class _Writers:
    """The part files of one task: one per (table, partition), rows buffered into large row groups."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.writers: dict[tuple[str, tuple[str | None, ...]], pq.ParquetWriter] = {}
        self.pending: dict[tuple[str, tuple[str | None, ...]], list[pa.Table]] = {}
        self.pending_rows = 0
        self.paths: list[str] = []
        self.schemas: dict[str, pa.Schema] = {}
        self.flushes = 0

    def mark(self) -> tuple[int, dict[tuple[str, tuple[str | None, ...]], int]]:
        """Where the buffered rows stand: ``rollback`` returns there."""
        return self.flushes, {key: len(tables) for key, tables in self.pending.items()}

    def rollback(self, mark: tuple[int, dict[tuple[str, tuple[str | None, ...]], int]]) -> bool:
        """Drop the rows appended since ``mark``; False when some were already written."""
        flushes, lengths = mark
        if flushes != self.flushes:
            return False
        self.pending = {key: tables[:lengths.get(key, 0)] for key, tables in self.pending.items()}
        self.pending = {key: tables for key, tables in self.pending.items() if tables}
        self.pending_rows = sum(t.num_rows for tables in self.pending.values() for t in tables)
        return True

    def append(self, name: str, combo: tuple[str | None, ...], part: pa.Table) -> None:
        self.pending.setdefault((name, combo), []).append(part)
        self.pending_rows += part.num_rows
        if self.pending_rows >= _BUFFER_ROWS:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            self.flushes += 1
        for (name, combo), tables in self.pending.items():
            self._writer(name, combo, tables[0].schema).write_table(pa.concat_tables(tables))
        self.pending, self.pending_rows = {}, 0

    def close(self) -> None:
        self.flush()
        for writer in self.writers.values():
            writer.close()

    def _writer(self, name: str, combo: tuple[str | None, ...], schema: pa.Schema) -> pq.ParquetWriter:
        writer = self.writers.get((name, combo))
        if writer is None:
            rel = Path(name, *(_segment(k, v) for k, v in zip(self.spec.partition_by, combo, strict=True)),
                       f"part-{uuid.uuid4().hex}.parquet")
            (self.spec.tmp / "parts" / rel).parent.mkdir(parents=True, exist_ok=True)
            schema = schema.with_metadata({**(schema.metadata or {}), **dataset_metadata(self.spec)})
            writer = pq.ParquetWriter(self.spec.tmp / "parts" / rel, schema, compression="zstd")
            self.writers[(name, combo)] = writer
            self.paths.append(rel.as_posix())
            self.schemas[name] = schema
        return writer


def _dates(name: str, table: pa.Table, fallback: Any) -> pa.Array:
    """UTC day of the row's wall clock (ts, then log_ts; start_ts for runs) as text, else ``fallback``."""
    days = pa.repeat(pa.scalar(fallback, pa.date32()), table.num_rows)
    for col in ("start_ts",) if name == "runs" else ("log_ts", "ts"):
        if col in table.column_names:
            days = pc.coalesce(pc.cast(table.column(col).combine_chunks(), pa.date32()), days)
    return pc.cast(days, pa.string())


def _mask(values: list[pa.Array], combo: list[str | None]) -> pa.Array | None:
    mask = None
    for array, value in zip(values, combo, strict=True):
        hit = pc.is_null(array) if value is None else pc.fill_null(pc.equal(array, value), False)
        mask = hit if mask is None else pc.and_(mask, hit)
    return mask


def _segment(key: str, value: str | None) -> str:
    return f"{key}={NULL_PARTITION if value is None else quote(value, safe='')}"


def dataset_metadata(spec: Spec) -> dict[str, str]:
    return {"gclens.schema_version": SCHEMA_VERSION, "gclens.partition_by": json.dumps(list(spec.partition_by)),
            "gclens.ingest_id": spec.ingest_id}


def with_labels(table: pa.Table, labels: Mapping[str, str | None]) -> pa.Table:
    """Add one constant column per label; a label named like a column (``host``) replaces it.

    The label wins over the envelope in every row of every table, so the tables of one file never
    disagree on a partition value (an envelope's ``host`` with runs' label ``host``). A label a file
    lacks (None) leaves the column as it is.
    """
    for key, value in labels.items():
        if key in table.column_names:
            if value is not None:
                table = replace_column(table, key, pa.repeat(pa.scalar(value, pa.string()), table.num_rows))
        else:
            table = table.append_column(doc_field(key, pa.string(), "Label given at ingest."),
                                        pa.repeat(pa.scalar(value, pa.string()), table.num_rows))
    return table


def replace_column(table: pa.Table, name: str, values: Any) -> pa.Table:
    i = table.schema.get_field_index(name)
    return table.set_column(i, table.schema.field(i), values)
