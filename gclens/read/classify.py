"""Cheap classification: is a line runtime output, and of which grammar family?

Most lines of a real log are application output, so this must cost one regex search. A runtime
marker may follow other text on the same line: the runtime writes a line in many small writes
and the application's own unterminated output can precede it (go-trace-formats §1.2). Markers
that are distinctive (`gc 12 @`, `pacer: `, `SCHED 5ms:`) are searched anywhere; short or
generic ones (`P0: status=`, `panic: `) only at the start of the line, after indentation. The
markers come from the grammar files (``_markers``); the pieces below (first pieces, fragments,
line ends) are about how runtime lines break, which no grammar says.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from gclens.grammar.markers import anywhere_regex, anywhere_words, at_start_regex, escape, markers

__all__ = ["CANDIDATES", "ROUGH", "TINY_TAIL_BYTES", "Hit", "classify", "could_end", "cut_short", "is_fragment",
           "runtime_pieces", "torn_head"]

_ANYWHERE = re.compile(anywhere_regex())
"""The markers of runtime lines, derived from the grammars (``_markers``), a named group per family."""
_AT_START = re.compile(at_start_regex())
_ANYWHERE_WORDS = anywhere_words()
_LETTER_LED = [m for m in markers() if m.at_line_start and len(m.first) == 1]
"""Markers led by one letter (``P0: status=``): the block scanner finds them by what follows."""
_CRASH = "|".join(m.regex for m in markers() if m.at_line_start and m not in _LETTER_LED)
_DETAIL = "|".join(m.regex for m in _LETTER_LED)
_DETAIL_WORDS = "|".join(dict.fromkeys(escape(m.after) for m in _LETTER_LED))
# Pieces that only a runtime line contains: a line holding one but no marker is the tail of a
# runtime line that application output split in two.
_FRAGMENT = re.compile(
    r" ms clock, | ms cpu, | MB goal, | MB stacks, | MB globals, | KiB work| KiB now, | MB released|% util$"
    r"| pages/byte|MB during sweep; swept |MB of spans; swept | B exp\.\) in | lockedm=| lockedg=| syscalltick="
    r"| idleprocs=| spinningthreads=| idlethreads=| runqueue=| schedticks=\[| B work \("
)


_FIRST_PIECE = re.compile(
    r"[ \t]*(?:(?P<gctrace>gc |scan: )|(?P<scavenger>scav |scvg)|(?P<sched>SCHED )|(?P<pacer>pacer: )"
    r"|(?P<events>GC forced))|  (?P<detail>[PMG])"
)
"""The first piece the runtime prints of each line, in one write (``print("gc ", n, " @", ...)``),
that ``_ANYWHERE``/``_AT_START`` need more of the line to find. A line that starts with one and
holds no marker is a runtime line's head with another whole line written after it (its rest on
the next line, ``_torn``), or, at the end of a log without a newline, a line cut while printing."""
_FIRST_PIECE_WORDS = "gc |scan: |SCHED |  [PMG]|scav |scvg|GC forced"
"""``_FIRST_PIECE`` for the block scanner (``pacer: `` is a marker of its own)."""


class Hit(NamedTuple):
    """Where a runtime line starts in a physical line, and which grammar family parses it."""

    family: str
    start: int


def _may_hold_marker(text: str) -> bool:
    """Whether ``text`` holds a literal of some marker searched anywhere (``_ANYWHERE`` needs it):
    ``in`` looks for these 6-10x faster than Python's regex searches the alternation."""
    for word in _ANYWHERE_WORDS:  # noqa: SIM110 (a loop, not any(): no generator on every line)
        if word in text:
            return True
    return False


def classify(text: str) -> Hit | None:
    """Return the family and start offset of the runtime line in ``text``, or None."""
    m = _AT_START.match(text) or (_ANYWHERE.search(text) if _may_hold_marker(text) else None)
    if m is None:
        return None
    family = m.lastgroup
    assert family is not None
    return Hit(family, m.start(family))


