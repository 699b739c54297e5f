"""Catch digits that other output spliced into a runtime number (go-trace-formats §1.2, trap 18).

The runtime writes each number of a line with one write(2), so application output can only
land *before or after* a whole number, never inside it. When the application's write is digits,
the line still matches its grammar: `gc 9935 @...` was cycle 35 after the application wrote
`99`, and `... 204 P` was GOMAXPROCS 4 after `20` (both seen in real go1.24 traces). Such a
number is caught by two facts together:

* it breaks the sequence its neighbouring lines agree on (gc numbers between the neighbours',
  times between theirs, the GOMAXPROCS both neighbours print), and
* its digits are a number that fits there with digits glued before or after it.

Both must hold, so a real change (a restart, a second runtime's `gc 1` interleaved, GOMAXPROCS
changed for good) is kept. The line goes to the rejects, never into a table with a wrong value.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gclens._parse import Record, SourceResult

_SPLICED = "other output was spliced into this number"


MAX_HELD = 5_000
"""Records held back waiting for a neighbour; past this (a SCHED header followed by a huge
scheddetail dump) the waiting record is taken as it is, so memory stays bounded."""


class SpliceGuard:
    """Streams records through, rejecting those whose numbers carry spliced digits.

    A record is judged once its next neighbour of the same kind has arrived, so records from
    the last gc or SCHED record on are held back until the next batch (at most ``MAX_HELD``).
    """

    def __init__(self, result: SourceResult) -> None:
        self.result = result
        self.held: list[Record] = []
        self.last: dict[str, Record] = {}  # the record before the held ones, per kind

    def feed(self, records: list[Record], *, final: bool = False) -> tuple[list[Record], list[dict[str, Any]]]:
        """Records that are settled (in line order) and the rejects found among them."""
        pending = self.held + records
        bad = self._judge(pending)
        cut = len(pending) if final else max(self._first_unjudged(pending), len(pending) - MAX_HELD)
        ready, self.held = pending[:cut], pending[cut:]
        for rec in ready:
            if rec.table in ("gc", "sched"):
                self.last[rec.table] = rec
        rejects = [self._reject(rec, bad[id(rec)]) for rec in ready if id(rec) in bad]
        self.result.record_count -= len(rejects)
        self.result.reject_count += len(rejects)
        return [rec for rec in ready if id(rec) not in bad], rejects

    def _judge(self, pending: list[Record]) -> dict[int, str]:
        bad: dict[int, str] = {}
        for kind, check in (("gc", _gc_damage), ("sched", _sched_damage)):
            seq = [self.last[kind]] if kind in self.last else []
            seq += [r for r in pending if r.table == kind]
            for prev, rec, nxt in zip(seq, seq[1:], seq[2:], strict=False):
                reason = check(prev.row, rec.row, nxt.row)
                if reason:
                    bad[id(rec)] = reason
        return bad

    @staticmethod
    def _first_unjudged(pending: list[Record]) -> int:
        """Index of the first record that still waits for its next neighbour."""
        cut = len(pending)
        for kind in ("gc", "sched"):
            last = max((i for i, r in enumerate(pending) if r.table == kind), default=None)
            if last is not None:
                cut = min(cut, last)
        return cut

    def _reject(self, rec: Record, reason: str) -> dict[str, Any]:
        return {"source": self.result.source.name, "line_no": rec.line_no, "column": None,
                "family": "gctrace" if rec.table == "gc" else "sched", "reason": reason, "text": rec.text}


def _sched_damage(prev: dict[str, Any], row: dict[str, Any], nxt: dict[str, Any]) -> str | None:
    ms = [round(r["t_s"] * 1000) for r in (prev, row, nxt)]
    if ms[0] <= ms[2] and not ms[0] <= ms[1] <= ms[2] and _glued(str(ms[1]), range(ms[0], ms[2] + 1)):
        return f"SCHED {ms[1]}ms lies outside its neighbours' {ms[0]}..{ms[2]}ms: {_SPLICED}"
    return None


def _gc_damage(prev: dict[str, Any], row: dict[str, Any], nxt: dict[str, Any]) -> str | None:
    a, n, b = prev["gc_num"], row["gc_num"], nxt["gc_num"]
    if a < b and not a < n < b and b - a <= 1000 and _glued(str(n), range(a + 1, b)):
        return f"gc number {n} does not fit between {a} and {b}: {_SPLICED}"
    p0, p, p1 = prev["procs"], row["procs"], nxt["procs"]
    if p0 == p1 != p and _glued(str(p), [p0]):
        return f"GOMAXPROCS {p} differs from both neighbouring cycles ({p0}): {_SPLICED}"
    t0, t, t1 = prev["t_s"], row["t_s"], nxt["t_s"]
    printed = f"{t:.3f}"
    if t0 <= t1 and not t0 <= t <= t1 and any(
            t0 <= float(printed[i:]) <= t1 for i in range(1, printed.index("."))):
        return f"time {printed}s lies outside its neighbours' {t0:.3f}..{t1:.3f}s: {_SPLICED}"
    return None


def _glued(digits: str, candidates: Iterable[int]) -> bool:
    """True when ``digits`` is one candidate with other digits glued before or after it."""
    return any(len(digits) > len(c) and (digits.startswith(c) or digits.endswith(c))
               for c in map(str, candidates))
