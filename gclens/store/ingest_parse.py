"""Parse files into part files: provenance columns, partitions, resumed line numbers and runs.

Runs in the ingesting process or in worker processes; each task (a group of files) writes its own
part files under the ingest's temporary directory and reports what it wrote.
"""

from __future__ import annotations

import io
import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from gclens._errors import InputError
from gclens.pipeline.parse import SourceResult
from gclens.pipeline.stream import Options, _one_source
from gclens.read.sources import Source, _decoded
from gclens.store.ingest_plan import Prev, Task, fingerprint
from gclens.store.schemas import SCHEMA_VERSION, python_rows, rows_to_arrow, storage_table

__all__ = ["ENVELOPE_KEYS", "INGEST_ID_FIELD", "LINE_COLUMNS", "NULL_PARTITION", "Chunk", "Done", "Spec",
           "dataset_metadata", "doc_field", "replace_column", "run", "with_labels"]

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


@dataclass
class Done:
    """What parsing one file reports back: its manifest row and rows per table."""

    manifest: dict[str, Any]
    rows: Counter[str]
    resumed: bool
    error: str | None = None
    """Set when the file could not be read: its one ``sources`` row says why; no manifest entry,
    so the next ingest tries it again."""


@dataclass
class Chunk:
    """What one task (a group of files sharing part files) reports back."""

    done: list[tuple[int, Done]]
    parts: list[str]
    schemas: dict[str, pa.Schema]


def run(tasks: list[Task], spec: Spec, processes: int) -> tuple[list[Done], list[Chunk]]:
    """Parse every file, in this process or in ``processes`` workers; results in task order.

    Files are grouped into tasks that share part files (one group when serial, two per process
    otherwise, balanced by size), so a dataset does not fill with one small file per source.
    """
    groups = _groups(list(enumerate(tasks)), 1 if processes == 1 else min(len(tasks), 2 * processes))
    if len(groups) <= 1:
        chunks = [_ingest_group(group, spec) for group in groups]
    else:
        import multiprocessing

        context = multiprocessing.get_context("forkserver" if os.name == "posix" else "spawn")
        with ProcessPoolExecutor(min(processes, len(groups)), mp_context=context) as pool:
            futures = [pool.submit(_ingest_group, group, spec) for group in groups]
            try:
                chunks = [f.result() for f in futures]
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    done = sorted((d for c in chunks for d in c.done), key=lambda d: d[0])
    return [d for _, d in done], chunks


def _groups(tasks: list[tuple[int, Task]], n: int) -> list[list[tuple[int, Task]]]:
    """Largest file first into the lightest group: groups of about equal work."""
    groups: list[list[tuple[int, Task]]] = [[] for _ in range(n)]
    loads = [0] * n
    for item in sorted(tasks, key=lambda t: -t[1].content_bytes):
        lightest = loads.index(min(loads))
        groups[lightest].append(item)
        loads[lightest] += item[1].content_bytes
    return [g for g in groups if g]


def _ingest_group(group: list[tuple[int, Task]], spec: Spec) -> Chunk:
    writers = _Writers(spec)
    done = [(i, _ingest_or_record(task, spec, writers)) for i, task in group]
    writers.close()
    return Chunk(done, writers.paths, writers.schemas)


def _ingest_or_record(task: Task, spec: Spec, writers: _Writers) -> Done:
    """Ingest one file; one that cannot be read is recorded in ``sources`` and skipped.

    Its rows already handed over are taken back. Only when some were already flushed to a part
    file (the group's buffer of 200k rows filled while the file was read, and it then failed: it
    changed since it was fingerprinted) does the error abort the ingest, which then adds nothing.
    """
    if task.error is None:
        mark = writers.mark()
        try:
            return _ingest_file(task, spec, writers)
        except InputError as exc:
            if not writers.rollback(mark):
                raise
            task = replace(task, error=str(exc))
    assert task.error is not None
    parts = _Parts(spec, task, writers)
    parts.write("sources", rows_to_arrow("sources", [{"source": task.path, "error": task.error}]))
    parts.close()
    return Done({"path": task.path}, parts.rows, task.prev is not None, task.error)


