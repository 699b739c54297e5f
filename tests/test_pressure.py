"""Page-cache pressure on the GC timeline (the tuning guide's §4), on a real capture.

sample_traces/perf/vmscan was recorded by its record_vmscan.py: ``perf record -a -k CLOCK_MONOTONIC
-e vmscan:mm_vmscan_lru_isolate`` beside ``perf record -k mono -g`` of perfdemo, while a reader in a
32 MiB memory cgroup read a file in three bursts. truth.json holds the runtime's own start
(runtimeInitTime, CLOCK_MONOTONIC) and the burst times. Expected numbers are recomputed here from
the raw ``perf script`` lines and that ground truth, not taken from gclens.
"""

from __future__ import annotations

import gzip
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from gclens import read_trace
from gclens.analysis.pressure import pressure_before_cycles, pressure_findings, pressure_per_second
from gclens.cli import main
from gclens.context.align import align
from gclens.context.perf import read_perf
from gclens.present import plot

CAPTURE = Path(__file__).parent.parent / "sample_traces" / "perf" / "vmscan"
TRUTH = json.loads((CAPTURE / "truth.json").read_text())
LINE = re.compile(r"\s(\d+)\.(\d{9}):\s+vmscan:mm_vmscan_lru_isolate:\s")


@pytest.fixture(scope="module")
def lined_up() -> dict[str, Any]:
    trace = read_trace(CAPTURE / "trace.stderr")
    vmscan, cpu = read_perf(CAPTURE / "vmscan.txt.gz"), read_perf(CAPTURE / "perf.txt.gz")
    aligned = align(trace, [vmscan, cpu])
    with gzip.open(CAPTURE / "vmscan.txt.gz", "rt") as text:
        raw = [int(m[1]) * 10**9 + int(m[2]) for line in text if (m := LINE.search(line))]
    return {"trace": trace, "aligned": aligned, "captures": (vmscan, cpu), "raw_ns": np.array(sorted(raw))}


def test_the_events_capture_is_placed_by_the_programs_capture(lined_up: dict[str, Any]) -> None:
    rows = {r["perf_source"].rsplit("/", 1)[1]: r for r in lined_up["aligned"].alignment.iter_rows(named=True)}
    events, program = rows["vmscan.txt.gz"], rows["perf.txt.gz"]
    assert events["method"] == "same-clock" and events["pid"] is None  # not the exec of some other process
    assert events["offset_ns"] == program["offset_ns"]
    assert abs(events["offset_ns"] - TRUTH["runtime_init_mono_ns"]) < 1_000_000
    vmscan, cpu = lined_up["captures"]
    swapped = align(lined_up["trace"], [cpu, vmscan]).alignment
    assert sorted(swapped["offset_ns"].to_list()) == sorted(lined_up["aligned"].alignment["offset_ns"].to_list())
    alone = align(lined_up["trace"], [vmscan]).alignment.row(0, named=True)
    assert alone["verdict"] == "failed" and "-k mono" in alone["note"]


def test_events_per_second_on_the_gc_timeline(lined_up: dict[str, Any]) -> None:
    trace, raw = lined_up["trace"], lined_up["raw_ns"]
    frame = pressure_per_second(trace.gc, lined_up["aligned"].perf_samples)
    t = (raw - TRUTH["runtime_init_mono_ns"]) / 1e9
    assert int(frame["vmscan_events"].sum()) == len(raw) > 500
    near_edge = np.abs(t - np.round(t)) < 0.001  # the fitted offset is within 1 ms of the truth
    for second, count in frame.select("second", "vmscan_events").iter_rows():
        inside = (t >= second) & (t < second + 1)
        assert abs(count - int(inside.sum())) <= int((near_edge & (np.abs(t - second - 0.5) < 0.6)).sum())
    assert int(frame["gc_cycles"].sum()) == trace.gc.height
    bursts = [((lo - TRUTH["runtime_init_mono_ns"]) / 1e9, (hi - TRUTH["runtime_init_mono_ns"]) / 1e9)
              for lo, hi in TRUTH["vmscan"]["bursts_mono_ns"]]
    busy = frame.filter(pl.col("vmscan_events") > 20)["second"].to_list()
    assert busy and all(any(lo - 1 < s < hi for lo, hi in bursts) for s in busy)  # pressure where the reader read
    assert frame["stw_max_ms"].max() == pytest.approx(trace.gc["stw_ms"].max())


def test_cycles_after_pressure_and_the_finding(lined_up: dict[str, Any]) -> None:
    trace, aligned = lined_up["trace"], lined_up["aligned"]
    offset = aligned.alignment["offset_ns"][0]
    events = (lined_up["raw_ns"] - offset) / 1e9
    starts = trace.gc.select("gc_num", "t_s").iter_rows()
    expected = {n: sum(1 for e in events if t - 5 <= e < t) / 5 for n, t in starts}
    before = pressure_before_cycles(trace.gc, aligned.perf_samples)
    assert dict(before.select("gc_num", "vmscan_before_per_s").iter_rows()) == pytest.approx(expected)
    assert pressure_findings(trace.gc, aligned.perf_samples).is_empty()  # the guide's 800/s: never reached here
    threshold = 50.0
    found = pressure_findings(trace.gc, aligned.perf_samples, per_s=threshold).row(0, named=True)
    hit = [n for n, rate in expected.items() if rate >= threshold]
    assert found["evidence_gc"] == hit and 0 < len(hit) < trace.gc.height
    long = trace.gc.filter(pl.col("gc_num").is_in(hit) & (pl.col("stw_ms") > 1.0)).height
    assert found["severity"] == ("warning" if long else "info")
    assert math.isclose(found["value"], max(expected.values()))


def test_the_figure_and_check(lined_up: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    fig = plot.page_cache_pressure(lined_up["trace"].gc, lined_up["aligned"].perf_samples)
    top, bottom = fig.axes
    labels = [t.get_text() for t in top.get_legend().get_texts()]
    assert any("no source" in label for label in labels) and bottom.get_ylabel().startswith("STW")
    assert main(["check", str(CAPTURE / "trace.stderr"), "--perf", str(CAPTURE / "vmscan.txt.gz"), "--perf",
                 str(CAPTURE / "perf.txt.gz"), "--max-stw-ms", "100", "--max-gc-cpu-pct", "100"]) == 0
    out = capsys.readouterr().out
    assert "vmscan.txt.gz (every process): good" in out and "same-clock" in out
