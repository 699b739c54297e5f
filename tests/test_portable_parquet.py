"""Parquet every engine reads (Spark, DuckDB, pandas), and datasets whose tables agree.

Issue #21: Spark refused nanosecond timestamps (PARQUET_TYPE_ILLEGAL: INT64 (TIMESTAMP(NANOS,true))),
a ``--label host=`` split a journald file's tables across two ``host=`` directories, ``-o`` made
0700 directories, and one unreadable file stopped a whole fleet ingest.
"""

from __future__ import annotations

import gzip
import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from envelope_variants import wrap

import gclens
import gclens.store.dataset
from conftest import SAMPLES
from gclens.store.dataset import MANIFEST, ingest, open_table
from gclens.store.schemas import TABLE_NAMES, python_rows

CHURN = SAMPLES / "go1.25" / "churn-full.stderr"
DETAIL = SAMPLES / "go1.25" / "goroutines-detail.stderr"
SCAN = SAMPLES / "go1.25" / "churn-gctrace2.stderr"
CRASH = SAMPLES / "go1.19" / "crash-deadlock.stderr"
SPLICED = SAMPLES / "go1.27" / "spliced.stderr"
ROOT = Path(__file__).resolve().parent.parent

needs_spark = [
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None, reason="pyspark not installed (test extra)"),
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="no java on PATH or JAVA_HOME (Spark needs a JRE >= 17)"),
]
needs_duckdb = pytest.mark.skipif(importlib.util.find_spec("duckdb") is None, reason="duckdb not installed")
needs_pandas = pytest.mark.skipif(importlib.util.find_spec("pandas") is None, reason="pandas not installed")


