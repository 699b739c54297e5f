"""gclens.dataset: fleet ingest into a hive-partitioned Parquet dataset, and parse_lines."""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from envelope_variants import wrap

import gclens
from conftest import SAMPLES
from gclens import InputError, OutputError, UsageError
from gclens.pipeline.reader import make_options
from gclens.store.dataset import MANIFEST, IngestResult, ingest, open_table, parse_lines, read_manifest

CHURN = SAMPLES / "go1.25" / "churn-full.stderr"
DETAIL = SAMPLES / "go1.25" / "goroutines-detail.stderr"
MIXED = [SAMPLES / "go1.25" / "churn-full.stderr", SAMPLES / "go1.21" / "memlimit-scav.stderr",
         SAMPLES / "go1.25" / "goroutines-detail.stderr", SAMPLES / "go1.19" / "crash-deadlock.stderr",
         SAMPLES / "go1.27" / "spliced.stderr", SAMPLES / "go1.25" / "churn-gctrace2.stderr"]
MTIME = datetime(2026, 3, 4, 12, 0, tzinfo=UTC).timestamp()


def _copy(src: Path, dst: Path, *, mtime: float = MTIME) -> Path:
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dst)
    os.utime(dst, (mtime, mtime))
    return dst


def _rows(root: Path, table: str, drop: tuple[str, ...] = ("ingest_id",)) -> list[dict[str, Any]]:
    """A table's rows, sorted on every non-list column, without the columns in drop."""
    data = open_table(root, table).to_table()
    data = data.drop_columns([c for c in drop if c in data.column_names])
    keys = [(f.name, "ascending") for f in data.schema if not pa.types.is_list(f.type)]
    return data.sort_by(keys).to_pylist()


