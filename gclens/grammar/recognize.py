"""Does a text parse under a family's grammar? The LALR automaton alone, without building a row.

Rejoining a torn line (``_torn``) asks this of many texts that share a prefix and differ where
the line was torn: most fail within a token or two. Lark's own parser answers too, but it builds
the row as it goes and raises an exception per failure, about 40 µs even for a text that fails
at once. Here the prefix is lexed and parsed once with Lark's own tables (its contextual
lexer's per-state scanners and its LALR parse table), keeping the state stack after each token,
and each joined text resumes from a kept stack: a failure costs a few microseconds. Only a text
that parses is then parsed by Lark for its row, so every row is still Lark's. Lark is imported
on the first such question (lines of known shapes never ask it).
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gclens.grammar.loader import load_grammar

if TYPE_CHECKING:
    from lark import Lark

__all__ = ["Prefix", "Step", "parses", "prefix_of"]

_SIMPLE = re.compile(r"(?:\\\.|[-\[\]0-9A-Za-z+?*(){}|,:])*")
"""A terminal pattern that only matches [0-9A-Za-z.+-] (no look-around, no '.', no '[^', no space)."""
_RUN = re.compile(r"[0-9A-Za-z.+\-]*")
"""Where a simple pattern must stop looking: the first character none of them can match."""


@dataclass(frozen=True)
class _Tables:
    states: dict[int, dict[str, tuple[Any, Any]]]
    start: int
    end: int
    lexers: dict[int, Any]
    lookahead: dict[int, int | None]  # per state: the longest literal its lexer tries, None: unbounded
    patterns: frozenset[str]  # terminals that are regular expressions, not literals
    shift: Any  # Lark's Shift action
    token: Any  # Lark's Token class


@functools.cache
def _tables(family: str) -> _Tables:
    from lark import Token
    from lark.parsers.lalr_analysis import Shift

    grammar: Lark = load_grammar(family)
    frontend: Any = grammar.parser
    table = frontend.parser.parser.parse_table
    return _Tables(table.states, table.start_states["start"], table.end_states["start"], frontend.lexer.lexers,
                   _lookahead(frontend.lexer.lexers),
                   frozenset(t.name for t in grammar.terminals if t.pattern.type == "re"), Shift, Token)


def _lookahead(lexers: dict[int, Any]) -> dict[int, int | None]:
    """How far past a token's start its state's lexer may look: the longest literal it tries, or
    None when one of its patterns may look to the end of the text (``PREEMPTOFF``)."""
    bounds: dict[int, int | None] = {}
    for state, lexer in lexers.items():
        bound: int | None = 0
        for terminal in lexer.terminals:
            pattern = terminal.pattern
            if pattern.type == "str" and bound is not None:
                bound = max(bound, len(pattern.value))
            elif pattern.type != "str" and not _SIMPLE.fullmatch(pattern.value):
                bound = None
        bounds[state] = bound
    return bounds


@dataclass(frozen=True)
class Step:
    """A token of the prefix: where it starts and ends, its terminal, and the states after it."""

    start: int
    end: int
    terminal: str
    stack: tuple[int, ...]
    reach: float  # one past the last character the lexer looked at for this token or any before


class Prefix:
    """A text's tokens as far as they parse, to resume from at any point."""

    def __init__(self, family: str, text: str) -> None:
        self.tables = _tables(family)
        self.text = text
        self.steps: list[Step] = []
        self.failed_at = len(text)  # where lexing or parsing stopped
        self.failed_literal = 0  # how far the lexer could look for a literal there
        stack = [self.tables.start]
        pos, reach = 0, 0.0
        while pos < len(text):
            state = stack[-1]
            token = _lex(self.tables, state, text, pos)
            if token is None or not _feed(self.tables, stack, token[1]):
                self.failed_at = pos
                bound = self.tables.lookahead.get(state)
                self.failed_literal = len(text) - pos if bound is None else bound
                break
            end = pos + len(token[0])
            reach = max(reach, self._looked(state, pos, end))
            self.steps.append(Step(pos, end, token[1], tuple(stack), reach))
            pos = end
        self._reach = [s.reach for s in self.steps]

    def _looked(self, state: int, start: int, end: int) -> float:
        bound = self.tables.lookahead.get(state)
        if bound is None:
            return math.inf
        run = _RUN.match(self.text, start)
        assert run is not None
        return max(end, start + bound, run.end()) + 2

    @property
    def complete(self) -> bool:
        """Does the whole text parse?"""
        return self.failed_at == len(self.text) and self.accepts(len(self.text), "")

    def is_pattern(self, step: Step) -> bool:
        return step.terminal in self.tables.patterns

    def accepts(self, r: int, tail: str) -> bool:
        """Does ``text[:r] + tail`` parse? Resumes after the last token the joined text is sure
        to lex alike (its lexer looked at nothing past ``r``)."""
        i = bisect.bisect_right(self._reach, r)
        stack = list(self.steps[i - 1].stack) if i else [self.tables.start]
        pos = self.steps[i - 1].end if i else 0
        return parses(self.tables, stack, self.text[:r] + tail, pos)

    def run_on(self, r: int, tail: str) -> tuple[int, list[str]]:
        """How far ``text[:r] + tail`` parses (where it stops, or its length), and the terminals
        of the tokens that start at or after ``r``."""
        i = bisect.bisect_right(self._reach, r)
        stack = list(self.steps[i - 1].stack) if i else [self.tables.start]
        pos = self.steps[i - 1].end if i else 0
        text = self.text[:r] + tail
        terminals: list[str] = []
        while pos < len(text):
            token = _lex(self.tables, stack[-1], text, pos)
            if token is None or not _feed(self.tables, stack, token[1]):
                return pos, terminals
            if pos >= r:
                terminals.append(token[1])
            pos += len(token[0])
        return pos, terminals

    def follows(self, step: Step, tail: str) -> bool:
        """Can ``tail``'s first token come after ``step`` (the state after it has an action for it)?"""
        if not tail:
            return "$END" in self.tables.states[step.stack[-1]]
        token = _lex(self.tables, step.stack[-1], tail, 0)
        return token is not None and token[1] in self.tables.states[step.stack[-1]]