def _ingest_file(task: Task, spec: Spec, writers: _Writers) -> Done:
    """Parse one file (from its resume offset) and hand its rows to the group's part files."""
    shift, parts = _Shift(task.prev), _Parts(spec, task, writers)
    last: dict[str, Any] | None = None
    with _opened(task, spec.complete) as stream:
        result = SourceResult(Source(task.path, path=Path(task.path), stream=stream))
        for name, rows in _one_source(result, spec.options):
            table = rows if isinstance(rows, pa.Table) else rows_to_arrow(name, rows)
            out = shift.feed(name, table) if table.num_rows else []
            for out_name, table in out + (shift.finish() if name == "sources" else []):
                last = _last_run(table, last) if out_name == "runs" else last
                parts.write(out_name, table)
        parts.close()
    stats = result.stats()
    return Done(_manifest_row(task, spec, stats, last, sum(parts.rows.values())), parts.rows, task.prev is not None)


def _last_run(runs: pa.Table, last: dict[str, Any] | None) -> dict[str, Any] | None:
    if not runs.num_rows:
        return last
    row = max(python_rows(runs), key=lambda r: int(r["run_id"]))
    return {"last_run_id": row["run_id"], "last_gc_num": row["gc_last"], "last_t_s": row["t_last_s"]}


