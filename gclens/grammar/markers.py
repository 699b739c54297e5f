"""The runtime-line markers, derived from the grammar files: the one place they come from.

A marker is how a runtime line starts, as far as it tells the line apart: each ``start``
alternative of a grammar, followed from its first literal through single-alternative rules
and terminals, up to the first literal of two characters or more that follows a variable part
(``gc [0-9]+ @``, ``SCHED [0-9]+ms: ``, ``P[0-9]+: status=``). A fork (alternatives, an
optional part) ends it, except that a token every alternative starts with is taken, and a fork
whose alternatives all start with literals is taken whole (``scan: (?:total|class )``). A rule
that ends where its marker ends is the whole line (``GC forced$``). Trailing variable parts are
dropped (``fatal error: ``). The grammars are read as text, not through Lark, so that finding
runtime lines never loads the parser.

Where a marker is looked for is policy, not format: the crash output of the ``events`` grammar
(words applications print too) and the scheddetail lines (one letter) only at the start of a
line, after indentation; the others anywhere, as runtime output may follow other text on its
line (go-trace-formats §1.2).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

from gclens._paths import grammar_dir

__all__ = ["Marker", "anywhere_regex", "at_start_regex", "escape", "family_prefixes", "markers", "torn_start_regex"]

FAMILY_ORDER = ("gctrace", "pacer", "sched", "scavenger", "events")
_AT_LINE_START_FAMILIES = {"events"}
_TOKEN = re.compile(r'\s*(?:(?P<lit>"(?:[^"\\]|\\.)*")i?|(?P<re>/(?:[^/\\]|\\.)+/[imsx]*)'
                    r"|(?P<name>[A-Za-z_][A-Za-z_0-9]*)|(?P<op>[()|?*+\[\]]))")


@dataclass(frozen=True)
class Marker:
    """One start alternative's marker: its family, regex, first literal, and the rule it ends."""

    family: str
    rule: str
    regex: str
    first: str  # the literal it starts with ('' when it starts with a terminal's pattern)
    after: str  # the literal after its first variable part ('' for none)
    at_line_start: bool
    needs: str  # a literal every line it finds contains (the longest): a cheap test before the regex


# -- reading .lark text -------------------------------------------------------------------------

Item = tuple[str, object]  # ("lit", text) | ("re", regex) | ("name", name) | ("alt", [[Item]]) | ("opt", [[Item]])


def _definitions(name: str) -> dict[str, str]:
    """Rule and terminal name → expansion text, for a grammar file and what it imports."""
    text = (grammar_dir() / f"{name}.lark").read_text(encoding="utf-8")
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("%import"):
            source = line.split()[1].lstrip(".")
            wanted = re.findall(r"[A-Z_][A-Z_0-9]*", line.split("(", 1)[1]) if "(" in line else []
            imported = _definitions(source)
            out.update({k: imported[k] for k in wanted})
            continue
        m = re.match(r"[?!]?([A-Za-z_][A-Za-z_0-9]*)(?:\.-?[0-9]+)?\s*:\s*(.*)$", line)
        if m and not line.startswith("//"):
            out[m[1]] = m[2]
    return out


def _parse(text: str) -> list[list[Item]]:
    """An expansion as alternatives of item sequences."""
    tokens = [(m.lastgroup, m.group(m.lastgroup or "")) for m in _TOKEN.finditer(text.split("//")[0])]
    tokens = [(kind, value) for kind, value in tokens if kind]
    pos = 0

    def alternatives(closing: str | None) -> list[list[Item]]:
        nonlocal pos
        alts: list[list[Item]] = [[]]
        while pos < len(tokens):
            kind, value = tokens[pos]
            pos += 1
            if kind == "op" and value == closing:
                return alts
            if kind == "op" and value == "|":
                alts.append([])
            elif kind == "op" and value in "([":
                inner = alternatives(")" if value == "(" else "]")
                alts[-1].append(("opt" if value == "[" else "alt", inner))
            elif kind == "op" and value in "?*+":
                if value in "?*" and alts[-1]:
                    alts[-1][-1] = ("opt", [[alts[-1][-1]]])
            elif kind == "lit":
                alts[-1].append(("lit", re.sub(r"\\(.)", r"\1", value.rstrip("i")[1:-1])))
            elif kind == "re":
                alts[-1].append(("re", value[1:value.rindex("/")]))
            else:
                alts[-1].append(("name", value))
        return alts

    return alternatives(None)


