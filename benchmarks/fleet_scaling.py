"""Fleet ingest throughput: N hosts' copies of the sample traces, ingested with 1 and 2 processes.

Each copy of every ``sample_traces/**/*.stderr`` file is wrapped in an RFC 5424 syslog envelope
naming its host (``host000``, ``host001``, ...), as a collector would ship it, so ``host`` comes from
the envelope and the dataset gets one partition per host. Then, on fresh datasets, times
``gclens.dataset.ingest`` with ``processes=1`` and ``processes=2``, and (when pyspark and java
are there) ``gclens.spark.parse_dataframe`` on ``local[1]`` and ``local[2]`` (parse only, every
table counted; session start-up excluded, shown apart), against ``read_trace`` in one process.
Nothing here is a pass/fail test.

    python benchmarks/fleet_scaling.py [--hosts 4] [--no-spark]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import gclens  # noqa: E402
from gclens.store.dataset import ingest  # noqa: E402


def build(workdir: Path, hosts: int) -> list[Path]:
    """hosts x every sample trace, each line in a syslog envelope naming its host."""
    samples = sorted((ROOT / "sample_traces").glob("**/*.stderr"))
    files = []
    for h in range(hosts):
        host = f"host{h:03d}"
        for i, sample in enumerate(samples):
            base = 1_795_000_000 + h * 86_400 // max(hosts, 1) + i * 60  # seconds; spread over a day
            lines = sample.read_text(errors="replace").splitlines()
            out = workdir / host / f"{sample.parent.name}-{sample.stem}.log"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text("".join(f"<14>1 {_iso(base, n)} {host} app 4242 - - {line}\n"
                                   for n, line in enumerate(lines)))
            files.append(out)
    return files


def _iso(base: int, n: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(base + n // 1000)) + f".{n % 1000:03d}000Z"


def timed(label: str, files: list[Path], run: Callable[[], object]) -> float:
    size = sum(f.stat().st_size for f in files)
    start = time.perf_counter()
    run()
    elapsed = time.perf_counter() - start
    print(f"{label:<34} {elapsed:7.2f} s  {len(files) / elapsed:8.1f} files/s  {size / elapsed / 2**20:6.2f} MB/s")
    return elapsed


def spark_runs(files: list[Path]) -> None:
    if importlib.util.find_spec("pyspark") is None or shutil.which("java") is None:
        print("spark: skipped (pyspark or java not installed)")
        return
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from gclens.store.spark import parse_dataframe, read_text

    for cores in (1, 2):
        start = time.perf_counter()
        spark = (SparkSession.builder.master(f"local[{cores}]").config("spark.ui.enabled", "false")
                 .config("spark.ui.showConsoleProgress", "false").config("spark.sql.shuffle.partitions", str(cores * 4))
                 .getOrCreate())
        spark.sparkContext.setLogLevel("ERROR")
        print(f"spark local[{cores}] session start-up: {time.perf_counter() - start:.1f} s")

        def parse(spark: object = spark) -> None:
            tables = parse_dataframe(read_text(spark, [str(f) for f in files]))
            for frame in tables.values():
                frame.count()

        timed(f"spark local[{cores}] parse_dataframe", files, parse)
        spark.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=4, help="copies of the sample set, one per host")
    parser.add_argument("--no-spark", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        files = build(work / "logs", args.hosts)
        size = sum(f.stat().st_size for f in files)
        print(f"{len(files)} files, {size / 2**20:.1f} MiB, {args.hosts} hosts, {os.cpu_count()} CPUs")
        timed("read_trace, one process", files, lambda: [gclens.read_trace(str(f)) for f in files])
        for processes in (1, 2):
            timed(f"ingest processes={processes}", files,
                  lambda p=processes: ingest(files, work / f"ds{p}", processes=p))  # type: ignore[misc]
        timed("re-ingest (all unchanged)", files, lambda: ingest(files, work / "ds1"))
        if not args.no_spark:
            spark_runs(files)


if __name__ == "__main__":
    main()
