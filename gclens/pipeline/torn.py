"""Rejoin a runtime line that another whole line tore in two.

The runtime writes a line in many small writes, one per print argument (go-trace-formats §1.2).
When another writer (the application logging a whole line, or the runtime's own unlocked SCHED
printing) writes between two of them, the log shows ``<runtime head><other line>`` and, on the
next line, the rest of the runtime line. Real examples: `gc 105 @5.808` + `2026/11/27 03:27:41
churn: ...` + `s 4%: ...` (the digits of both merge), `gc ` + `{"time":...}` + `105 @5.808s ...`,
and `SCHED 809ms: ... schedticks=[ 58 35` + a whole `pacer: sweep done ...` line + ` 56 37 ... ]`.

A split ``k`` of the first line is a *reading* when

* the joined text ``line[:k] + rest`` parses, with no number glued to the rest's first digits
  (each number is one write) and every number rendered as the runtime renders it (the grammar's
  terminals: ``@`` seconds with three decimals, ``fmtNSAsMS`` durations);
* the row is consistent: a SCHED line has one run queue per P; a gc line's pause CPU is the same
  ``stwprocs`` times both pause clocks, so the head and rest of two different lines do not pass;
* the inserted text ``line[k:]`` is not a piece of runtime output: it is another line whole
  (application output, or a whole runtime line, which then becomes a row too).

When the readings give different rows, the evidence decides: readings whose inserted text is a
whole runtime line win; then a G line's reading whose wait reason is one of the runtime's; then
the readings whose inserted text starts most surely the way application lines start (a
timestamp in a common layout, ``{``, ``[``; else a letter that does not continue a word), so
that `gc 1052026/11/27 ...` is cycle 105 and a `2026/11/27` line. If those disagree, or none
starts that way and the others disagree, the line stays a reject that names the readings.

When no split gives a whole line, the next line may be the runtime line's next pieces followed
by yet another whole line (the line was torn again): ``Continued`` is the line so far, which
``_parse.LineTaker`` holds for its rest.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from gclens._errors import LineError
from gclens.grammar.loader import parse_line
from gclens.grammar.ranges import out_of_range
from gclens.grammar.recognize import Prefix, prefix_of
from gclens.grammar.transformers import Legacy, Row
from gclens.read.classify import classify, is_fragment, runtime_pieces

__all__ = ["WAIT_REASONS", "Ambiguous", "Continued", "Parse", "Rejoined", "rejoin"]

_LINE_START = re.compile(
    r"[0-9]{4}[-/][0-9]{2}[-/][0-9]{2}"  # 2026/11/27 (log.LstdFlags), 2026-11-27T... (RFC 3339)
    r"|[0-9]{2}:[0-9]{2}:[0-9]{2}"  # 03:27:41.337545 (log.Ltime)
    r"|1[0-9]{9}(?:[0-9]{3}|[0-9]{6}|[0-9]{9})?(?:\.[0-9]{1,9})? "  # Unix time (s, ms, µs, ns)
)
"""Timestamps that application lines commonly start with: where an inserted line's digits merge
with the runtime number before them, they say where the line began."""


WAIT_REASONS = frozenset({
    "GC assist marking", "GC assist wait", "GC mark termination", "GC scavenge wait", "GC sweep wait",
    "GC weak to strong wait", "GC worker (active)", "GC worker (idle)", "GOMAXPROCS updater (idle)",
    "IO wait", "chan receive", "chan receive (nil chan)", "chan receive (synctest)", "chan send",
    "chan send (nil chan)", "chan send (synctest)", "cleanup wait", "coroutine", "debug call",
    "dumping heap", "finalizer wait", "flushing proc caches", "force gc (idle)", "garbage collection",
    "garbage collection scan", "page trace flush", "panicwait", "preempted", "select", "select (no cases)",
    "select (synctest)", "semacquire", "sleep", "stack growth", "stopping the world", "sync.Cond.Wait",
    "sync.Cond.Wait (synctest)", "sync.Mutex.Lock", "sync.RWMutex.Lock", "sync.RWMutex.RLock",
    "sync.WaitGroup.Wait", "sync.WaitGroup.Wait (synctest)", "synctest.Run", "synctest.Wait",
    "timer goroutine (idle)", "trace goroutine status", "trace proc status", "trace reader (blocked)",
    "wait for GC cycle",
})
"""The runtime's wait reasons, go1.5 to go1.27 (``waitReasonStrings`` in runtime2.go): where a
torn G line's reason could end at several points, the one that is a reason decides."""


