"""Traces that users pasted publicly (tests/corpus, sources in INDEX.md): every runtime line
parses, or is rejected as legacy; the expected counts were taken by hand, not from gclens."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest

import gclens
from conftest import CORPUS

EXPECTED: dict[str, Any] = json.loads((CORPUS / "expected.json").read_text())
FILES = sorted(name for name in EXPECTED if not name.startswith("_"))
RUNTIME_TABLES = [t for t in gclens.TABLE_NAMES if t not in ("runs", "rejects", "sources")]


def test_every_corpus_file_is_listed() -> None:
    assert sorted(p.name for p in CORPUS.glob("*.txt")) == FILES


@pytest.mark.parametrize("name", FILES)
def test_corpus_file_accounts_for_every_line(name: str) -> None:
    expected = EXPECTED[name]
    trace = gclens.read_trace(CORPUS / name)
    counts = {t: n for t, n in trace.row_counts().items() if t in RUNTIME_TABLES and n}
    assert counts == expected["tables"]
    rejects = trace.rejects
    assert rejects.height == expected["legacy"], rejects.to_dicts()
    assert rejects.filter(pl.col("reason").str.starts_with("legacy ")).height == expected["legacy"]
    src = trace.sources.row(0, named=True)
    assert src["other_lines"] == expected["other"]
    assert src["lines_read"] == src["runtime_lines"] + src["rejected_lines"] + src["other_lines"]
    assert trace.runs.height == expected["runs"]


def test_restart_splits_runs_and_keeps_gc_order() -> None:
    gc = gclens.read_trace(CORPUS / "008-devel-two-runs-restart-42642.txt").gc
    assert gc.filter(pl.col("run_id") == 0)["gc_num"].to_list() == [170, 171]
    assert gc.filter(pl.col("run_id") == 1)["gc_num"].to_list() == list(range(1, 11))


def test_gc_line_glued_after_benchmark_name_is_parsed() -> None:
    trace = gclens.read_trace(CORPUS / "058-go118plus-gotest-bench-interleaved-midline-1P-felixge.txt")
    gc = trace.gc
    assert gc["gc_num"].to_list()[:3] == [1, 2, 3]
    assert gc.filter(pl.col("gc_num") == 12).row(0, named=True)["clock_mark_ms"] == 164.0
    assert trace.sources.row(0, named=True)["spliced_lines"] == 3


def test_log_prefixed_pacer_lines_belong_to_the_next_gc_line() -> None:
    trace = gclens.read_trace(CORPUS / "026-go162-stdlog-prefix-GCforced-pacer-16293.txt")
    assert trace.pacer["gc_num"].to_list() == [339, 339]
    assert trace.events.row(0, named=True)["kind"] == "gc_forced"


def test_orphan_detail_lines_have_no_header() -> None:
    g = gclens.read_trace(CORPUS / "034-go14-bootstrap-scheddetail-gcN-interleaved-16570.txt").sched_g
    assert g["sched_line_no"].to_list() == [None, None, 10, 10]
