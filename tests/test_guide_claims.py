"""The catalogue of tuning-guide claims matches the guide page and the rules, in both directions.

The guide page is read by tests/guide_rows.py from a verbatim copy (tests/data/guide/), not by the
code under test, so a guide row left out of the catalogue, a verdict that is not the guide's words,
or a rule without a claim fails here.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from guide_rows import guide_rows

from gclens.analysis.findings import RULES as TRACE_RULES
from gclens.analysis.guide_claims import CLAIMS, KINDS, VERDICTS, rules_catalogue
from gclens.analysis.pressure import RULE as PRESSURE_RULE
from gclens.analysis.settings_rules import rule_ids
from gclens.cli import main
from gclens.present.rules_doc import catalogue_markdown
from gclens.store.schemas import SCHEMAS

ROOT = Path(__file__).parent.parent
ROWS = guide_rows()


def test_the_guide_copy_is_read_whole() -> None:
    sections = {section for section, _ in ROWS}
    assert sections == {"1", "2", "3", "4", "5"}
    assert sum(1 for s, _ in ROWS if s == "1") == 8 and sum(1 for s, _ in ROWS if s == "2") == 5


def test_every_row_of_the_guide_has_a_claim_and_every_claim_a_row() -> None:
    claimed = {(c.section, c.row) for c in CLAIMS if c.section != "gclens"}
    assert set(ROWS) - claimed == set(), "guide rows without a catalogue entry"
    assert claimed - set(ROWS) == set(), "catalogue rows that are not rows of the guide"


@pytest.mark.parametrize("claim", [c for c in CLAIMS if c.guide_says], ids=lambda c: f"{c.row[:20]}:{c.claim[:20]}")
def test_the_verdict_is_quoted_from_the_guide_row(claim: object) -> None:
    assert claim.guide_says in ROWS[(claim.section, claim.row)]  # type: ignore[attr-defined]


def test_verdicts_kinds_and_corrections_are_well_formed() -> None:
    for c in CLAIMS:
        assert c.verdict in VERDICTS and c.kind in KINDS, c
        assert (c.verdict in ("not judged", "not in the guide")) == (not c.guide_says), c
        if c.verdict in ("wrong", "inconsistent", "outdated") or c.kind == "correction only":
            assert c.correction, f"{c.claim}: a wrong claim carries its correction"
        assert (c.implemented_by is None) == (c.kind in ("correction only", "not checkable")), c
        assert c.why and c.source and c.how


def test_settings_rules_and_claims_map_both_ways() -> None:
    claimed = {c.implemented_by for c in CLAIMS if c.kind == "settings rule"}
    assert claimed == set(rule_ids())


def test_trace_rules_columns_and_analyses_exist() -> None:
    trace_ids = {rule.id for rule in TRACE_RULES} | {PRESSURE_RULE}
    for c in CLAIMS:
        if c.kind == "trace rule":
            assert c.implemented_by in trace_ids, c.implemented_by
        elif c.kind == "trace column":
            table, column = str(c.implemented_by).split(".")
            assert column in SCHEMAS[table].names
        elif c.kind == "analysis":
            module, _, name = str(c.implemented_by).rpartition(".")
            assert hasattr(importlib.import_module(module), name), c.implemented_by


def test_docs_rules_md_is_what_gclens_rules_markdown_prints(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--markdown"]) == 0
    printed = capsys.readouterr().out
    assert printed == catalogue_markdown(rules_catalogue()) + "\n"
    assert (ROOT / "docs" / "rules.md").read_text(encoding="utf-8") == printed, \
        "docs/rules.md is stale: gclens rules --markdown > docs/rules.md"
    for rule in rule_ids():
        assert f"`{rule}`" in printed


def test_rules_json_and_section_filter(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rules", "--format", "json", "--section", "4"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["claim"] for r in rows] == [c.claim for c in CLAIMS if c.section == "4"]
    assert {r["implemented_by"] for r in rows} == {PRESSURE_RULE}
    assert main(["rules"]) == 0
    text = capsys.readouterr().out
    assert text.count("\n") > len(CLAIMS) and "godebug-gcstoptheworld" in text
    with pytest.raises(SystemExit) as bad:
        main(["rules", "--section", "9"])
    assert bad.value.code == 2
