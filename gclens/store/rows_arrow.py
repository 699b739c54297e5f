"""Rows (dicts) as an Arrow table in the form Parquet files hold, with pyarrow's buffers alone.

``_schemas.rows_to_arrow`` builds tables through Polars, since pyarrow's conversion of Python
values imports pandas when it is installed (0.1 s and 40 MB); then ``storage_table`` casts the
timestamps, which imports ``pyarrow.compute``. Writing a small file's tables that way costs more
than parsing it: Polars alone takes 0.18 s to import. Here each column is laid out in the
buffers Arrow defines (validity bitmap, values, offsets), which touches neither. Only plain
values are laid out: ints for integer and timestamp columns, bools, floats (or ints) for
doubles, strs, lists of these; any other value (or an integer out of its column's range) sends
the whole table the Polars way, so the result is always the one ``storage_table(rows_to_arrow())``
gives.
"""

from __future__ import annotations

import functools
from array import array
from typing import Any

import pyarrow as pa

from gclens.store.schemas import ALL_SCHEMAS, NS_EXACT, rows_to_arrow, storage_schema, storage_table

__all__ = ["arrow_table", "stored_table"]


class _NotPlain(Exception):
    """A value this module does not lay out itself."""


def stored_table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` as table ``name``, in its Parquet form (``_schemas.storage_schema``)."""
    try:
        return _laid_out(name, rows)
    except _NotPlain:
        return storage_table(rows_to_arrow(name, rows))


def arrow_table(name: str, rows: list[dict[str, Any]]) -> pa.Table:
    """``rows`` as table ``name`` in memory (``_schemas.rows_to_arrow``'s result, nanosecond times)."""
    try:
        return _laid_out(name, rows, stored=False)
    except _NotPlain:
        return rows_to_arrow(name, rows)


@functools.cache
def _stored_schema(name: str) -> pa.Schema:
    return storage_schema(ALL_SCHEMAS[name])


def _laid_out(name: str, rows: list[dict[str, Any]], *, stored: bool = True) -> pa.Table:
    columns: list[pa.Array] = []
    for field in ALL_SCHEMAS[name]:
        values = [row.get(field.name) for row in rows]
        if pa.types.is_timestamp(field.type) and not stored:
            _check_ints(values, 64)
            columns.append(_fixed(field.type, "q", values))
        elif pa.types.is_timestamp(field.type):
            if field.type.unit != "ns":
                raise _NotPlain
            _check_ints(values, 64)
            micros = [None if v is None else (v // 1000 if v >= 0 else -(-v // 1000)) for v in values]
            columns.append(_fixed(pa.timestamp("us", tz=field.type.tz), "q", micros))
            if field.name in NS_EXACT:
                columns.append(_fixed(pa.int64(), "q", values))
        else:
            columns.append(_array(field.type, values))
    return pa.Table.from_arrays(columns, schema=_stored_schema(name) if stored else ALL_SCHEMAS[name])


def _array(type_: pa.DataType, values: list[Any]) -> pa.Array:
    if pa.types.is_int64(type_) or pa.types.is_int32(type_):
        bits = type_.bit_width
        _check_ints(values, bits)
        return _fixed(type_, "q" if bits == 64 else "i", values)
    if pa.types.is_float64(type_):
        if any(v is not None and type(v) is not float and (type(v) is not int or abs(v) >= 1 << 63) for v in values):
            raise _NotPlain
        return _fixed(type_, "d", values)
    if pa.types.is_boolean(type_):
        if any(v is not None and type(v) is not bool for v in values):
            raise _NotPlain
        return pa.Array.from_buffers(type_, len(values), [_validity(values), _bits(values)])
    if pa.types.is_string(type_):
        if any(v is not None and not isinstance(v, str) for v in values):
            raise _NotPlain
        try:
            data = [b"" if v is None else v.encode() for v in values]
        except UnicodeEncodeError:
            raise _NotPlain from None
        return pa.Array.from_buffers(type_, len(values), [_validity(values), _offsets(data),
                                                          pa.py_buffer(b"".join(data))])
    if pa.types.is_list(type_):
        if any(v is not None and type(v) is not list for v in values):
            raise _NotPlain
        items = [item for v in values if v is not None for item in v]
        if any(item is None for item in items):
            raise _NotPlain  # null items: leave them to Polars
        child = _array(type_.value_type, items)
        return pa.Array.from_buffers(type_, len(values), [_validity(values), _offsets(values)], children=[child])
    raise _NotPlain


def _check_ints(values: list[Any], bits: int) -> None:
    low, high = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    if any(v is not None and (type(v) is not int or not low <= v <= high) for v in values):
        raise _NotPlain


def _fixed(type_: pa.DataType, code: str, values: list[Any]) -> pa.Array:
    data = array(code, [0 if v is None else v for v in values])
    return pa.Array.from_buffers(type_, len(values), [_validity(values), pa.py_buffer(data)])


def _validity(values: list[Any]) -> pa.Buffer | None:
    if all(v is not None for v in values):
        return None
    return _bits([v is not None for v in values])


def _bits(flags: list[Any]) -> pa.Buffer:
    """Arrow's bitmap: bit i (least significant first) set where flags[i] is true."""
    packed = bytearray((len(flags) + 7) // 8)
    for i, flag in enumerate(flags):
        if flag:
            packed[i >> 3] |= 1 << (i & 7)
    return pa.py_buffer(packed)


def _offsets(items: list[Any]) -> pa.Buffer:
    """Where each value (bytes, or a list) starts in the values laid end to end, and the end."""
    offsets, end = array("i", [0]), 0
    for item in items:
        end += 0 if item is None else len(item)
        try:
            offsets.append(end)
        except OverflowError:  # past 2**31 - 1: a large_string's worth, Polars' business
            raise _NotPlain from None
    return pa.py_buffer(offsets)
