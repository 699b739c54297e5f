"""The streaming pipeline: sources → chunks of parsed lines → splice guard → runs → anchors.

Two routes with the same results. A plain log with the fast engine goes a block at a time as
columns (``_columnar`` parses, ``_frames`` assembles); every other source (``--engine lark``,
the reference, and enveloped logs, whose collector times anchor runs) goes line by line
(``_parse``, ``_sequence``, ``_runs``, ``_anchor``). Every stage keeps only the state it needs
across chunks (the last lines of each kind, the current run, the lines waiting for their gc line
or their run's anchor), so memory is bounded by the chunk size, not by the input. Sinks (in
memory for ``read_trace``, files for ``gclens parse -o``) receive (table, rows) batches: lists
of dicts, or Arrow tables from the columnar route.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from gclens import _parse
from gclens._anchor import Anchorer
from gclens._envelopes import Clock
from gclens._parse import CHUNK_LINES, Opened, SourceResult, open_source, parse_chunks
from gclens._runs import Assembler, Rows
from gclens._sequence import SpliceGuard
from gclens._sources import SourceLike, expand

Batch = tuple[str, list[dict[str, Any]]]


@dataclass(frozen=True)
class Options:
    """How to read the sources (see ``read_trace``)."""

    envelope: str = "auto"
    clock: Clock = field(default_factory=Clock)
    start_ns: int | None = None
    max_input_bytes: int | None = None
    chunk_lines: int = CHUNK_LINES
    """Lines per chunk, line by line (--engine lark, envelopes)."""
    block_bytes: int | None = None
    """Bytes per block of a plain log (its rows are parsed a block at a time); None: BLOCK_BYTES."""
    engine: str = "fast"
    progress: Callable[[str, int], None] | None = None
    """Called with (source name, bytes read so far) as a source is read: for a progress bar."""


def stream(source: SourceLike | list[SourceLike], options: Options) -> Iterator[Batch]:
    """Every row of every table, in batches, source after source."""
    for src in expand(source):
        yield from _one_source(SourceResult(src), options)


def _one_source(result: SourceResult, options: Options) -> Iterator[Batch]:
    opened = open_source(result, envelope=options.envelope, clock=options.clock,
                         max_input_bytes=options.max_input_bytes, engine=options.engine, progress=options.progress)
    if options.block_bytes is not None:
        opened.reader.block_bytes = options.block_bytes
    if options.engine == "fast" and result.envelope == "raw" and not _small(opened, options):
        yield from _frames_of(result, opened, options)
    else:
        yield from _rows_of(result, opened, options)
    yield "sources", [result.stats()]


def _small(opened: Opened, options: Options) -> bool:
    """Did the source end within the lines read to detect its envelope? Then it goes line by
    line: the columnar stages pay off over blocks, and need Polars, 0.18 s to import."""
    asked: int = _parse.DETECT_LINES  # type: ignore[attr-defined]  # looked up here: tests lower it
    return options.envelope == "auto" and len(opened.head) < asked


def _frames_of(result: SourceResult, opened: Opened, options: Options) -> Iterator[Batch]:
    """A plain log, parsed and assembled a block at a time over frames (``_columnar``, ``_frames``)."""
    from gclens._columnar import frame_chunks
    from gclens._frames import FrameStages

    stages = FrameStages(result, start_ns=options.start_ns)
    assert result.engine is not None
    for chunk, rejects in frame_chunks(result, opened, result.engine):
        yield "rejects", rejects
        if chunk is not None:
            yield from stages.feed(chunk)
    yield from stages.feed(None, final=True)


def _rows_of(result: SourceResult, opened: Opened, options: Options) -> Iterator[Batch]:
    """Any source, parsed and assembled line by line (the reference, and envelopes' times)."""
    guard, assembler = SpliceGuard(result), Assembler(result.source.name)
    anchorer = Anchorer(start_ns=options.start_ns, timeless=result.envelope == "raw")
    for records, rejects in parse_chunks(result, clock=options.clock, chunk_lines=options.chunk_lines,
                                         engine=options.engine, opened=opened):
        ready, spliced = guard.feed(records)
        yield "rejects", sorted(rejects + spliced, key=lambda r: int(r["line_no"]))
        yield from anchorer.feed(assembler.feed(ready)).items()
        closed = assembler.close_runs()
        if closed:
            yield from anchorer.close(closed).items()
            yield "runs", closed
    ready, spliced = guard.feed([], final=True)
    yield "rejects", spliced
    rows = assembler.feed(ready)
    tail, runs = assembler.finish()
    yield from anchorer.feed(_merge(rows, tail)).items()
    yield from anchorer.finish(runs).items()
    yield "runs", runs


def _merge(a: Rows, b: Rows) -> Rows:
    return {name: a.get(name, []) + b.get(name, []) for name in a.keys() | b.keys()}


@dataclass
class Summary:
    """What a parse produced, for the one-screen report: counts, sources, the first rejects."""

    row_counts: Counter[str] = field(default_factory=Counter)
    sources: list[dict[str, Any]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    first_rejects: list[dict[str, Any]] = field(default_factory=list)

    def add(self, name: str, rows: list[dict[str, Any]]) -> None:
        self.row_counts[name] += len(rows)
        if name == "sources":
            self.sources.extend(rows)
        if name == "rejects":
            self.reasons.update(r["reason"] for r in rows)
            self.first_rejects.extend(rows[: 3 - len(self.first_rejects)])


def survey(source: SourceLike | list[SourceLike], options: Options) -> Summary:
    """Parse without keeping anything: the counts and the first rejects only."""
    summary = Summary()
    for name, rows in stream(source, options):
        summary.add(name, rows)
    return summary
