"""Digit runs located once per batch from the bytes, and each template slot cut out of them.

Every line of one shape has the same literal text between its digit runs (that is what the
shape is), so where each token of the line lies follows from where its digit runs lie: a token
over parts ``first..last`` of the line split at its digit runs starts at part ``first`` (plus
``head`` characters) and ends with part ``last`` (less ``tail``). One numpy pass over a batch's
bytes finds every digit run (its shape, character offsets and value); each line's tokens are
then cut with ``str.slice`` at offsets computed for all the lines of a plan at once, instead of
a regular expression with a group per token run over every line (the captures were about 80 %
of the cost of a gc line). A token that is one digit run also gets its value from the bytes,
so ``num`` and ``real`` read an integer column instead of parsing text.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

EXACT_DIGITS = 18
"""Digit runs up to this long have an exact int64 value (a longer one sends its line the regex way)."""


@dataclass
class Runs:
    """The digit runs of a batch of texts. Line ``i`` has runs ``ptr[i]:ptr[i + 1]``; its parts
    (text, run, text, ..., text) lie between its ``bounds`` from ``2 * ptr[i] + 2 * i`` on:
    0, the first run's start and end, the next run's, ..., the text's length."""

    shapes: pl.Series  # each text with its digit runs replaced by one "0"
    ptr: Any  # int64, one more than the texts
    bounds: Any  # int64: character offsets of the parts, by line
    at: Any  # int64: where each run starts in ``data``
    size: Any  # int64: each run's digits
    wide: Any  # bool per text: a run over EXACT_DIGITS digits, or non-ASCII text
    data: Any  # uint8: the texts' bytes

    def values(self, index: Any) -> Any:
        """The numbers of runs ``index`` (each at most EXACT_DIGITS digits), read from the bytes."""
        at, size = self.at[index], self.size[index]
        value = np.zeros(index.shape, dtype=np.int64)
        top = len(self.data) - 1
        for place in range(int(size.max()) if size.size else 0):
            digit = self.data[np.minimum(at + place, top)].astype(np.int64) - 48
            value = np.where(place < size, value * 10 + digit, value)
        return value


def digit_runs(texts: pl.Series, step: int = 4096) -> Runs:
    """The runs of ``texts`` (no nulls), ``step`` texts at a time (numpy's temporaries stay small)."""
    parts = [_runs(texts.slice(at, step)) for at in range(0, len(texts), step)] or [_runs(texts)]
    if len(parts) == 1:
        return parts[0]
    ptr, at, base = [parts[0].ptr], [parts[0].at], len(parts[0].data)
    for part in parts[1:]:
        ptr.append(part.ptr[1:] + ptr[-1][-1])
        at.append(part.at + base)
        base += len(part.data)
    return Runs(pl.concat([p.shapes for p in parts]), np.concatenate(ptr), np.concatenate([p.bounds for p in parts]),
                np.concatenate(at), *(np.concatenate([getattr(p, f) for p in parts]) for f in ("size", "wide", "data")))


def _runs(texts: pl.Series) -> Runs:
    array = texts.cast(pl.Binary).to_arrow().cast(pa.large_binary())
    n = len(array)
    raw = np.frombuffer(array.buffers()[1], np.int64, n + 1, array.offset * 8)
    offsets = raw - raw[0]
    data = np.frombuffer(array.buffers()[2], np.uint8, int(offsets[-1]), int(raw[0])) if n else np.zeros(0, np.uint8)
    digit = (data - np.uint8(48)) < 10
    repeat = np.zeros_like(digit)  # a digit right after a digit of the same text
    np.logical_and(digit[1:], digit[:-1], out=repeat[1:])
    repeat[offsets[:-1][offsets[:-1] < len(data)]] = False
    first = np.flatnonzero(digit & ~repeat)  # each run's first byte
    after = np.flatnonzero(digit & ~np.append(repeat[1:], False)) + 1
    ptr = np.searchsorted(first, offsets)  # runs before each text
    line = np.repeat(np.arange(n), np.diff(ptr))
    bounds = np.empty(2 * len(first) + 2 * n, dtype=np.int64)
    starts = 2 * ptr[:-1] + 2 * np.arange(n)
    bounds[starts] = 0
    bounds[starts + 2 * np.diff(ptr) + 1] = np.diff(offsets)
    places = 2 * np.arange(len(first)) + 2 * line + 1
    bounds[places] = first - offsets[line]
    bounds[places + 1] = after - offsets[line]
    wide = np.zeros(n, dtype=bool)
    wide[line[after - first > EXACT_DIGITS]] = True
    high = data >= 0x80
    if high.any():  # character offsets differ from byte offsets only on non-ASCII lines: the regex way
        seen = np.zeros(len(data) + 1, dtype=np.int64)
        np.cumsum(high, out=seen[1:])
        wide |= np.diff(seen[offsets]) > 0
    kept = data[~repeat]
    kept[(kept - np.uint8(48)) < 10] = ord("0")
    new = offsets - np.searchsorted(np.flatnonzero(repeat), offsets)  # less the digits dropped before
    shapes = pl.Series(texts.name, pa.LargeStringArray.from_buffers(n, pa.py_buffer(new), pa.py_buffer(kept)))
    return Runs(shapes, ptr, bounds, first, after - first, wide, data)


@dataclass(frozen=True)
class Layout:
    """Where a plan's cut tokens lie in the lines of one shape: per token, the parts it spans."""

    first: tuple[int, ...]
    last: tuple[int, ...]
    head: tuple[int, ...]
    tail: tuple[int, ...]


def token_offsets(runs: Runs, rows: Any, layouts: list[Layout], which: Any, slots: tuple[int, ...],
                  numbers: tuple[int, ...], needed: frozenset[str]) -> dict[str, Any]:
    """For the lines ``rows`` of a batch (``which[i]``: the layout of ``rows[i]``), each cut
    token's offset and length (``_s{k}``, ``_n{k}`` for template slot ``k`` of ``slots``) and
    the value (``_v{k}``) of each token in ``numbers`` (one digit run in every layout); only
    those ``needed`` (``_t{k}`` for the token's text)."""
    table = {name: np.array([getattr(lay, name) for lay in layouts], dtype=np.int64).reshape(len(layouts), -1)
             for name in ("first", "last", "head", "tail")}
    ptr = runs.ptr[rows]
    base = (2 * ptr + 2 * rows)[:, None]
    texts = [i for i, k in enumerate(slots) if f"_t{k}" in needed]
    out: dict[str, Any] = {}
    if texts:
        lay = which[:, None], np.array(texts)[None, :]
        begin = runs.bounds[base + table["first"][lay]] + table["head"][lay]
        length = runs.bounds[base + table["last"][lay] + 1] - table["tail"][lay] - begin
        for j, i in enumerate(texts):
            out[f"_s{slots[i]}"], out[f"_n{slots[i]}"] = begin[:, j], length[:, j]
    values = [i for i, k in enumerate(slots) if k in numbers and f"_v{k}" in needed]
    if values:
        found = runs.values(ptr[:, None] + table["first"][which[:, None], np.array(values)[None, :]] // 2)
        for j, i in enumerate(values):
            out[f"_v{slots[i]}"] = found[:, j]
    return out
