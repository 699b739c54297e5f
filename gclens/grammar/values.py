"""Token conversions that work on one token or on a whole column of them.

The transformers (``_transformers``) turn tokens into column values with these helpers only,
never with ``int()`` or an ``if`` on a token's text. Given Lark tokens they compute one row's
values; given ``Column`` tokens (the same slot of every line of one template, see
``_columnar``) they build Polars expressions that compute the same values for all those lines
at once. So one transformer, read once, defines the rows of both engines.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

__all__ = ["Column", "Value", "any_of", "case", "equals", "flag", "int_list", "lookup", "matches", "nonzero", "num",
           "opt_id", "pl_concat", "real", "strip", "text", "thousandths"]


class Column:
    """The text of one token slot across the lines of a template: a Polars string expression."""

    __slots__ = ("expr", "type")

    def __init__(self, type_: str, expr: pl.Expr) -> None:
        self.type = type_
        self.expr = expr


Value = Any
"""A Python value (one line) or a ``pl.Expr`` (a column)."""


@functools.cache
def _pl() -> Any:
    import polars

    return polars


def num(tok: Any) -> Value:
    """An integer token (INT, SIGNED_INT, a digit run)."""
    if isinstance(tok, Column):
        return tok.expr.cast(_pl().Int128, strict=False)  # wide enough for every check in _columnar
    return int(tok)


def real(tok: Any) -> Value:
    """A FLOAT or DUR token (Polars parses every rendering of common.lark as Python does)."""
    if isinstance(tok, Column):
        return tok.expr.cast(_pl().Float64)
    return float(tok)


def thousandths(tok: Any) -> Value:
    """An integer token divided by 1000, correctly rounded as Python's ``int / 1000``.

    (Polars divides by multiplying with the reciprocal, which can differ in the last bit;
    parsing the decimal text is correctly rounded, like the true division.)
    """
    if isinstance(tok, Column):
        padded = tok.expr.str.zfill(4)
        return pl_concat([padded.str.head(-3), ".", padded.str.tail(3)]).cast(_pl().Float64)
    return int(tok) / 1000


def pl_concat(pieces: list[Any]) -> Any:
    pl = _pl()
    return pl.concat_str([p if isinstance(p, pl.Expr) else pl.lit(p) for p in pieces])


def text(tok: Any) -> Value:
    if isinstance(tok, Column):
        return tok.expr
    return str(tok)


def strip(tok: Any, prefix: str = "", suffix: str = "") -> Any:
    """The token without a fixed prefix or suffix (still a token: convert it with num)."""
    if isinstance(tok, Column):
        expr = tok.expr
        if prefix:
            expr = expr.str.strip_prefix(prefix)
        if suffix:
            expr = expr.str.strip_suffix(suffix)
        return Column(tok.type, expr)
    return str(tok).removeprefix(prefix).removesuffix(suffix)


def equals(tok: Any, literal: str) -> Value:
    """Whether the token's text is ``literal``."""
    if isinstance(tok, Column):
        return tok.expr == literal
    return str(tok) == literal


def matches(tok: Any, pattern: str) -> Value:
    """Whether the whole token matches ``pattern`` (a regex both ``re`` and Rust regex read alike)."""
    if isinstance(tok, Column):
        return tok.expr.str.contains(f"^(?:{pattern})$")
    import re

    return re.fullmatch(pattern, str(tok)) is not None


def any_of(conditions: Sequence[Value]) -> Value:
    exprs = [c for c in conditions if not isinstance(c, bool)]
    if any(c is True for c in conditions):
        return True
    if not exprs:
        return False
    return _pl().any_horizontal(exprs)


def case(*branches: tuple[Value, Any], default: Any) -> Value:
    """The value of the first branch whose condition holds (conditions: bools or expressions)."""
    pending: list[tuple[Any, Any]] = []
    for condition, value in branches:
        if condition is False:
            continue
        if condition is True:
            default = value
            break
        pending.append((condition, value))
    if not pending:
        return default
    pl = _pl()
    chain: Any = pl
    for condition, value in pending:
        chain = chain.when(condition).then(_lit(value))
    return chain.otherwise(_lit(default))


def lookup(names: Sequence[str], code: Value) -> Value:
    """``names[code]``, or None outside the list."""
    if isinstance(code, int):
        return names[code] if 0 <= code < len(names) else None
    pl = _pl()
    return code.replace_strict(list(range(len(names))), list(names), default=None, return_dtype=pl.String)


def flag(tok: Any) -> Value:
    """A scheduler flag: `0`/`1` before go1.20, `false`/`true` from go1.20."""
    if isinstance(tok, Column):
        return tok.expr.is_in(["1", "true"])
    return _FLAG[str(tok)]


_FLAG = {"0": False, "1": True, "false": False, "true": True}


def opt_id(tok: Any) -> Value:
    """A missing id (`-1`, `nil`) is None."""
    if isinstance(tok, Column):
        pl = _pl()
        return pl.when(tok.expr.is_in(["-1", "nil"])).then(None).otherwise(tok.expr.cast(pl.Int128, strict=False))
    return None if tok in ("-1", "nil") else int(tok)


def nonzero(value: Value) -> Value:
    if isinstance(value, int):
        return bool(value)
    return value != 0


def int_list(tokens: Sequence[Any]) -> Value:
    """A list column of integers, one per token."""
    if any(isinstance(t, Column) for t in tokens):
        pl = _pl()
        return pl.concat_list([_lit(num(t)) for t in tokens]).cast(pl.List(pl.Int64))
    return [int(t) for t in tokens]


def _lit(value: Any) -> Any:
    pl = _pl()
    return value if isinstance(value, pl.Expr) else pl.lit(value)
