"""The building blocks of every table's schema: field types, documented fields, shared columns.

Split from ``schemas`` so the table definitions (``schema_tables``) and the helpers that convert
rows and write Parquet (``schemas``) build on one set of blocks: a field's ``doc`` and ``unit``,
the envelope columns of runtime tables and the schema version are set here and nowhere else.
Import the public names from ``gclens.store.schemas``, which re-exports them.
"""

from __future__ import annotations

import pyarrow as pa

__all__ = ["BOOL", "F64", "I32", "I64", "NS_EXACT", "SCHEMA_VERSION", "STR", "TS", "TS_STORED"]

SCHEMA_VERSION = "2"
"""Bumped when a written file changes. 2: Parquet timestamps are microseconds (TIMESTAMP(MICROS,
UTC), read by Spark, DuckDB, pandas, Trino, BI tools) with ``log_ts_ns`` beside ``log_ts``;
``sources.error``; a label named like an envelope column wins over the envelope in every table.
1: nanosecond Parquet timestamps (Spark refuses them: PARQUET_TYPE_ILLEGAL)."""

_UNITS = {"_ms": "ms", "_s": "s", "_mib": "MiB", "_kib": "KiB", "_bytes": "bytes", "_pct": "%"}


def _field(name: str, type_: pa.DataType, doc: str) -> pa.Field:
    meta = {"doc": doc}
    for suffix, unit in _UNITS.items():
        if name.endswith(suffix):
            meta["unit"] = unit
    return pa.field(name, type_, nullable=True, metadata=meta)


F64, I64, I32, BOOL, STR = pa.float64(), pa.int64(), pa.int32(), pa.bool_(), pa.string()
TS = pa.timestamp("ns", tz="UTC")
"""Timestamps in memory: nanoseconds, UTC. Envelope times (CRI, docker) and perf/monotonic clocks
are nanoseconds, Polars and Arrow compute on them natively, and ``python_rows`` hands integers of
nanoseconds to the analyses. Parquet gets microseconds: see ``storage_schema``."""
TS_STORED = pa.timestamp("us", tz="UTC")
NS_EXACT = {"log_ts": "log_ts_ns"}
"""Timestamp columns whose exact nanoseconds a Parquet file keeps in an Int64 column beside them.
Only the collector's times can carry sub-microsecond digits (CRI and docker print nanoseconds);
``ts`` and ``start_ts`` are placed from ``t_s`` (printed to the millisecond) and an anchor whose
spread is milliseconds, so microseconds hold all they know, and ``t_s`` stays exact."""
_STORED_NOTE = " In memory ns; in Parquet µs (UTC)."

_SOURCE = _field("source", STR, "Input the line came from (path, or '-' for stdin).")
_LINE = _field("line_no", I64, "1-based line number in the source.")
_RUN = _field("run_id", I32, "Process lifetime within the source (0, 1, ...); see the runs table.")
_LAYOUT = _field("layout", STR, "Which Go era's layout the line matched, e.g. 'go1.18+'.")
_GC_NUM = _field("gc_num", I64, "GC cycle the line belongs to (see go-trace-formats §3 for the order).")
_TS = _field("ts", TS, "Wall-clock time; null unless the run has an anchor (runs.anchor)." + _STORED_NOTE)


_ENVELOPE = [
    _field("log_ts", TS, "Time the log collector recorded the line (from its envelope), if any."
           + _STORED_NOTE + " Parquet files add log_ts_ns, its exact ns since the epoch."),
    _field("stream", STR, "stdout/stderr, from the envelope."),
    _field("host", STR, "Host name, from the envelope (syslog, journald)."),
    _field("unit", STR, "Unit, program or syslog tag, from the envelope."),
    _field("container", STR, "Container, from the envelope."),
    _field("pid", I64, "Process id, from the envelope."),
]
_RUNTIME_TABLES = {"gc", "pacer", "sched", "sched_p", "sched_m", "sched_g", "scav", "gc_scan", "events"}
_TS_FROM_CYCLE = _field("ts", TS, "Wall-clock time of the row's cycle start or dump; null without anchor."
                        + _STORED_NOTE)


def _schema(name: str, doc: str, fields: list[pa.Field]) -> pa.Schema:
    if name in _RUNTIME_TABLES:
        if "ts" not in [f.name for f in fields]:
            fields = [*fields, _TS_FROM_CYCLE]
        fields = [*fields, *_ENVELOPE]
    return pa.schema(fields, metadata={
        "gclens.table": name, "gclens.schema_version": SCHEMA_VERSION, "doc": doc,
    })


def _ms(name: str, doc: str) -> pa.Field:
    return _field(name, F64, doc + " (fmtNSAsMS, truncated to ~2 significant digits).")
