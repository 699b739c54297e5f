"""Parse many runtime lines at once: the fast engine's templates applied to columns.

Each line shape (the text with its digit runs taken out) gets its template from Lark's parse of
one of its lines (``_fastpath``). Shapes whose tokens line up (`0.012` and `12` are one DUR with
one or two digit runs) share a *plan*: one regular expression made of the literal text and, for
each token that carries digits, a named group holding that terminal's pattern from the grammar.
The template's transformer program runs once over ``Column`` tokens (``_values``) and returns
Polars expressions that compute every column of every line. A batch of lines is grouped by
plan, and all plans run in one parallel Polars collect. Lines that need care (events, legacy,
a token its terminal does not match, a number too wide for its column, NUL bytes, invalid
UTF-8, anything spliced) are left to the line-by-line path, which also gives the reject
messages. How a plan is built is ``column_plans``; this module runs plans over batches.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from gclens.grammar.markers import family_prefixes
from gclens.grammar.templates import FastEngine
from gclens.pipeline.chunks import Chunk, chunk_frame, joined, record_frames
from gclens.pipeline.column_plans import Plan, _plan_for
from gclens.pipeline.parse import LineTaker, Opened, SourceResult, count_skipped, physical_lines
from gclens.read.classify import CANDIDATES
from gclens.read.envelopes import NO_META
from gclens.read.readahead import Prefetched
from gclens.read.sources import KEPT_AFTER, Block, Line

__all__ = ["BATCH_LINES", "COALESCED_ROWS", "READ_AHEAD_LINES", "Batch", "Parsed", "Plan", "frame_chunks",
           "line_shapes", "parse_column", "served_frames"]

_FAMILY_PREFIXES = family_prefixes()
"""Family → the markers its runtime text starts with (after indentation), from the grammars."""


@dataclass
class Parsed:
    """What ``parse_column`` served: one frame per table (with ``_seq``), and the rest."""

    frames: list[tuple[str, pl.DataFrame]]
    leftover: pl.Series  # positions (``_seq``) the line-by-line path must take


def parse_column(engine: FastEngine, texts: pl.Series, seq: pl.Series) -> Parsed:
    """Rows for the lines of ``texts`` a template serves; ``seq`` numbers them (kept as ``_seq``).

    ``texts`` may hold nulls (undecodable lines): they are left over, as is every line that
    does not start with a runtime marker after its indentation.
    """
    lines = pl.DataFrame({"_seq": seq, "_text": texts}).lazy().select(
        "_seq", _rt=pl.col("_text").str.strip_chars_start(" \t"))
    frame = lines.with_columns(_family=_family_expr()).filter(
        pl.col("_family").is_not_null()
        & ~pl.col("_rt").str.contains("[\x00\ufffd]|[0-9]{39}")  # 39 digits may not fit Int128: see _plan
    ).collect()
    frame = frame.with_columns(_shape=line_shapes(frame["_rt"]))
    plans: list[Plan] = []
    index: dict[int, int] = {}
    shapes: dict[str, int] = {}
    for family, shape, text in frame.group_by("_family", "_shape").agg(pl.col("_rt").first()).iter_rows():
        plan = _plan_for(engine, family, shape, text)
        if plan is not None:
            shapes[shape] = index.setdefault(id(plan), len(plans))
            if shapes[shape] == len(plans):
                plans.append(plan)
    frame = frame.select("_seq", "_rt", _plan=pl.col("_shape").replace_strict(
        list(shapes), list(shapes.values()), default=None, return_dtype=pl.Int32))
    by_table: dict[str, list[pl.LazyFrame]] = {}
    for (number,), group in frame.filter(pl.col("_plan").is_not_null()).partition_by("_plan", as_dict=True).items():
        plan = plans[int(number)]
        by_table.setdefault(plan.table, []).append(plan.apply(group.lazy()))
    served = [(table, rows) for table, rows in _collect(by_table) if rows.height]
    taken = pl.concat([rows["_seq"] for _, rows in served]) if served else pl.Series("_seq", [], dtype=seq.dtype)
    leftover = seq.filter(~seq.is_in(taken.implode()))
    return Parsed(served, leftover)


def line_shapes(texts: pl.Series, step: int = 4096) -> pl.Series:
    """Each text with its runs of ASCII digits replaced by one ``0``: ``str.replace_all("[0-9]+",
    "0")``, computed over the bytes with numpy, 2-3x faster than a regex replace that stops at
    every digit run (a fifth of the time of a batch of runtime lines went there). ``step`` texts
    at a time: numpy's temporaries stay small, so the allocator keeps little of them."""
    if len(texts) <= step:
        return _line_shapes(texts)
    return pl.concat([_line_shapes(texts.slice(at, step)) for at in range(0, len(texts), step)])