# -- following a start alternative to its marker ------------------------------------------------

class _Walk:
    """Builds one marker: regex pieces, whether a variable part came, and where it stopped."""

    def __init__(self, defs: dict[str, str]) -> None:
        self.defs, self.variable, self.done = defs, False, False
        self.pieces: list[str] = []
        self.first, self.after = "", ""
        self.literals: list[str] = []  # literal text every match contains
        self.tail_variable = 0  # pieces at the end that are variable (dropped at the end)

    def literal(self, text: str) -> None:
        if not self.pieces:
            self.first = text
        self.literals.append(text)
        self.pieces.append(escape(text))
        self.tail_variable = 0
        if self.variable and len(text) >= 2:
            self.after, self.done = self.after or text, True

    def pattern(self, regex: str) -> None:
        plain = re.sub(r"\([^()]*\)[?*]|\[[^]]*\][?*+]?|\\.|[.?*+|()]", "\0", regex)  # optional parts, classes
        self.literals.extend(w for w in plain.split("\0") if w and not re.search(r"[^A-Za-z_ :=]", w))
        self.pieces.append(_non_capturing(regex))
        self.variable, self.tail_variable = True, self.tail_variable + 1

    def sequence(self, items: list[Item]) -> None:
        for i, item in enumerate(items):
            if self.done:
                return
            self.item(item, rest=items[i + 1:])

    def item(self, item: Item, rest: list[Item]) -> None:
        kind, value = item
        if kind == "lit":
            self.literal(str(value))
        elif kind == "re":
            self.pattern(str(value))
        elif kind == "name":
            name = str(value)
            literal = _literal(self.defs[name])
            if name[0].isupper() and literal is not None:
                self.literal(literal)
            elif name[0].isupper():
                self.pattern(_terminal_regex(self.defs, name))
            else:
                self.fork(_parse(self.defs[name]))
        elif kind == "alt":
            self.fork(value)  # type: ignore[arg-type]
        else:  # an optional part: the marker ends before it
            self.done = True

    def fork(self, alts: list[list[Item]]) -> None:
        alts = [expanded for alt in alts for expanded in self._expand(alt)]
        if len(alts) == 1:
            self.sequence(alts[0])
            return
        if all(alt and alt[0] == alts[0][0] for alt in alts):  # a common first token: take it
            self.item(alts[0][0], rest=[])
            if not self.done:
                self.fork([alt[1:] for alt in alts])
            return
        firsts = [self._first_literal(alt) for alt in alts]
        if all(f is not None for f in firsts):  # every branch starts with a literal: the group ends it
            self.pieces.append("(?:" + "|".join(escape(f or "") for f in firsts) + ")")
            self.tail_variable = 0
        self.done = True

    def _expand(self, alt: list[Item]) -> list[list[Item]]:
        """``alt`` with a leading rule (or group) replaced by its alternatives' items."""
        if alt and alt[0][0] == "name" and str(alt[0][1])[0].islower():
            return [e for inner in _parse(self.defs[str(alt[0][1])]) for e in self._expand(inner + alt[1:])]
        if alt and alt[0][0] == "alt":
            return [e for inner in alt[0][1] for e in self._expand(inner + alt[1:])]  # type: ignore[attr-defined]
        return [alt]

    def _first_literal(self, alt: list[Item]) -> str | None:
        if not alt:
            return None
        kind, value = alt[0]
        if kind == "lit":
            return str(value)
        if kind == "name" and str(value)[0].isupper():
            return _literal(self.defs[str(value)])
        if kind == "name":
            inner = _parse(self.defs[str(value)])
            return self._first_literal(inner[0]) if len(inner) == 1 else None
        return None

    def regex(self, complete: bool) -> str:
        if complete and not self.variable:
            return "".join(self.pieces) + "$"  # all literal to its end: the whole line
        return "".join(self.pieces[:len(self.pieces) - self.tail_variable])


def _literal(expansion: str) -> str | None:
    """The text of a terminal defined as one string literal, else None."""
    alts = _parse(expansion)
    if len(alts) == 1 and len(alts[0]) == 1 and alts[0][0][0] == "lit":
        return str(alts[0][0][1])
    return None


