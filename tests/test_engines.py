"""The fast engine (templates derived from the grammars) and Lark give identical results.

Three sources of lines: every sample trace and corpus file, whole; sentences generated from the
grammar files themselves (each terminal drawn from its own regular expression, so numbers follow
the runtime's renderings in common.lark); and lines whose digits are changed after the engine
has learnt their shape, which is exactly where a template could go wrong.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from functools import cache
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gclens import read_trace
from gclens._errors import LineError
from gclens.grammar.loader import FAMILIES, parse_line
from gclens.grammar.ranges import out_of_range
from gclens.grammar.templates import FastEngine, _tree_parser
from gclens.pipeline.columnar import line_shapes, parse_column
from gclens.pipeline.reader import make_options, trace_from
from gclens.pipeline.stream import stream
from gclens.store.schemas import polars_types

ROOT = Path(__file__).parent.parent
FILES = sorted(p for p in [*(ROOT / "sample_traces").glob("go*/*.stderr"),
                           *(ROOT / "sample_traces" / "perf").glob("*/trace.stderr"),
                           *(ROOT / "tests" / "corpus").rglob("*")]
               if p.is_file() and p.suffix not in {".json", ".md"})


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(ROOT)) for p in FILES])
def test_every_sample_and_corpus_file_gives_identical_tables(path: Path) -> None:
    fast, lark = read_trace(path, engine="fast"), read_trace(path, engine="lark")
    for name in lark.tables:
        assert fast.tables[name].equals(lark.tables[name]), f"{path.name}: table {name} differs"


BLOCK_FILES = [p for p in FILES if "applog" not in p.name or p.parent.name in ("go1.19", "go1.25")]
"""Cut into small blocks: every file, but of the 20 applog runs (each 7-11k lines, seconds per
mode) those of go1.19 and go1.25, which hold every application log style; the whole-file test
above still takes all 20."""


@pytest.mark.parametrize("batch, joined", [(7, False), (64, True)], ids=["batches-of-7", "blocks-joined"])
@pytest.mark.parametrize("path", BLOCK_FILES, ids=[str(p.relative_to(ROOT)) for p in BLOCK_FILES])
def test_every_file_parsed_a_small_block_at_a_time_gives_the_reference_tables(
        path: Path, batch: int, joined: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain logs take the columnar way (``_columnar``) after their first lines: with three first
    lines and 2 KiB blocks, nearly every line of every file goes that way, cut anywhere, and the
    tables still equal those of Lark's line-by-line parse in its own chunks. Cut into
    batches of 7 lines, each handed on alone; or with every block already read joined to the
    next up to 64 lines, and every ready batch joined into one chunk for the stages."""
    monkeypatch.setattr("gclens.pipeline.parse.DETECT_LINES", 3)
    monkeypatch.setattr("gclens.pipeline.columnar.BATCH_LINES", batch)
    monkeypatch.setattr("gclens.read.readahead.Prefetched.ready", lambda self: joined)
    blocks = trace_from(stream(path, replace(make_options(engine="fast"), block_bytes=2048)))
    lark = read_trace(path, engine="lark")
    for name in lark.tables:
        assert blocks.tables[name].equals(lark.tables[name]), f"{path.name}: table {name} differs"


@pytest.mark.parametrize("name", ["go1.21/churn-full", "go1.25/goroutines-detail", "go1.22/spliced",
                                  "go1.27/pauses-long"])