def _line_shapes(texts: pl.Series) -> pl.Series:
    array = texts.cast(pl.Binary).to_arrow().cast(pa.large_binary())
    raw = np.frombuffer(array.buffers()[1], np.int64, len(array) + 1, array.offset * 8)
    offsets = raw - raw[0]
    data = np.frombuffer(array.buffers()[2], np.uint8, int(offsets[-1]), int(raw[0]))
    if not len(data):
        return texts
    digit = (data - np.uint8(48)) < 10
    repeat = np.zeros_like(digit)  # a digit right after a digit of the same text
    np.logical_and(digit[1:], digit[:-1], out=repeat[1:])
    starts = offsets[:-1]
    repeat[starts[starts < len(data)]] = False
    kept = data[~repeat]
    kept[(kept - np.uint8(48)) < 10] = ord("0")
    new = offsets - np.searchsorted(np.flatnonzero(repeat), offsets)  # less the digits dropped before
    result = pl.Series(texts.name, pa.LargeStringArray.from_buffers(len(array), pa.py_buffer(new),
                                                                    pa.py_buffer(kept)))
    return result if not texts.null_count() else pl.select(pl.when(texts.is_not_null()).then(result)).to_series()


def _collect(by_table: dict[str, list[pl.LazyFrame]]) -> list[tuple[str, pl.DataFrame]]:
    """All shapes' rows, a frame per table, in one parallel run (a shape whose values surprise
    Polars is dropped here, so its lines take the slow path)."""
    tables = list(by_table)
    try:
        frames = pl.collect_all([pl.concat(by_table[t], how="diagonal_relaxed") for t in tables])
        return list(zip(tables, frames, strict=True))
    except pl.exceptions.PolarsError:  # pragma: no cover - a value no check foresaw
        out = []
        for table in tables:
            for query in by_table[table]:
                with contextlib.suppress(pl.exceptions.PolarsError):
                    out.append((table, query.collect()))
        return out


def _family_expr() -> pl.Expr:
    """The family whose marker starts the runtime text, in one regex pass (null: none)."""
    found = pl.col("_rt").str.extract_groups(_FAMILY_REGEX)
    return pl.coalesce(*[pl.when(found.struct.field(f).is_not_null()).then(pl.lit(f)) for f in _FAMILY_PREFIXES])


_FAMILY_REGEX = "^(?:" + "|".join(f"(?P<{f}>{p})" for f, p in _FAMILY_PREFIXES.items()) + ")"



def served_frames(parsed: Parsed, numbers: Any, texts: pl.Series) -> list[pl.DataFrame]:
    """The served rows of a block, with their line numbers, order and (gc, SCHED) text."""
    frames = []
    numbers_series = pl.Series(numbers)
    for table, frame in parsed.frames:
        line_no = numbers_series.gather(frame["_seq"])
        extra: dict[str, pl.Expr | pl.Series] = {"line_no": line_no, "_order": line_no * 4, "_table": pl.lit(table)}
        if table in ("gc", "sched"):
            extra["_text"] = texts.gather(frame["_seq"])
        frames.append(frame.with_columns(**extra).drop("_seq"))
    return frames


