"""Streaming: the tables do not depend on where the input is cut into chunks.

Every stage carries state across chunks (the splice guard's neighbours, runs, lines waiting for
their gc line, rows waiting for their run's anchor); cutting after every few lines must give
exactly the rows of one big chunk.
"""

from __future__ import annotations

import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from envelope_variants import wrap

from conftest import SAMPLES
from gclens.pipeline.stream import Options, stream
from gclens.read.envelopes import Clock
from gclens.store.schemas import SCHEMAS, TABLE_NAMES

FILES = ["go1.27/pauses-long", "go1.24/spliced", "go1.22/spliced", "go1.19/goroutines-detail",
         "go1.25/churn-gctrace2", "go1.22/crash-deadlock"]


def _rows(batch: list[dict[str, Any]] | pa.Table) -> list[dict[str, Any]]:
    return batch.to_pylist() if isinstance(batch, pa.Table) else batch


def _tables(data: bytes, chunk_lines: int, engine: str = "fast") -> dict[str, pa.Table]:
    """Cut every ``chunk_lines`` lines (line by line), or every ``chunk_lines`` * 64 bytes (plain logs)."""
    rows: dict[str, list[dict[str, object]]] = {name: [] for name in TABLE_NAMES}
    options = Options(clock=Clock(year=2026), chunk_lines=chunk_lines, block_bytes=min(chunk_lines * 64, 1 << 30),
                      engine=engine)
    for name, batch in stream(io.BytesIO(data), options):
        rows[name].extend(_rows(batch))
    return {name: pa.Table.from_pylist(sorted(r, key=lambda x: (x.get("line_no") or 0, str(x))),
                                       schema=SCHEMAS[name]) for name, r in rows.items()}


@pytest.mark.parametrize("name", FILES)
@pytest.mark.parametrize("chunk", [1, 7, 250])
@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_chunking_does_not_change_the_tables(name: str, chunk: int, engine: str) -> None:
    data = (SAMPLES / f"{name}.stderr").read_bytes()
    if "pauses" in name:  # with envelope times, so that anchoring has rows waiting across chunks
        truth = json.loads((SAMPLES / f"{name}.truth.json").read_text())
        data = wrap(data.decode(), truth, "cri").encode()
    whole, cut = _tables(data, 10**9, engine), _tables(data, chunk, engine)
    for table in TABLE_NAMES:
        assert cut[table].equals(whole[table]), table


def test_memory_does_not_grow_with_the_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline holds a bounded number of rows: measured as rows alive between batches.
    Blocks already read are joined up to a parse batch, and ready batches up to a chunk: with
    both bounds at 2,000 lines, no batch may come near the input's 50 copies of a trace."""
    monkeypatch.setattr("gclens.pipeline.columnar.BATCH_LINES", 2_000)
    monkeypatch.setattr("gclens.pipeline.columnar.COALESCED_ROWS", 2_000)
    lines = (SAMPLES / "go1.21/churn-full.stderr").read_bytes()
    data = lines * 50
    waiting = []
    options = Options(chunk_lines=500, block_bytes=64 << 10)
    gen = stream(io.BytesIO(data), options)
    for count, (_, batch) in enumerate(gen):
        waiting.append(len(batch))
        if count > 200:
            break
    assert max(waiting) < 5_000  # each batch is about a chunk (or block), whatever the input size


