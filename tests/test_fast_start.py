"""What makes a small file's parse fast (issue #18, "Fast start"), on real Go output.

`gclens parse small.log -o out/` of known line shapes imports neither Lark (the templates come
from the on-disk store) nor pandas or ``pyarrow.compute`` (a small source goes line by line,
small batches leave the stages as rows, and rows become Parquet through pyarrow's buffers);
Polars it does import, for the one set of later stages every source goes through (``_stages``).
None of that changes a table: the files equal those written with an empty store, with a
damaged store, and through the columnar route. Speed itself is measured by
``benchmarks/start.py``, never here.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from envelope_variants import wrap

import gclens
from conftest import ROOT, SAMPLES
from gclens.grammar.loader import FAMILIES
from gclens.grammar.template_store import TemplateStore, _decode, encode
from gclens.grammar.templates import FastEngine
from gclens.read.classify import classify
from gclens.store.rows_arrow import _laid_out, _NotPlain, stored_table
from gclens.store.schemas import SCHEMAS, python_rows, rows_to_arrow, storage_schema, storage_table

HEAVY = ("lark", "pandas", "pyarrow.compute", "matplotlib", "jinja2")
_PARSE = f"""
import json, sys
from gclens.cli import main
code = main(["parse", sys.argv[1], "-o", sys.argv[2]])
print(json.dumps({{"code": code, "heavy": [m for m in {list(HEAVY)!r} if m in sys.modules]}}))
"""


def _small(tmp_path: Path, name: str = "go1.25/churn-full", lines: int = 50) -> Path:
    """The first lines of a real run: gc, pacer, SCHED and scav lines (and a few others)."""
    path = tmp_path / "small.log"
    path.write_text("".join((SAMPLES / f"{name}.stderr").read_text().splitlines(keepends=True)[:lines]))
    return path


def _parse(src: Path, out: Path, cache: Path) -> list[str]:
    """`gclens parse src -o out` in a fresh interpreter with its cache in ``cache``: heavy modules it imported."""
    env = {**os.environ, "XDG_CACHE_HOME": str(cache), "PYTHONPATH": os.pathsep.join(
        filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-c", _PARSE, str(src), str(out)], env=env, capture_output=True,
                          text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["code"] == 0, done.stderr
    return result["heavy"]  # type: ignore[no-any-return]


def _tables(out: Path) -> dict[str, pa.Table]:
    """Every file written, with its schema (field and file metadata) as read back."""
    return {p.stem: pq.read_table(p) for p in sorted(out.glob("*.parquet"))}


def _store_file(cache: Path) -> Path:
    (path,) = (cache / "gclens").glob("templates-*.jsonl")
    return path


def test_known_shapes_parse_without_lark_or_pandas_and_give_the_same_files(tmp_path: Path) -> None:
    src, cache = _small(tmp_path), tmp_path / "cache"
    first = _parse(src, tmp_path / "first", cache)
    assert "lark" in first  # nothing kept yet: every shape is learnt from Lark
    assert _store_file(cache).read_text().count("\n") >= 4  # gc, pacer (3 kinds), SCHED, scav shapes
    second = _parse(src, tmp_path / "second", cache)
    assert second == []  # no Lark, pandas, pyarrow.compute, matplotlib or jinja2
    learnt, kept = _tables(tmp_path / "first"), _tables(tmp_path / "second")
    assert set(kept) == set(SCHEMAS)
    assert sum(t.num_rows for t in kept.values()) > 45
    for name, table in kept.items():
        assert table.equals(learnt[name]) and table.schema.equals(learnt[name].schema, check_metadata=True), name
        assert _items(table.schema).equals(storage_schema(SCHEMAS[name]), check_metadata=True), name  # the contract


def _items(schema: pa.Schema) -> pa.Schema:
    """As written (Parquet names a list's items ``element``, Arrow ``item``: the same type to readers)."""
    return pa.schema([f.with_type(pa.list_(f.type.value_type)) if pa.types.is_list(f.type) else f for f in schema],
                     metadata=schema.metadata)


def test_a_damaged_store_is_ignored_relearnt_and_cleaned(tmp_path: Path) -> None:
    src, cache = _small(tmp_path), tmp_path / "cache"
    _parse(src, tmp_path / "clean", cache)
    store = _store_file(cache)
    lines = sorted(store.read_bytes().splitlines(keepends=True), key=lambda line: b'",1,1,0,0' not in line)
    flipped = lines[0].replace(b'",1,1,0,0', b'",3,3,0,0', 1)  # a slot moved: its checksum no longer holds
    assert flipped != lines[0]
    key, template = lines[1].rstrip(b"\n").partition(b" ")[2].split(b"\t")
    (family, shape), (slots, ops) = json.loads(key), json.loads(template)
    bad_program = encode(_recipe(family, shape, slots, [*ops, [0, None]]))  # checksum fine, two values left
    store.write_bytes(flipped + bad_program + b"garbage\n" + b"".join(lines[2:]) + lines[1][:20])
    heavy = _parse(src, tmp_path / "damaged", cache)
    assert "lark" in heavy  # the shapes of the bad lines were learnt again
    clean, damaged = _tables(tmp_path / "clean"), _tables(tmp_path / "damaged")
    for name in clean:
        assert damaged[name].equals(clean[name]), name
    final = store.read_bytes().splitlines(keepends=True)
    assert len(final) == len(lines)  # bad lines gone, their shapes relearnt
    assert all(_decode(line, FAMILIES) is not None for line in final)


def _recipe(family: str, shape: list[str], slots: list[Any], ops: list[Any]) -> Any:
    from gclens.grammar.template_store import Recipe

    return Recipe(family, tuple(shape), tuple(tuple(s) for s in slots), tuple(tuple(o) for o in ops))


def test_templates_from_the_store_give_the_rows_lark_gives(tmp_path: Path) -> None:
    """Every template of a scheddetail run and of a gctrace=2 run, kept and reloaded, serves its
    lines exactly as the template learnt from Lark in this process."""
    store = TemplateStore(tmp_path / "templates.jsonl", 4096)
    texts = [line for name in ("go1.27/goroutines-detail", "go1.25/churn-gctrace2-greentea", "go1.22/churn-full")
             for line in (SAMPLES / f"{name}.stderr").read_text().splitlines()[:400]]
    learning, fresh = FastEngine(store), FastEngine(None)
    hits = [(classify(t), t) for t in texts]
    lines = [(hit.family, t[hit.start:]) for hit, t in hits if hit is not None]
    learnt = [learning.parse(f, t) for f, t in lines]
    reloaded = FastEngine(TemplateStore(tmp_path / "templates.jsonl", 4096))
    assert reloaded.store is not None and reloaded.store.count >= 10
    assert [reloaded.parse(f, t) for f, t in lines] == learnt == [fresh.parse(f, t) for f, t in lines]
    assert sum(r is not None for r in learnt) > 0.9 * len(lines)


def test_a_small_source_gives_the_columnar_routes_tables(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fewer lines than envelope detection reads go line by line; the same lines forced through
    the columnar stages give the same tables."""
    path = SAMPLES / "go1.25" / "goroutines-detail.stderr"
    text = "".join(path.read_text().splitlines(keepends=True)[:150])
    small = gclens.read_trace(io.BytesIO(text.encode()))
    monkeypatch.setattr("gclens.pipeline.parse.DETECT_LINES", 3)
    columnar = gclens.read_trace(io.BytesIO(text.encode()))
    assert small.tables["sched_g"].num_rows > 0
    for name in SCHEMAS:
        assert small.tables[name].equals(columnar.tables[name]), name


@pytest.mark.parametrize("name, envelope", [("go1.27/goroutines-detail", None), ("go1.22/spliced", None),
                                            ("go1.25/churn-full", "cri"), ("go1.21/churn-full", "journald-json")])
def test_rows_laid_out_as_buffers_equal_the_polars_tables(name: str, envelope: str | None) -> None:
    """Every table of real runs (lists, nulls, NaN, rejects, collector timestamps with their
    nanoseconds) laid out without Polars equals the Polars-built table, in memory and in Parquet form."""
    raw = (SAMPLES / f"{name}.stderr").read_text()
    if envelope:
        raw = wrap(raw, json.loads((SAMPLES / f"{name}.truth.json").read_text()), envelope)
    trace = gclens.read_trace(io.BytesIO(raw.encode()), year=2026)
    for table in SCHEMAS:
        rows = python_rows(trace.arrow(table))
        expected = storage_table(rows_to_arrow(table, rows))
        laid_out = _laid_out(table, rows)  # raises if any value had to go the Polars way
        assert laid_out.equals(expected) and laid_out.schema.equals(expected.schema, check_metadata=True), table
        in_memory, reference = _laid_out(table, rows, stored=False), rows_to_arrow(table, rows)
        assert in_memory.equals(reference) and in_memory.schema.equals(reference.schema, check_metadata=True), table
    assert trace.tables["gc"].column("log_ts").null_count == (0 if envelope else trace.tables["gc"].num_rows)


def test_values_it_does_not_lay_out_go_the_polars_way() -> None:
    rows = [{"source": "a", "line_no": 1, "procs": True}, {"source": "b", "line_no": 2.0, "t_s": 1}]
    with pytest.raises(_NotPlain):
        _laid_out("gc", rows)
    assert stored_table("gc", rows).equals(storage_table(rows_to_arrow("gc", rows)))


@pytest.mark.parametrize("name, envelope", [("go1.25/goroutines-detail", None), ("go1.25/churn-full", "cri")])
def test_batches_handed_on_as_rows_give_the_arrow_tables(name: str, envelope: str | None,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Until ``pyarrow.compute`` is imported the stages hand small batches on as rows (times as
    ns integers): the tables equal those of batches handed on as Arrow, to the nanosecond."""
    text = (SAMPLES / f"{name}.stderr").read_text()
    data = wrap(text, json.loads((SAMPLES / f"{name}.truth.json").read_text()), envelope) if envelope else text
    options = {"year": 2026} if envelope else {"start": "2026-03-04T12:00:00.123456789Z"}
    as_arrow = gclens.read_trace(io.BytesIO(data.encode()), **options)
    monkeypatch.setattr("gclens.pipeline.stages.sys", SimpleNamespace(modules={}))
    as_rows = gclens.read_trace(io.BytesIO(data.encode()), **options)
    assert as_rows.gc["ts"].null_count() == 0
    for table in SCHEMAS:
        assert as_rows.tables[table].equals(as_arrow.tables[table]), table
