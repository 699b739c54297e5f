"""The fast engine: line templates derived from the grammars by Lark itself.

Runtime lines come in few shapes: a gc line of one Go version differs from the next only in its
digits. So the engine keys each line by its *shape*, the text with every digit run taken out.
The first line of a shape is parsed by Lark (the reference), into a tree whose tokens are then
located in the shape; the template keeps, per token, where its text lies and which terminal it
is, and the tree as a post-order program of transformer calls. Every later line of that shape
is cut at the same places, each token is checked against its terminal's regular expression from
the grammar, and the same transformer callbacks run on the new tokens — no lexer, no LALR
automaton. A line whose token fails its check, or a shape Lark rejects, takes the Lark path,
which also gives the exact reject message. Changing a `.lark` file changes both engines: there
is no second copy of any format.

Templates learnt are kept on disk (``_template_store``), so a later run serves the shapes it
has seen before without importing Lark at all: Lark (0.06 s to import, more to load its tables)
is imported only for a new shape, a line a template does not take, or ``--engine lark``.
"""

from __future__ import annotations

import bisect
import functools
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from gclens._paths import grammar_dir
from gclens.grammar.loader import FAMILIES, cache_file
from gclens.grammar.recognize import prefix_of
from gclens.grammar.template_store import Recipe, TemplateStore

if TYPE_CHECKING:
    from lark import Lark, Token, Tree

__all__ = ["MAX_TEMPLATES", "Call", "FastEngine", "FastToken", "Op", "Template", "make_token", "terminal_patterns"]

_DIGITS = re.compile(r"([0-9]+)")
MAX_TEMPLATES = 4096
"""Shapes remembered per process; past that (garbage or fuzzing) lines simply take the Lark path."""


@dataclass(frozen=True)
class _Slot:
    """Where one token lies in a line split by _DIGITS: parts[first:last+1], trimmed."""

    type: str
    first: int
    last: int
    head: int  # characters to drop from the start of the joined parts (inside a literal part)
    tail: int  # characters to drop from the end
    check: re.Pattern[str] | None  # the terminal's regex; None when the token is all literal text
    callback: bool  # the transformer has a method for this terminal (Lark applies it while lexing)

    def value(self, parts: list[str]) -> str:
        text = parts[self.first] if self.first == self.last else "".join(parts[self.first:self.last + 1])
        if self.head or self.tail:
            text = text[self.head:len(text) - self.tail]
        return text


Call = Callable[[list[Any]], Any]
Op = tuple[int, Call | None]
"""(slot index, None) pushes that token; (arity, callback) pops arity values and calls the rule's callback."""


class FastToken(str):
    """A token of a line a template serves: its text, with its terminal in ``type`` (what the
    transformers read of Lark's ``Token``), built without Lark or Lark's slow constructor."""

    type: str
    value: str


def make_token(type_: str, value: str) -> FastToken:
    """A token of terminal ``type_`` and text ``value``."""
    token = str.__new__(FastToken, value)
    token.type, token.value = type_, value
    return token


@dataclass(frozen=True)
class Template:
    """One line shape: its tokens and the transformer program that builds the row."""

    slots: tuple[_Slot, ...]
    program: tuple[Op, ...]

    def run(self, parts: list[str]) -> Any:
        tokens: list[Any] = []
        for slot in self.slots:
            value = slot.value(parts)
            if slot.check is not None and slot.check.fullmatch(value) is None:
                return None
            tokens.append(make_token(slot.type, value))
        return self.evaluate(tokens)

    def evaluate(self, tokens: list[Any]) -> Any:
        """Run the transformer program on one line's tokens (or on ``Column`` tokens: see _columnar)."""
        stack: list[Any] = []
        for arg, call in self.program:
            if call is None:
                stack.append(tokens[arg])
            elif arg:
                children = stack[-arg:]
                del stack[-arg:]
                stack.append(call(children))
            else:
                stack.append(call([]))
        return stack[0]