def frame_chunks(result: SourceResult, opened: Opened, engine: FastEngine,
                 ) -> Iterator[tuple[Chunk | None, list[dict[str, Any]]]]:
    """A plain source as chunks of rows (a parsed batch or a few) and their rejects.

    The first lines (read for envelope detection), over-long lines and every line a template
    does not serve go line by line, in line order, so a torn line still meets its tail. Three
    threads share the work: one reads and scans blocks, one parses their marked lines as
    columns, and this one takes the rest line by line and hands the chunks on.
    """
    taker = LineTaker(result)
    for no, text in opened.head:
        taker.take(no, text, NO_META)
    opened.reader.candidates, opened.reader.blocks = CANDIDATES, True
    blocks = Prefetched(opened.items, "gclens-reader", limit=READ_AHEAD_LINES, weight=_lines)
    batches = Prefetched(_batches(_gathered(blocks), engine), "gclens-parser", limit=BATCH_LINES, weight=_lines)
    chunk: Chunk | None = None
    rejects: list[dict[str, Any]] = []
    for item in batches:
        if not isinstance(item, Batch):
            for no, text in physical_lines(result, iter([item])):
                taker.take(no, text, NO_META)
            continue
        _take_lines(result, taker, item)
        records, more = result.drain(holding=taker.holding_reject)
        chunk, rejects = joined(joined(chunk, item.chunk), chunk_frame(record_frames(records))), rejects + more
        if not batches.ready() or (chunk is not None and chunk.skeleton.height >= COALESCED_ROWS):
            yield chunk, rejects  # else more is ready: the stages take fewer, larger chunks
            chunk, rejects = None, []
    count_skipped(result, opened.reader)
    records, more = result.drain()
    yield joined(chunk, chunk_frame(record_frames(records))), rejects + more


COALESCED_ROWS = 16_384
"""Small batches already parsed are handed to the later stages together, up to this many rows:
each stage costs the same few dozen Polars calls per chunk whatever its size."""


@dataclass
class Batch:
    """Kept lines [start, stop) of a block, parsed: the served rows, and the lines left for the
    line-by-line path (the first lines of the batch only if a torn line waits for its rest)."""

    start: int
    stop: int
    served: int  # lines served as columns
    slow: list[tuple[int, Line]]  # (position among the block's kept lines, line)
    first_if_held: list[tuple[int, Line]]  # unmarked first lines: a held torn line's rest, perhaps
    chunk: Chunk | None  # the served rows


def _gathered(items: Prefetched) -> Iterator[Any]:
    """The items, with blocks already read joined up to BATCH_LINES marked lines: reading stays in
    small blocks (memory), parsing takes large batches (each costs a few dozen Polars calls)."""
    waiting: list[Block] = []
    for item in items:
        if isinstance(item, Block):
            waiting.append(item)
            if items.ready() and sum(int(b.marked.sum()) for b in waiting) < BATCH_LINES:
                continue
        if waiting:
            yield Block.joined(waiting)
            waiting = []
        if not isinstance(item, Block):
            yield item
    if waiting:
        yield Block.joined(waiting)


def _batches(items: Iterator[Any], engine: FastEngine) -> Iterator[Any]:
    """Each block as batches of at most BATCH_LINES marked lines, parsed; other items as they come.

    Only the lines the scanner marked (they may hold runtime output) are parsed as columns. The
    line after each is kept for a torn line's rest: it goes line by line when the marked line
    before it was not served (or could not be decoded); otherwise it is application output.
    """
    for item in items:
        if not isinstance(item, Block):
            yield item
            continue
        for start, stop in _cuts(item.marked, BATCH_LINES):
            marked = item.marked[start:stop] | item.texts.slice(start, stop - start).is_null().to_numpy()
            positions = pl.Series("_seq", np.flatnonzero(marked) + start, dtype=pl.Int64)
            parsed = parse_column(engine, item.texts.gather(positions), positions)
            slow = _slow(parsed.leftover.sort().to_numpy(), marked, start, stop)
            lead = _unmarked_lead(marked, start, stop, set(slow))
            yield Batch(start, stop, len(positions) - len(parsed.leftover), [(i, item.line(i)) for i in slow],
                        [(i, item.line(i)) for i in lead],
                        chunk_frame(served_frames(parsed, item.numbers, item.texts)))