@functools.lru_cache(maxsize=256)
def prefix_of(family: str, text: str) -> Prefix:
    """``Prefix(family, text)``, kept for the texts met last (a Prefix does not change once
    built): a torn line is lexed once where the template engine (does it parse?), the line
    reader (it does not: hold it) and the rejoin (its splits) each ask for its tokens. Lexing
    is most of the line-by-line path's time on a log with torn lines."""
    return Prefix(family, text)


def parses(tables: _Tables, stack: list[int], text: str, pos: int) -> bool:
    """Run the automaton from ``stack`` over ``text[pos:]`` to the end: does it accept?"""
    while pos < len(text):
        token = _lex(tables, stack[-1], text, pos)
        if token is None or not _feed(tables, stack, token[1]):
            return False
        pos += len(token[0])
    return _feed(tables, stack, "$END")


def _lex(tables: _Tables, state: int, text: str, pos: int) -> tuple[str, str] | None:
    """The token Lark's contextual lexer takes at ``pos`` in parser state ``state``."""
    patterns, callbacks = _scanner(tables, state)
    for pattern in patterns:
        m = pattern.match(text, pos)
        if m is not None:
            value, terminal = m.group(0), m.lastgroup
            if not value or terminal is None:
                return None
            callback = callbacks.get(terminal)
            if callback is not None:  # a literal that a pattern also matches takes the literal's name
                terminal = callback(tables.token(terminal, value)).type
            return value, terminal
    return None


def _scanner(tables: _Tables, state: int) -> tuple[list[re.Pattern[str]], dict[str, Any]]:
    """The compiled patterns (Lark's ``Scanner._mres``) and token callbacks of a state's lexer."""
    lexer = tables.lexers[state]
    return lexer.scanner._mres, lexer.callback


def _feed(tables: _Tables, stack: list[int], terminal: str) -> bool:
    """Lark's ``ParserState.feed_token`` over states only: False where the parser would raise."""
    states, shift = tables.states, tables.shift
    while True:
        action = states[stack[-1]].get(terminal)
        if action is None:
            return False
        kind, arg = action
        if kind is shift:
            stack.append(arg)
            return True
        size = len(arg.expansion)
        if size:
            del stack[-size:]
        _, goto = states[stack[-1]][arg.origin.name]
        stack.append(goto)
        if terminal == "$END" and stack[-1] == tables.end:
            return True
