"""Parse one source line by line: classify, parse with the family's grammar, account for all.

Every line ends in exactly one place: a runtime table row, a reject (with line number, text
and reason), or the count of other (application) lines. ``SourceResult`` and the row and reject
helpers are in ``result`` (re-exported here, where callers import it).
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

from gclens._errors import LineError
from gclens.grammar.loader import parse_line
from gclens.grammar.ranges import may_overflow, out_of_range
from gclens.grammar.recognize import Prefix, prefix_of
from gclens.grammar.templates import FastEngine
from gclens.grammar.transformers import Legacy
from gclens.pipeline.records import Record
from gclens.pipeline.result import SourceResult, _fragment_reason, _keep, _line_problem, _reject, _Why
from gclens.pipeline.torn import Ambiguous, Continued, rejoin
from gclens.read.classify import CANDIDATES, classify, could_end, cut_short, is_fragment, torn_head
from gclens.read.envelopes import CONTINUED, DETECT_LINES, Clock, Meta, container_from_path, detect, unwrap
from gclens.read.sources import MAX_LINE_BYTES, Block, Line, LineReader

__all__ = ["CHUNK_LINES", "ENGINES", "HOLD_LINES", "LineTaker", "Opened", "SourceResult", "count_skipped",
           "open_source", "parse_chunks", "parse_runtime_line", "physical_lines", "shared_engine"]


def parse_runtime_line(text: str) -> tuple[str, dict[str, Any]]:
    """Parse one runtime line into (table name, columns), e.g. for a notebook or a test.

    Raises LineError (its message shows the line and a caret at the failing column) when the
    text is not runtime output, does not match its grammar, or is a legacy pre-go1.5 line.

    >>> parse_runtime_line("scav 0 KiB work, 1024 KiB total, 98% util")[1]["released_kib"]
    1024
    """
    hit = classify(text)
    if hit is None:
        raise LineError("not Go runtime output (no gc, pacer, SCHED, scav ... marker)", text)
    try:
        parsed = parse_line(hit.family, text[hit.start:])
    except LineError as exc:
        column = None if exc.column is None else exc.column + hit.start
        raise LineError(exc.reason, text, column=column, family=hit.family) from None
    if isinstance(parsed, Legacy):
        raise LineError(parsed.reason, text, family=hit.family)
    too_big = out_of_range(*parsed)
    if too_big:
        raise LineError(too_big, text, family=hit.family)
    return parsed


CHUNK_LINES = 20_000
"""Lines parsed between two hand-overs to the next stage: memory is bounded by this, not the input."""


ENGINES = ("fast", "lark")
"""``fast``: templates derived from the grammars (the default); ``lark``: every line through Lark."""


@functools.cache
def shared_engine() -> FastEngine:
    """One template cache per process: shapes learnt on one file serve the next, and the next run."""
    return FastEngine.kept()


def open_source(result: SourceResult, *, envelope: str = "auto", clock: Clock | None = None,
                max_input_bytes: int | None = None, engine: str = "fast",
                progress: Callable[[str, int], None] | None = None) -> Opened:
    """Start reading a source: read its first lines and detect its envelope (``result.envelope``).

    ``envelope`` names the log collector's wrapping (see ``_envelopes``); "auto" detects it
    from the first lines. Raises InputError if the source cannot be read.
    """
    result.engine = shared_engine() if engine == "fast" else None
    result.container = container_from_path(str(result.source.path or ""))
    name = result.source.name
    reader = LineReader(result.source, max_input_bytes=max_input_bytes,
                        progress=None if progress is None else lambda done: progress(name, done))
    items = iter(reader)
    physical = physical_lines(result, items)  # type: ignore[arg-type]  # Lines only until reader.blocks is set
    if envelope != "auto":  # nothing to detect: no lines read ahead (a live source shows its first rows at once)
        result.envelope = envelope
        return Opened(reader, items, [], physical)
    head = list(itertools.islice(physical, DETECT_LINES))
    result.envelope = detect((text for _, text in head), clock or Clock())
    return Opened(reader, items, head, physical, whole=len(head) < DETECT_LINES)


@dataclass
class Opened:
    """A source being read: its reader, the reader's items, the first lines, and the rest decoded."""

    reader: LineReader
    items: Iterator[Line | Block]
    head: list[tuple[int, str]]
    physical: Iterator[tuple[int, str]]
    whole: bool = False
    """The source ended within the lines read to detect its envelope: ``head`` is all of it."""


