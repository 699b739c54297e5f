"""The streaming pipeline: sources → chunks of parsed rows → the later stages → table batches.

Two ways to parse, one set of later stages. A plain log with the fast engine is parsed a block
at a time as columns (``_columnar``); every other source (``--engine lark``, the reference, and
enveloped logs, whose collector times anchor runs) is parsed line by line (``_parse``). Both
hand chunks of rows to the same ``_stages.Stages`` (splice guard, runs, anchors, tables).
Memory is bounded by the chunk size, not by the input. Sinks (in memory for ``read_trace``,
files for ``gclens parse -o``) receive (table, rows) batches: Arrow tables or lists of dicts
(small batches of a small log, and ``rejects``, ``runs``, ``sources``).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from gclens.pipeline.parse import CHUNK_LINES, Opened, SourceResult, open_source, parse_chunks
from gclens.read.envelopes import Clock
from gclens.read.sources import SourceLike, expand

if TYPE_CHECKING:
    from gclens.pipeline.stages import Stages

__all__ = ["Batch", "Options", "Summary", "stream", "survey"]

Batch = tuple[str, Any]


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
    from gclens.pipeline.stages import Stages

    stages = Stages(result, start_ns=options.start_ns, timeless=result.envelope == "raw")
    if options.engine == "fast" and result.envelope == "raw" and not opened.whole:
        # a source that is only its first lines goes line by line: parsing as columns pays off over
        # blocks (its reader threads, scanner and plans cost more than a few lines take one by one)
        yield from _by_blocks(result, opened, stages)
    else:
        yield from _by_lines(result, opened, stages, options)
    yield from stages.feed(None, final=True)
    yield "sources", [result.stats()]


def _by_blocks(result: SourceResult, opened: Opened, stages: Stages) -> Iterator[Batch]:
    """A plain log, parsed a block at a time as columns (``_columnar``)."""
    from gclens.pipeline.columnar import frame_chunks

    assert result.engine is not None
    for chunk, rejects in frame_chunks(result, opened, result.engine):
        yield "rejects", rejects
        if chunk is not None:
            yield from stages.feed(chunk)


def _by_lines(result: SourceResult, opened: Opened, stages: Stages, options: Options) -> Iterator[Batch]:
    """Any source, parsed line by line (the reference, and envelopes' times)."""
    from gclens.pipeline.chunks import chunk_frame, record_frames

    for records, rejects in parse_chunks(result, clock=options.clock, chunk_lines=options.chunk_lines,
                                         engine=options.engine, opened=opened):
        yield "rejects", rejects
        chunk = chunk_frame(record_frames(records))
        if chunk is not None:
            yield from stages.feed(chunk)


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