def _lines(item: Any) -> int:
    """How many lines an item holds (kept lines of a Block or Batch), for ``Prefetched``."""
    return len(item.numbers) if isinstance(item, Block) else item.stop - item.start if isinstance(item, Batch) else 1


def _cuts(marked: Any, limit: int) -> list[tuple[int, int]]:
    """[start, stop) ranges of kept lines, each with at most ``limit`` marked lines (memory and
    work follow the marked lines: in a mixed log, about half the kept lines are application
    output kept only as a possible torn line's rest)."""
    counts = np.cumsum(marked)
    total = int(counts[-1]) if len(counts) else 0
    stops = np.searchsorted(counts, np.arange(limit + 1, total + 1, limit), side="left").tolist()
    return [(a, b) for a, b in itertools.pairwise([0, *stops, len(marked)]) if b > a]


BATCH_LINES = 32_768
"""Marked lines parsed as columns at once (blocks already read are joined up to this): larger
batches cost fewer Polars calls per line, smaller ones less memory. Under the command's
allocators (``gclens._allocator``), on the runtime-only log, the worst case for memory (paired
runs, medians): 32k peaks at 328 MiB (at most 342) for 1.10x the wall time of 49k, which peaks at
363 MiB (at most 378 MiB, 396 MB: too near issue #18's 400 MB); 98k at 465 MiB."""

READ_AHEAD_LINES = 73_728
"""Kept lines the reader may have read ahead of the parser (2.25 batches). On 2 GiB of the mixed
log the reader is what the parser waits for: at 49k-line batches, 98k read ahead peaked at 371
MiB (at most 385), 74k at 351 (at most 358) for 1.05x the wall time, 49k at 334 for 1.08x; with
32k-line batches 74k peaks at 331 MiB at the same wall time as 49k-line batches."""


def _take_lines(result: SourceResult, taker: LineTaker, batch: Batch) -> None:
    """Count a batch's lines served as columns, and take the rest line by line, in order."""
    slow = batch.slow
    if taker.held is not None and batch.first_if_held:
        slow = [*batch.first_if_held, *slow]
    other = batch.stop - batch.start - batch.served - len(slow)
    result.lines_read += batch.served + other
    result.logical_lines += batch.served + other
    result.other_lines += other
    result.record_count += batch.served
    previous = batch.start - 1
    for position, line in slow:
        if position != previous + 1:
            taker.held = None  # a served (runtime) line came between: nothing to rejoin
        for no, text in physical_lines(result, iter([line])):
            taker.take(no, text, NO_META)
        previous = position
    if previous != batch.stop - 1:
        taker.held = None


def _slow(unserved: Any, marked: Any, start: int, stop: int) -> list[int]:
    """Positions for the line-by-line path: marked lines no plan served, and the unmarked lines
    right after each, up to KEPT_AFTER (they may be the rest of a torn line), in order."""
    picked = set(unserved.tolist())
    follows = np.ones(len(unserved), dtype=bool)
    for after in range(1, KEPT_AFTER + 1):
        at = unserved + after
        follows &= (at < stop) & ~marked[np.minimum(at, stop - 1) - start]
        picked.update(at[follows].tolist())
    return sorted(picked)


def _unmarked_lead(marked: Any, start: int, stop: int, slow: set[int]) -> list[int]:
    """The batch's first lines up to KEPT_AFTER while unmarked: the rest of a torn line held
    from the batch before, perhaps."""
    lead = []
    for i in range(start, min(start + KEPT_AFTER, stop)):
        if marked[i - start] or i in slow:
            break
        lead.append(i)
    return lead
