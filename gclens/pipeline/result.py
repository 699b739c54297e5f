"""What one source produced (``SourceResult``) and how a line is put in it: a row, or a reject.

Apart from the parser's control flow (``parse``: reading, envelopes, torn lines held for their
rest) because this is the accounting every path shares: a row carries its log metadata, a reject
its reason (a line problem, a fragment, or Lark's message, asked only when the reject stays).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from gclens._errors import LineError
from gclens.grammar.loader import parse_line
from gclens.grammar.markers import torn_start_regex
from gclens.grammar.templates import FastEngine
from gclens.pipeline.records import Record
from gclens.read.envelopes import NO_META, Meta
from gclens.read.sources import Source

__all__ = ["SourceResult"]

_REJECT_TEXT_CHARS = 4096


@dataclass
class SourceResult:
    """What one source produced: rows in line order, rejects, and the line accounting."""

    source: Source
    records: list[Record] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    lines_read: int = 0
    other_lines: int = 0
    spliced_lines: int = 0
    rejoined_lines: int = 0
    logical_lines: int = 0
    envelope: str = "raw"
    problems: dict[int, str] = field(default_factory=dict)
    unterminated_line: int | None = None
    container: str | None = None
    engine: FastEngine | None = None

    record_count: int = 0
    reject_count: int = 0

    def drain(self, *, holding: bool = False) -> tuple[list[Record], list[dict[str, Any]]]:
        """Hand over the records and rejects parsed so far (the counters keep counting).

        ``holding``: the last line was rejected and is held for its continuation, so its reject
        stays (a rejoin takes it back).
        """
        records, rejects = self.records, self.rejects
        self.records, self.rejects = [], []
        if holding and rejects:
            self.rejects.append(rejects.pop())
        for reject in rejects:
            if isinstance(reject["reason"], _Why):
                reject["reason"], reject["column"] = reject["reason"].resolve()
        self.record_count += len(records)
        self.reject_count += len(rejects)
        return records, rejects

    def stats(self) -> dict[str, Any]:
        return {
            "source": self.source.name, "lines_read": self.lines_read,
            "runtime_lines": self.record_count + len(self.records),
            "rejected_lines": self.reject_count + len(self.rejects),
            "other_lines": self.other_lines, "joined_lines": self.lines_read - self.logical_lines,
            "spliced_lines": self.spliced_lines, "rejoined_lines": self.rejoined_lines,
            "bytes_read": self.source.bytes_read,
            "compression": self.source.compression, "envelope": self.envelope,
            "unterminated_last_line": self.unterminated_line is not None,
        }


@dataclass(frozen=True)
class _Why:
    """Why a runtime line does not parse, asked of Lark only when the line stays a reject."""

    family: str
    runtime: str
    start: int
    unterminated: bool

    def resolve(self) -> tuple[str, int | None]:
        try:
            parse_line(self.family, self.runtime)
        except LineError as exc:
            reason = f"unterminated last line ({exc.reason})" if self.unterminated else exc.reason
            return reason, None if exc.column is None else exc.column + self.start
        return "does not match the grammar", None  # the automaton and Lark disagree: never seen


def _keep(result: SourceResult, no: int, table: str, row: dict[str, Any], text: str, meta: Meta) -> None:
    if meta is not NO_META:
        row.update(_meta_columns(meta))
    if result.container and not row.get("container"):
        row["container"] = result.container
    result.records.append(Record(no, table, row, text, meta))


def _meta_columns(meta: Meta) -> dict[str, Any]:
    return {"log_ts": meta.log_ts_ns, "stream": meta.stream, "host": meta.host, "unit": meta.unit,
            "container": meta.container, "pid": meta.pid, "_mono_ns": meta.mono_ns,
            "_log_ts_res": meta.log_ts_res_ns,
            "_boot_id": meta.boot_id}


_FRAGMENT_REASON = ("fragment of a runtime line: other output was written into the middle of it, "
                    "so its start is on an earlier line")
_TORN_START = re.compile(torn_start_regex())  # a marker with other output inside it (``_markers``)


def _fragment_reason(text: str) -> str:
    if _TORN_START.search(text):
        return "runtime line with other output spliced into its first words"
    return _FRAGMENT_REASON


def _line_problem(result: SourceResult, no: int, text: str) -> str | None:
    problem = result.problems.get(no)
    if problem == "invalid UTF-8":
        return f"invalid UTF-8 at column {text.index(chr(0xFFFD)) + 1}"
    if problem:
        return problem
    if "\x00" in text:
        return f"NUL byte at column {text.index(chr(0)) + 1}"
    return None


def _reject(
    result: SourceResult, no: int, text: str, family: str, reason: str | _Why, column: int | None = None,
) -> None:
    """A reject; a ``_Why`` reason is Lark's message, asked when the reject is handed over."""
    result.rejects.append({
        "source": result.source.name, "line_no": no, "family": family, "reason": reason,
        "column": column, "text": text[:_REJECT_TEXT_CHARS],
    })