def _terminal_regex(defs: dict[str, str], name: str) -> str:
    alts = _parse(defs[name])
    out = []
    for alt in alts:
        parts = []
        for kind, value in alt:
            if kind == "lit":
                parts.append(escape(str(value)))
            elif kind == "re":
                parts.append(_non_capturing(str(value)))
            elif kind == "name":
                parts.append(_terminal_regex(defs, str(value)))
            else:
                raise ValueError(f"{name}: unsupported terminal form")
        out.append("".join(parts))
    return out[0] if len(out) == 1 else "(?:" + "|".join(out) + ")"


def escape(text: str) -> str:
    """A literal as a regex in the syntax Python's re, Rust's regex, RE2 and Hyperscan share
    (``re.escape`` escapes spaces, which Rust's regex refuses)."""
    return re.sub(r"([\\.^$|?*+()\[\]{}])", r"\\\1", text)


def _non_capturing(pattern: str) -> str:
    """A terminal's pattern with its groups non-capturing (it is embedded in named groups)."""
    return re.sub(r"(?<!\\)((?:\\\\)*)\((?!\?)", r"\1(?:", pattern)


@functools.cache
def markers() -> tuple[Marker, ...]:
    """Every start alternative's marker, grammar by grammar (``FAMILY_ORDER``)."""
    out = []
    for family in FAMILY_ORDER:
        defs = _definitions(family)
        start = _parse(defs["start"])
        alts = start  # `start: a | b` gives a marker each; `start: "pacer: " (...)` one
        for alt in alts:
            rule = str(alt[0][1]) if len(alt) == 1 and alt[0][0] == "name" else "start"
            walk = _Walk(defs)
            walk.sequence(alt if rule == "start" else _single(defs, rule))
            complete = not walk.done
            regex = walk.regex(complete)
            single = bool(walk.first) and len(walk.first) == 1
            at_start = (family in _AT_LINE_START_FAMILIES and not regex.endswith("$")) or single
            needs = max(walk.literals, key=len) if walk.literals else ""
            out.append(Marker(family, rule, regex, walk.first, walk.after, at_start, needs))
    return tuple(m for m in out if not any(  # one that another of its family finds first says nothing more
        o is not m and o.family == m.family and m.regex.startswith(o.regex) for o in out))


def _single(defs: dict[str, str], rule: str) -> list[Item]:
    alts = _parse(defs[rule])
    return alts[0] if len(alts) == 1 else [("alt", alts)]


def _union(items: list[Marker]) -> str:
    return "|".join(m.regex for m in items)


@functools.cache
def anywhere_regex() -> str:
    """Markers searched anywhere in a line, a named group per family (``classify``)."""
    groups = []
    for family in FAMILY_ORDER:
        mine = [m for m in markers() if m.family == family and not m.at_line_start]
        if mine:
            groups.append(f"(?P<{family}>{_union(mine)})")
    return "|".join(groups)


def anywhere_words() -> tuple[str, ...]:
    """A literal of each marker searched anywhere: a line holding none of them holds no such
    marker (``in`` tests these 20x faster than Python's regex searches the alternation)."""
    words = dict.fromkeys(m.needs for m in markers() if not m.at_line_start)
    return tuple(w for w in words if not any(o != w and o in w for o in words))  # `gc` covers `gc `


@functools.cache
def at_start_regex() -> str:
    """Markers looked for only at the start of a line, after indentation (``classify``)."""
    groups = []
    for family in FAMILY_ORDER:
        mine = [m for m in markers() if m.family == family and m.at_line_start]
        if mine:
            groups.append(f"(?P<{family}>{_union(mine)})")
    return r"[ \t]*(?:" + "|".join(groups) + ")"


@functools.cache
def family_prefixes() -> dict[str, str]:
    """Family → the markers a runtime text of that family starts with, for the families the
    column parser serves (events are taken line by line)."""
    return {family: _union([m for m in markers() if m.family == family])
            for family in FAMILY_ORDER if family != "events"}


@functools.cache
def torn_start_regex() -> str:
    """A runtime line's first words with other output spliced between them: each marker searched
    anywhere, as its first literal, any non-space run and the first character of the literal
    after its variable part (``gc 1APP2 @``); a marker without one, as its first literal."""
    out = []
    for m in markers():
        if m.at_line_start or not m.first.endswith(" ") or m.regex.endswith("$"):
            continue  # (a first word is printed with its space: `gc `, not legacy `gc12(`)
        word = re.match(r"[A-Za-z]+|\S", m.after.strip())
        out.append(rf"\b{escape(m.first)}" + (rf"\S*{escape(word[0])}" if word else ""))
    return "|".join(dict.fromkeys(out))
