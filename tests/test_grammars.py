"""The grammar files themselves: they build strictly, and every grammar has a transformer."""

from __future__ import annotations

import pytest
from lark import Lark

from gclens._paths import grammar_dir
from gclens.grammar.loader import FAMILIES, load_grammar


def test_every_grammar_file_is_a_family() -> None:
    files = {p.stem for p in grammar_dir().glob("*.lark")} - {"common"}
    assert files == set(FAMILIES)


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_grammar_builds_with_strict_checks(name: str) -> None:
    """strict=True makes shift/reduce conflicts and terminal collisions build errors."""
    parser = Lark.open(str(grammar_dir() / f"{name}.lark"), parser="lalr", strict=True)
    assert parser.terminals


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_rule_has_a_transformer_method(name: str) -> None:
    parser = load_grammar(name)
    inlined = {r.origin.name for r in parser.rules if r.options.expand1}
    rules = {str(r.origin.name) for r in parser.rules} - {str(n) for n in inlined}
    missing = {r for r in rules if not r.startswith("_") and not hasattr(FAMILIES[name], r)}
    assert not missing
