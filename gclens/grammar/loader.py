"""Load the `.lark` grammars by name and parse one line with them.

The grammars are the single source of truth for every line format. They ship inside the wheel
as ``gclens/grammars``; an editable install falls back to the repository's ``grammars/``.
Lark is imported only when a line needs it (the fast engine serves known line shapes without it).
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from gclens._errors import LineError
from gclens._paths import grammar_dir, user_cache_dir
from gclens.grammar.transformers import (
    EventsTransformer,
    GctraceTransformer,
    Legacy,
    PacerTransformer,
    Row,
    ScavengerTransformer,
    SchedTransformer,
)

if TYPE_CHECKING:
    from lark import Lark
    from lark.exceptions import UnexpectedInput

__all__ = ["FAMILIES", "cache_file", "lark_transformer", "load_grammar", "parse_line"]

FAMILIES: dict[str, type[Any]] = {
    "gctrace": GctraceTransformer,
    "pacer": PacerTransformer,
    "sched": SchedTransformer,
    "scavenger": ScavengerTransformer,
    "events": EventsTransformer,
}
"""Grammar file stem → the transformer that turns its parse into rows."""


def lark_transformer(name: str) -> Any:
    """A family's transformer with Lark's ``Transformer`` mixed in, as Lark's parser wants it."""
    from lark import Transformer

    cls = FAMILIES[name]
    return type(cls.__name__, (cls, Transformer), {})()


@functools.cache
def load_grammar(name: str, *, strict: bool = False) -> Lark:
    """Build the LALR parser of ``grammars/<name>.lark``, tree-less with its transformer.

    ``strict=True`` (used by the tests) turns shift/reduce conflicts and terminal collisions
    into build errors; it needs the ``interegular`` package.
    """
    from lark import Lark

    return Lark.open(
        str(grammar_dir() / f"{name}.lark"), parser="lalr", lexer="contextual",
        transformer=lark_transformer(name), strict=strict, cache=False if strict else cache_file(name, "reference"),
    )


def cache_file(name: str, kind: str) -> str | bool:
    """Where Lark keeps the built parser tables of a grammar: 0.2 s saved on every start.

    Under the user's own cache directory (``$XDG_CACHE_HOME/gclens``, mode 0700), never the shared
    temp directory Lark defaults to, since the file is unpickled; keyed by the grammar files'
    contents. False (no cache) when that directory cannot be written.
    """
    import hashlib

    import lark

    base = user_cache_dir()
    if base is None:
        return False
    texts = b"".join(p.read_bytes() for p in sorted(grammar_dir().glob("*.lark")))
    digest = hashlib.sha256(texts + lark.__version__.encode()).hexdigest()[:16]
    return str(base / f"{name}-{kind}-{digest}.lark-cache")


def parse_line(family: str, text: str) -> Row | Legacy:
    """Parse one line (already cut to start at its runtime marker) with a family's grammar.

    Raises LineError, never a Lark exception, naming the column and what was expected there.
    """
    from lark.exceptions import UnexpectedInput

    parser = load_grammar(family)
    try:
        result: Row | Legacy = parser.parse(text)  # type: ignore[assignment]
    except UnexpectedInput as exc:
        raise LineError(_describe(parser, exc, text), text, column=exc.column, family=family) from None
    return result


def _describe(parser: Lark, exc: UnexpectedInput, text: str) -> str:
    from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedToken

    if isinstance(exc, UnexpectedEOF) or exc.column > len(text):
        return f"line ends early: expected {_expected(parser, exc)}"
    if isinstance(exc, (UnexpectedToken, UnexpectedCharacters)):
        found = text[exc.column - 1 : exc.column + 11]
        foreign = set(found) - _alphabet(parser)
        damage = "other output spliced into the line: " if foreign else ""
        return f"{damage}expected {_expected(parser, exc)}, found {found!r}"
    return "does not match the grammar"


@functools.cache
def _alphabet(parser: Lark) -> frozenset[str]:
    """Characters the grammar's literal text and numbers can contain: anything else is foreign."""
    chars = set("0123456789.+-eE")
    for term in parser.terminals:
        if term.pattern.type == "str":
            chars.update(term.pattern.value)
    return frozenset(chars)


def _expected(parser: Lark, exc: UnexpectedInput) -> str:
    names: set[str] = set(getattr(exc, "expected", None) or getattr(exc, "allowed", None) or ())
    shown = sorted(_show_terminal(parser, name) for name in names)
    return " or ".join(shown[:6]) + (" ..." if len(shown) > 6 else "") if shown else "end of line"


def _show_terminal(parser: Lark, name: str) -> str:
    if name == "$END":
        return "end of line"
    try:
        term = parser.get_terminal(name)
    except KeyError:
        return name
    if term.pattern.type == "str":
        return repr(term.pattern.value)
    return name.lower() if not name.startswith("__") else repr(term.pattern.value)
