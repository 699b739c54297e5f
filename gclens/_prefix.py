"""Parse many texts that share a prefix, paying for the prefix once.

Rejoining a torn line (`_torn`) parses ``prefix[:r] + tail`` for every split ``r`` of a line of
several hundred characters: parsed from scratch, that is one Lark parse per split and the cost
grows with the square of the length. Here the prefix is parsed once, the parser's stacks are kept
after every token, and each joined text is parsed from the last kept state whose tokens the
joined text is sure to produce alike. Every answer is the one ``parse_line`` gives.

When are tokens alike? A token depends on the characters its lexer looked at, not only those it
took. For the lexer of a parser state whose terminals are literals and simple number-like
patterns, that is at most the longest literal, or up to the first character that no such
pattern can hold. A state that allows a terminal with a look-ahead or an open-ended class
(``PREEMPTOFF``, ``LEGACY_REST``) may look to the end of the text: nothing after it is shared.
"""

from __future__ import annotations

import bisect
import functools
import math
import re
from typing import Any

from lark import Lark, Tree
from lark.exceptions import UnexpectedCharacters, UnexpectedInput, UnexpectedToken
from lark.lexer import LexerState, LexerThread, Token
from lark.parsers.lalr_parser_state import ParserState
from lark.utils import TextSlice

from gclens._grammar import load_grammar
from gclens._transformers import Legacy, Row

_SIMPLE = re.compile(r"(?:\\\.|[-\[\]0-9A-Za-z+?*(){}|,:])*")
"""A terminal pattern that only matches [0-9A-Za-z.+-] (no look-around, no '.', no '[^', no space)."""
_RUN = re.compile(r"[0-9A-Za-z.+\-]*")
"""Where a simple pattern must stop looking: the first character none of them can match."""
_SLACK = 2


class PrefixParser:
    """``parse(r, tail)`` is ``parse_line(family, prefix[:r] + tail)``, or None where that raises."""

    def __init__(self, family: str, prefix: str) -> None:
        self._grammar = load_grammar(family)
        self._prefix = prefix
        interactive = self._grammar.parse_interactive(prefix)
        self._parser, self._conf = interactive.parser, interactive.parser_state.parse_conf
        self._lexer = interactive.lexer_thread.lexer
        self._reach: list[float] = [0]  # characters of the prefix looked at by the first i tokens
        self._kept: list[tuple[int, list[Any], list[Any]]] = [(0, [self._conf.start_state], [])]
        self._fails_by = math.inf  # a joined text that shares this much with the prefix fails
        self._read(interactive.parser_state, interactive.lexer_thread)

    def parse(self, r: int, tail: str) -> Row | Legacy | None:
        if r >= self._fails_by:
            return None
        at, states, values = self._kept[bisect.bisect_right(self._reach, r) - 1]
        text = self._prefix[:r] + tail
        thread = LexerThread(self._lexer, LexerState(TextSlice(text, at, len(text))))
        state = ParserState(self._conf, thread, list(states), _detached(values))
        try:
            result: Row | Legacy = self._parser.parse_from_state(state)
        except UnexpectedInput:
            return None
        return result

    def _read(self, state: ParserState[Any], thread: LexerThread) -> None:
        """Parse the prefix token by token, keeping the stacks after each one and how far it looked."""
        reach: float = 0
        try:
            for token in thread.lex(state):  # type: ignore[no-untyped-call]
                reach = max(reach, self._looked(state.position, token))
                state.feed_token(token)  # an UnexpectedToken here: the parser's, for this token
                self._reach.append(reach)
                self._kept.append((token.end_pos, list(state.state_stack), _detached(state.value_stack)))
        except UnexpectedToken as exc:
            looked = self._looked(state.position, exc.token)
            self._fails_by = max(reach, looked)  # (from the lexer: no state changed; else reach has it)
        except UnexpectedCharacters as exc:
            at = exc.pos_in_stream
            self._fails_by = max(reach, self._looked(state.position, Token("", "", at, end_pos=at)))

    def _looked(self, parser_state: Any, token: Token) -> float:
        """One past the last character the lexer may have looked at to lex ``token``."""
        start, end = token.start_pos, token.end_pos
        assert start is not None and end is not None
        bound = _lookahead(self._grammar).get(parser_state)
        if bound is None:
            return math.inf
        run = _RUN.match(self._prefix, start)
        assert run is not None
        return max(end, start + bound, run.end()) + _SLACK


def _detached(values: list[Any]) -> list[Any]:
    """A copy of a value stack that later reductions cannot change.

    Lark builds the list of a repetition (``INT*``) by extending the list of the tree already on
    the stack, in place: each kept stack gets trees of its own.
    """
    return [Tree(v.data, list(v.children)) if isinstance(v, Tree) else v for v in values]


@functools.cache
def _lookahead(grammar: Lark) -> dict[Any, int | None]:
    """Per parser state: the longest literal its lexer tries, or None if it may look further."""
    lexer: Any = grammar.parser.lexer
    bounds: dict[Any, int | None] = {}
    for state, basic in lexer.lexers.items():
        bound: int | None = 0
        for terminal in basic.terminals:
            pattern = terminal.pattern
            if pattern.type == "str" and bound is not None:
                bound = max(bound, len(pattern.value))
            elif pattern.type != "str" and not _SIMPLE.fullmatch(pattern.value):
                bound = None
        bounds[state] = bound
    return bounds