def _enveloped(src: Path, dst: Path, envelope: str) -> Path:
    """A real run in a collector's envelope (journald: host node1), as tests/envelope_variants builds it."""
    truth = json.loads(src.with_suffix(".truth.json").read_text())
    dst.parent.mkdir(parents=True, exist_ok=True)
    dst.write_text(wrap(src.read_text(), truth, envelope))
    return dst


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """``gclens parse -o`` of a journald log and a dataset of several real runs, with the truth."""
    tmp = tmp_path_factory.mktemp("portable")
    log = _enveloped(CHURN, tmp / "logs" / "app.journald.log", "journald-json")
    out = tmp / "out"
    done = subprocess.run([sys.executable, "-m", "gclens", "parse", str(log), "-o", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    files = [log, _enveloped(DETAIL, tmp / "logs" / "detail.log", "syslog-iso")]
    for src in (SCAN, CRASH, SPLICED):
        files.append(tmp / "logs" / f"{src.parent.name}-{src.name}")
        shutil.copyfile(src, files[-1])
    root = tmp / "ds"
    ingest(files, root, labels={"cluster": "eu1"})
    trace = gclens.read_trace(str(log))
    every = gclens.read_trace([str(f) for f in files])
    return {"out": out, "root": root, "trace": trace, "every": every}


def _truth(trace: gclens.Trace) -> dict[str, Any]:
    """gc 1's t_s and ts (µs) and the run's start_ts (µs), from the in-memory tables (ns)."""
    gc = trace.arrow("gc")
    first = python_rows(gc.slice(0, 1))[0]
    run = python_rows(trace.arrow("runs"))[0]
    assert first["gc_num"] == 1 and first["ts"] is not None and run["start_ts"] is not None
    return {"t_s": first["t_s"], "ts_us": first["ts"] // 1000, "start_us": run["start_ts"] // 1000,
            "log_ts_ns": first["log_ts"]}


def _dataset_tables(written: dict[str, Any]) -> list[str]:
    """Tables of the dataset that hold rows (a table without rows has only its _common_metadata)."""
    names = [n for n in TABLE_NAMES if written["every"].arrow(n).num_rows]
    assert len(names) >= 10, names  # the samples fill nearly every table
    return names


# --------------------------------------------------------------------------------------------------
# The files: microsecond timestamps, exact nanoseconds beside log_ts


def test_files_hold_microsecond_utc_timestamps(written: dict[str, Any]) -> None:
    for name in TABLE_NAMES:
        schema = pq.read_schema(written["out"] / f"{name}.parquet")
        assert schema.metadata[b"gclens.schema_version"] == b"2"
        times = {f.name: f.type for f in schema if pa.types.is_timestamp(f.type)}
        assert set(times.values()) <= {pa.timestamp("us", tz="UTC")}, name
        if "log_ts" in times:
            assert schema.field("log_ts_ns").type == pa.int64()
        parquet_type = pq.ParquetFile(written["out"] / f"{name}.parquet").schema
        for col in parquet_type:
            if col.name in times:
                logical = json.loads(col.logical_type.to_json())
                assert (logical["Type"], logical["isAdjustedToUTC"], logical["timeUnit"]) == (
                    "Timestamp", True, "microseconds"), (name, col.name)  # INT64 TIMESTAMP(MICROS,true)
    gc = pq.read_table(written["out"] / "gc.parquet")
    truth = _truth(written["trace"])
    assert gc["log_ts_ns"][0].as_py() == truth["log_ts_ns"]  # the collector's time, exact
    assert gc["ts"].cast(pa.int64())[0].as_py() == truth["ts_us"]
    # in memory, read_trace keeps nanoseconds (one schema; Parquet derives from it)
    assert written["trace"].arrow("gc").schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert open_table(written["root"], "gc").schema.field("ts").type == pa.timestamp("us", tz="UTC")


# --------------------------------------------------------------------------------------------------
# Spark, DuckDB and pandas read every table of a parse and of a dataset


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (SparkSession.builder.master("local[2]").appName("gclens-portable")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.session.timeZone", "UTC").getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@needs_spark[0]
@needs_spark[1]
@pytest.mark.filterwarnings("ignore::FutureWarning")
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_spark_reads_every_table(written: dict[str, Any], spark: Any) -> None:
    truth = _truth(written["trace"])
    for name in TABLE_NAMES:
        frame = spark.read.parquet(str(written["out"] / f"{name}.parquet"))
        assert frame.count() == written["trace"].arrow(name).num_rows, name
        types = dict(frame.dtypes)
        for col in ("ts", "log_ts", "start_ts"):
            if col in types:
                assert types[col] == "timestamp", (name, col)
    gc = spark.read.parquet(str(written["out"] / "gc.parquet"))
    row = gc.where("gc_num = 1").selectExpr("t_s", "unix_micros(ts) AS ts_us", "log_ts_ns").collect()[0]
    assert (row.t_s, row.ts_us, row.log_ts_ns) == (truth["t_s"], truth["ts_us"], truth["log_ts_ns"])
    start = spark.read.parquet(str(written["out"] / "runs.parquet")).selectExpr("unix_micros(start_ts) AS s")
    assert start.collect()[0].s == truth["start_us"]

    root = written["root"]
    for name in _dataset_tables(written):
        frame = spark.read.option("mergeSchema", "true").parquet(str(root / name))
        assert frame.count() == written["every"].arrow(name).num_rows, name
        types = dict(frame.dtypes)
        assert types["date"] == "date" and types["cluster"] == "string", name
        assert types.get("ts", "timestamp") == "timestamp" and types.get("start_ts", "timestamp") == "timestamp"
    gc = spark.read.parquet(str(root / "gc"))
    row = gc.where("gc_num = 1 AND source LIKE '%app.journald.log'").selectExpr(
        "t_s", "unix_micros(ts) AS ts_us", "host", "CAST(date AS STRING) AS day").collect()[0]
    assert (row.t_s, row.ts_us, row.host) == (truth["t_s"], truth["ts_us"], "node1")
    runs = spark.read.parquet(str(root / "runs")).where("source LIKE '%app.journald.log'")
    assert runs.selectExpr("unix_micros(start_ts) AS s", "host").collect()[0] == (truth["start_us"], "node1")


@needs_duckdb
def test_duckdb_reads_every_table(written: dict[str, Any]) -> None:
    import duckdb

    con = duckdb.connect()
    truth = _truth(written["trace"])
    for name in TABLE_NAMES:
        path = written["out"] / f"{name}.parquet"
        types = dict(con.sql(f"select column_name, column_type from (describe select * from '{path}')").fetchall())
        assert con.sql(f"select count(*) from '{path}'").fetchall()[0][0] == written["trace"].arrow(name).num_rows
        for col in ("ts", "log_ts", "start_ts"):
            if col in types:
                assert types[col] == "TIMESTAMP WITH TIME ZONE", (name, col)
    got = con.sql(f"select t_s, epoch_us(ts) from '{written['out']}/gc.parquet' where gc_num = 1").fetchall()
    assert got == [(truth["t_s"], truth["ts_us"])]
    start = con.sql(f"select epoch_us(start_ts) from '{written['out']}/runs.parquet'").fetchall()
    assert start == [(truth["start_us"],)]
    root = written["root"]
    for name in _dataset_tables(written):
        scan = f"read_parquet('{root}/{name}/**/*.parquet', hive_partitioning=true, union_by_name=true)"
        assert con.sql(f"select count(*) from {scan}").fetchall()[0][0] == written["every"].arrow(name).num_rows
    scan = f"read_parquet('{root}/gc/**/*.parquet', hive_partitioning=true, union_by_name=true)"
    got = con.sql(f"select t_s, epoch_us(ts), host from {scan} "
                  "where gc_num = 1 and source like '%app.journald.log'").fetchall()
    assert got == [(truth["t_s"], truth["ts_us"], "node1")]


@needs_pandas
def test_pandas_reads_every_table(written: dict[str, Any]) -> None:
    import pandas as pd

    truth = _truth(written["trace"])
    for name in TABLE_NAMES:
        frame = pd.read_parquet(written["out"] / f"{name}.parquet")
        assert len(frame) == written["trace"].arrow(name).num_rows
        for col in ("ts", "log_ts", "start_ts"):
            if col in frame.columns:
                assert str(frame[col].dtype) == "datetime64[us, UTC]", (name, col)
    gc = pd.read_parquet(written["out"] / "gc.parquet")
    first = gc[gc["gc_num"] == 1].iloc[0]
    assert first["t_s"] == truth["t_s"] and first["ts"].value // 1000 == truth["ts_us"]
    assert pd.read_parquet(written["out"] / "runs.parquet")["start_ts"][0].value // 1000 == truth["start_us"]
    # pyarrow's inferred partition columns cannot hold a null host ("Cannot yet unify dictionaries
    # with nulls", or no type when every host is null): name their types (README, "Many hosts and days")
    plain = ds.partitioning(pa.schema([("host", pa.string()), ("date", pa.date32())]), flavor="hive")
    for name in _dataset_tables(written):
        frame = pd.read_parquet(written["root"] / name, partitioning=plain)
        assert len(frame) == written["every"].arrow(name).num_rows, name
    gc = pd.read_parquet(written["root"] / "gc", partitioning=plain)
    first = gc[(gc["gc_num"] == 1) & gc["source"].str.endswith("app.journald.log")].iloc[0]
    assert first["ts"].value // 1000 == truth["ts_us"] and first["host"] == "node1"
    assert set(gc["host"].unique().tolist()) >= {"node1"} and gc["host"].isna().any()


# --------------------------------------------------------------------------------------------------
# One rule for partition values: runs, rejects and sources join to gc on every partition column


def _keys(root: Path, table: str, cols: tuple[str, ...]) -> set[tuple[Any, ...]]:
    data = open_table(root, table).to_table(columns=list(cols))
    return set(zip(*(data[c].to_pylist() for c in cols), strict=True))


def test_runs_join_gc_on_every_partition_column_after_mixed_label_ingests(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    a = _enveloped(CHURN, logs / "a.journald.log", "journald-json")   # envelope host node1, label host=x
    b = _enveloped(DETAIL, logs / "b.log", "syslog-iso")               # envelope host node1, no host label
    c = logs / "c.log"                                                 # no envelope, label host=web-7
    d = logs / "d.log"                                                 # no envelope, no label
    shutil.copyfile(SPLICED, c)
    shutil.copyfile(CRASH, d)
    root = tmp_path / "ds"
    keys = ("host", "date", "cluster")
    ingest([a], root, partition_by=keys, labels={"host": "x", "cluster": "eu1"})
    ingest([b, c, d], root, partition_by=keys,
           labels=lambda p: {"cluster": "eu2", **({"host": "web-7"} if p.name == "c.log" else {})})

    gc = _keys(root, "gc", ("source", "run_id", *keys))
    runs = _keys(root, "runs", ("source", "run_id", *keys))
    sources = _keys(root, "sources", ("source", *keys))
    assert gc and gc <= runs  # every cycle finds its run on every partition column
    assert {(s, *k) for s, _, *k in gc} <= sources
    hosts = {Path(s).name: h for s, _, h, _, _ in runs}
    assert hosts == {"a.journald.log": "x", "b.log": "node1", "c.log": "web-7", "d.log": None}
    assert {Path(s).name: h for s, h, _, _ in sources} == hosts  # sources partitioned like the rest
    days = {Path(s).name: day for s, _, _, day, _ in gc}
    assert {Path(s).name: day for s, _, day, _ in sources} == days  # the runs' day, not the ingest's
    dirs = {p.relative_to(root).parts[1] for p in root.glob("*/host=*/date=*/cluster=*/*.parquet")}
    assert dirs == {"host=x", "host=node1", "host=web-7", "host=__HIVE_DEFAULT_PARTITION__"}
    a_gc = open_table(root, "gc").to_table(filter=pa.compute.field("source") == str(a))
    assert set(a_gc["host"].to_pylist()) == {"x"}  # the label wins over the envelope, in every row
    assert a_gc.num_rows == gclens.read_trace(str(CHURN)).gc.height


# --------------------------------------------------------------------------------------------------
# Modes follow the umask; an unreadable file is recorded and skipped


def _modes(root: Path) -> set[tuple[str, int]]:
    found = {("dir", stat.S_IMODE(root.stat().st_mode))}
    for path in root.rglob("*"):
        found.add(("dir" if path.is_dir() else "file", stat.S_IMODE(path.stat().st_mode)))
    return found


def test_outputs_follow_the_umask(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        gclens.write_tables(gclens.read_trace(str(CHURN)), tmp_path / "out")
        ingest([_enveloped(CHURN, tmp_path / "logs" / "a.log", "journald-json")], tmp_path / "ds")
    finally:
        os.umask(old)
    assert _modes(tmp_path / "out") == {("dir", 0o755), ("file", 0o644)}
    assert _modes(tmp_path / "ds") == {("dir", 0o755), ("file", 0o644)}
    done = subprocess.run(f"umask 027 && {sys.executable} -m gclens parse {CHURN} -o {tmp_path / 'cli'}",
                          shell=True, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert _modes(tmp_path / "cli") == {("dir", 0o750), ("file", 0o640)}


def _fleet(tmp_path: Path) -> tuple[Path, Path, Path]:
    logs = tmp_path / "logs"
    good = _enveloped(CHURN, logs / "good.log", "journald-json")
    shutil.copyfile(DETAIL, logs / "other.log")
    cut = logs / "cut.log.gz"
    cut.write_bytes(gzip.compress(SCAN.read_bytes())[:-30])
    return logs, good, cut


def test_one_bad_file_is_recorded_and_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    logs, good, cut = _fleet(tmp_path)
    gone = logs / "gone.log"
    shutil.copyfile(CRASH, gone)
    late = logs / "late.log.gz"  # cut after it was fingerprinted: fails mid-parse, its rows taken back
    whole = gzip.compress(CHURN.read_bytes() * 40)  # 5.6 MB: rows are handed over before the cut
    late.write_bytes(whole)
    real_plan = gclens.store.dataset.plan

    def plan_then_vanish(*args: Any, **kwargs: Any) -> Any:  # the file goes after it was fingerprinted
        planned = real_plan(*args, **kwargs)
        gone.unlink()
        late.write_bytes(whole[:len(whole) * 3 // 4])
        return planned

    monkeypatch.setattr(gclens.store.dataset, "plan", plan_then_vanish)
    root = tmp_path / "ds"
    result = ingest([str(logs / "*")], root, labels={"cluster": "eu1"})
    monkeypatch.undo()
    failed = dict(result.failed)
    assert set(failed) == {str(cut), str(gone), str(late)}
    assert "cut.log.gz" in failed[str(cut)] and "gone.log" in failed[str(gone)]
    assert set(result.new) == {str(good), str(logs / "other.log")}
    sources = {r["source"]: r for r in open_table(root, "sources").to_table().to_pylist()}
    assert sources[str(cut)]["error"] == failed[str(cut)] and sources[str(good)]["error"] is None
    assert sources[str(cut)]["cluster"] == "eu1" and sources[str(cut)]["lines_read"] is None
    gc = open_table(root, "gc").to_table()
    assert set(gc["source"].to_pylist()) == {str(good), str(logs / "other.log")}  # gone, late: nothing
    assert gc.num_rows == gclens.read_trace([str(CHURN), str(DETAIL)]).gc.height
    assert str(cut) not in pq.read_table(root / MANIFEST)["path"].to_pylist()  # tried again next time

    cut.write_bytes(gzip.compress(SCAN.read_bytes()))  # repaired: the next ingest adds it, and only it
    late.unlink()
    again = ingest([str(logs / "*")], root, labels={"cluster": "eu1"})
    assert again.new == (str(cut),) and not again.failed
    assert open_table(root, "gc_scan").count_rows() == gclens.read_trace(str(SCAN)).gc_scan.height


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file of mode 000")
def test_permission_denied_is_recorded(tmp_path: Path) -> None:
    logs, good, _ = _fleet(tmp_path)
    locked = logs / "locked.log"
    shutil.copyfile(CRASH, locked)
    locked.chmod(0)
    result = ingest([str(logs / "*")], tmp_path / "ds")
    assert "locked.log" in dict(result.failed).get(str(locked), "")
    assert str(good) in result.new


def test_cli_says_some_files_were_skipped(tmp_path: Path) -> None:
    logs, good, cut = _fleet(tmp_path)
    dataset = tmp_path / "ds"
    run = subprocess.run([sys.executable, "-m", "gclens", "parse", str(logs / "*"), "--dataset", str(dataset)],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert run.returncode == 2, run.stderr
    assert "2 new, 0 grown, 0 unchanged file(s), 1 unreadable file(s) skipped" in run.stderr
    assert f"skipped: {cut}" in run.stderr
    assert set(open_table(dataset, "gc").to_table()["source"].to_pylist()) == {str(good), str(logs / "other.log")}


def test_a_file_failing_mid_parse_leaves_no_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows of a file that fails after some were handed over (read error mid-file) are taken back."""
    import gclens.store.ingest_parse as ingest_parse

    logs, good, _ = _fleet(tmp_path)
    broken = logs / "broken.log"
    shutil.copyfile(CHURN, broken)
    real = ingest_parse._one_source
    handed: list[int] = []

    def fails_after_its_rows(result: Any, options: Any) -> Iterator[Any]:
        for name, rows in real(result, options):
            yield name, rows
            if result.source.name == str(broken) and name == "gc" and len(rows):
                handed.append(len(rows))
                raise gclens.InputError(f"{broken}: cannot be read (Input/output error)")

    monkeypatch.setattr(ingest_parse, "_one_source", fails_after_its_rows)
    root = tmp_path / "ds"
    result = ingest([str(logs / "*")], root)
    assert handed and dict(result.failed)[str(broken)].endswith("(Input/output error)")
    for name in TABLE_NAMES:
        sources = set(open_table(root, name).to_table()["source"].to_pylist())
        assert str(good) in sources or name not in ("gc", "runs", "sources")
        assert str(broken) not in sources or name == "sources", name
