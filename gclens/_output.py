"""Write a Trace's tables to a directory, all or nothing.

Every table is written (empty ones keep their schema) into a temporary directory beside the
target, then moved into place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TextIO

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from gclens._errors import OutputError
from gclens._formats import FORMATS, Format
from gclens._trace import Trace


def write_tables(trace: Trace, out_dir: str | os.PathLike[str], *, fmt: Format = "parquet") -> list[Path]:
    """Write every table to ``out_dir/<table>.<fmt>``; return the paths written.

    Raises OutputError (and leaves nothing behind) when the directory cannot be written.
    """
    target = Path(out_dir)
    if fmt not in FORMATS:
        raise OutputError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if not target.parent.is_dir():
        raise OutputError(f"{target}: parent directory {target.parent} does not exist")
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    except OSError as exc:
        raise OutputError(f"{target}: cannot write here ({exc.strerror})") from None
    try:
        for name in trace:
            _write_one(trace.arrow(name), tmp / f"{name}.{fmt}", fmt)
        return _move_into_place(tmp, target)
    except OSError as exc:
        raise OutputError(f"{target}: writing failed ({_why(exc)}); nothing was written") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_one(table: pa.Table, path: Path, fmt: Format) -> None:
    if fmt == "parquet":
        pq.write_table(table, path, compression="zstd")
        return
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    if fmt == "jsonl":
        frame.write_ndjson(path)
        return
    lists = [name for name, dtype in frame.schema.items() if isinstance(dtype, pl.List)]
    flat = frame.with_columns(pl.col(lists).cast(pl.List(pl.String)).list.join(" ")) if lists else frame
    flat.write_csv(path)


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


def write_json_lines(trace: Trace, out: TextIO) -> None:
    """Every row of every table as one JSON object per line, with its table in ``"table"``."""
    for name in trace:
        frame = trace.frame(name)
        for row in frame.iter_rows(named=True):
            out.write(json.dumps({"table": name, **row}, default=str, ensure_ascii=False) + "\n")
    out.flush()