def parse_chunks(result: SourceResult, *, envelope: str = "auto", clock: Clock | None = None,
                 max_input_bytes: int | None = None, chunk_lines: int = CHUNK_LINES, engine: str = "fast",
                 progress: Callable[[str, int], None] | None = None, opened: Opened | None = None,
                 ) -> Iterator[tuple[list[Record], list[dict[str, Any]]]]:
    """Read and parse one source line by line, yielding (records, rejects) every ``chunk_lines`` lines.

    ``result`` keeps the source's counters (final once the generator is exhausted); ``opened``
    continues a source ``open_source`` started. Raises InputError if the source cannot be read.
    """
    clock = clock or Clock()
    opened = opened or open_source(result, envelope=envelope, clock=clock, max_input_bytes=max_input_bytes,
                                   engine=engine, progress=progress)
    if engine == "fast":  # skip application output in blocks (Lark, the reference, reads every line)
        kept = CONTINUED.get(result.envelope)
        opened.reader.candidates = CANDIDATES if kept is None else (*CANDIDATES, kept)
    taker = LineTaker(result)
    for no, text, meta in unwrap(itertools.chain(opened.head, opened.physical), result.envelope, clock):
        taker.take(no, text, meta)
        if taker.held is None and len(result.records) + len(result.rejects) >= chunk_lines:
            yield result.drain()
    count_skipped(result, opened.reader)
    yield result.drain()


HOLD_LINES = 64
"""Application lines a torn runtime line's head may wait across for its rest: a thread that is
descheduled while it prints leaves its line open while others log (40 lines seen in go1.27)."""


class LineTaker:
    """Puts logical lines where they belong one by one, rejoining a torn line with its rest."""

    def __init__(self, result: SourceResult) -> None:
        self.result = result
        self.held: _Held | None = None

    @property
    def holding_reject(self) -> bool:
        """The held line was counted as a reject (a rejoin takes it back), not as other output."""
        return self.held is not None and self.held.rejected

    def take(self, no: int, text: str, meta: Meta) -> None:
        self.result.logical_lines += 1
        held, self.held = self.held, None
        outcome = None
        runtime = classify(text) is not None
        if held is not None and not runtime and (held.apart == 0 or could_end(held.family, text)
                                                 or is_fragment(text)):
            outcome = _rejoin(self.result, held, text)
            if outcome is True:
                return
            if isinstance(outcome, Continued):  # torn again: the line so far waits for its rest
                self.held = _continue(self.result, held, outcome, no)
                return
        rejects = len(self.result.rejects)
        self.held = _take(self.result, no, text, meta)
        if isinstance(outcome, Ambiguous):  # the reject that shows the damage names the readings
            assert held is not None
            at = -1 if len(self.result.rejects) > rejects else (-2 if held.rejected else None)
            if at is not None and len(self.result.rejects) >= -at:
                self.result.rejects[at]["reason"] = outcome.reason()
        elif (held is not None and self.held is None and not runtime and held.apart < HOLD_LINES
              and len(self.result.rejects) == rejects):  # an application line: the rest may follow
            self.held = replace(held, apart=held.apart + 1)


def count_skipped(result: SourceResult, reader: LineReader) -> None:
    """Lines the block scanner passed over are application output: read, and other."""
    result.lines_read += reader.skipped
    result.logical_lines += reader.skipped
    result.other_lines += reader.skipped
    if reader.unterminated_skipped is not None:
        result.unterminated_line = reader.unterminated_skipped


@dataclass(frozen=True)
class _Held:
    """A line that may be a torn runtime line's head, kept in case a later line is its rest: a
    runtime line its grammar rejected (counted as a reject), or a line that starts with a runtime
    line's first piece and holds no marker (counted as other output). ``apart``: application
    lines taken since."""

    no: int
    text: str
    start: int
    family: str
    meta: Meta
    rejected: bool = True
    apart: int = 0
    prefix: Prefix | None = field(default=None, compare=False)  # the runtime part's tokens, if known


def _continue(result: SourceResult, held: _Held, outcome: Continued, no: int) -> _Held:
    """Hold the line so far (head and next piece) for its rest; count the line inserted before."""
    if outcome.other_text:
        result.other_lines += 1
    else:
        result.logical_lines -= 1
    if held.rejected:
        for reject in reversed(result.rejects):
            if reject["line_no"] == held.no:
                reject["reason"] = (f"torn runtime line: continued on line {no} (another line written "
                                    "into it again), its rest did not follow")
                break
    return replace(held, text=outcome.text, start=0, apart=0, prefix=None)


