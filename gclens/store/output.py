"""Write tables to a directory, all or nothing, from a Trace or straight from the sources.

Every table is written (empty ones keep their schema) into a temporary directory beside the
target, then moved into place, so an interrupted run never leaves a half-written file. Files and
directories get the process umask's modes, as any other tool's output. Parquet files hold
``gclens.store.schemas.storage_schema`` (microsecond timestamps); CSV and JSONL keep nanoseconds.
Rows become Parquet through pyarrow alone (``_rows_arrow``): Polars, which CSV and JSONL are
written with, is imported only for those.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import pyarrow as pa

from gclens._errors import OutputError
from gclens.pipeline.stream import Batch, Options, Summary, stream
from gclens.read.sources import SourceLike
from gclens.store.formats import FORMATS, Format
from gclens.store.rows_arrow import stored_table
from gclens.store.schemas import SCHEMAS, TABLE_NAMES, python_rows, rows_to_arrow, storage_table

if TYPE_CHECKING:
    import pyarrow.parquet as pq

    from gclens.context.align import Aligned
    from gclens.pipeline.reader import Trace

__all__ = ["ROW_GROUP_BYTES", "ROW_GROUP_ROWS", "convert", "stream_json_lines", "write_aligned", "write_batches",
           "write_tables", "write_text_atomic"]



def write_tables(trace: Trace, out_dir: str | os.PathLike[str], *, fmt: Format = "parquet") -> list[Path]:
    """Write every table of an in-memory Trace to ``out_dir/<table>.<fmt>``; return the paths.

    Raises OutputError (and leaves nothing behind) when the directory cannot be written.
    """
    return _write_dir(((name, trace.arrow(name)) for name in trace), out_dir, fmt)


def write_aligned(trace: Trace, aligned: Aligned, out_dir: str | os.PathLike[str], *,
                  fmt: Format = "parquet") -> list[Path]:
    """Write the parse tables and the align tables (settings, gc_settings, perf_samples, alignment)."""
    tables = [(name, trace.arrow(name)) for name in trace] + list(aligned.tables.items())
    return _write_dir(tables, out_dir, fmt, required=(*TABLE_NAMES, *aligned.tables))


def convert(source: SourceLike | list[SourceLike], out_dir: str | os.PathLike[str], *,
            fmt: Format = "parquet", options: Options | None = None) -> Summary:
    """Parse sources straight into table files, chunk by chunk: memory does not grow with input.

    Every table is written, empty ones with their schema; nothing is left behind on failure.
    """
    summary = Summary()

    def counted() -> Iterator[Batch]:
        for name, rows in stream(source, options or Options()):
            summary.add(name, rows)
            yield name, rows

    _write_dir(counted(), out_dir, fmt)
    return summary


def write_batches(batches: Iterable[Batch], out_dir: str | os.PathLike[str], *, fmt: Format = "parquet") -> list[Path]:
    """Write streamed batches (``gclens.pipeline.stream.stream``'s, perhaps watched on the way, as the
    live commands do) the way ``convert`` writes them: all or nothing."""
    return _write_dir(batches, out_dir, fmt)


def stream_json_lines(source: SourceLike | list[SourceLike], out: TextIO, *,
                      options: Options | None = None) -> Summary:
    """Every row as one JSON object per line on ``out``, with its table in ``"table"``."""
    summary = Summary()
    for name, rows in stream(source, options or Options()):
        summary.add(name, rows)
        columns = SCHEMAS[name].names
        times = {f.name for f in SCHEMAS[name] if pa.types.is_timestamp(f.type)}
        for row in _dicts(rows):  # the schema's columns, in its order, like the files
            record = {"table": name, **{c: _iso(row.get(c)) if c in times else row.get(c) for c in columns}}
            out.write(json.dumps(record, default=_json_value, ensure_ascii=False) + "\n")
        out.flush()  # a reader downstream sees rows as they are parsed, even on endless input
    return summary


def _dicts(rows: list[dict[str, Any]] | pa.Table) -> list[dict[str, Any]]:
    """Rows as dicts, times as nanoseconds (as the line-by-line stages give them)."""
    return python_rows(rows) if isinstance(rows, pa.Table) else rows


def _json_value(value: object) -> str:
    return str(value)


def _iso(ns: object) -> str | None:
    """Nanoseconds since the epoch as RFC 3339 UTC with all nine digits."""
    if not isinstance(ns, int):
        return None if ns is None else str(ns)
    seconds, frac = divmod(ns, 10**9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


def _write_dir(batches: Iterable[Batch | tuple[str, pa.Table]], out_dir: str | os.PathLike[str],
               fmt: Format, required: tuple[str, ...] = TABLE_NAMES) -> list[Path]:
    target = Path(out_dir)
    if fmt not in FORMATS:
        raise OutputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not target.parent.is_dir():
        raise OutputError(f"{target}: parent directory {target.parent} does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
        tmp.chmod(0o777 & ~_umask())  # mkdtemp creates 0700; the directory becomes the target
    except OSError as exc:
        raise OutputError(f"{target}: cannot write here ({exc.strerror})") from None
    try:
        with _TableFiles(tmp, fmt, required) as files:
            for name, rows in batches:
                files.append(name, rows)
        return _move_into_place(tmp, target)
    except OSError as exc:
        raise OutputError(f"{target}: writing failed ({_why(exc)}); nothing was written") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _TableFiles:
    """One file per table, appended batch by batch; tables never appended get an empty file.

    Parquet rows are held until a table has ROW_GROUP_ROWS of them (or all tables together hold
    ROW_GROUP_BYTES), then written as one row group: the pipeline hands over a few thousand rows
    at a time, and row groups that small cost a compression context per column each, compress
    worse (a 1 GiB mixed log's tables: 6.7 MB, now 5.0 MB) and slow down the BI tools that read
    them.
    """

    def __init__(self, directory: Path, fmt: Format, required: tuple[str, ...] = TABLE_NAMES) -> None:
        self.directory, self.fmt, self.required = directory, fmt, required
        self.parquet: dict[str, pq.ParquetWriter] = {}
        self.held: dict[str, list[pa.Table]] = {}
        self.held_rows: dict[str, int] = {}
        self.held_bytes: dict[str, int] = {}
        self.started: set[str] = set()

    def __enter__(self) -> _TableFiles:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                for name in list(self.held):
                    self._flush(name)
                for name in self.required:
                    if name not in self.started:
                        self.append(name, [], force=True)
                for writer in self.parquet.values():
                    writer.close()
        finally:  # after a failure, whose error is the one that counts: close the rest quietly
            for writer in self.parquet.values():
                if writer.is_open:
                    with contextlib.suppress(OSError):
                        writer.close()
                    writer.is_open = False  # else its __del__ tries again, and prints the error

    def append(self, name: str, rows: list[dict[str, Any]] | pa.Table, *, force: bool = False) -> None:
        """Append rows (dicts from the pipeline, or an Arrow table already built) to a table's file."""
        if not len(rows) and not force:
            return
        first = name not in self.started
        self.started.add(name)
        if self.fmt == "parquet":
            table = storage_table(rows) if isinstance(rows, pa.Table) else stored_table(name, rows)
            self.held.setdefault(name, []).append(table)
            self.held_rows[name] = self.held_rows.get(name, 0) + table.num_rows
            self.held_bytes[name] = self.held_bytes.get(name, 0) + table.get_total_buffer_size()
            if force or self.held_rows[name] >= ROW_GROUP_ROWS:
                self._flush(name)
            elif sum(self.held_bytes.values()) >= ROW_GROUP_BYTES:
                self._flush(max(self.held_bytes, key=self.held_bytes.__getitem__))
            return
        import polars as pl

        frame = pl.from_arrow(rows if isinstance(rows, pa.Table) else rows_to_arrow(name, rows))
        assert isinstance(frame, pl.DataFrame)
        path = self.directory / f"{name}.{self.fmt}"
        with path.open("a" if not first else "w", encoding="utf-8") as fh:
            if self.fmt == "jsonl":
                frame.write_ndjson(fh)
            else:
                lists = [c for c, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
                if lists:
                    frame = frame.with_columns(pl.col(lists).cast(pl.List(pl.String)).list.join(" "))
                frame.write_csv(fh, include_header=first)

    def _flush(self, name: str) -> None:
        """Write a table's held rows (in their Parquet form already) as one row group."""
        import pyarrow.parquet as pq

        held = pa.concat_tables(self.held.pop(name))
        del self.held_rows[name], self.held_bytes[name]
        if name not in self.parquet:
            self.parquet[name] = pq.ParquetWriter(self.directory / f"{name}.parquet", held.schema,
                                                  compression="zstd")
        self.parquet[name].write_table(held, row_group_size=max(1, held.num_rows))


ROW_GROUP_ROWS = 65_536
ROW_GROUP_BYTES = 8 << 20


def _move_into_place(tmp: Path, target: Path) -> list[Path]:
    if not target.exists():
        tmp.rename(target)
        return sorted(target.iterdir())
    if not target.is_dir():
        raise OutputError(f"{target}: exists and is not a directory")
    written = []
    for path in sorted(tmp.iterdir()):
        os.replace(path, target / path.name)
        written.append(target / path.name)
    return written


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write a text file through a temporary name in the same directory, then rename it."""
    target = Path(path)
    if not target.parent.is_dir():
        raise OutputError(f"{target}: directory {target.parent} does not exist")
    tmp: Path | None = None
    try:
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        tmp = Path(name)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        tmp.chmod(0o666 & ~_umask())  # mkstemp creates 0600; give the file the usual mode
        os.replace(tmp, target)
    except OSError as exc:
        if tmp is not None:
            tmp.unlink(missing_ok=True)
        raise OutputError(f"{target}: writing failed ({_why(exc)}); nothing was written") from None


def _why(exc: OSError) -> str:
    """The OS's words for a write error (pyarrow wraps them in longer text: find the errno)."""
    if exc.errno:
        return os.strerror(exc.errno)
    found = re.search(r"\[errno (\d+)\]", str(exc))
    return os.strerror(int(found.group(1))) if found else str(exc)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
