"""Smoke test of gclens as a user installs it: ``python tests/user_env_smoke.py [--notebooks]``.

Run with the Python of a virtual environment made by ``pip install .`` alone (the command-line and
dataset checks) or by ``pip install '.[notebooks]'`` (``--notebooks``: every notebook, top to
bottom): no test extra, so no pandas and no pytest. The script uses only the standard library and
gclens's own dependencies, and runs the installed ``gclens`` command (the console script next to
this Python) and ``jupyter nbconvert`` from a temporary directory, never the checkout's code.
``.ci/run`` runs it in such an environment; ``tests/test_user_env.py`` runs it in the test
environment with pandas blocked. Every command must end without a traceback, with its documented
exit code; failures are collected and listed at the end (exit status 1).
"""

from __future__ import annotations

import argparse
import gzip
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq

from gclens.store.dataset import open_table

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
CHURN = SAMPLES / "go1.25" / "churn-full.stderr"
DETAIL = SAMPLES / "go1.25" / "goroutines-detail.stderr"
PERF = SAMPLES / "perf" / "go1.19-cgroup-change"
BIN = Path(sys.executable).parent
START = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)

failures: list[str] = []


def step(name: str, ok: bool, detail: str = "") -> bool:
    print(f"{'ok  ' if ok else 'FAIL'} {name}", flush=True)
    if not ok:
        failures.append(f"{name}\n{detail}".rstrip())
    return ok


def gclens(*args: str | Path, codes: tuple[int, ...] = (0,), note: str = "") -> subprocess.CompletedProcess[str]:
    """Run the installed ``gclens ARGS``: no traceback, an exit code in ``codes``."""
    name = " ".join(["gclens", *(a if isinstance(a, str) else a.name for a in args), note]).rstrip()
    began = time.monotonic()
    proc = subprocess.run([str(BIN / "gclens"), *map(str, args)], capture_output=True, text=True, timeout=300)
    took = f"{time.monotonic() - began:.1f} s"
    step(f"{name} ({took})", proc.returncode in codes and "Traceback" not in proc.stderr,
         f"exit {proc.returncode}, expected {codes}\n{proc.stderr[-3000:]}")
    return proc


def enveloped(dst: Path, lines: list[str]) -> None:
    """``lines`` as ``kubectl logs --timestamps`` prints them: RFC 3339 times with nanoseconds.

    Nanoseconds matter: a time in whole microseconds becomes a Python ``datetime`` without pandas.
    """
    start = int(START.timestamp()) * 10**9
    at, out = 0, []
    for i, line in enumerate(lines):
        if m := re.match(r"gc \d+ @([\d.]+)s|SCHED (\d+)ms", line):
            at = round(float(m[1]) * 1e9) if m[1] else int(m[2]) * 10**6
        ns = start + at + 20_011 + 7 * i  # the collector's delay
        whole = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
        out.append(f"{whole}.{ns % 10**9:09d}Z {line}\n")
    with dst.open("a") as fh:
        fh.writelines(out)


def commands(work: Path) -> None:
    """parse to files, check, summary, report, diff, whatif, align, snapshot and schema."""
    gclens("parse", CHURN, "-o", work / "out")
    gc = work / "out" / "gc.parquet"
    step("parse wrote gc.parquet with rows", gc.exists() and pq.read_metadata(gc).num_rows > 0)
    at = START.isoformat()
    for fmt in ("csv", "jsonl"):
        gclens("parse", CHURN, "--start", at, "-o", work / fmt, "--format", fmt)
    jsonl = gclens("parse", CHURN, "--start", at, "-o", "-", "--format", "jsonl")
    step("jsonl rows carry RFC 3339 times", '"ts": "2026-03-04T12:00:' in jsonl.stdout, jsonl.stdout[:500])
    gclens("check", CHURN)
    gclens("check", CHURN, "--format", "junit")
    gclens("check", SAMPLES / "go1.25" / "pauses-long.stderr", "--format", "json", codes=(0, 1))
    gclens("summary", CHURN)
    perf = ("--snapshot", PERF / "snapshots.jsonl", "--perf", PERF / "perf.txt.gz")
    gclens("summary", PERF / "trace.stderr", *perf)
    gclens("report", CHURN, "-o", work / "report.html")
    step("report is HTML with a figure", "data:image/" in _text(work / "report.html"))
    gclens("report", PERF / "trace.stderr", *perf, "-o", work / "report-perf.html")
    runs = SAMPLES / "go1.25"
    gclens("diff", runs / "whatif-gogc100.stderr", runs / "whatif-gogc200.stderr", codes=(0, 1))
    gclens("whatif", runs / "whatif-gogc100.stderr", "--gogc", "50,100,200,off")
    gclens("whatif", runs / "whatif-gogc100.stderr", "--format", "json")
    gclens("align", PERF / "trace.stderr", *perf, "-o", work / "aligned")
    step("align wrote perf_samples", (work / "aligned" / "perf_samples.parquet").exists())
    if sys.platform == "linux":
        gclens("snapshot", "-o", work / "snap.json")
    gclens("schema", "--markdown")


