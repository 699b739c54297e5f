"""The Arrow schema of every table gclens writes: the contract with BI users and with tests.

Defined once: the building blocks in ``schema_fields``, the tables field by field in
``schema_tables``, and the helpers that turn rows into tables and tables into their Parquet form
here, where every name is re-exported so this stays the one module to import from. Each field
carries a ``doc`` (and a ``unit`` when it has one) in its metadata, so the Parquet files and
``gclens schema`` double as a data dictionary. Columns that only some Go versions print are
nullable rather than split into per-version schemas.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from gclens.store.schema_fields import (
    BOOL,
    F64,
    I32,
    I64,
    NS_EXACT,
    SCHEMA_VERSION,
    STR,
    TS,
    TS_STORED,
    _field,
)
from gclens.store.schema_tables import (
    ALIGN_SCHEMAS,
    ALIGNMENT,
    ALL_SCHEMAS,
    EVENTS,
    GC,
    GC_SCAN,
    GC_SETTINGS,
    PACER,
    PERF_SAMPLES,
    REJECTS,
    RUNS,
    SCAV,
    SCHED,
    SCHED_G,
    SCHED_M,
    SCHED_P,
    SCHEMAS,
    SETTINGS,
    SOURCES,
    TABLE_NAMES,
)

if TYPE_CHECKING:
    import polars as pl

__all__ = ["ALIGNMENT", "ALIGN_SCHEMAS", "ALL_SCHEMAS", "BOOL", "EVENTS", "F64", "GC", "GC_SCAN", "GC_SETTINGS",
           "I32", "I64", "NS_EXACT", "PACER", "PERF_SAMPLES", "REJECTS", "RUNS", "SCAV", "SCHED", "SCHED_G",
           "SCHED_M", "SCHED_P", "SCHEMAS", "SCHEMA_VERSION", "SETTINGS", "SOURCES", "STR", "TABLE_NAMES", "TS",
           "TS_STORED", "empty_table", "polars_types", "python_rows", "rows_to_arrow", "storage_schema",
           "storage_table"]


def rows_to_arrow(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """Rows (dicts; missing keys are null, extra keys ignored) as a table of ``name``'s schema.

    Built through Polars: pyarrow's own conversion of Python lists imports pandas whenever it is
    installed, which costs a parse 0.1 s and 40 MB for nothing.
    """
    import polars as pl

    schema = ALL_SCHEMAS[name]
    frame = pl.from_dicts(rows, schema=polars_types(name), strict=False) if rows else None
    if frame is None:
        return empty_table(schema)
    return frame.to_arrow().cast(schema)


def storage_schema(schema: pa.Schema) -> pa.Schema:
    """The schema of a table as written to Parquet: timestamps at microseconds, UTC, and an Int64
    ``<col>_ns`` beside each ``NS_EXACT`` column.

    Derived here from the one definition above, so every writer (``-o``, datasets, align) agrees.
    Spark refuses TIMESTAMP(NANOS) (PARQUET_TYPE_ILLEGAL), and other engines read nanoseconds
    unevenly; microseconds are read everywhere.
    """
    fields: list[pa.Field] = []
    for f in schema:
        if pa.types.is_timestamp(f.type):
            fields.append(f.with_type(TS_STORED))
            if f.name in NS_EXACT:
                fields.append(_field(NS_EXACT[f.name], I64, f"{f.name} as exact nanoseconds since the Unix "
                                     "epoch (the Parquet timestamp keeps microseconds)."))
        else:
            fields.append(f)
    return pa.schema(fields, metadata=schema.metadata)


def storage_table(table: pa.Table) -> pa.Table:
    """A table as written to Parquet (see ``storage_schema``): timestamps truncated to
    microseconds, exact nanoseconds kept in the ``NS_EXACT`` columns."""
    columns: list[pa.ChunkedArray] = []
    for f, column in zip(table.schema, table.columns, strict=True):
        if pa.types.is_timestamp(f.type):
            columns.append(column.cast(TS_STORED, safe=False))
            if f.name in NS_EXACT:
                columns.append(column.cast(pa.timestamp("ns", tz="UTC")).cast(I64))
        else:
            columns.append(column)
    return pa.Table.from_arrays(columns, schema=storage_schema(table.schema))


def python_rows(table: pa.Table) -> list[dict[str, Any]]:
    """A table's rows as dicts, timestamps as integer nanoseconds since the epoch.

    pyarrow makes a Python value of a nanosecond timestamp only through pandas (a ``datetime``
    holds microseconds), and ``pip install gclens`` brings no pandas: library code turns tables
    into Python values here, never with ``to_pylist()``/``as_py()`` on a column that may hold one.
    """
    for i, field in enumerate(table.schema):
        if pa.types.is_timestamp(field.type):
            table = table.set_column(i, field.name, table.column(i).cast(pa.int64()))
    rows: list[dict[str, Any]] = table.to_pylist()
    return rows


def empty_table(schema: pa.Schema) -> pa.Table:
    """A table with no rows (``schema.empty_table()`` imports pandas when it is installed)."""
    return pa.Table.from_batches([], schema=schema)


@functools.cache
def polars_types(name: str) -> pl.Schema:
    """A table's columns as a Polars schema (same names and types as its Arrow schema)."""
    import polars as pl

    frame = pl.from_arrow(empty_table(ALL_SCHEMAS[name]))
    assert isinstance(frame, pl.DataFrame)
    return frame.schema