@contextmanager
def _opened(task: Task, complete: bool) -> Iterator[IO[bytes] | None]:
    """The file from its resume offset; a plain file stops at its last newline unless complete."""
    offset = task.prev.offset if task.prev else 0
    try:
        fh = open(task.path, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(f"{task.path}: cannot be read ({exc.strerror})") from None
    with fh:
        if task.compression != "none":
            if not offset:
                yield None  # the pipeline opens and decompresses it itself
                return
            yield _skipped(task, fh, offset)
            return
        end = task.size if complete else _last_newline(fh, offset, task.size)
        yield io.BufferedReader(_Window(fh, offset, end))  # type: ignore[arg-type]


def _skipped(task: Task, fh: IO[bytes], offset: int) -> IO[bytes]:
    decoded = _decoded(Source(task.path), fh)
    left = offset
    try:
        while left > 0:
            chunk = decoded.read(min(left, 1 << 20))
            if not chunk:
                raise InputError(f"{task.path}: shorter than the {offset:,} bytes ingested before")
            left -= len(chunk)
    except (OSError, EOFError) as exc:
        raise InputError(f"{task.path}: cannot be read ({exc})") from None
    return decoded


def _last_newline(fh: IO[bytes], start: int, size: int) -> int:
    """End of the last complete line in [start, size): what a live writer has finished."""
    pos = size
    while pos > start:
        block = max(start, pos - (1 << 16))
        fh.seek(block)
        found = fh.read(pos - block).rfind(b"\n")
        if found >= 0:
            return block + found + 1
        pos = block
    return start


class _Window(io.RawIOBase):
    """Bytes [start, end) of an open file, as a stream."""

    def __init__(self, fh: IO[bytes], start: int, end: int) -> None:
        fh.seek(start)
        self._fh, self._left = fh, end - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        got = self._fh.readinto(memoryview(buffer)[:n])  # type: ignore[attr-defined]
        self._left -= got
        return int(got)


class _Shift:
    """Continues line numbers and run ids of a resumed file; identity for a new one.

    The first run of the appended lines continues the last run ingested unless its first gc number
    does not follow (or its SCHED clock went back): then it is a new run. Batches wait (one anchor's
    worth at most) until the first clocked row of that run decides.
    """

    def __init__(self, prev: Prev | None) -> None:
        self.prev = prev
        self.lines = prev.lines if prev else 0
        self.run_offset: int | None = None if prev and prev.run_id is not None else 0
        self.continued = False
        self.held: list[tuple[str, pa.Table]] = []

    def feed(self, name: str, table: pa.Table) -> list[tuple[str, pa.Table]]:
        if self.run_offset is None:
            self.held.append((name, table))
            self._decide(name, table)
            return self.finish() if self.run_offset is not None else []
        return [(name, self._apply(name, table))]

    def finish(self) -> list[tuple[str, pa.Table]]:
        if self.run_offset is None:
            self._settle(True)
        held, self.held = self.held, []
        return [(name, self._apply(name, table)) for name, table in held]

    def _decide(self, name: str, table: pa.Table) -> None:
        if "run_id" not in table.column_names or name == "runs":
            return
        runs = table.column("run_id").to_pylist()
        if name in ("gc", "sched") and 0 in runs:
            row = python_rows(table.slice(runs.index(0), 1))[0]
            self._settle(self._follows(name, row))
        elif any(r is not None and r > 0 for r in runs):
            self._settle(True)

    def _follows(self, name: str, row: dict[str, Any]) -> bool:
        assert self.prev is not None
        if name == "gc":
            return self.prev.gc_num is None or row["gc_num"] > self.prev.gc_num
        return self.prev.t_s is None or row["t_s"] + 1.0 >= self.prev.t_s

    def _settle(self, continues: bool) -> None:
        assert self.prev is not None and self.prev.run_id is not None
        self.continued = continues
        self.run_offset = self.prev.run_id + (0 if continues else 1)

    def _apply(self, name: str, table: pa.Table) -> pa.Table:
        for col in LINE_COLUMNS:
            if self.lines and col in table.column_names:
                table = replace_column(table, col, pc.add(table.column(col), self.lines))
        if self.run_offset and "run_id" in table.column_names:
            shifted = pc.cast(pc.add(table.column("run_id"), self.run_offset), pa.int32())
            table = replace_column(table, "run_id", shifted)
        if self.continued and "gc_num" in table.column_names and name not in ("gc", "runs"):
            table = self._last_cycle(table)
        if name == "runs" and self.prev is not None and table.num_rows:
            how = "same run" if self.continued else "a new run"
            reason = f"resumed after line {self.lines} (lines appended since the last ingest): {how}"
            first = pc.equal(table.column("run_id"), self.run_offset or 0)
            table = replace_column(table, "cut_reason", pc.if_else(first, reason, table.column("cut_reason")))
        return table


    def _last_cycle(self, table: pa.Table) -> pa.Table:
        """Lines of the continued run before its first new gc line belong to the last cycle ingested."""
        assert self.prev is not None
        orphan = pc.and_(pc.equal(table.column("run_id"), self.run_offset or 0), pc.is_null(table.column("gc_num")))
        return replace_column(table, "gc_num", pc.if_else(orphan, pa.scalar(self.prev.gc_num, pa.int64()),
                                                    table.column("gc_num")))


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


def _manifest_row(task: Task, spec: Spec, stats: dict[str, Any], last: dict[str, Any] | None,
                  rows: int) -> dict[str, Any]:
    prev = task.prev
    offset, consumed = prev.offset if prev else 0, int(stats["bytes_read"])
    return {
        "path": task.path, "size": task.size, "content_bytes": task.content_bytes, "mtime": task.mtime_ns,
        "head_len": task.head_len, "head_sha256": task.head_sha256, "fingerprint": fingerprint(task),
        "compression": task.compression,
        "offset": offset, "lines": stats["lines_read"], "bytes": consumed,
        "lines_ingested": (prev.lines if prev else 0) + stats["lines_read"], "bytes_ingested": offset + consumed,
        "pending_bytes": task.content_bytes - offset - consumed,
        **_carried(prev, last), "rows": rows, "ingest_id": spec.ingest_id, "ingested_at": None,
    }


def _carried(prev: Prev | None, last: dict[str, Any] | None) -> dict[str, Any]:
    """The file's last run after this ingest; what the new lines did not say is kept from before."""
    before = {"last_run_id": prev.run_id, "last_gc_num": prev.gc_num, "last_t_s": prev.t_s} if prev else {}
    if last is None:
        return {"last_run_id": None, "last_gc_num": None, "last_t_s": None, **before}
    if before and last["last_run_id"] == before["last_run_id"]:
        return {k: before[k] if v is None else v for k, v in last.items()}
    return last


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
