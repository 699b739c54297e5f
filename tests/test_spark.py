"""gclens.spark on a local Spark (local[2]): the same tables, row for row, as read_trace."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import gclens
from conftest import SAMPLES

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("pyspark") is None,
                       reason="pyspark not installed (optional: pip install 'pyspark[sql]>=4')"),
    pytest.mark.skipif(importlib.util.find_spec("pandas") is None,
                       reason="pandas not installed (pyspark's applyInArrow imports it: pip install 'pyspark[sql]')"),
    pytest.mark.skipif(shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
                       reason="no java on PATH or JAVA_HOME (Spark needs a JRE >= 17: apt-get install "
                              "openjdk-17-jre-headless)"),
    pytest.mark.filterwarnings("ignore:PySpark does not yet fully support pandas:FutureWarning"),
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
]

TRACES = [SAMPLES / "go1.25" / "churn-full.stderr", SAMPLES / "go1.25" / "goroutines-detail.stderr",
          SAMPLES / "go1.25" / "churn-gctrace2.stderr", SAMPLES / "go1.21" / "memlimit-scav.stderr",
          SAMPLES / "go1.19" / "crash-deadlock.stderr", SAMPLES / "go1.27" / "spliced.stderr"]


@pytest.fixture(scope="module")
def spark() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    before = os.environ.get("PYSPARK_PYTHON")
    os.environ["PYSPARK_PYTHON"] = sys.executable  # workers import gclens from this venv
    session = (SparkSession.builder.master("local[2]").appName("gclens-test")
               .config("spark.ui.enabled", "false").config("spark.ui.showConsoleProgress", "false")
               .config("spark.sql.shuffle.partitions", "4")
               .getOrCreate())
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()
    if before is None:
        os.environ.pop("PYSPARK_PYTHON", None)
    else:
        os.environ["PYSPARK_PYTHON"] = before


def _rows(table: pa.Table) -> list[dict[str, Any]]:
    """Rows sorted on every non-list column, timestamps in Spark's microseconds."""
    columns = {f.name: (table.column(f.name).cast(pa.timestamp("us", tz="UTC"), safe=False)
                        if pa.types.is_timestamp(f.type) else table.column(f.name)) for f in table.schema}
    table = pa.table(columns)
    keys = [(f.name, "ascending") for f in table.schema if not pa.types.is_list(f.type)]
    return table.sort_by(keys).to_pylist()


def _expected(paths: list[Path]) -> dict[str, pa.Table]:
    trace = gclens.read_trace([str(p) for p in paths])
    return {name: trace.arrow(name) for name in trace}


def test_spark_equals_read_trace_table_by_table(spark: Any) -> None:
    from gclens.store.spark import parse_dataframe, read_text

    paths = [p.resolve() for p in TRACES if p.exists()]
    assert len(paths) >= 4
    got = parse_dataframe(read_text(spark, [str(p) for p in paths]))
    want = _expected(paths)
    assert list(got) == list(want)
    for name, frame in got.items():
        table = frame.toArrow()
        assert table.column_names == want[name].column_names, name
        assert _rows(table) == _rows(want[name]), name
    assert sum(want[n].num_rows for n in want) > 3000  # the comparison covered real data


def test_split_files_keep_line_order(spark: Any) -> None:
    """A file read in several splits (tiny maxPartitionBytes) still parses in line order."""
    from gclens.store.spark import parse_dataframe, read_text

    path = (SAMPLES / "go1.25" / "goroutines-detail.stderr").resolve()
    spark.conf.set("spark.sql.files.maxPartitionBytes", "8192")
    try:
        frame = read_text(spark, str(path))
        assert frame.rdd.getNumPartitions() > 5
        got = parse_dataframe(frame, persist=False)
        want = _expected([path])
        for name in ("sched", "sched_g", "runs", "sources"):
            assert _rows(got[name].toArrow()) == _rows(want[name]), name
    finally:
        spark.conf.unset("spark.sql.files.maxPartitionBytes")


def test_wholetext_and_labels(spark: Any) -> None:
    from gclens.store.spark import parse_dataframe, read_text

    path = (SAMPLES / "go1.25" / "churn-full.stderr").resolve()
    got = parse_dataframe(read_text(spark, str(path), wholetext=True), labels={"cluster": "eu1"}, persist=False)
    gc = got["gc"].toArrow()
    want = _expected([path])["gc"]
    assert gc.column_names == [*want.column_names, "cluster"]
    assert set(gc.column("cluster").to_pylist()) == {"eu1"}
    assert _rows(gc.drop_columns(["cluster"])) == _rows(want)


def test_unordered_lines_are_refused(spark: Any) -> None:
    from gclens.store.spark import parse_dataframe

    rows = [("a.log", "gc 1 @0.1s 1%: x"), ("a.log", "gc 2 @0.2s 1%: x")]
    frame = spark.createDataFrame(rows, "path string, value string")
    with pytest.raises(Exception, match="no column to order them by"):
        parse_dataframe(frame, persist=False)["gc"].collect()
