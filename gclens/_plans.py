"""Plans: how the lines of one shape become rows, learnt once from the shape's template.

A plan is the template's transformer program run once over ``Column`` tokens (``_values``):
Polars expressions computing every column of every line. The tokens come either cut from the
line at offsets its digit runs give (``_slices``; where the shape allows it, no regex runs over
the lines) or from one regular expression made of the literal text and each token's terminal
pattern from the grammar (``str.extract_groups``), the route of lines that cannot be cut.
Shapes whose tokens line up (`0.012` and `12` are one DUR with one or two digit runs) share
one plan. Used by ``_columnar``, which groups a batch's lines by plan.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import polars as pl

from gclens._fastpath import MAX_TEMPLATES, FastEngine, Template, make_token
from gclens._schemas import polars_types
from gclens._slices import Layout, Runs, token_offsets
from gclens._transformers import Legacy
from gclens._values import Column

_LOOKAROUND = re.compile(r"\(\?<?[=!]")


@dataclass(frozen=True)
class Sliced:
    """A plan's tokens cut from the digit runs (``_slices``): which template slots are cut, which
    of them are one digit run (read as numbers), and the columns computed from them."""

    slots: tuple[int, ...]
    numbers: tuple[int, ...]
    checked: tuple[int, ...]  # slots some line of the shape might not fill with its terminal
    check: pl.Expr | None
    columns: tuple[pl.Expr, ...]
    needed: frozenset[str]  # the token columns (``_t{k}`` texts, ``_v{k}`` values) the columns read

    def layout(self, template: Template) -> Layout | None:
        """Where this shape's tokens lie; None when its lines cannot be cut as the plan expects
        (a token read as a number is not one digit run here, or needs a check the plan lacks)."""
        slots = [template.slots[k] for k in self.slots]
        if any(s.check is not None and k not in self.checked for k, s in zip(self.slots, slots, strict=True)):
            return None
        if any(not _one_run(template.slots[k]) for k in self.numbers):
            return None
        return Layout(*(tuple(getattr(s, f) for s in slots) for f in ("first", "last", "head", "tail")))


def _one_run(slot: Any) -> bool:
    return bool(slot.first == slot.last and slot.first % 2 and slot.check is None)


@dataclass(frozen=True)
class Plan:
    """How to turn lines into rows: a regular expression giving each varying token, and the
    transformer's columns over those tokens. Learnt once, applied to every batch. ``sliced``:
    the same columns over tokens cut at offsets from the digit runs (no regex over the lines)."""

    table: str
    regex: str
    check: pl.Expr | None  # the lines the plan serves (the others take the slow path)
    columns: tuple[pl.Expr, ...]
    sliced: Sliced | None = None

    def apply(self, lines: pl.LazyFrame) -> pl.LazyFrame:
        lines = lines.with_columns(_tokens=pl.col("_rt").str.extract_groups(self.regex))
        if self.check is not None:  # a failing line takes the slow path, which gives the reject
            lines = lines.filter(self.check)
        return lines.select("_seq", *self.columns)

    def cut(self, group: pl.DataFrame, runs: Runs, rows: Any, which: Any, layouts: list[Layout]) -> pl.LazyFrame:
        """The rows of ``group``'s lines (batch rows ``rows``; ``layouts[which[i]]`` is where the
        tokens of ``rows[i]`` lie) from cut tokens."""
        assert self.sliced is not None
        sliced = self.sliced
        offsets = token_offsets(runs, rows, layouts, which, sliced.slots, sliced.numbers, sliced.needed)
        lines = pl.DataFrame({"_seq": group["_seq"], "_rt": group["_rt"], **offsets}).lazy()
        lines = lines.with_columns(*[pl.col("_rt").str.slice(pl.col(f"_s{k}"), pl.col(f"_n{k}")).alias(f"_t{k}")
                                     for k in sliced.slots if f"_t{k}" in sliced.needed])
        if sliced.check is not None:
            lines = lines.filter(sliced.check)
        return lines.select("_seq", *sliced.columns)


def _shaped_for(engine: FastEngine, family: str, shape: str, text: str) -> tuple[Plan, Layout | None] | None:
    """The plan for the lines of one shape, and where their cut tokens lie (cached; shapes whose
    tokens line up share one plan)."""
    if shape not in engine.plans:
        with engine.learning:
            if len(engine.plans) >= MAX_TEMPLATES:
                return None
            if shape not in engine.plans:
                engine.plans[shape] = _plan(engine, family, text)
    shaped = engine.plans[shape]
    assert shaped is None or isinstance(shaped, tuple)
    return shaped


def _plan_for(engine: FastEngine, family: str, shape: str, text: str) -> Plan | None:
    """The plan for the lines of one shape (see ``_shaped_for``)."""
    shaped = _shaped_for(engine, family, shape, text)
    return None if shaped is None else shaped[0]


def _plan(engine: FastEngine, family: str, text: str) -> tuple[Plan, Layout | None] | None:
    """A plan from the template Lark gave for ``text``'s shape; None: the slow path.

    Shapes differ by how many digit runs a token has (`0.012` or `12` for one DUR), so many
    shapes share one sequence of literal text and token types. Their plan is one regular
    expression: the literal text, each token that carries digits as a group with its
    terminal's pattern from the grammar, and each token without digits as its text. It is
    checked against the template on ``text`` itself; when it cannot be built (a terminal with a
    lookaround) or disagrees, the plan covers this one shape, with a group per digit run.
    With the plan comes this shape's ``Layout``: where its tokens lie among its digit runs, so
    its lines are cut (``Plan.cut``) rather than matched; None: they take the regex.
    """
    template = engine.template(family, text)
    if template is None or not _vectorisable(template):
        return None
    parts = re.split("([0-9]+)", text)
    rule = _rule_regex(family, template, text, parts)
    if rule is not None:
        regex, tokens = rule
        if regex not in engine.plans:
            engine.plans[regex] = _rule_plan(template, tokens, regex)
        plan = engine.plans[regex]
        if plan is None:
            return None
        assert isinstance(plan, Plan)
        return plan, None if plan.sliced is None else plan.sliced.layout(template)
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
    program = _evaluate(template, tokens, check)
    return None if program is None else (Plan(program[0], _shape_regex(parts), *program[1:]), None)


def _rule_plan(template: Template, tokens: list[Any], regex: str) -> Plan | None:
    """The plan of a rule regex, with its tokens also cut from the digit runs where they can be."""
    first = next((t for t in tokens if isinstance(t, Column)), None)
    program = _evaluate(template, tokens, [] if first is None else [first.expr.is_not_null()])
    if program is None:
        return None
    slots = tuple(k for k, t in enumerate(tokens) if isinstance(t, Column))
    numbers = tuple(k for k in slots if _one_run(template.slots[k]))
    checked = tuple(k for k in slots if template.slots[k].check is not None)
    cut_tokens = [Column(t.type, pl.col(f"_t{k}"), pl.col(f"_v{k}") if k in numbers else None)
                  if isinstance(t, Column) else t for k, t in enumerate(tokens)]
    cut_check = [pl.col(f"_t{k}").str.contains(f"^(?:{_check(template, k)})$") for k in checked]
    cut_program = _evaluate(template, cut_tokens, cut_check)
    sliced = None
    if cut_program is not None and cut_program[0] == program[0]:
        _, check, columns = cut_program
        needed = frozenset(name for expr in (*columns, *([] if check is None else [check]))
                           for name in expr.meta.root_names())
        sliced = Sliced(slots, numbers, checked, check, columns, needed)
    return Plan(program[0], regex, *program[1:], sliced=sliced)


def _check(template: Template, k: int) -> str:
    check = template.slots[k].check
    assert check is not None
    return check.pattern


def _rule_regex(family: str, template: Template, text: str, parts: list[str]) -> tuple[str, list[Any]] | None:
    """The regex shared by every shape whose tokens line up like ``text``'s, and its tokens."""
    from gclens._fastpath import terminal_patterns

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


@functools.cache
def _non_capturing(pattern: str) -> str:
    """``pattern`` with its groups made non-capturing: Rust's regex extracts 2-3x faster when
    the only capture groups are the tokens (one-pass), and only those are read."""
    plain = re.sub(r"(?<!\\)((?:\\\\)*)\((?!\?)", r"\1(?:", pattern)
    return plain if re.compile(plain).groups == 0 else pattern


def _evaluate(template: Template, tokens: list[Any], check: list[pl.Expr],
              ) -> tuple[str, pl.Expr | None, tuple[pl.Expr, ...]] | None:
    """Run the template's transformer program once over the tokens (Columns give expressions):
    the table, the check of the lines served, and the columns."""
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
    return table, pl.all_horizontal(check) if check else None, columns


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
