"""Inputs the fuzzer (fuzz/fuzz_parse.py) crashed on once: each must now parse without an
exception, with the damaged lines rejected for a stated reason."""

from __future__ import annotations

from pathlib import Path

import pytest

import gclens

CASES = sorted((Path(__file__).parent / "fuzz_regressions").iterdir())


@pytest.mark.parametrize("path", CASES, ids=[p.name for p in CASES])
def test_fuzz_crash_is_fixed(path: Path) -> None:
    trace = gclens.read_trace(path)
    s = trace.sources.row(0, named=True)
    assert s["lines_read"] == s["runtime_lines"] + s["rejected_lines"] + s["other_lines"] + s["joined_lines"]


def test_numbers_too_large_for_their_column_are_rejected() -> None:
    trace = gclens.read_trace(CASES[0])
    assert any("does not fit its int64 column" in r for r in trace.rejects["reason"])
    with pytest.raises(gclens.LineError):
        gclens.parse_runtime_line("scav 0 KiB work, 1024 KiB total, 99999999999% util")
