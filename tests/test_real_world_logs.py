"""Real-world log shapes: runs that restart or interleave, torn lines, rotated files, CRLF."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl

import gclens
from conftest import SAMPLES
from gclens.read.sources import rotation_order

PAUSES_127 = SAMPLES / "go1.27" / "pauses-long.stderr"


def test_sched_line_torn_by_a_pacer_line_is_rejoined() -> None:
    """go1.27 printed a whole `pacer: sweep done` line inside a SCHED line's schedticks list."""
    raw = PAUSES_127.read_text().splitlines()
    torn = next(i for i, line in enumerate(raw) if line.startswith("SCHED") and "pacer: " in line)
    head, inserted = raw[torn].split("pacer: ", 1)
    ticks = [int(x) for x in (head.split("schedticks=[")[1] + raw[torn + 1]).replace("]", "").split()]
    trace = gclens.read_trace(PAUSES_127)
    sched = trace.sched.filter(pl.col("line_no") == torn + 1).row(0, named=True)
    assert sched["schedticks"] == ticks and len(ticks) == sched["gomaxprocs"] == 32
    pacer = trace.pacer.filter(pl.col("line_no") == torn + 1).row(0, named=True)
    assert pacer["kind"] == "sweep_done" and f"heap size {pacer['heap_live_mib']}MB" in inserted
    src = trace.sources.row(0, named=True)
    assert (src["rejected_lines"], src["rejoined_lines"]) == (0, 1)


def test_runtime_line_torn_by_an_application_line_is_rejoined(tmp_path: Path) -> None:
    lines = (SAMPLES / "go1.21" / "churn-full.stderr").read_text().splitlines()
    i = next(i for i, line in enumerate(lines) if line.startswith("gc 20 @"))
    cut = lines[i].index("s ") if "@" in lines[i] else 0
    torn = [*lines[:i], lines[i][:cut] + "app: request 17 took 3 ms", lines[i][cut:], *lines[i + 1:]]
    (tmp_path / "torn.log").write_text("\n".join(torn) + "\n")
    trace, plain = gclens.read_trace(tmp_path / "torn.log"), gclens.read_trace(SAMPLES / "go1.21/churn-full.stderr")
    assert trace.gc.drop("source", "line_no").equals(plain.gc.drop("source", "line_no"))
    assert trace.sources.row(0, named=True)["rejoined_lines"] == 1


def _torn_sched(procs: int) -> str:
    return (f"SCHED 100ms: gomaxprocs={procs} idleprocs=1 threads=4 spinningthreads=0 idlethreads=2 "
            "runqueue=0 [0 1 2app 7\n 3]\n")


def test_tear_is_rejoined_only_where_the_row_is_consistent(tmp_path: Path) -> None:
    """`[0 1 2` + `app 7` + ` 3]`: the split after 1 is the only one giving one queue per P."""
    (tmp_path / "t.log").write_text(_torn_sched(3))
    trace = gclens.read_trace(tmp_path / "t.log")
    assert trace.sched["local_runqueues"].to_list() == [[0, 1, 3]] and trace.rejects.height == 0
    (tmp_path / "t.log").write_text(_torn_sched(6))  # no split gives 6 queues: stays a reject
    trace = gclens.read_trace(tmp_path / "t.log")
    assert trace.sched.height == 0 and trace.rejects["line_no"].to_list() == [1]


def _interleave(a: list[str], b: list[str]) -> list[str]:
    out = []
    for x, y in zip(a, b, strict=False):
        out += [x, y]
    return out


def test_two_runtimes_writing_to_one_stream_stay_two_runs(tmp_path: Path) -> None:
    """A child inheriting GODEBUG (go run, go test) or a c-shared runtime interleaves its gc 1..."""
    parent = [line for line in (SAMPLES / "go1.21/churn-p1.stderr").read_text().splitlines()
              if line.startswith("gc ")]
    child = [line for line in (SAMPLES / "go1.22/churn-p1.stderr").read_text().splitlines()
             if line.startswith("gc ")]
    parent = parent[30:]  # the parent is already at gc 31 when the child starts
    (tmp_path / "both.log").write_text("\n".join(_interleave(parent, child)) + "\n")
    trace = gclens.read_trace(tmp_path / "both.log")
    runs = trace.runs.select("run_id", "gc_first", "gc_last", "cut_reason").rows()
    n = min(len(parent), len(child))
    assert runs == [(0, 31, 30 + n, "start of source"), (1, 1, n, "gc numbers restart: gc 1 after gc 31")]
    for run_id in (0, 1):
        nums = trace.gc.filter(pl.col("run_id") == run_id)["gc_num"].to_list()
        assert nums == list(range(nums[0], nums[0] + n))


def test_concatenated_restart_is_a_second_run(tmp_path: Path) -> None:
    one = (SAMPLES / "go1.21/churn-full.stderr").read_text()
    (tmp_path / "two.log").write_text(one + one)
    trace = gclens.read_trace(tmp_path / "two.log")
    # the second copy starts with `SCHED 0ms`: the SCHED clock going back cuts the run first
    assert trace.runs["cut_reason"].to_list()[0] == "start of source"
    assert trace.runs["cut_reason"].to_list()[1].startswith("SCHED clock went back: 0ms after ")
    assert trace.gc.group_by("run_id").len().sort("run_id")["len"].to_list() == [trace.gc.height // 2] * 2


def test_rotated_files_are_read_oldest_first(tmp_path: Path) -> None:
    lines = (SAMPLES / "go1.21/churn-full.stderr").read_text().splitlines(keepends=True)
    third = len(lines) // 3
    (tmp_path / "app.log.2.gz").write_bytes(gzip.compress("".join(lines[:third]).encode()))
    (tmp_path / "app.log.1").write_text("".join(lines[third:2 * third]))
    (tmp_path / "app.log").write_text("".join(lines[2 * third:]))
    trace = gclens.read_trace(str(tmp_path / "app.log*"))
    assert [Path(s).name for s in trace.sources["source"]] == ["app.log.2.gz", "app.log.1", "app.log"]
    assert trace.gc["gc_num"].is_sorted()
    assert sorted(["b.log", "a.log.1", "a.log"], key=rotation_order) == ["a.log.1", "a.log", "b.log"]


def test_crlf_line_endings(tmp_path: Path) -> None:
    raw = (SAMPLES / "go1.21/churn-full.stderr").read_bytes()
    (tmp_path / "win.log").write_bytes(raw.replace(b"\n", b"\r\n"))
    crlf, plain = gclens.read_trace(tmp_path / "win.log"), gclens.read_trace(SAMPLES / "go1.21/churn-full.stderr")
    assert crlf.gc.drop("source").equals(plain.gc.drop("source"))
    assert crlf.rejects.height == 0
