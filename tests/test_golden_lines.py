"""Golden cases: one line per layout and per parser trap of go-trace-formats §7.

The expected values are written by hand from the catalogue's field definitions (or read off
the real line), not produced by gclens. A new case is a new line in golden/*.jsonl.
"""

from __future__ import annotations

import io
import math
from typing import Any

import pytest

import gclens
from conftest import GOLDEN, load_jsonl

LINES = load_jsonl(GOLDEN / "lines.jsonl")
REJECTS = load_jsonl(GOLDEN / "rejects.jsonl")


def _parse_one(line: str) -> gclens.Trace:
    return gclens.read_trace(io.BytesIO((line + "\n").encode()))


def _same(actual: Any, expected: Any) -> bool:
    if isinstance(expected, float) and isinstance(actual, float):
        return math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-12)
    return bool(actual == expected)


@pytest.mark.parametrize("case", LINES, ids=[c["case"] for c in LINES])
def test_line_parses_to_expected_row(case: dict[str, Any]) -> None:
    trace = _parse_one(case["line"])
    counts = {name: n for name, n in trace.row_counts().items() if n and name not in ("runs", "sources")}
    assert counts == {case["table"]: 1}, trace.rejects.to_dicts()
    row = trace.frame(case["table"]).row(0, named=True)
    wrong = {k: (row[k], v) for k, v in case["expect"].items() if not _same(row[k], v)}
    assert not wrong, f"(actual, expected) per column: {wrong}"


@pytest.mark.parametrize("case", REJECTS, ids=[c["case"] for c in REJECTS])
def test_line_is_rejected_with_precise_reason(case: dict[str, Any]) -> None:
    trace = _parse_one(case["line"])
    rejects = trace.rejects.to_dicts()
    assert len(rejects) == 1
    assert {k: rejects[0][k] for k in ("family", "reason", "column")} == {
        k: case[k] for k in ("family", "reason", "column")}
    assert rejects[0]["text"] == case["line"]
    assert trace.sources.row(0, named=True)["runtime_lines"] == 0


def test_parse_runtime_line_error_shows_the_line_and_a_caret() -> None:
    with pytest.raises(gclens.LineError) as info:
        gclens.parse_runtime_line("app says: gc 12 @3.4xyz")
    assert str(info.value) == (
        "<line>:0:18: other output spliced into the line: expected seconds, found '3.4xyz'\n"
        "    app says: gc 12 @3.4xyz\n"
        "                     ^"
    )
    assert info.value.column == 18 and info.value.family == "gctrace"


def test_parse_runtime_line_refuses_application_text_and_legacy_lines() -> None:
    with pytest.raises(gclens.LineError, match="not Go runtime output"):
        gclens.parse_runtime_line("INFO request served in 12ms")
    with pytest.raises(gclens.LineError, match=r"legacy gctrace line of go1\.4"):
        gclens.parse_runtime_line("gc1(1): 0+0+92+0 us, 0 -> 0 MB, 21 (21-0) objects")
    assert gclens.parse_runtime_line("GC forced") == (
        "events", {"kind": "gc_forced", "category": "periodic_gc", "message": "GC forced"})