@dataclass(frozen=True)
class Rejoined:
    """The rebuilt runtime row; the runtime line that had been inserted into it, if any; and
    whether other (application) text was inserted."""

    row: Row
    inserted: Row | None
    other_text: bool


@dataclass(frozen=True)
class Ambiguous:
    """Several readings fit and nothing decides between them: the joined texts of each."""

    readings: tuple[str, ...]

    def reason(self) -> str:
        shown = " | ".join(r if len(r) <= 60 else r[:57] + "..." for r in self.readings[:3])
        more = f" (and {len(self.readings) - 3} more)" if len(self.readings) > 3 else ""
        return (f"torn runtime line: {len(self.readings)} readings of it and the next line fit, "
                f"nothing decides between them: {shown}{more}")


@dataclass(frozen=True)
class Continued:
    """The rest was torn again: ``text`` is the runtime line so far (its head and the next piece,
    which another whole line followed), waiting for the rest."""

    text: str
    other_text: bool


@dataclass(frozen=True)
class _Reading:
    k: int
    row: Row
    inserted: Row | None
    joined: str


Parse = Callable[[str, str], "Row | Legacy | None"]


def rejoin(text: str, start: int, family: str, continuation: str, parse: Parse | None = None,
           prefix: Prefix | None = None) -> Rejoined | Continued | Ambiguous | None:
    """Rebuild ``text[start:k] + continuation`` for the one split ``k`` the evidence allows.

    ``parse`` (the fast engine's, say) gives the row of a joined text that parses, or None to ask
    Lark; every reading is Lark's row either way. ``prefix``: ``text[start:]``'s tokens, if known."""
    if prefix is None or prefix.text != text[start:]:
        prefix = prefix_of(family, text[start:])  # one pass over the prefix serves every split
    readings = []
    glued = continuation[:1].isdigit()  # the runtime writes each number whole: none ends here
    piece, markers = runtime_pieces(text)  # the inserted text holds none, unless it is a whole line
    for r in _junctions(prefix, continuation):
        k = start + r
        if k <= start or (k <= piece and k not in markers) or (glued and text[k - 1].isdigit()):
            continue
        if not prefix.accepts(r, continuation):
            continue
        joined = text[start:k] + continuation
        parsed = _usable((parse and parse(family, joined)) or _lark(family, joined))
        if parsed is None or not _consistent(parsed):
            continue
        fits, inserted = _inserted(text[k:])
        if fits:
            readings.append(_Reading(k, parsed, inserted, joined))
    if not readings:
        return _continued(text, start, family, continuation, prefix)
    return _decide(text, readings)


def _decide(text: str, readings: list[_Reading]) -> Rejoined | Ambiguous:
    """The one row the evidence allows among the readings (see the module docstring)."""
    whole = [r for r in readings if r.inserted is not None]
    known = [r for r in readings if r.row[0] == "sched_g" and r.row[1].get("wait_reason") in WAIT_REASONS]
    surely = max(_line_start(text, r.k) for r in readings)
    starts = [r for r in readings if surely and _line_start(text, r.k) == surely]
    if surely == 1 and starts:  # a letter: the runtime's words run as far as they can (a lexer's rule)
        starts = [max(starts, key=lambda r: r.k)]
    for group in (whole, known, starts, readings):
        if group:
            if all(r.row == group[0].row for r in group):
                best = group[0]
                return Rejoined(best.row, best.inserted, best.inserted is None and best.k < len(text))
            if group is not whole and group is not known:
                break
    return Ambiguous(tuple(dict.fromkeys(r.joined for r in readings)))


def _continued(text: str, start: int, family: str, continuation: str, prefix: Prefix) -> Continued | None:
    """The continuation is the next pieces of the runtime line and then another whole line (the
    line was torn twice): the split after which the joined text parses on into the continuation,
    decided as readings are."""
    glued = continuation[:1].isdigit()
    piece, markers = runtime_pieces(text)
    through = runtime_pieces(continuation)[0]
    found: list[tuple[int, str]] = []
    for r in _junctions(prefix, continuation):
        k = start + r
        if k <= start or (k <= piece and k not in markers) or (glued and text[k - 1].isdigit()):
            continue
        if _continues(prefix, r, continuation, through) and _inserted(text[k:]) == (True, None):
            found.append((k, text[start:k] + continuation))
    surely = max((_line_start(text, k) for k, _ in found), default=0)
    best = [(k, j) for k, j in found if surely and _line_start(text, k) == surely] or found
    if surely == 1:
        best = [max(best)]
    if not best or len({j for _, j in best}) != 1:
        return None
    return Continued(best[0][1], best[0][0] < len(text))


