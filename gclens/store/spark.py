"""The same parse on Spark: log lines in a DataFrame in, one DataFrame per gclens table out.

pyspark (>= 4.0, with its ``sql`` extra for pandas) is optional and imported on first use. Each source
is parsed whole by ``gclens.dataset.parse_lines`` in one ``groupBy(path).applyInArrow`` group,
because runs and wall-clock anchors need every line of a source in order.

Line order. ``spark.read.text`` splits a large file across tasks and a shuffle does not keep row
order, so the order is made explicit: ``read_text`` adds ``block_start`` (the byte offset of the file
split a line was read from, ``_metadata.file_block_start``) and ``seq`` (``monotonically_increasing_id``,
increasing within a task, which reads its split in order); lines are sorted by both inside each group.
A DataFrame of your own may carry a ``line_no`` column instead (pass ``order_by=("line_no",)``), or
hold one row per file (``read_text(..., wholetext=True)``).

What differs from ``read_trace``: Spark timestamps are microseconds (``ts``, ``log_ts``,
``start_ts`` are truncated from ns); Spark's line reader also splits at a lone ``\\r``, decodes
invalid UTF-8 to U+FFFD before gclens sees it, and drops the final newline, so an unterminated last
line is not flagged. Spark has no per-field metadata: the column docs live in ``gclens.SCHEMAS``.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import unquote, urlparse

import pyarrow as pa

from gclens._errors import UsageError
from gclens.pipeline.stream import Options
from gclens.store.dataset import parse_lines
from gclens.store.schemas import SCHEMAS, TABLE_NAMES

__all__ = ["ORDER_COLUMNS", "TABLE_COLUMN", "parse_dataframe", "read_text", "source_name"]

DataFrame = Any
"""pyspark.sql.DataFrame (pyspark is optional, so the annotations stay loose)."""

ORDER_COLUMNS = ("block_start", "seq")
TABLE_COLUMN = "_table"


def read_text(spark: Any, paths: str | Sequence[str], *, wholetext: bool = False) -> DataFrame:
    """Log files as a DataFrame ready for ``parse_dataframe``: path, value, and the line order.

    ``wholetext=True`` reads each file as one row (no ordering needed; a file must fit in one row,
    < 2 GiB). Compressed files are read by Spark's own codecs (by file extension).
    """
    functions = _pyspark("pyspark.sql.functions")
    path = functions.col("_metadata.file_path").alias("path")
    reader = spark.read.text(list(paths) if not isinstance(paths, str) else paths, wholetext=wholetext)
    if wholetext:
        return reader.select(path, "value")
    return reader.select(path, functions.col("_metadata.file_block_start").alias("block_start"),
                         functions.monotonically_increasing_id().alias("seq"), "value")


def parse_dataframe(df: DataFrame, *, path_col: str = "path", line_col: str = "value",
                    order_by: Sequence[str] | None = None, labels: Mapping[str, str] | None = None,
                    options: Options | None = None, persist: bool = True) -> dict[str, DataFrame]:
    """Parse every source in ``df`` (one row per line, or per file) into one DataFrame per table.

    ``order_by`` names the columns that order a source's lines (default: ``block_start, seq`` when
    present, as ``read_text`` adds them; else ``line_no``; else each path must be a single row).
    The schemas are those of ``gclens.SCHEMAS`` (plus one string column per label). The parse runs
    once: its output is persisted (memory and disk) for the per-table frames unless ``persist=False``.
    """
    grouped = _pyspark("pyspark.sql.pandas.group_ops")
    if not hasattr(grouped.PandasGroupedOpsMixin, "applyInArrow"):
        raise UsageError("gclens.spark needs Spark >= 4.0 (groupBy().applyInArrow)")
    order = _order(df.columns, order_by)
    missing = [c for c in (path_col, line_col, *order) if c not in df.columns]
    if missing:
        raise UsageError(f"parse_dataframe: no column {', '.join(map(repr, missing))} in {df.columns}")
    columns = _columns(labels)
    large = df.sparkSession.conf.get("spark.sql.execution.arrow.useLargeVarTypes", "false") == "true"
    wide = _arrow_for_spark(pa.schema([pa.field(TABLE_COLUMN, pa.string()), *(
        pa.field(f"{name}__{f.name}", f.type) for name, fields in columns.items() for f in fields)]), large)
    parse_one = functools.partial(_parse_group, path_col=path_col, line_col=line_col, order=order,
                                  labels=dict(labels or {}), options=options, wide=wide)

    def parse(group: pa.Table) -> pa.Table:  # a plain function: Spark reads its type hints
        return parse_one(group)

    parsed = df.select(path_col, line_col, *order).groupBy(path_col).applyInArrow(parse, _spark_schema(wide))
    if persist:
        parsed = parsed.persist(_pyspark("pyspark").StorageLevel.MEMORY_AND_DISK)
    col = _pyspark("pyspark.sql.functions").col
    return {name: parsed.where(col(TABLE_COLUMN) == name).select(
        *(col(f"{name}__{f.name}").alias(f.name) for f in fields)) for name, fields in columns.items()}


def _parse_group(group: pa.Table, *, path_col: str, line_col: str, order: list[str], labels: dict[str, str],
                 options: Options | None, wide: pa.Schema) -> pa.Table:
    """One source's lines (in any order) → every table's rows, side by side in one wide table."""
    path = group.column(path_col)[0].as_py()
    if order:
        group = group.sort_by([(c, "ascending") for c in order])
    elif group.num_rows > 1:
        raise UsageError(f"{path}: {group.num_rows} rows and no column to order them by: read with "
                         "gclens.spark.read_text, or pass order_by")
    lines = {"line": group.column(line_col)}
    if order == ["line_no"]:
        lines["line_no"] = group.column("line_no")
    tables = parse_lines(pa.table(lines), source=source_name(path), labels=labels, options=options)
    pieces = [_prefixed(name, table, wide) for name, table in tables.items() if table.num_rows]
    return pa.concat_tables(pieces) if pieces else wide.empty_table()


def _prefixed(name: str, table: pa.Table, wide: pa.Schema) -> pa.Table:
    n = table.num_rows
    columns = {f"{name}__{c}": table.column(c) for c in table.column_names}
    arrays = [pa.repeat(pa.scalar(name), n) if f.name == TABLE_COLUMN else
              columns[f.name].cast(f.type, safe=False) if f.name in columns else pa.nulls(n, f.type) for f in wide]
    return pa.Table.from_arrays(arrays, schema=wide)


def source_name(path: str) -> str:
    """The ``source`` of a file Spark read: a local path without its ``file:`` scheme, else the URI."""
    if path.startswith("file:"):
        return unquote(urlparse(path).path)
    return path


def _order(columns: list[str], order_by: Sequence[str] | None) -> list[str]:
    if order_by is not None:
        return [order_by] if isinstance(order_by, str) else list(order_by)
    if all(c in columns for c in ORDER_COLUMNS):
        return list(ORDER_COLUMNS)
    return ["line_no"] if "line_no" in columns else []


def _columns(labels: Mapping[str, str] | None) -> dict[str, list[pa.Field]]:
    """Every table's fields, with the label columns parse_lines appends."""
    extra = [k for k in (labels or {})]
    return {name: [*SCHEMAS[name], *(pa.field(k, pa.string()) for k in extra if k not in SCHEMAS[name].names)]
            for name in TABLE_NAMES}


def _arrow_for_spark(schema: pa.Schema, large: bool) -> pa.Schema:
    """The Arrow types Spark's workers expect back: timestamps in microseconds labelled UTC (the
    instant is what counts), large strings when useLargeVarTypes is on; no field metadata."""
    def convert(t: pa.DataType) -> pa.DataType:
        if pa.types.is_timestamp(t):
            return pa.timestamp("us", tz="UTC")
        if large and pa.types.is_string(t):
            return pa.large_string()
        if pa.types.is_list(t):
            return pa.list_(convert(t.value_type))
        return t
    return pa.schema([pa.field(f.name, convert(f.type)) for f in schema])


def _spark_schema(schema: pa.Schema) -> Any:
    types = _pyspark("pyspark.sql.pandas.types")
    return types.from_arrow_schema(schema)


def _pyspark(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise UsageError(f"gclens.spark needs pyspark>=4.0 with pandas (pip install 'pyspark[sql]'): {exc}") from None