def _parts(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.parquet") if p.name != MANIFEST)


# --------------------------------------------------------------------------------------------------
# Layout, partitions, provenance


def test_partitions_and_provenance(tmp_path: Path) -> None:
    raw, truth = CHURN.read_text(), json.loads(CHURN.with_suffix(".truth.json").read_text())
    logs = tmp_path / "logs"
    enveloped = logs / "node1-app.log"
    enveloped.parent.mkdir()
    enveloped.write_text(wrap(raw, truth, "syslog-iso"))
    plain = _copy(CHURN, logs / "web-7" / "app.log")
    root = tmp_path / "ds"
    first = ingest([enveloped], root, labels={"cluster": "eu1"})
    second = ingest([plain], root, labels={"cluster": "eu1", "host": "web-7", "pod": "api-5d9"})
    assert first.new == (str(enveloped),) and second.new == (str(plain),)

    run_day = datetime.fromtimestamp(truth["start_unix_ns"] / 1e9, UTC).date().isoformat()
    dirs = {p.parent.relative_to(root).as_posix() for p in _parts(root / "gc")}
    assert dirs == {f"gc/host=node1/date={run_day}", "gc/host=web-7/date=2026-03-04"}  # no ts: file mtime's day
    gc = open_table(root, "gc").to_table()
    assert gc.schema.field("ts").type == pa.timestamp("us", tz="UTC")  # Parquet: µs, as every engine reads
    assert gc.schema.field("date").type == pa.date32()
    by_host = {h: gc.filter(pc.equal(gc["host"], h)) for h in ("node1", "web-7")}
    node1 = by_host["node1"]
    assert node1.num_rows == by_host["web-7"].num_rows == gclens.read_trace(str(CHURN)).gc.height
    assert node1["ts"].null_count == 0 and by_host["web-7"]["ts"].null_count == by_host["web-7"].num_rows
    assert set(node1["source"].to_pylist()) == {str(enveloped)}
    assert set(node1["ingest_id"].to_pylist()) == {first.ingest_id}
    assert set(gc["cluster"].to_pylist()) == {"eu1"}
    assert set(gc["pod"].to_pylist()) == {None, "api-5d9"}  # the first ingest had no pod label
    # tables without envelope columns follow the host of their file's rows
    runs = open_table(root, "runs").to_table()
    assert sorted(runs["host"].to_pylist()) == ["node1", "web-7"]
    sources = open_table(root, "sources").to_table()
    assert dict(zip(sources["source"].to_pylist(), sources["host"].to_pylist(), strict=True)) == {
        str(enveloped): "node1", str(plain): "web-7"}
    schema = pq.read_schema(_parts(root / "gc")[0])
    assert schema.metadata[b"gclens.schema_version"] == gclens.SCHEMA_VERSION.encode()
    assert json.loads(schema.metadata[b"gclens.partition_by"]) == ["host", "date"]


def test_date_comes_from_ts_across_midnight(tmp_path: Path) -> None:
    path = _copy(CHURN, tmp_path / "app.log")
    root = tmp_path / "ds"
    ingest([path], root, partition_by=("date",), options=make_options(start="2026-11-27T23:59:58Z"))
    days = {p.parent.name for p in _parts(root / "gc")}
    assert days == {"date=2026-11-27", "date=2026-11-28"}
    gc = open_table(root, "gc").to_table()
    for row in gc.select(["ts", "date"]).to_pylist():
        assert row["ts"].astimezone(UTC).date() == row["date"]
    assert "host" in gc.column_names  # not a partition here: the envelope column stays in the files


def test_every_table_has_a_schema_even_when_empty(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    ingest([_copy(CHURN, tmp_path / "a.log")], root)
    for name in gclens.TABLE_NAMES:
        table = open_table(root, name).to_table()
        assert {"source", "ingest_id", "host", "date"} <= set(table.column_names), name
    assert open_table(root, "events").to_table().num_rows == 0


# --------------------------------------------------------------------------------------------------
# Idempotence, growth, rotation


def test_reingest_adds_nothing(tmp_path: Path) -> None:
    files = [_copy(p, tmp_path / "logs" / f"{i}.log") for i, p in enumerate(MIXED)]
    root = tmp_path / "ds"
    first = ingest(files, root)
    before = (_parts(root), read_manifest(root).num_rows, _rows(root, "gc"))
    again = ingest([*files, str(tmp_path / "logs" / "*.log")], root)
    assert again.new == again.resumed == () and len(again.skipped) == 2 * len(files)
    assert sum(again.rows.values()) == 0 and again.parts == ()
    assert (_parts(root), read_manifest(root).num_rows, _rows(root, "gc")) == before
    assert len(first.new) == len(files) == before[1]


def test_grown_file_adds_only_new_lines(tmp_path: Path) -> None:
    lines = CHURN.read_text().splitlines(keepends=True)
    cut = next(i for i in range(len(lines) // 2, len(lines)) if lines[i].startswith("gc "))  # a cycle's end
    log = tmp_path / "app.log"
    log.write_text("".join(lines[:cut + 1]))
    root, whole = tmp_path / "ds", tmp_path / "whole"
    ingest([log], root)
    with log.open("a") as fh:
        fh.write("".join(lines[cut + 1:]))
    grown = ingest([log], root)
    assert grown.resumed == (str(log),) and grown.lines == len(lines) - cut - 1
    ingest([_copy(log, tmp_path / "w" / "app.log")], whole)

    def same(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [{**r, "source": "x", "date": None} for r in rows]  # the copy has another path and mtime

    for table in ("gc", "pacer", "scav", "sched"):
        assert same(_rows(root, table)) == same(_rows(whole, table)), table
    manifest = read_manifest(root).to_pylist()
    assert [m["offset"] for m in manifest] == [0, manifest[0]["bytes"]]
    assert manifest[1]["lines_ingested"] == len(lines) and manifest[1]["bytes_ingested"] == log.stat().st_size
    runs = _rows(root, "runs")
    assert [r["run_id"] for r in runs] == [0, 0]  # the appended lines continue the run
    assert "resumed after line" in runs[1]["cut_reason"] and "same run" in runs[1]["cut_reason"]


def test_restart_in_appended_lines_is_a_new_run(tmp_path: Path) -> None:
    log = _copy(CHURN, tmp_path / "app.log")
    root = tmp_path / "ds"
    ingest([log], root)
    with log.open("a") as fh:
        fh.write(CHURN.read_text())  # the program ran again: gc numbers restart
    ingest([log], root)
    runs = _rows(root, "runs")
    assert [r["run_id"] for r in runs] == [0, 1]
    assert "new run" in runs[1]["cut_reason"]
    assert {r["run_id"] for r in _rows(root, "gc")} == {0, 1}


def test_unterminated_last_line_waits_for_its_end(tmp_path: Path) -> None:
    text = CHURN.read_text()
    last_gc = text.rindex("\ngc ") + 1
    log = tmp_path / "app.log"
    log.write_text(text[:last_gc + 20])  # a writer in the middle of a gc line
    root = tmp_path / "ds"
    ingest([log], root)
    assert read_manifest(root)["pending_bytes"].to_pylist() == [20]
    assert ingest([log], root).skipped == (str(log),)  # unchanged: the partial line still waits
    log.write_text(text)
    ingest([log], root)
    assert len(_rows(root, "gc")) == gclens.read_trace(str(CHURN)).gc.height
    assert _rows(root, "rejects") == []


def test_complete_ingests_an_unterminated_last_line(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    log.write_text(CHURN.read_text().rstrip("\n"))
    root = tmp_path / "ds"
    ingest([log], root, complete=True)
    assert read_manifest(root)["pending_bytes"].to_pylist() == [0]
    assert len(_rows(root, "gc")) == gclens.read_trace(str(CHURN)).gc.height


def test_rotation(tmp_path: Path) -> None:
    log = _copy(CHURN, tmp_path / "app.log")
    root = tmp_path / "ds"
    ingest([log], root)
    log.rename(tmp_path / "app.log.1")
    _copy(DETAIL, log)  # new content under the old name
    result = ingest([str(tmp_path / "app.log*")], root)
    assert result.skipped == (str(tmp_path / "app.log.1"),) and result.new == (str(log),)
    # later logrotate compresses the old file: still the same log
    old = tmp_path / "app.log.1"
    (tmp_path / "app.log.2.gz").write_bytes(gzip.compress(old.read_bytes()))
    old.unlink()
    assert ingest([str(tmp_path / "app.log*")], root).skipped == (str(tmp_path / "app.log.2.gz"), str(log))
    assert len(_rows(root, "sources")) == 2


def test_compressed_file_that_grew_resumes(tmp_path: Path) -> None:
    half = CHURN.read_bytes()[: CHURN.read_bytes().index(b"\ngc 30 ") + 1]
    gz = tmp_path / "app.log.gz"
    gz.write_bytes(gzip.compress(half))
    root = tmp_path / "ds"
    ingest([gz], root)
    gz.write_bytes(gzip.compress(half) + gzip.compress(CHURN.read_bytes()[len(half):]))  # a member appended
    result = ingest([gz], root)
    assert result.resumed == (str(gz),)
    assert len(_rows(root, "gc")) == gclens.read_trace(str(CHURN)).gc.height
    assert read_manifest(root)["compression"].to_pylist() == ["gzip", "gzip"]


# --------------------------------------------------------------------------------------------------
# Readers and types


def test_pyarrow_dataset_reads_it_with_types(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    ingest([_copy(p, tmp_path / f"{i}.log") for i, p in enumerate(MIXED)], root, labels={"host": "h1"})
    plain = ds.dataset(root / "sched", format="parquet", partitioning="hive").to_table()  # no gclens needed
    assert plain.schema.field("local_runqueues").type == pa.list_(pa.int64())
    assert plain.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert set(plain["host"].to_pylist()) == {"h1"}
    sched = open_table(root, "sched").to_table()
    want = pa.concat_tables([gclens.read_trace(str(p)).arrow("sched") for p in MIXED])
    assert sched.num_rows == want.num_rows
    queues = [sorted(map(str, t["local_runqueues"].to_pylist())) for t in (sched, want)]
    assert queues[0] == queues[1]


@pytest.mark.skipif(importlib.util.find_spec("duckdb") is None, reason="duckdb not installed (pip install duckdb)")
def test_duckdb_reads_it_with_types(tmp_path: Path) -> None:
    import duckdb

    root = tmp_path / "ds"
    ingest([_copy(p, tmp_path / f"{i}.log") for i, p in enumerate(MIXED)], root, labels={"cluster": "eu1"},
           options=make_options(start="2026-11-27T12:00:00Z"))
    con = duckdb.connect()
    scan = f"read_parquet('{root}/sched/**/*.parquet', hive_partitioning=true, union_by_name=true)"
    types = dict(con.sql(f"select column_name, column_type from (describe select * from {scan})").fetchall())
    assert types["ts"] == "TIMESTAMP WITH TIME ZONE" or types["ts"].startswith("TIMESTAMP")
    assert types["local_runqueues"] == "BIGINT[]" and types["date"] == "DATE" and types["host"] == "VARCHAR"
    host, day, n = con.sql(f"select host, date, count(*) from {scan} group by all").fetchall()[0]
    assert host is None and day == date(2026, 11, 27) and n == sum(
        gclens.read_trace(str(p)).sched.height for p in MIXED)
    ts = con.sql(f"select min(epoch_ns(ts)) from read_parquet('{root}/gc/**/*.parquet', hive_partitioning=true)")
    assert ts.fetchall()[0][0] >= datetime(2026, 11, 27, 12, tzinfo=UTC).timestamp() * 1e9


# --------------------------------------------------------------------------------------------------
# Parallel, atomicity


def test_parallel_equals_serial(tmp_path: Path) -> None:
    files = [_copy(p, tmp_path / "logs" / f"host{i}" / "app.log") for i, p in enumerate(MIXED)]
    serial, parallel = tmp_path / "serial", tmp_path / "parallel"
    a = ingest(files, serial, labels={"cluster": "eu1"})
    b = ingest(files, parallel, labels={"cluster": "eu1"}, processes=2)
    assert a.rows == b.rows and a.lines == b.lines and a.new == b.new
    for name in gclens.TABLE_NAMES:
        assert _rows(serial, name) == _rows(parallel, name), name
    drop = ["ingest_id", "ingested_at"]
    assert read_manifest(serial).drop_columns(drop).equals(read_manifest(parallel).drop_columns(drop))


def test_interrupted_ingest_adds_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gclens.store.ingest_parse as parse

    root = tmp_path / "ds"
    ingest([_copy(CHURN, tmp_path / "first.log")], root)
    before = (_parts(root), read_manifest(root).to_pylist(), _rows(root, "gc"))
    calls = {"n": 0}
    real = parse._Parts.write

    def failing(self: Any, name: str, table: pa.Table) -> None:
        calls["n"] += 1
        if calls["n"] == 12:
            raise OSError(28, "No space left on device")
        real(self, name, table)

    monkeypatch.setattr(parse._Parts, "write", failing)
    with pytest.raises(OutputError, match="nothing was added"):
        ingest([_copy(p, tmp_path / f"{i}.log") for i, p in enumerate(MIXED)], root)
    assert calls["n"] == 12
    assert (_parts(root), read_manifest(root).to_pylist(), _rows(root, "gc")) == before
    assert not list(root.glob(".ingest-*"))


def test_ingest_interrupted_while_committing_is_completed_next_time(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    import gclens.store.dataset as dataset

    files = [_copy(p, tmp_path / f"{i}.log") for i, p in enumerate(MIXED)]
    root, clean = tmp_path / "ds", tmp_path / "clean"
    ingest(files, clean)
    calls = {"n": 0}
    real = os.replace

    def crash(src: Any, dst: Any) -> None:
        calls["n"] += 1
        if calls["n"] == 6:  # after the commit marker: some parts moved, manifest not yet written
            raise OSError(5, "Input/output error")
        real(src, dst)

    monkeypatch.setattr(dataset.os, "replace", crash)
    with pytest.raises(OutputError, match="the next ingest completes it"):
        ingest(files, root)
    monkeypatch.setattr(dataset.os, "replace", real)
    assert not root.joinpath(MANIFEST).exists() and list(root.glob(".ingest-*"))
    again = ingest(files, root)  # recovers the interrupted commit first, then finds nothing new
    assert len(again.skipped) == len(files) and not list(root.glob(".ingest-*"))
    for name in gclens.TABLE_NAMES:
        assert _rows(root, name) == _rows(clean, name), name


# --------------------------------------------------------------------------------------------------
# parse_lines, errors


def test_parse_lines_equals_read_trace() -> None:
    for path in MIXED:
        lines = path.read_text().splitlines()
        got = parse_lines(pa.table({"line": lines}), source=str(path))
        want = gclens.read_trace(str(path))
        for name in gclens.TABLE_NAMES:
            assert got[name].equals(want.arrow(name)), (path, name)
            assert got[name].schema.metadata == want.arrow(name).schema.metadata


def test_parse_lines_orders_and_numbers_by_line_no() -> None:
    lines = DETAIL.read_text().splitlines()
    shuffled = pa.table({"line_no": [i + 100 for i in range(len(lines))][::-1], "line": lines[::-1]})
    got = parse_lines(shuffled.combine_chunks().to_batches()[0], source="x", labels={"pod": "p1"})
    want = gclens.read_trace(str(DETAIL))
    assert got["sched_g"]["line_no"].to_pylist() == [n + 99 for n in want.arrow("sched_g")["line_no"].to_pylist()]
    assert got["sched_g"].drop_columns(["line_no", "sched_line_no", "source", "pod"]).equals(
        want.arrow("sched_g").drop_columns(["line_no", "sched_line_no", "source"]))
    assert set(got["runs"]["pod"].to_pylist()) == {"p1"}
    with pytest.raises(UsageError, match="'line' column"):
        parse_lines(pa.table({"text": ["x"]}), source="x")


def test_bad_arguments_are_typed_errors(tmp_path: Path) -> None:
    log = _copy(CHURN, tmp_path / "a.log")
    root = tmp_path / "ds"
    with pytest.raises(InputError, match="no such file"):
        ingest([tmp_path / "missing.log"], root)
    with pytest.raises(InputError, match="no file matches"):
        ingest([str(tmp_path / "*.nothing")], root)
    with pytest.raises(UsageError, match="ingest reads files"):
        ingest(["-"], root)
    with pytest.raises(UsageError, match="label"):
        ingest([log], root, labels={"run_id": "7"})
    with pytest.raises(UsageError, match="label"):
        ingest([log], root, labels={"bad name": "x"})
    with pytest.raises(UsageError, match="cannot partition by"):
        ingest([log], root, partition_by=("gc_num",))
    with pytest.raises(UsageError, match="processes"):
        ingest([log], root, processes=0)
    ingest([log], root)
    with pytest.raises(UsageError, match="partitioned by host, date"):
        ingest([log], root, partition_by=("date",))
    (tmp_path / "file").write_text("")
    with pytest.raises(OutputError, match="not a directory"):
        ingest([log], tmp_path / "file")
    gz = tmp_path / "cut.log.gz"
    gz.write_bytes(gzip.compress(CHURN.read_bytes())[:-30])
    cut = ingest([gz], root)  # recorded in sources and skipped (tests/test_portable_parquet.py)
    assert [(path, "cut.log.gz" in error) for path, error in cut.failed] == [(str(gz), True)]
    assert read_manifest(root).num_rows == 1


def test_result_type(tmp_path: Path) -> None:
    result = ingest([_copy(CHURN, tmp_path / "a.log")], tmp_path / "ds")
    assert isinstance(result, IngestResult) and result.rows["gc"] == gclens.read_trace(str(CHURN)).gc.height
    assert all(p.exists() and p.is_relative_to(tmp_path / "ds") for p in result.parts)


def test_labels_per_file(tmp_path: Path) -> None:
    files = [_copy(CHURN, tmp_path / "a" / "app.log"), _copy(DETAIL, tmp_path / "b" / "app.log")]
    root = tmp_path / "ds"
    ingest(files, root, partition_by=("team", "date"),
           labels=lambda p: {"team": p.parent.name, **({"tier": "gold"} if p.parent.name == "a" else {})})
    assert {p.parent.parent.name for p in _parts(root / "gc")} == {"team=a", "team=b"}
    runs = {r["team"]: r["tier"] for r in _rows(root, "runs")}
    assert runs == {"a": "gold", "b": None}


def test_cli_dataset_ingest_is_idempotent_and_checks_its_flags(tmp_path: Path) -> None:
    import subprocess
    import sys

    traces = str(Path(__file__).parent.parent / "sample_traces" / "go1.21" / "*.stderr")
    dataset = tmp_path / "ds"
    base = [sys.executable, "-m", "gclens", "parse", traces, "--dataset", str(dataset), "--label", "cluster=eu1"]
    first = subprocess.run([*base, "--jobs", "2"], capture_output=True, text=True, timeout=300)
    assert first.returncode == 0, first.stderr
    assert " 0 unchanged" in first.stderr and "rows: gc " in first.stderr
    again = subprocess.run(base, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0 and "0 new, 0 grown" in again.stderr and "0 lines added" in again.stderr
    for bad in (["--label", "nokey"], ["-o", str(tmp_path / "out")], ["--jobs", "0"]):
        run = subprocess.run([*base, *bad], capture_output=True, text=True, timeout=300)
        assert run.returncode == 2 and run.stderr.startswith("gclens: error:"), bad
