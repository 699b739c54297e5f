"""`read_trace`: the one call a notebook or the CLI makes to turn logs into tables."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import pyarrow as pa

from gclens import _validate
from gclens._errors import UsageError
from gclens.pipeline.parse import ENGINES
from gclens.pipeline.stream import Batch, Options, stream
from gclens.pipeline.trace import Trace
from gclens.read.envelopes import Clock, iso_ns
from gclens.read.sources import SourceLike
from gclens.store.rows_arrow import arrow_table
from gclens.store.schemas import TABLE_NAMES

__all__ = ["Trace", "make_options", "read_trace", "trace_from"]  # Trace lives in the leaf _trace_type


def read_trace(
    source: SourceLike | list[SourceLike], *, envelope: str = "auto",
    start: datetime | str | None = None, year: int | None = None, tz: str = "UTC",
    max_input_bytes: int | None = None, engine: str = "fast",
) -> Trace:
    """Parse Go runtime trace output (gctrace, gcpacertrace, schedtrace, scavtrace) into tables.

    ``source`` is a path, a glob, ``"-"`` for stdin, a binary or text file object, or a list of
    these; gzip and zstd input is recognised by its magic bytes. Application output mixed into
    the log is counted, never parsed; lines that look like runtime output but do not match a
    grammar land in the ``rejects`` table with their line number and reason.

    Examples
    --------
    >>> import gclens
    >>> trace = gclens.read_trace("sample_traces/go1.21/churn-full.stderr")  # doctest: +SKIP
    >>> trace.gc.select("gc_num", "stw_ms", "heap_live_mib").head(3)  # doctest: +SKIP

    ``envelope`` names the log collector's wrapping of each line ("auto" detects it per source;
    see ``gclens.ENVELOPES``); its times anchor each run on the wall clock (``ts``). ``start``
    (a datetime or an ISO 8601 string) gives runtime start explicitly instead. ``year`` and
    ``tz`` complete envelope times that lack them (syslog, klog, Go log prefixes).
    ``max_input_bytes`` caps the decompressed size of a compressed source (default 64 GiB).
    ``engine="lark"`` sends every line through the Lark reference parser instead of the templates
    derived from it (the same rows, slower: for checking the fast engine).

    Raises InputError when a source cannot be read to its end (missing file, truncated gzip).
    """
    options = make_options(envelope=envelope, start=start, year=year, tz=tz, max_input_bytes=max_input_bytes,
                           engine=engine)
    return trace_from(stream(source, options))


def trace_from(batches: Iterable[Batch]) -> Trace:
    """Collect streamed batches into an in-memory Trace (rejects in line order per source)."""
    pieces: dict[str, list[pa.Table]] = {name: [] for name in TABLE_NAMES}
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLE_NAMES}
    for name, batch in batches:
        if isinstance(batch, pa.Table):  # columnar stages hand over Arrow tables
            if rows[name]:
                pieces[name].append(_to_arrow(name, rows[name]))
                rows[name] = []
            pieces[name].append(batch)
        else:
            rows[name].extend(batch)
    tables = {}
    for name in TABLE_NAMES:
        parts = [*pieces[name], _to_arrow(name, rows[name])]
        tables[name] = parts[0] if len(parts) == 1 else pa.concat_tables(parts).combine_chunks()
    tables["rejects"] = _in_line_order(tables["rejects"])
    return Trace(tables)


def _in_line_order(rejects: pa.Table) -> pa.Table:
    """Rejects by source (in reading order) and line: the splice guard finds some a chunk late."""
    if rejects.num_rows < 2:
        return rejects
    import polars as pl

    frame = pl.from_arrow(rejects)
    assert isinstance(frame, pl.DataFrame)
    sources = frame["source"].unique(maintain_order=True)
    rank = pl.col("source").replace_strict(sources, pl.int_range(len(sources), eager=True), default=None)
    return frame.sort(rank, "line_no", maintain_order=True).to_arrow().cast(rejects.schema)


def make_options(*, envelope: str = "auto", start: datetime | str | None = None, year: int | None = None,
                 tz: str = "UTC", max_input_bytes: int | None = None, engine: str = "fast") -> Options:
    """The reading options of ``read_trace``, for the streaming writers too."""
    if engine not in ENGINES:
        raise UsageError(f"unknown engine {engine!r}; choose from {', '.join(ENGINES)}")
    for name, check, value in (("tz", _validate.time_zone, tz), ("year", _validate.YEAR, year),
                               ("max_input_bytes", _validate.BYTES, max_input_bytes)):
        try:
            if value is not None:
                check(value)
        except ValueError as exc:
            raise UsageError(f"{name}: {exc}") from None
    return Options(envelope=envelope, clock=Clock(year=year or datetime.now().year, tz=tz),
                   start_ns=None if start is None else _start_ns(start), max_input_bytes=max_input_bytes,
                   engine=engine)


def _start_ns(start: datetime | str) -> int:
    if isinstance(start, str):
        try:
            return iso_ns(start if "T" in start or " " in start else start + "T00:00:00Z")[0]
        except ValueError:
            raise UsageError(f"--start {start!r}: expected an RFC 3339 time such as "
                             "2026-11-27T04:44:54.123Z") from None
    if start.tzinfo is None:
        raise UsageError("start must carry a time zone (e.g. datetime(..., tzinfo=UTC))")
    return round(start.timestamp() * 1e9)


def _to_arrow(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Laid out by pyarrow alone (``_rows_arrow``): a small trace's tables import no Polars or
    pandas until a frame is asked for."""
    return arrow_table(name, rows)
