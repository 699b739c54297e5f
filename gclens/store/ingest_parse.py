"""Parse files into part files: resumed line numbers and runs, the manifest row of each file.

Runs in the ingesting process or in worker processes; each task (a group of files) writes its own
part files under the ingest's temporary directory and reports what it wrote. Where the rows land
(provenance columns, partitions, the part files themselves) is ``ingest_parts``; its names are
re-exported here.
"""

from __future__ import annotations

import io
import os
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import pyarrow as pa
import pyarrow.compute as pc

from gclens._errors import InputError
from gclens.pipeline.parse import SourceResult
from gclens.pipeline.stream import _one_source
from gclens.read.sources import Source, _decoded
from gclens.store.ingest_parts import (
    ENVELOPE_KEYS,
    INGEST_ID_FIELD,
    LINE_COLUMNS,
    NULL_PARTITION,
    Spec,
    _Parts,
    _Writers,
    dataset_metadata,
    doc_field,
    replace_column,
    with_labels,
)
from gclens.store.ingest_plan import Prev, Task, fingerprint
from gclens.store.schemas import python_rows, rows_to_arrow

__all__ = ["ENVELOPE_KEYS", "INGEST_ID_FIELD", "LINE_COLUMNS", "NULL_PARTITION", "Chunk", "Done", "Spec",
           "dataset_metadata", "doc_field", "replace_column", "run", "with_labels"]


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
