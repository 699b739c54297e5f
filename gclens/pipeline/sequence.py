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
from typing import TYPE_CHECKING, Any

import polars as pl

if TYPE_CHECKING:
    from gclens.pipeline.parse import SourceResult

__all__ = ["MAX_HELD", "SpliceGuard"]

_SPLICED = "other output was spliced into this number"
_CLOCKED = ("gc", "sched")

MAX_HELD = 5_000
"""Rows held back waiting for a neighbour; past this (a SCHED header followed by a huge
scheddetail dump) the waiting row is taken as it is, so memory stays bounded."""


class SpliceGuard:
    """Streams a chunk's skeleton through, rejecting rows whose numbers carry spliced digits.

    A row is judged once its next neighbour of the same kind has arrived, so rows from the last
    gc or SCHED row on are held back until the next chunk (at most ``MAX_HELD``). A vectorised
    test over the whole chunk flags the few rows that break their neighbours' sequence; only
    those are looked at in Python.
    """

    def __init__(self, result: SourceResult) -> None:
        self.result = result
        self.held: pl.DataFrame | None = None  # rows waiting for their next neighbour
        self.last: dict[str, dict[str, Any]] = {}  # the last settled gc and SCHED rows

    def feed(self, chunk: pl.DataFrame | None, *, final: bool = False) -> tuple[pl.DataFrame, list[dict[str, Any]]]:
        """Rows that are settled (in line order, rejects taken out) and the rejects, with their ``_order``."""
        present = [f for f in (self.held, chunk) if f is not None and f.height]
        if not present:
            self.held = None
            return pl.DataFrame(), []
        pending = (present[0] if len(present) == 1 else pl.concat(present, how="diagonal_relaxed")).with_row_index("_i")
        bad: dict[int, str] = {}
        last_index = []
        for kind in _CLOCKED:
            rows = pending.filter(pl.col("_table") == kind)
            if rows.height:
                last_index.append(int(rows["_i"][-1]))
                bad.update(self._judge(kind, rows))
        cut = pending.height if final or not last_index else max(min(last_index), pending.height - MAX_HELD)
        ready, self.held = pending.slice(0, cut).drop("_i"), pending.slice(cut).drop("_i")
        for kind in _CLOCKED:
            rows = ready.filter(pl.col("_table") == kind)
            if rows.height:
                self.last[kind] = rows.row(rows.height - 1, named=True)
        if not bad:
            return ready, []
        flagged = ready.filter(pl.col("_order").is_in(list(bad)))
        rejects = [{"_order": row["_order"], "source": self.result.source.name, "line_no": row["line_no"],
                    "column": None, "family": "gctrace" if row["_table"] == "gc" else "sched",
                    "reason": bad[row["_order"]], "text": row["_text"]}
                   for row in flagged.select("_order", "line_no", "_table", "_text").iter_rows(named=True)]
        self.result.record_count -= len(rejects)
        self.result.reject_count += len(rejects)
        return ready.filter(~pl.col("_order").is_in(list(bad))), rejects

    def _judge(self, kind: str, rows: pl.DataFrame) -> dict[int, str]:
        """Reasons by ``_order`` for rows whose numbers carry spliced digits."""
        fields = ["gc_num", "procs", "t_s"] if kind == "gc" else ["t_s"]
        seq = rows.select("_order", *fields)
        if kind in self.last:
            seq = pl.concat([pl.DataFrame([{k: self.last[kind][k] for k in ("_order", *fields)}],
                                          schema=seq.schema), seq])
        flagged = seq.with_row_index("_k").filter(_breaks_sequence(kind))
        if flagged.is_empty():
            return {}
        check = _gc_damage if kind == "gc" else _sched_damage
        out = {}
        for k in flagged["_k"].to_list():  # few: only these rows become Python dicts
            before, row, after = seq.slice(k - 1, 3).rows(named=True)
            reason = check(before, row, after)
            if reason:
                out[row["_order"]] = reason
        return out


def _breaks_sequence(kind: str) -> pl.Expr:
    """Rows with both neighbours whose numbers do not fit between theirs: the candidates only,
    ``_gc_damage``/``_sched_damage`` decide (they also demand digits glued to a fitting number)."""
    t0, t, t1 = pl.col("t_s").shift(1), pl.col("t_s"), pl.col("t_s").shift(-1)
    if kind == "gc":
        a, n, b = pl.col("gc_num").shift(1), pl.col("gc_num"), pl.col("gc_num").shift(-1)
        p0, p, p1 = pl.col("procs").shift(1), pl.col("procs"), pl.col("procs").shift(-1)
        maybe = (((a < b) & ~((a < n) & (n < b)) & (b - a <= 1000)) | ((p0 == p1) & (p1 != p))
                 | ((t0 <= t1) & ~((t0 <= t) & (t <= t1))))
    else:
        maybe = ~((t0 <= t) & (t <= t1))
    inner = pl.col("_order").shift(1).is_not_null() & pl.col("_order").shift(-1).is_not_null()
    return inner & maybe.fill_null(True)


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
