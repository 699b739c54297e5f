"""Plans: how the lines of one shape become rows, learnt once from the template Lark gave.

Split from ``columnar`` (which runs the plans over batches of lines and hands the rows on as
chunks) so the part that builds the regular expressions and Polars expressions is one unit: a
plan is one regular expression made of a shape's literal text and a named group per token that
carries digits, and the template's transformer program evaluated once over ``Column`` tokens.
``columnar`` re-exports ``Plan``.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from gclens.grammar.templates import MAX_TEMPLATES, FastEngine, Template, make_token
from gclens.grammar.transformers import Legacy
from gclens.grammar.values import Column
from gclens.store.schemas import polars_types

__all__ = ["Plan"]

_LOOKAROUND = re.compile(r"\(\?<?[=!]")


@dataclass(frozen=True)
class Plan:
    """How to turn lines into rows: a regular expression giving each varying token, and the
    transformer's columns over those tokens. Learnt once, applied to every batch."""

    table: str
    regex: str
    check: pl.Expr | None  # the lines the plan serves (the others take the slow path)
    columns: tuple[pl.Expr, ...]

    def apply(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        lines = lines.with_columns(_tokens=pl.col("_rt").str.extract_groups(self.regex))
        if self.check is not None:  # a failing line takes the slow path, which gives the reject
            lines = lines.filter(self.check)
        return lines.select("_seq", *self.columns)


def _plan_for(engine: FastEngine, family: str, shape: str, text: str) -> Plan | None:
    """The plan for the lines of one shape (cached; shapes whose tokens line up share one)."""
    if shape not in engine.plans:
        with engine.learning:
            if len(engine.plans) >= MAX_TEMPLATES:
                return None
            if shape not in engine.plans:
                engine.plans[shape] = _plan(engine, family, text)
    plan = engine.plans[shape]
    assert plan is None or isinstance(plan, Plan)
    return plan


def _plan(engine: FastEngine, family: str, text: str) -> Plan | None:
    """A plan from the template Lark gave for ``text``'s shape; None: the slow path.

    Shapes differ by how many digit runs a token has (`0.012` or `12` for one DUR), so many
    shapes share one sequence of literal text and token types. Their plan is one regular
    expression: the literal text, each token that carries digits as a group with its
    terminal's pattern from the grammar, and each token without digits as its text. It is
    checked against the template on ``text`` itself; when it cannot be built (a terminal with a
    lookaround) or disagrees, the plan covers this one shape, with a group per digit run.
    """
    template = engine.template(family, text)
    if template is None or not _vectorisable(template):
        return None
    parts = re.split("([0-9]+)", text)
    rule = _rule_regex(family, template, text, parts)
    if rule is not None:
        regex, tokens = rule
        if regex in engine.plans:
            return engine.plans[regex]  # type: ignore[no-any-return]
        first = next((t for t in tokens if isinstance(t, Column)), None)
        check = [] if first is None else [first.expr.is_not_null()]
        plan = _evaluate(template, tokens, regex, check)
        engine.plans[regex] = plan
        return plan
    tokens, check = [], []
    digits = pl.col("_tokens")
    for slot in template.slots:
        if not any(i % 2 for i in range(slot.first, slot.last + 1)):
            tokens.append(make_token(slot.type, slot.value(parts)))  # all literal: the same text on every line
            continue
        expr = _slot_expr(slot, parts, digits)
        tokens.append(Column(slot.type, expr))
        if slot.check is not None:
            check.append(expr.str.contains(f"^(?:{slot.check.pattern})$"))
    return _evaluate(template, tokens, _shape_regex(parts), check)


def _rule_regex(family: str, template: Template, text: str, parts: list[str]) -> tuple[str, list[Any]] | None:
    """The regex shared by every shape whose tokens line up like ``text``'s, and its tokens."""
    from gclens.grammar.templates import terminal_patterns

    patterns = terminal_patterns(family)
    starts = [0]
    for part in parts:
        starts.append(starts[-1] + len(part))
    pieces, position, covered = ["^"], 0, set()
    tokens: list[Any] = []
    for k, slot in enumerate(template.slots):
        begin = starts[slot.first] + slot.head
        end = starts[slot.last + 1] - slot.tail
        pieces.append(re.escape(text[position:begin]))
        runs = {i for i in range(slot.first, slot.last + 1) if i % 2}
        if runs:
            pattern = patterns.get(slot.type)
            if pattern is None or _LOOKAROUND.search(pattern.pattern):
                return None
            covered |= runs
            pieces.append(f"(?P<t{k}>{_non_capturing(pattern.pattern)})")
            tokens.append(Column(slot.type, pl.col("_tokens").struct.field(f"t{k}")))
        elif (varying := _varying_text(slot.type, patterns)) is not None:
            pieces.append(f"(?P<t{k}>{varying})")
            tokens.append(Column(slot.type, pl.col("_tokens").struct.field(f"t{k}")))
        else:
            pieces.append(re.escape(text[begin:end]))
            tokens.append(make_token(slot.type, text[begin:end]))
        position = end
    pieces.append(re.escape(text[position:]) + "$")
    if covered != set(range(1, len(parts), 2)):
        return None  # a digit run outside every token
    regex = "".join(pieces)
    match = re.fullmatch(regex, text)
    if match is None or any(match[f"t{k}"] != slot.value(parts) for k, slot in enumerate(template.slots)
                            if f"t{k}" in match.groupdict()):
        return None
    return regex, tokens


_VARYING_TEXT = frozenset({"OPT_ID", "FLAG", "WAIT_REASON", "PREEMPTOFF"})
"""Scheduler-detail tokens whose text may hold no digit and still differ from line to line
(``m=nil``, ``gcwaiting=false``, a G line's wait reason). As literal text each such line would
be a shape of its own and a plan of its own (21 of the runtime-only log's ~55 plans were one per
wait reason); captured like a number, the lines share one plan: Polars pays per plan per batch."""
_TRAILING_LOOKAHEAD = re.compile(r"\(\?=(?:\\.|[^()\\]|\((?:\\.|[^()\\])*\))*\)$")


def _varying_text(kind: str, patterns: dict[str, re.Pattern[str]]) -> str | None:
    """The capture pattern for a token of ``kind`` without digits (see _VARYING_TEXT), or None:
    keep it as literal text. A lookahead ending the terminal's pattern (what must follow it, in
    Lark's contextual lexer) is dropped: the plan's regex spells out what follows, to the end."""
    pattern = patterns.get(kind)
    if kind not in _VARYING_TEXT or pattern is None:
        return None
    plain = _TRAILING_LOOKAHEAD.sub("", pattern.pattern)
    return None if _LOOKAROUND.search(plain) else _non_capturing(plain)


@functools.cache
def _non_capturing(pattern: str) -> str:
    """``pattern`` with its groups made non-capturing: Rust's regex extracts 2-3x faster when
    the only capture groups are the tokens (one-pass), and only those are read."""
    plain = re.sub(r"(?<!\\)((?:\\\\)*)\((?!\?)", r"\1(?:", pattern)
    return plain if re.compile(plain).groups == 0 else pattern


def _evaluate(template: Template, tokens: list[Any], regex: str, check: list[pl.Expr]) -> Plan | None:
    """Run the template's transformer program once over the tokens (Columns give expressions)."""
    try:
        result = template.evaluate(tokens)
    except (TypeError, AttributeError, ValueError, KeyError, IndexError, pl.exceptions.PolarsError):
        return None  # a transformer step with no column form: leave the shape to the slow path
    if isinstance(result, Legacy) or not isinstance(result, tuple):
        return None
    table, row = result
    schema = polars_types(table)
    check = check + [_fits(value, schema[name]) for name, value in row.items()
                     if isinstance(value, pl.Expr) and name in schema and schema[name].is_integer()]
    columns = tuple(_typed(name, value, schema) for name, value in row.items() if name in schema)
    return Plan(table, regex, pl.all_horizontal(check) if check else None, columns)


_INT_BITS: dict[type[pl.DataType], int] = {pl.Int8: 8, pl.Int16: 16, pl.Int32: 32, pl.Int64: 64}


def _fits(value: pl.Expr, dtype: pl.DataType) -> pl.Expr:
    """The value fits its integer column (the slow path's ``out_of_range`` check, vectorised)."""
    bits = _INT_BITS[type(dtype)]
    return value.is_null() | value.is_between(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


def _vectorisable(template: Template) -> bool:
    return all(slot.check is None or not _LOOKAROUND.search(slot.check.pattern) for slot in template.slots)


@functools.cache
def _shape_regex_cached(literals: tuple[str, ...]) -> str:
    return "^" + "([0-9]+)".join(re.escape(lit) for lit in literals) + "$"


def _shape_regex(parts: list[str]) -> str:
    return _shape_regex_cached(tuple(parts[0::2]))


def _slot_expr(slot: Any, parts: list[str], digits: pl.Expr) -> pl.Expr:
    """A token's text from the digit runs it spans and the literal text between them."""
    pieces: list[pl.Expr] = []
    for i in range(slot.first, slot.last + 1):
        if i % 2:
            pieces.append(digits.struct.field(str(i // 2 + 1)))
            continue
        literal = parts[i]
        if i == slot.last and slot.tail:
            literal = literal[:len(literal) - slot.tail]
        if i == slot.first and slot.head:
            literal = literal[slot.head:]
        if literal:
            pieces.append(pl.lit(literal))
    return pieces[0] if len(pieces) == 1 else pl.concat_str(pieces)


def _typed(name: str, value: Any, schema: pl.Schema) -> pl.Expr:
    dtype = schema.get(name)
    expr = value if isinstance(value, pl.Expr) else pl.lit(value, dtype=dtype)
    return (expr if dtype is None else expr.cast(dtype)).alias(name)