def _rejoin(result: SourceResult, held: _Held, text: str) -> bool | Continued | Ambiguous | None:
    """Rejoin ``held`` with its rest ``text`` and count both lines: True when done."""
    joined = rejoin(held.text, held.start, held.family, text,
                    None if result.engine is None else result.engine.parse, held.prefix)
    if joined is None or isinstance(joined, Ambiguous | Continued):
        return joined
    if held.rejected:
        _forget_reject(result, held.no)
    else:
        result.other_lines -= 1
    result.rejoined_lines += 1
    _keep(result, held.no, *joined.row, f"{held.text}\n{text}", held.meta)
    if joined.inserted is not None:  # the inserted text was a whole runtime line: a row of its own
        _keep(result, held.no, *joined.inserted, held.text, held.meta)
    elif joined.other_text:  # an application line: it stays counted as other output
        result.other_lines += 1
    else:
        result.logical_lines -= 1  # nothing came between: the rest is joined onto the line
    return True


def _forget_reject(result: SourceResult, no: int) -> None:
    """Take back the held line's reject (the last one, or the last of that line)."""
    for i in range(len(result.rejects) - 1, -1, -1):
        if result.rejects[i]["line_no"] == no:
            del result.rejects[i]
            return


def physical_lines(result: SourceResult, lines: Iterator[Line]) -> Iterator[tuple[int, str]]:
    """Decode each physical line, noting the ones that cannot be parsed whatever they hold."""
    for line in lines:
        result.lines_read += 1
        text = line.raw.decode("utf-8", "replace")
        if line.length > MAX_LINE_BYTES:
            result.problems[line.no] = (f"line of {line.length} bytes exceeds the "
                                        f"{MAX_LINE_BYTES}-byte limit; not parsed")
        elif "\ufffd" in text and b"\xef\xbf\xbd" not in line.raw:
            result.problems[line.no] = "invalid UTF-8"
        if not line.terminated:
            result.unterminated_line = line.no
        yield line.no, text


def _take(result: SourceResult, no: int, text: str, meta: Meta) -> _Held | None:
    """Put one line where it belongs; return it when its grammar rejected it (see _rejoin)."""
    hit = classify(text)
    if hit is None:
        head = torn_head(text) if _line_problem(result, no, text) is None else None
        cut = cut_short(text) if no == result.unterminated_line else None
        fragment = cut is None and is_fragment(text)
        if cut is not None:
            _reject(result, no, text, cut, "unterminated last line (the output stops inside a runtime line: "
                                           "the process was killed or hung while printing it)")
        elif fragment:
            _reject(result, no, text, "fragment", _fragment_reason(text))
        else:
            result.other_lines += 1
        # a runtime line's first piece and another line: held in case the next line is its rest
        if head is None or cut is not None:
            return None
        return _Held(no, text, head.start, head.family, meta, rejected=fragment)
    problem = _line_problem(result, no, text)
    if problem:
        _reject(result, no, text, hit.family, problem)
        return None
    runtime = text[hit.start:]
    try:
        parsed = result.engine.parse(hit.family, runtime) if result.engine is not None else None
        prefix = prefix_of(hit.family, runtime) if parsed is None and result.engine is not None else None
        if prefix is not None and not prefix.complete:
            # it fails (most such lines are torn, and rejoined): Lark says why only if it stays a reject
            why = _Why(hit.family, runtime, hit.start, no == result.unterminated_line)
            _reject(result, no, text, hit.family, why)
            return _Held(no, text, hit.start, hit.family, meta, prefix=prefix)
        if parsed is None:
            parsed = parse_line(hit.family, runtime)
    except LineError as exc:
        reason = exc.reason if no != result.unterminated_line else f"unterminated last line ({exc.reason})"
        column = None if exc.column is None else exc.column + hit.start
        _reject(result, no, text, hit.family, reason, column)
        return _Held(no, text, hit.start, hit.family, meta)
    if isinstance(parsed, Legacy):
        _reject(result, no, text, hit.family, parsed.reason)
        return None
    table, row = parsed
    too_big = out_of_range(table, row) if may_overflow(runtime) else None
    if too_big:
        _reject(result, no, text, hit.family, too_big)
        return None
    if table == "events" and row.get("message") == "":
        row["message"] = text[hit.start:].removeprefix("runtime: ")
    result.spliced_lines += hit.start > 0 and not text[: hit.start].isspace()
    _keep(result, no, table, row, text, meta)
    return None