@pytest.mark.parametrize("envelope", [None, "cri"])
def test_restarts_hand_their_runs_rows_over_as_they_end(envelope: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash-looping service: 40 lifetimes in one log. Each run's row leaves the pipeline once
    no line can join it any more, so memory does not grow with the number of restarts; the runs
    table is the same as from one big chunk. (Blocks are parsed one by one here, not joined as
    they would be when the reader is ahead: then a 16 KiB block is a chunk.) In a CRI log each
    run's rows wait for its anchor, which must be decided when the run is handed over."""
    monkeypatch.setattr("gclens.read.readahead.Prefetched.ready", lambda self: False)
    data = (SAMPLES / "go1.25" / "churn-full.stderr").read_bytes()
    gc_lines = len(re.findall(rb"(?m)^gc [0-9]+ @", data))  # each lifetime's, counted in the raw bytes
    if envelope:
        truth = json.loads((SAMPLES / "go1.25" / "churn-full.truth.json").read_text())
        data = wrap(data.decode(), truth, envelope).encode()
    data *= 40
    batches = list(stream(io.BytesIO(data), Options(chunk_lines=200, block_bytes=16 << 10)))
    runs_batches = [i for i, (name, rows) in enumerate(batches) if name == "runs" and rows]
    assert len(runs_batches) >= 5 and runs_batches[0] < len(batches) // 2  # handed over early, not at the end
    early = [row for name, rows in batches if name == "runs" for row in rows]
    assert [r["run_id"] for r in early] == list(range(40))
    assert early == [row for name, rows in stream(io.BytesIO(data), Options(chunk_lines=10**6))
                     if name == "runs" for row in rows]
    if envelope:  # every lifetime anchored on its own lines, and each gc row stamped before its run is gone
        assert all(r["start_ts"] is not None and r["anchor"].startswith("median of") for r in early)
        gc = [row for name, rows in batches if name == "gc" for row in _rows(rows)]
        assert len(gc) == 40 * gc_lines and all(row["ts"] is not None for row in gc)


def test_read_ahead_keeps_order_raises_in_place_and_holds_at_most_its_limit() -> None:
    """The reader and parser threads hand items on through ``Prefetched``: in order, the worker's
    error raised where it happened, and never more than ``limit`` lines waiting (one item may
    always wait, however large)."""
    from gclens.read.readahead import Prefetched

    loads: list[int] = []

    def items() -> Iterator[list[int]]:
        for n in (3, 5, 50, 2, 2, 2):
            yield list(range(n))
        raise ValueError("truncated input")

    ahead = Prefetched(items(), "test", limit=6, weight=len)
    seen = []
    with pytest.raises(ValueError, match="truncated input"):
        for item in ahead:
            time.sleep(0.02)  # a slow consumer: the worker runs ahead up to the limit
            loads.append(ahead.load)
            seen.append(len(item))
    assert seen == [3, 5, 50, 2, 2, 2]
    assert 50 in loads and all(load <= 6 or load == 50 for load in loads)  # 50: the large item, alone


def test_read_ahead_stops_when_the_consumer_does() -> None:
    from gclens.read.readahead import Prefetched

    produced = []

    def items() -> Iterator[int]:
        for i in range(1000):
            produced.append(i)
            yield i

    for item in Prefetched(items(), "test", limit=2):
        if item == 3:
            break
    time.sleep(0.3)
    assert len(produced) < 10  # the worker stopped at its next item, not at the end


def test_parquet_row_groups_gather_the_small_batches_of_a_stream(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """The pipeline hands rows over a few at a time; each Parquet file still gets row groups of
    ROW_GROUP_ROWS rows, unless all tables together hold ROW_GROUP_BYTES: then the largest is
    written. Whatever the grouping, the files hold the same rows in the same order."""
    import pyarrow.parquet as pq

    from gclens.store import output as _output

    monkeypatch.setattr("gclens.pipeline.columnar.BATCH_LINES", 200)
    monkeypatch.setattr("gclens.read.readahead.Prefetched.ready", lambda self: False)  # same batches every run
    data = (SAMPLES / "go1.21" / "churn-full.stderr").read_bytes() * 6
    options = Options(chunk_lines=50, block_bytes=8 << 10)
    batches: dict[str, int] = {}
    for name, rows in stream(io.BytesIO(data), options):
        batches[name] = batches.get(name, 0) + (len(rows) > 0)

    def written(limit_rows: int, limit_bytes: int) -> dict[str, pq.ParquetFile]:
        monkeypatch.setattr(_output, "ROW_GROUP_ROWS", limit_rows)
        monkeypatch.setattr(_output, "ROW_GROUP_BYTES", limit_bytes)
        out = tmp_path / f"out-{limit_rows}-{limit_bytes}"
        _output.convert(io.BytesIO(data), out, options=options)
        return {name: pq.ParquetFile(out / f"{name}.parquet") for name in TABLE_NAMES}

    default = written(_output.ROW_GROUP_ROWS, _output.ROW_GROUP_BYTES)
    by_rows = written(100, 1 << 30)
    by_bytes = written(1 << 30, 1)
    assert max(batches.values()) > 10  # many small hand-overs
    for name in TABLE_NAMES:
        rows = default[name].metadata.num_rows
        assert default[name].metadata.num_row_groups == 1, name  # each table is far below 64k rows
        sizes = [by_rows[name].metadata.row_group(i).num_rows for i in range(by_rows[name].num_row_groups)]
        assert all(size >= 100 for size in sizes[:-1]) and sum(sizes) == rows, name
        assert by_bytes[name].metadata.num_row_groups == max(1, batches.get(name, 0)), name
        assert by_rows[name].read().equals(default[name].read()), name
        assert by_bytes[name].read().equals(default[name].read()), name