def _continues(prefix: Prefix, r: int, continuation: str, through: int) -> bool:
    """Does the joined text parse on into the continuation: past its last runtime piece, and for
    at least three tokens, one of them literal text (digits alone could be the other line's)?"""
    stop, terminals = prefix.run_on(r, continuation)
    return (stop > r + through and len(terminals) >= 3
            and any(t not in prefix.tables.patterns for t in terminals))


def _junctions(prefix: Prefix, tail: str) -> list[int]:
    """Splits worth trying, longest head first. After a token of the prefix whose state has an
    action for the tail's first token: its end, and for a number every point inside it before a
    digit (where an inserted line that starts with digits ran on from it: cut, it is still the
    same terminal in the same state). And the points inside the literal where the prefix stopped
    parsing (a literal the runtime prints in pieces, as ` [` is printed as ` ` and `[`)."""
    points: set[int] = set()
    for step in prefix.steps:
        if prefix.follows(step, tail):
            points.add(step.end)
            if prefix.is_pattern(step):
                points.update(k for k in range(step.start + 1, step.end) if prefix.text[k].isdigit())
    upto = min(len(prefix.text), prefix.failed_at + prefix.failed_literal)
    return sorted(points | set(range(prefix.failed_at, upto + 1)), reverse=True)


def _lark(family: str, text: str) -> Row | Legacy | None:
    try:
        return parse_line(family, text)
    except LineError:
        return None


def _inserted(text: str) -> tuple[bool, Row | None]:
    """Can ``text`` be the inserted line, and if it is a whole runtime line, its row? It cannot
    when it holds a piece of a runtime line (then the split is wrong)."""
    if not text:
        return True, None
    hit = classify(text)
    if hit is None:
        return not is_fragment(text), None
    row = _runtime_row(text) if hit.start == 0 else None
    return row is not None, row


def _line_start(text: str, k: int) -> int:
    """How surely the inserted text starts at ``k`` the way application lines start: 2 for a
    timestamp in a common layout or ``{``, ``[``, ``<``, ``"``; 1 for a letter that does not
    continue a word; 0 otherwise (other digits or punctuation could as well have started a few
    characters earlier or later)."""
    if k >= len(text):
        return 0
    if _LINE_START.match(text, k) or text[k] in '{[<"':
        return 2
    if text[k - 1].isalpha() and text[k].isalnum():
        return 0  # inside a word: the runtime's text (a wait reason) runs on into it
    return 1 if text[k].isalpha() else 0


def _consistent(parsed: Row) -> bool:
    """The row's own arithmetic holds (see the module docstring)."""
    table, row = parsed
    if table == "gc":
        return _pause_cpu_consistent(row)
    if table != "sched" or row.get("local_runqueues") is None:
        return True
    ticks = row.get("schedticks")
    return len(row["local_runqueues"]) == row["gomaxprocs"] and (ticks is None or len(ticks) == row["gomaxprocs"])


def _pause_cpu_consistent(row: dict[str, object]) -> bool:
    """Sweep and mark termination CPU are both ``stwprocs`` × their clock (1 ≤ stwprocs ≤ P), each
    printed truncated by fmtNSAsMS: some one ``stwprocs`` must explain both."""
    pairs = [(row.get("clock_sweep_term_ms"), row.get("cpu_sweep_term_ms")),
             (row.get("clock_mark_term_ms"), row.get("cpu_mark_term_ms"))]
    procs = row.get("procs")
    if not isinstance(procs, int) or any(not isinstance(v, float | int) for pair in pairs for v in pair):
        return True
    return any(all(_times(s, float(clock), float(cpu)) for clock, cpu in pairs)  # type: ignore[arg-type]
               for s in range(1, max(procs, 1) + 1))


def _times(s: int, clock: float, cpu: float) -> bool:
    """Could ``cpu`` be ``s`` × ``clock`` with both truncated to their printed precision?"""
    eps = 1e-9
    return cpu <= s * (clock + _quantum(clock)) + eps and cpu + _quantum(cpu) > s * clock - eps


def _quantum(ms: float) -> float:
    """The truncation step of a printed fmtNSAsMS value (as consistency.ms_quantum)."""
    return 1.0 if ms >= 10 else 0.1 if ms >= 1 else 0.01 if ms >= 0.1 else 0.001


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