def dataset(work: Path) -> None:
    """Ingest into a dataset, again (nothing added), then a grown file (only its new lines)."""
    logs, root = work / "logs", work / "fleet"
    logs.mkdir()
    shutil.copyfile(CHURN, logs / "plain.log")
    with gzip.open(logs / "detail.log.gz", "wb") as fh:
        fh.write(DETAIL.read_bytes())
    lines = CHURN.read_text().splitlines()
    enveloped(logs / "pod.log", lines[:200])  # collector times: ts is filled in every table
    ingest = ("parse", logs / "plain.log", logs / "detail.log.gz", logs / "pod.log", "--dataset", root,
              "--label", "cluster=eu1")

    gclens(*ingest, note="(first)")
    first = counts(root)
    step("the dataset has rows with wall-clock times", first["gc"] > 0 and first["gc_ts"] > 0, str(first))
    again = gclens(*ingest, note="(the same files again)")
    step("ingesting the same files again adds nothing", counts(root) == first, again.stderr)

    enveloped(logs / "pod.log", lines[200:])
    gclens(*ingest, note="(a grown file)")
    grown = counts(root)
    new_cycles = sum(line.startswith("gc ") for line in lines[200:])
    step("a grown file adds only its new cycles", grown["gc"] == first["gc"] + new_cycles, f"{first} -> {grown}")
    gclens(*ingest, note="(once more)")
    step("and once more adds nothing", counts(root) == grown)
    gclens("parse", *ingest[1:4], "--dataset", work / "by-host", "--partition-by", "host,date", "--jobs", "2")


def counts(root: Path) -> dict[str, int]:
    """Rows per table of a dataset, and gc rows with a wall-clock time (-1: unreadable)."""
    out = {}
    for table in ("gc", "sched", "scav", "runs", "sources"):
        try:
            out[table] = open_table(root, table).count_rows()
        except (OSError, ValueError) as exc:
            print(f"     {root / table}: {exc}", flush=True)
            out[table] = -1
    try:
        ts = open_table(root, "gc").to_table(columns=["ts"])["ts"]
        out["gc_ts"] = len(ts) - ts.null_count
    except (OSError, ValueError, KeyError):
        out["gc_ts"] = -1
    return out


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def notebooks(work: Path) -> None:
    """Every notebook top to bottom, with ``jupyter nbconvert --execute`` (jupyterlab brings it)."""
    for path in sorted((ROOT / "notebooks").glob("*.ipynb")):
        began = time.monotonic()
        proc = subprocess.run([str(BIN / "jupyter"), "nbconvert", "--to", "notebook", "--execute",
                               "--ExecutePreprocessor.timeout=300", "--output-dir", str(work / "notebooks"),
                               str(path)], capture_output=True, text=True, timeout=600)
        executed = work / "notebooks" / path.name
        step(f"notebook {path.name} ({time.monotonic() - began:.1f} s)",
             proc.returncode == 0 and executed.exists() and "image/png" in executed.read_text(),
             f"exit {proc.returncode}\n{proc.stderr[-5000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--notebooks", action="store_true",
                        help="execute every notebook (needs [notebooks]) instead of the command-line checks")
    args = parser.parse_args()
    if not (BIN / "gclens").exists():
        print(f"no gclens command next to {sys.executable}: install gclens into this environment", file=sys.stderr)
        return 2
    print(f"gclens smoke test: {sys.executable}, pandas "
          f"{'importable' if _importable('pandas') else 'absent'}", flush=True)
    with tempfile.TemporaryDirectory(prefix="gclens-smoke-") as tmp:
        work = Path(tmp)
        os.chdir(work)  # nothing is imported from the checkout
        if args.notebooks:
            notebooks(work)
        else:
            commands(work)
            dataset(work)
    for failure in failures:
        print(f"\n--- FAILED: {failure}", file=sys.stderr)
    print(f"{len(failures)} failure(s)" if failures else "all passed", flush=True)
    return 1 if failures else 0


def _importable(name: str) -> bool:
    try:
        __import__(name)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
