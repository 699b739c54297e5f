"""Parse one source line by line: classify, parse with the family's grammar, account for all.

Every line ends in exactly one place: a runtime table row, a reject (with line number, text
and reason), or the count of other (application) lines.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gclens._classify import classify, is_fragment
from gclens._errors import LineError
from gclens._grammar import parse_line
from gclens._sources import MAX_LINE_BYTES, Line, Source, read_lines
from gclens._transformers import Legacy

_REJECT_TEXT_CHARS = 4096


@dataclass
class Record:
    """A parsed runtime line before run assembly."""

    line_no: int
    table: str
    row: dict[str, Any]
    text: str


@dataclass
class SourceResult:
    """What one source produced: rows in line order, rejects, and the line accounting."""

    source: Source
    records: list[Record] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    lines_read: int = 0
    other_lines: int = 0
    spliced_lines: int = 0

    def stats(self) -> dict[str, Any]:
        return {
            "source": self.source.name, "lines_read": self.lines_read,
            "runtime_lines": len(self.records), "rejected_lines": len(self.rejects),
            "other_lines": self.other_lines, "spliced_lines": self.spliced_lines,
            "bytes_read": self.source.bytes_read, "compression": self.source.compression,
            "unterminated_last_line": self.source.unterminated,
        }


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
    return parsed


def parse_source(source: Source) -> SourceResult:
    """Read and parse every line of one source (raises InputError if it cannot be read)."""
    result = SourceResult(source)
    for line in read_lines(source):
        result.lines_read += 1
        _take(result, line)
    return result


def _take(result: SourceResult, line: Line) -> None:
    text = line.raw.decode("utf-8", "replace")
    hit = classify(text)
    if hit is None:
        if is_fragment(text):
            _reject(result, line, text, "fragment", _FRAGMENT_REASON)
        else:
            result.other_lines += 1
        return
    problem = _line_problem(line, text)
    if problem:
        _reject(result, line, text, hit.family, problem)
        return
    try:
        parsed = parse_line(hit.family, text[hit.start:])
    except LineError as exc:
        reason = exc.reason if line.terminated else f"unterminated last line ({exc.reason})"
        column = None if exc.column is None else exc.column + hit.start
        _reject(result, line, text, hit.family, reason, column)
        return
    if isinstance(parsed, Legacy):
        _reject(result, line, text, hit.family, parsed.reason)
        return
    table, row = parsed
    if table == "events" and row.get("message") == "":
        row["message"] = text[hit.start:].removeprefix("runtime: ")
    result.spliced_lines += hit.start > 0 and not text[: hit.start].isspace()
    result.records.append(Record(line.no, table, row, text))


_FRAGMENT_REASON = ("fragment of a runtime line: other output was written into the middle of it, "
                    "so its start is on an earlier line")


def _line_problem(line: Line, text: str) -> str | None:
    if line.length > MAX_LINE_BYTES:
        return f"line of {line.length} bytes exceeds the {MAX_LINE_BYTES}-byte limit; not parsed"
    if "\ufffd" in text and b"\xef\xbf\xbd" not in line.raw:
        bad = text.index("\ufffd")
        return f"invalid UTF-8 at column {bad + 1}"
    if "\x00" in text:
        return f"NUL byte at column {text.index(chr(0)) + 1}"
    return None


def _reject(
    result: SourceResult, line: Line, text: str, family: str, reason: str,
    column: int | None = None,
) -> None:
    result.rejects.append({
        "source": result.source.name, "line_no": line.no, "family": family, "reason": reason,
        "column": column, "text": text[:_REJECT_TEXT_CHARS],
    })