_ENDS = {
    "gctrace": re.compile(r"(?: P|\(forced\)| objs| spans)$"),
    "sched": re.compile(r"(?:\]|sysmonwait=[a-z0-9]+|(?:gfreecnt|timerslen)=[0-9]+|locked[gm]=(?:-1|nil|[0-9]+))$"),
    "scavenger": re.compile(r"(?:% util|\(forced\)|\[controller reset\]| MB released|\(MB\))$"),
    "pacer": re.compile(r"(?:workers=[0-9]+\+\S+|u_a/u_g=\S+|\)|\[controller reset\]| pages|pages/byte)$"),
}
"""How the lines of each family end: the rest of a torn line ends so (``tests/test_classify.py``
holds every sample line to it)."""


def could_end(family: str, text: str) -> bool:
    """Could ``text`` be the rest of a runtime line of ``family`` (it ends as those lines end)?"""
    ends = _ENDS.get(family)
    return not text or (ends is not None and ends.search(text) is not None)


def torn_head(text: str) -> Hit | None:
    """The family and start of a runtime line whose first pieces start ``text`` when ``classify``
    finds none (`gc ` + an application line, its rest on the next line); None otherwise."""
    m = _FIRST_PIECE.match(text)
    if m is None or m.lastgroup is None:
        return None
    return Hit("sched" if m.lastgroup == "detail" else m.lastgroup, m.start(m.lastgroup))


def runtime_pieces(text: str) -> tuple[int, set[int]]:
    """Where the last piece of runtime output in ``text`` starts (a fragment or a marker; -1 for
    none), and where each marker starts: text inserted into a runtime line starts after the
    last piece, unless it is a whole runtime line (it starts at a marker)."""
    last, markers = -1, set()
    for pattern in (_FRAGMENT, _ANYWHERE) if _may_hold_marker(text) else (_FRAGMENT,):
        pos = 0
        while m := pattern.search(text, pos):
            last, pos = max(last, m.start()), m.start() + 1
            if pattern is _ANYWHERE:
                markers.add(m.start())
    return last, markers


_TINY_TAIL = re.compile(r" P(?: \(forced\))?| \(forced\)")
"""The last pieces of a gc line, alone on a line: the rest of a line torn just before them."""
TINY_TAIL_BYTES = 12
"""The longest of them: the block scanner marks short lines that start with a space."""


def is_fragment(text: str) -> bool:
    """True for a line that holds a piece of a runtime line but no start of one."""
    return _FRAGMENT.search(text) is not None or _TINY_TAIL.fullmatch(text) is not None


def cut_short(text: str) -> str | None:
    """The family of a runtime line that ``text`` begins when it is too short to classify (the
    last line of a log, cut while the runtime printed it: ``gc ``, ``scav ``), else None."""
    head = torn_head(text)
    return None if head is None else head.family


def _unanchored(pattern: re.Pattern[str]) -> str:
    """A pattern as a plain search: groups unnamed, anchors and leading indentation dropped."""
    return re.sub(r"\(\?P<\w+>", "(?:", pattern.pattern).replace("$", "").replace("[ \\t]*", "")


CANDIDATES = ("|".join(f"(?:{_unanchored(p)})" for p in (_ANYWHERE, _FRAGMENT))
              + f"|{_FIRST_PIECE_WORDS}|{_CRASH}", _DETAIL)
"""Every line ``classify``, ``torn_head`` or ``is_fragment`` accepts matches one of these (a superset; the syntax
is common to RE2 and Rust's regex): the block scanner uses them to skip application lines without
looking at them one by one. Two patterns, not one: every alternative of the first starts with a
literal, which lets the regex engine search for the literals with SIMD; the class-led
``[PMG][0-9]+`` in the same pattern would make it walk every byte (2.6x slower on a mixed log)."""

ROUGH = f"{CANDIDATES[0]}|{_DETAIL_WORDS}"
"""One pattern that every line matching CANDIDATES matches, each of its alternatives led by a
literal (``[PMG][0-9]+: status=`` is found by what follows the colon): the block scanner searches
it over every line, and CANDIDATES only over the few lines it finds (one pass over the text, not
two)."""
