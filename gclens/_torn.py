"""Rejoin a runtime line that another whole line tore in two.

The runtime writes a line in many small writes, each number in one write. When another writer
(the application, or the runtime's own unlocked SCHED printing) writes a whole line in between,
the log shows ``<runtime start><other line>`` and, on the next line, the rest of the runtime
line. Real examples: `gc 105 @5.808` + an app line + `s 4%: ...` (go-trace-formats §9), and
`SCHED 809ms: ... schedticks=[ 58 35` + a whole `pacer: sweep done ...` line + ` 56 37 ... ]`
(go1.27 here). A split of the first line is a candidate when the joined text parses and the
split is not inside a number (numbers are written whole) and the row is consistent (a SCHED line
has one run queue per P). The pieces are rejoined when one
candidate leaves a whole runtime line as the inserted text (which then becomes a row too), or
when every candidate gives the same row; otherwise the line stays a reject.
"""

from __future__ import annotations

from dataclasses import dataclass

from gclens._classify import classify
from gclens._errors import LineError
from gclens._grammar import parse_line
from gclens._prefix import PrefixParser
from gclens._ranges import out_of_range
from gclens._transformers import Legacy, Row


@dataclass(frozen=True)
class Rejoined:
    """The rebuilt runtime row, and the runtime line that had been inserted into it, if any."""

    row: Row
    inserted: Row | None


def rejoin(text: str, start: int, family: str, continuation: str) -> Rejoined | None:
    """Rebuild ``text[start:k] + continuation`` for the one split ``k`` the evidence allows."""
    prefix = PrefixParser(family, text[start:])  # one Lark parse of the prefix serves every split
    splits = [k for k in range(len(text), start, -1) if _whole_number(text, k)]
    # A split that leaves a whole runtime line as the inserted text is decisive when it is the
    # only one: those are few (a marker must start there), so they are tried first.
    inserted = [(k, row) for k in splits if (row := _runtime_row(text[k:])) is not None]
    whole = [(parsed, row) for k, row in inserted if (parsed := _candidate(prefix, k - start, continuation))]
    if len(whole) == 1:
        return Rejoined(*whole[0])
    found = [parsed for k in splits if (parsed := _candidate(prefix, k - start, continuation))]
    if found and all(row == found[0] for row in found):
        return Rejoined(found[0], None)
    return None


def _whole_number(text: str, k: int) -> bool:
    """The runtime writes every number whole: no split inside one."""
    return not (k < len(text) and text[k - 1].isdigit() and text[k].isdigit())


def _candidate(prefix: PrefixParser, r: int, continuation: str) -> Row | None:
    parsed = _usable(prefix.parse(r, continuation))
    return parsed if parsed is not None and _consistent(parsed) else None


def _consistent(parsed: Row) -> bool:
    """A SCHED line lists one run queue (and one schedtick) per P: a split that breaks this is wrong."""
    table, row = parsed
    if table != "sched" or row.get("local_runqueues") is None:
        return True
    ticks = row.get("schedticks")
    return len(row["local_runqueues"]) == row["gomaxprocs"] and (ticks is None or len(ticks) == row["gomaxprocs"])


def _usable(parsed: Row | Legacy | None) -> Row | None:
    return None if parsed is None or isinstance(parsed, Legacy) or out_of_range(*parsed) else parsed


def _runtime_row(text: str) -> Row | None:
    hit = classify(text)
    if hit is None or hit.start != 0:
        return None
    try:
        return _usable(parse_line(hit.family, text))
    except LineError:
        return None