class FastEngine:
    """Parse runtime lines by template, learning a template from Lark on each new shape.

    ``store``: where templates are kept between runs (``kept()`` uses the user's cache
    directory); None learns every shape anew from Lark.
    """

    def __init__(self, store: TemplateStore | None = None) -> None:
        self._templates: dict[tuple[str, tuple[str, ...]], Template] = {}
        self._failures: dict[tuple[str, tuple[str, ...]], int] = {}
        self._transformers = {name: cls() for name, cls in FAMILIES.items()}
        self.store = store
        self.plans: dict[str, Any] = {}  # per shape and per rule regex, for whole columns (see _columnar)
        self.learning = threading.RLock()  # held to learn: a block is parsed as columns in another thread
        self.hits = 0
        self.misses = 0

    @classmethod
    def kept(cls) -> FastEngine:
        """An engine whose templates are kept in the user's cache directory: a later run serves
        the shapes this one learnt without Lark."""
        return cls(TemplateStore.default(MAX_TEMPLATES))

    def parse(self, family: str, text: str) -> Any:
        """The row (or Legacy) the grammar gives for ``text``, or None: use the Lark path."""
        parts = _DIGITS.split(text)
        key = (family, tuple(parts[0::2]))
        template = self._templates.get(key)
        if template is None:
            template = self._learn(family, text, parts, key)
            if template is None:
                self.misses += 1
                return None
        result = template.run(parts)
        if result is None:
            self.misses += 1
        else:
            self.hits += 1
        return result

    def template(self, family: str, text: str) -> Template | None:
        """The template of ``text``'s shape (learnt now if new); None when Lark rejects the shape."""
        parts = _DIGITS.split(text)
        key = (family, tuple(parts[0::2]))
        return self._templates.get(key) or self._learn(family, text, parts, key)

    def _learn(self, family: str, text: str, parts: list[str], key: tuple[str, tuple[str, ...]]) -> Template | None:
        """A template for this shape: kept from an earlier run, else from Lark's parse of
        ``text``; None when Lark rejects it.

        A shape whose lines Lark keeps rejecting (or that cannot be templated) stops being
        retried after a few lines, and the cache stops growing at MAX_TEMPLATES shapes.
        """
        with self.learning:
            return self._learn_locked(family, text, parts, key)

    def _learn_locked(self, family: str, text: str, parts: list[str],
                      key: tuple[str, tuple[str, ...]]) -> Template | None:
        if key in self._templates:
            return self._templates[key]  # another thread learnt it meanwhile
        if self._failures.get(key, 0) >= _RETRIES or len(self._templates) >= MAX_TEMPLATES:
            return None
        recipe = None if self.store is None else self.store.get(key, FAMILIES)
        template = self._build(recipe) if recipe is not None else None
        if template is None:
            learnt = self._recipe(family, text, parts)
            template = None if learnt is None else self._build(learnt)
            if template is not None and learnt is not None and self.store is not None:
                self.store.add(learnt)
        if template is None:
            if len(self._failures) < MAX_TEMPLATES:
                self._failures[key] = self._failures.get(key, 0) + 1
            return None
        self._templates[key] = template
        return template

    @staticmethod
    def _recipe(family: str, text: str, parts: list[str]) -> Recipe | None:
        from lark.exceptions import LarkError

        try:  # the automaton alone first: most texts that fail here are torn lines, each its own shape
            if not prefix_of(family, text).accepts(len(text), ""):
                return None
            return _recipe(family, _tree_parser(family).parse(text), parts)
        except LarkError:
            return None

    def _build(self, recipe: Recipe) -> Template | None:
        """The template a recipe describes, its callbacks this engine's transformer's methods;
        None when the recipe does not fit the grammar and transformers (a stale store entry)."""
        try:
            slots = tuple(_Slot(type_, first, last, head, tail, None if check is None else _compiled(check),
                                callable(getattr(FAMILIES[recipe.family], type_, None)))
                          for type_, first, last, head, tail, check in recipe.slots)
        except re.error:
            return None
        if any(slot.callback for slot in slots):
            return None
        transformer = self._transformers[recipe.family]
        program = tuple((arg, None if rule is None else _callback(transformer, rule)) for arg, rule in recipe.ops)
        return Template(slots, program)


_RETRIES = 3


@functools.cache
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


@functools.cache
def _tree_parser(family: str) -> Lark:
    """The same grammar as the reference parser, building a tree so tokens keep their positions."""
    from lark import Lark

    return Lark.open(str(grammar_dir() / f"{family}.lark"), parser="lalr", lexer="contextual",
                     cache=cache_file(family, "tree"))