def test_a_given_start_time_stamps_rows_alike_on_both_routes(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """With ``--start``, the columnar route stamps every row (lines that wait for their gc line
    take its time) exactly as the line-by-line anchorer does."""
    monkeypatch.setattr("gclens.pipeline.parse.DETECT_LINES", 3)
    monkeypatch.setattr("gclens.pipeline.columnar.BATCH_LINES", 7)
    path = ROOT / "sample_traces" / f"{name}.stderr"
    start = "2026-11-27T04:44:54.123Z"
    blocks = trace_from(stream(path, replace(make_options(engine="fast", start=start), block_bytes=2048)))
    lark = read_trace(path, engine="lark", start=start)
    stamped = [blocks.tables[t].column("ts") for t in ("gc", "pacer", "sched", "sched_g")]
    assert sum(len(c) - c.null_count for c in stamped) > 0 and all(c.null_count == 0 for c in stamped[:1])
    for table in lark.tables:
        assert blocks.tables[table].equals(lark.tables[table]), table


def _same(a: Any, b: Any) -> bool:
    """Equality where NaN equals NaN (FLOAT accepts NaN), through rows and tuples."""
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


def _reference(family: str, text: str) -> Any:
    try:
        return parse_line(family, text)
    except LineError as exc:
        return ("reject", exc.reason, exc.column)


def _fast(engine: FastEngine, family: str, text: str) -> Any:
    result = engine.parse(family, text)
    return _reference(family, text) if result is None else result


@cache
def _sentences(family: str) -> st.SearchStrategy[str]:
    """Random sentences of a grammar: rules expanded at random, terminals drawn from their regexes."""
    parser = _tree_parser(family)
    rules: dict[str, list[list[Any]]] = {}
    for rule in parser.rules:
        rules.setdefault(rule.origin.name, []).append(rule.expansion)
    terminals = {t.name: _terminal_strategy(t.pattern.to_regexp()) for t in parser.terminals}

    @st.composite
    def sentence(draw: st.DrawFn, symbol: str = "start", depth: int = 0) -> str:
        options = rules[symbol]
        if depth > 12:  # deep recursion (repeated list items): take the shortest way out
            options = [min(options, key=len)]
        expansion = draw(st.sampled_from(options))
        out = []
        for sym in expansion:
            out.append(draw(terminals[sym.name]) if sym.is_term else draw(sentence(sym.name, depth + 1)))
        return "".join(out)

    return sentence()


def _terminal_strategy(pattern: str) -> st.SearchStrategy[str]:
    if "(?=" in pattern:  # free text up to a lookahead (wait reasons): plain words stand in for it
        return st.from_regex(r"[a-z][a-z ]{0,10}[a-z]", fullmatch=True)
    if pattern == ".+":
        return st.from_regex(r"[ -~]{1,20}", fullmatch=True)
    return st.from_regex(pattern, fullmatch=True)


_DIGIT_RUN = re.compile(r"[0-9]+")
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("family", sorted(FAMILIES))
@FUZZ
@given(data=st.data())
def test_generated_sentences_parse_identically(family: str, data: st.DataObject) -> None:
    text = data.draw(_sentences(family))
    engine = FastEngine()
    assert _same(_fast(engine, family, text), _reference(family, text))
    assert _same(_fast(engine, family, text), _reference(family, text))  # now from its template


@pytest.mark.parametrize("family", sorted(FAMILIES))
@FUZZ
@given(data=st.data())
def test_changing_digits_after_learning_a_shape_never_changes_the_verdict(family: str, data: st.DataObject) -> None:
    text = data.draw(_sentences(family))
    engine = FastEngine()
    engine.parse(family, text)  # learn the shape
    digits = st.from_regex(r"[0-9]{1,6}", fullmatch=True)
    changed = _DIGIT_RUN.sub(lambda m: data.draw(digits) if data.draw(st.booleans()) else m.group(), text)
    assert _same(_fast(engine, family, changed), _reference(family, changed))


@pytest.mark.parametrize("family", sorted(f for f in FAMILIES if f != "events"))  # events: line by line
@FUZZ
@given(data=st.data())
def test_generated_sentences_parsed_as_columns_give_the_reference_rows(family: str, data: st.DataObject) -> None:
    """Grammar sentences, and copies with their digits changed, parsed together through the
    columnar plans: every row a plan serves equals Lark's row for that line, and fits its
    columns; what no plan serves is left to the line-by-line path."""
    digits = st.from_regex(r"[0-9]{1,6}", fullmatch=True)
    texts = []
    for text in data.draw(st.lists(_sentences(family), min_size=1, max_size=6)):
        texts += [text, _DIGIT_RUN.sub(lambda m: data.draw(digits) if data.draw(st.booleans()) else m.group(), text)]
    positions = pl.Series("_seq", range(len(texts)), dtype=pl.Int64)
    parsed = parse_column(FastEngine(), pl.Series(texts, dtype=pl.String), positions)
    served = 0
    for table, frame in parsed.frames:
        schema = polars_types(table)
        for row in frame.to_dicts():
            reference = _reference(family, texts[row["_seq"]])
            assert isinstance(reference, tuple) and reference[0] == table, texts[row["_seq"]]
            assert out_of_range(*reference) is None
            assert all(_same(value, row[key]) for key, value in reference[1].items() if key in schema), \
                (texts[row["_seq"]], {k: (v, row[k]) for k, v in reference[1].items() if k in schema})
            served += 1
    assert served + len(parsed.leftover) == len(texts)


def test_g_lines_of_any_wait_reason_and_missing_ids_share_one_plan_and_give_larks_rows() -> None:
    """A G line's wait reason and an ``m=nil`` hold no digit: as literal text each would make a
    plan of its own, and Polars pays per plan per batch. Captured like numbers, every reason and
    id form below is served by one plan per line layout, each row equal to Lark's."""
    reasons = ["chan receive", "GC worker (idle)", "force gc (idle)", "sync.Mutex.Lock", "select", "sleep",
               "GC sweep wait", "sync.WaitGroup.Wait", "finalizer wait", "IO wait"]
    ids = ["nil", "-1", "3", "12"]
    texts = [f"  G{n}: status={n % 5}({reason}) m={ids[n % 4]} lockedm={ids[(n // 4) % 4]}"
             for n, reason in enumerate(reasons * 4, start=1)]
    engine = FastEngine()
    positions = pl.Series("_seq", range(len(texts)), dtype=pl.Int64)
    parsed = parse_column(engine, pl.Series(texts, dtype=pl.String).str.strip_chars_start(), positions)
    assert parsed.leftover.len() == 0
    assert len({id(plan) for plan in engine.plans.values() if plan is not None}) == 1
    (table, frame), = parsed.frames
    for row in frame.to_dicts():
        reference = _reference("sched", texts[row["_seq"]].strip())
        assert isinstance(reference, tuple) and reference[0] == table == "sched_g"
        assert all(_same(value, row[key]) for key, value in reference[1].items() if key in row), texts[row["_seq"]]


def test_templates_serve_almost_every_line_of_a_real_trace() -> None:
    engine = FastEngine()
    from gclens.read.classify import classify

    lines = (ROOT / "sample_traces" / "go1.25" / "churn-full.stderr").read_text().splitlines()
    hits = [(h.family, line[h.start:]) for line in lines if (h := classify(line))]
    results = [_fast(engine, family, text) for family, text in hits]
    assert all(_same(r, _reference(f, t)) for r, (f, t) in zip(results, hits, strict=True))
    assert engine.hits >= 0.9 * len(hits)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.none() | st.text(alphabet=st.sampled_from("0123456789 .:@-é\x00ab"), max_size=12), max_size=20))
def test_shapes_replace_each_digit_run_by_one_zero_as_the_regex_does(texts: list[str | None]) -> None:
    series = pl.Series(texts, dtype=pl.String)
    expected = series.str.replace_all("[0-9]+", "0").to_list()
    assert line_shapes(series).to_list() == expected
    assert line_shapes(series, step=3).to_list() == expected  # a few texts at a time
