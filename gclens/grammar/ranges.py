"""Does a parsed number fit its column? A damaged line can carry 25 digits where 10 fit."""

from __future__ import annotations

import functools
import re
from typing import Any

__all__ = ["MAY_OVERFLOW", "may_overflow", "out_of_range"]

MAY_OVERFLOW = "[0-9]{10}"
"""int32 columns hold at most 10 digits: a line without a 10-digit run cannot overflow any column."""
_WIDE = re.compile(MAY_OVERFLOW)


def may_overflow(text: str) -> bool:
    """One regex search that spares most lines the per-column check."""
    return _WIDE.search(text) is not None


def out_of_range(table: str, row: dict[str, Any]) -> str | None:
    """A reason when a number does not fit its column (e.g. 25 digits in a damaged line)."""
    limits = _int_limits(table)
    for key, value in row.items():
        bounds = limits.get(key)
        if bounds and isinstance(value, int) and not bounds[0] <= value <= bounds[1]:
            return f"{key} = {value} does not fit its {bounds[2]} column"
        if bounds and isinstance(value, list) and any(not bounds[0] <= v <= bounds[1] for v in value):
            return f"{key} holds a number that does not fit its {bounds[2]} column"
    return None


@functools.cache
def _int_limits(table: str) -> dict[str, tuple[int, int, str]]:
    import pyarrow as pa

    from gclens.store.schemas import SCHEMAS

    out = {}
    for field in SCHEMAS[table]:
        kind = field.type.value_type if pa.types.is_list(field.type) else field.type
        if pa.types.is_integer(kind):
            bits = kind.bit_width
            out[field.name] = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1, str(kind))
    return out