@functools.cache
def terminal_patterns(family: str) -> dict[str, re.Pattern[str]]:
    """Each terminal's regular expression, as the grammar file defines it."""
    return {t.name: re.compile(t.pattern.to_regexp()) for t in _tree_parser(family).terminals}  # flags inline


def _recipe(family: str, tree: Tree[Token] | Token, parts: list[str]) -> Recipe | None:
    """The template of a line's parse tree: its tokens' places in the shape and the tree in post-order."""
    from lark import Token

    starts, index = [], 0
    for part in parts:
        starts.append(index)
        index += len(part)
    slots: list[_Slot] = []
    ops: list[tuple[int, str | None]] = []

    def visit(node: Tree[Token] | Token) -> bool:
        if isinstance(node, Token):
            slot = _slot(family, node, starts, parts)
            if slot is None:
                return False
            if slot.callback:
                return False  # a terminal callback runs while lexing: leave such lines to Lark
            ops.append((len(slots), None))
            slots.append(slot)
            return True
        if not all(visit(child) for child in node.children):  # type: ignore[arg-type]
            return False
        ops.append((len(node.children), str(node.data)))
        return True

    if not visit(tree):
        return None
    return Recipe(family, tuple(parts[0::2]),
                  tuple((s.type, s.first, s.last, s.head, s.tail, None if s.check is None else s.check.pattern)
                        for s in slots), tuple(ops))


def _callback(transformer: Any, rule: str) -> Call:
    """The transformer's method for a rule, as Lark would call it (a rule without one builds a Tree)."""
    method = getattr(transformer, rule, None)
    if method is None:
        return functools.partial(_tree, rule)
    return method  # type: ignore[no-any-return]


def _tree(rule: str, children: list[Any]) -> Any:
    from lark import Tree

    return Tree(rule, children)


def _slot(family: str, token: Token, starts: list[int], parts: list[str]) -> _Slot | None:
    begin, end = token.start_pos, token.end_pos
    if begin is None or end is None:
        return None
    first = _part_at(starts, begin)
    last = _part_at(starts, end - 1) if end > begin else first
    digits = any(i % 2 for i in range(first, last + 1))
    head = begin - starts[first]
    tail = starts[last] + len(parts[last]) - end
    if (first % 2 and head) or (last % 2 and tail):
        return None  # a token boundary inside a digit run: not expressible by this shape
    check = terminal_patterns(family).get(token.type) if digits else None
    if digits and check is None:
        return None
    if check is not None and _always_matches(_slot_shape(parts, first, last, head, tail), check.pattern):
        check = None  # e.g. INT over one digit run: any digits the shape allows are an INT
    return _Slot(token.type, first, last, head, tail, check, callable(getattr(FAMILIES[family], token.type, None)))


def _slot_shape(parts: list[str], first: int, last: int, head: int, tail: int) -> str:
    """The language of a slot's text across all lines of the shape: digit runs vary, the rest is fixed."""
    pieces = [("[0-9]+" if i % 2 else re.escape(parts[i])) for i in range(first, last + 1)]
    if head:
        pieces[0] = re.escape(parts[first][head:])
    if tail:
        pieces[-1] = re.escape(parts[last][:len(parts[last]) - tail])
    return "".join(pieces)


@functools.cache
def _always_matches(shape: str, terminal: str) -> bool:
    """Whether every text of the slot's shape is a token of the terminal (so checking it is redundant).

    Proven on the two regular languages with interegular (Lark's own collision checker); without
    it, or when a pattern is beyond it (lookarounds), the check stays.
    """
    try:
        import interegular
    except ImportError:  # pragma: no cover - a dependency; the engine stays exact without it
        return False
    try:
        fsm = interegular.parse_pattern(shape).to_fsm()
        return bool(fsm.issubset(interegular.parse_pattern(terminal).to_fsm()))  # type: ignore[no-untyped-call]
    except Exception:  # unsupported syntax (lookarounds): keep the check
        return False


def _part_at(starts: list[int], position: int) -> int:
    return bisect.bisect_right(starts, position) - 1
