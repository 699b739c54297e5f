"""Fault injection through the CLI: signals, a full disk, a closed stdout, a decompression bomb,
hostile JSON. Each ends with a defined exit code, one clear message and no partial output."""

from __future__ import annotations

import gzip
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import gclens
from conftest import SAMPLES, run

SAMPLE = SAMPLES / "go1.21" / "churn-full.stderr"


def _big_input(tmp_path: Path, copies: int = 400) -> Path:
    lines = [ln for ln in SAMPLE.read_text().splitlines(keepends=True) if ln.startswith(("gc ", "pacer"))]
    path = tmp_path / "big.log"
    path.write_text("".join(lines) * copies)
    return path


@pytest.mark.parametrize("sig,code,word", [(signal.SIGTERM, 143, "terminated"),
                                          (signal.SIGINT, 130, "interrupted")])
def test_signal_mid_run_leaves_nothing(tmp_path: Path, sig: int, code: int, word: str) -> None:
    big = _big_input(tmp_path)
    child = subprocess.Popen([sys.executable, "-m", "gclens", "parse", "-", "-o", str(tmp_path / "out")],
                             stdin=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdin is not None and child.stderr is not None
    child.stdin.write(big.read_bytes())  # ~75,000 runtime lines, and the input stays open: mid-run for sure
    child.stdin.flush()
    time.sleep(1.5)
    child.send_signal(sig)
    child.wait(timeout=60)
    err = child.stderr.read().decode()
    child.stdin.close()
    child.stderr.close()
    assert child.returncode == code, err
    assert err == f"gclens: {word}; no partial output was left\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.log"]


def test_disk_full_while_writing(tmp_path: Path) -> None:
    def small_files() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))  # files over 4 KiB cannot grow

    proc = subprocess.run([sys.executable, "-m", "gclens", "parse", str(SAMPLE), "-o", str(tmp_path / "out")],
                          capture_output=True, text=True, preexec_fn=small_files)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.startswith(f"gclens: error: {tmp_path / 'out'}: writing failed (File too large)")
    assert list(tmp_path.iterdir()) == []


def test_stdout_closed_early() -> None:
    """`gclens parse --format jsonl -o - app.log | head -1`"""
    child = subprocess.Popen([sys.executable, "-m", "gclens", "parse", str(SAMPLE), "--format", "jsonl", "-o", "-"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert child.stdout is not None and child.stderr is not None
    first = child.stdout.readline()
    child.stdout.close()
    err = child.stderr.read().decode()
    child.stderr.close()
    assert child.wait(timeout=60) == 141 and "Traceback" not in err
    assert first.startswith(b'{"table": "sched", "source": ')


def test_jsonl_to_stdout_has_every_row() -> None:
    proc = run("parse", str(SAMPLE), "--format", "jsonl", "-o", "-")
    tables = [line.split('"', 4)[3] for line in proc.stdout.splitlines()]
    counts = gclens.read_trace(SAMPLE).row_counts()
    assert {t: tables.count(t) for t in counts if tables.count(t)} == {t: n for t, n in counts.items() if n}
    assert run("parse", str(SAMPLE), "-o", "-").returncode == 2


def test_decompression_bomb_stops_at_the_stated_limit(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.log.gz"
    bomb.write_bytes(gzip.compress(b"x" * 200 + b"\n") * 1 + gzip.compress(b"0" * (50 << 20)))
    proc = run("parse", str(bomb), "--max-input-bytes", "1000000", "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr == (f"gclens: error: {bomb}: stopped after 1,000,000 decompressed bytes "
                           "(--max-input-bytes): a decompression bomb, or raise the limit\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bomb.log.gz"]


def test_deeply_nested_json_in_a_docker_envelope(tmp_path: Path) -> None:
    good = '{"log":"GC forced\\n","stream":"stderr","time":"2026-11-27T04:51:05.1Z"}\n'
    nested = '{"log":' + "[" * 200_000 + "]" * 200_000 + "}\n"
    (tmp_path / "d.log").write_text(good * 3 + nested)
    trace = gclens.read_trace(tmp_path / "d.log")
    assert trace.sources["envelope"].to_list() == ["docker"]
    assert trace.events.height == 3 and trace.sources["other_lines"].to_list() == [1]


def test_large_scheddetail_dump(tmp_path: Path) -> None:
    """A dump of 50,000 goroutines parses into 50,000 sched_g rows tied to their header."""
    header = ("SCHED 2009ms: gomaxprocs=2 idleprocs=2 threads=5 spinningthreads=0 needspinning=0 "
              "idlethreads=3 runqueue=0 gcwaiting=false nmidlelocked=1 stopwait=0 sysmonwait=false\n")
    goroutines = "".join(f"  G{i}: status=4(chan receive (nil chan)) m=nil lockedm=nil\n" for i in range(50_000))
    (tmp_path / "dump.log").write_text(header + goroutines)
    g = gclens.read_trace(tmp_path / "dump.log").sched_g
    assert g.height == 50_000 and g["sched_line_no"].unique().to_list() == [1]
    assert g["wait_reason"].unique().to_list() == ["chan receive (nil chan)"]


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_endless_stdin_streams_rows_with_bounded_memory() -> None:
    """stdin that never ends: rows come out while input still flows, and memory stays flat."""
    block = "".join(ln for ln in SAMPLE.read_text().splitlines(keepends=True) if ln.startswith(("gc ", "app")))
    child = subprocess.Popen([sys.executable, "-m", "gclens", "parse", "-", "--format", "jsonl", "-o", "-"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert child.stdin is not None and child.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(child.stdout.readline, "")), daemon=True)  # type: ignore[union-attr]
    reader.start()
    rss = []
    for round_ in range(16):  # a chunk is 20,000 lines: several chunks before the first reading
        for _ in range(60):
            child.stdin.write(block)
        child.stdin.flush()
        time.sleep(0.25)
        if round_ in (7, 15):
            rss.append(_rss_kib(child.pid))
    assert any('"table": "gc"' in line for line in seen), "rows must flow before stdin ends"
    child.stdin.close()
    child.wait(timeout=120)
    reader.join(timeout=30)
    child.stdout.close()
    assert child.returncode == 0
    assert rss[1] - rss[0] < 40_000, f"RSS grew from {rss[0]} to {rss[1]} KiB while input kept coming"


def test_million_line_scheddetail_dump_through_the_cli(tmp_path: Path) -> None:
    """A crash-time dump of a million goroutines: every G line becomes a row, streamed to Parquet."""
    import pyarrow.parquet as pq

    header = ("SCHED 0ms: gomaxprocs=2 idleprocs=0 threads=5 spinningthreads=0 needspinning=0 "
              "idlethreads=3 runqueue=0 gcwaiting=false nmidlelocked=1 stopwait=0 sysmonwait=false\n")
    dump = tmp_path / "dump.log"
    with dump.open("w") as fh:
        fh.write(header)
        fh.writelines(f"  G{i}: status=4(chan receive (nil chan)) m=nil lockedm=nil\n" for i in range(1_000_000))
    proc = run("parse", str(dump), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0, proc.stderr
    assert pq.ParquetFile(tmp_path / "out" / "sched_g.parquet").metadata.num_rows == 1_000_000
    headers = pq.read_table(tmp_path / "out" / "sched_g.parquet", columns=["sched_line_no"]).column(0)
    assert headers.unique().to_pylist() == [1]
