"""Alignment of real gctrace runs with real perf captures and snapshots (sample_traces/perf).

Truth comes from the Go program itself: it read the runtime's ``runtimeInitTime`` (CLOCK_MONOTONIC)
through linkname, so for ``perf record -k mono`` captures the offset gclens must find is known to
the nanosecond. Captures without an exec event must be found by the offset search alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow.parquet as pq
import pytest

from gclens import read_trace
from gclens.context.align import Aligned, align, folded_stacks, gc_cpu_compare, top_functions
from gclens.context.perf import read_perf
from gclens.context.settings import read_settings, settings_changes

PERF = Path(__file__).parent.parent / "sample_traces" / "perf"
MANIFEST: list[dict[str, Any]] = json.loads((PERF / "manifest.json").read_text())["captures"]
WITH_PERF = [c for c in MANIFEST if (PERF / c["dir"] / "perf.txt.gz").exists()]
MONO = [c for c in WITH_PERF if c["perf_clock"] == "monotonic"]
WITH_SNAPSHOTS = [c for c in MONO if (PERF / c["dir"] / "snapshots.jsonl").exists()]


@cache
def aligned(name: str, every: int = 1) -> Aligned:
    directory = PERF / name
    capture = read_perf(directory / "perf.txt.gz")
    if every > 1:  # thinned: the ~100 Hz a production profile would use
        capture = type(capture)(**{**capture.__dict__, "samples": capture.samples.take(
            np.arange(0, capture.samples.num_rows, every))})
    snapshots = directory / "snapshots.jsonl"
    settings = read_settings(snapshots) if snapshots.exists() else None
    return align(read_trace(directory / "trace.stderr"), [capture], settings)


def _truth_theta(capture: dict[str, Any]) -> int:
    return int(capture["theta_mono_ns"])


def test_the_captures_cover_both_anchors_and_both_clocks() -> None:
    modes = {(c["mode"], c["perf_clock"]) for c in WITH_PERF}
    assert ("exec", "monotonic") in modes and ("attach", "monotonic") in modes
    assert any(clock == "perf_default" for _, clock in modes)


@pytest.mark.parametrize("capture", MONO, ids=[c["dir"] for c in MONO])
def test_offset_is_recovered_within_1_ms(capture: dict[str, Any]) -> None:
    result = aligned(capture["dir"])
    assert result.alignment.height == 1
    row = result.alignment.row(0, named=True)
    assert row["pid"] == capture["pid"]
    assert abs(row["offset_ns"] - _truth_theta(capture)) <= 1_000_000
    assert row["method"].endswith("xcorr") and row["method"].startswith("exec-anchor") == (capture["mode"] == "exec")
    assert row["mark_in_window_pct"] >= 95.0
    assert row["score"] > 0.4 and row["margin"] > 0.1 and row["verdict"] == "good"


@pytest.mark.parametrize("capture", MONO, ids=[c["dir"] for c in MONO])
def test_offset_survives_thinning_to_about_100_hz(capture: dict[str, Any]) -> None:
    row = aligned(capture["dir"], every=10).alignment.row(0, named=True)
    assert abs(row["offset_ns"] - _truth_theta(capture)) <= 1_000_000
    assert row["mark_samples"] >= 50


@pytest.mark.parametrize("capture", [c for c in WITH_PERF if c["perf_clock"] == "perf_default"],
                         ids=lambda c: c["dir"])
def test_default_clock_offset_sits_just_after_the_exec_in_perfs_own_clock(capture: dict[str, Any]) -> None:
    row = aligned(capture["dir"]).alignment.row(0, named=True)
    exec_ns = read_perf(PERF / capture["dir"] / "perf.txt.gz").exec_events[0].time_ns
    assert row["perf_clock"] == "perf_local"
    assert 0.3e6 <= row["offset_ns"] - exec_ns <= 5e6  # measured exec -> runtime start: 0.5-2.2 ms
    assert row["mark_in_window_pct"] >= 95.0


@pytest.mark.parametrize("capture", MONO, ids=[c["dir"] for c in MONO])
def test_phase_labels_agree_with_the_truth_offset(capture: dict[str, Any]) -> None:
    result = aligned(capture["dir"])
    gc = read_trace(PERF / capture["dir"] / "trace.stderr").gc.sort("t_s")
    samples = result.perf_samples.filter(pl.col("pid") == capture["pid"])
    prog = (samples["time_ns"].to_numpy() - _truth_theta(capture)) / 1e9
    start = gc["t_s"].to_numpy()
    ends = start + (gc["clock_sweep_term_ms"] + gc["clock_mark_ms"] + gc["clock_mark_term_ms"]).to_numpy() / 1e3
    i = np.clip(np.searchsorted(start, prog, side="right") - 1, 0, None)
    truth_in_gc = (prog >= start[i]) & (prog < ends[i])
    ours_in_gc = samples["gc_phase"].to_numpy() != "none"
    assert (truth_in_gc == ours_in_gc).mean() >= 0.95  # edges move by the sub-ms offset error


@pytest.mark.parametrize("capture", WITH_SNAPSHOTS, ids=[c["dir"] for c in WITH_SNAPSHOTS])
def test_each_cycle_gets_the_snapshot_in_effect(capture: dict[str, Any]) -> None:
    result = aligned(capture["dir"])
    snaps = result.settings.select("snapshot_id", "captured_mono_ns").unique().sort("captured_mono_ns")
    taken = snaps["captured_mono_ns"].to_numpy()
    joined = result.gc_settings
    true_mono = _truth_theta(capture) + np.round(joined["t_s"].to_numpy() * 1e9).astype(np.int64)
    index = np.searchsorted(taken, true_mono, side="right") - 1
    expected = [snaps["snapshot_id"][int(k)] if k >= 0 else None for k in index]
    near = np.min(np.abs(true_mono[:, None] - taken[None, :]), axis=1) < 2_000_000  # @ is truncated to 1 ms
    got = joined["snapshot_id"].to_list()
    checked = [(g, e) for g, e, n in zip(got, expected, near, strict=True) if not n]
    assert len(checked) >= 0.9 * len(got) and all(g == e for g, e in checked)
    assert joined["time_basis"][0].startswith("perf -k mono")
    ages = joined["snapshot_age_s"].drop_nulls()
    assert (ages >= 0).all()


def test_folded_stacks_count_every_sample_root_first() -> None:
    result = aligned(MONO[0]["dir"])
    mark = result.perf_samples.filter(pl.col("gc_phase") == "mark")
    lines = folded_stacks(result.perf_samples, phase="mark")
    assert sum(int(line.rsplit(" ", 1)[1]) for line in lines) == mark.height
    worker = [line for line in lines if "gcBgMarkWorker" in line]
    assert worker and all(line.startswith("runtime.goexit") for line in worker)


def test_top_functions_of_the_mark_phase_are_the_marking_loop() -> None:
    top = top_functions(aligned(MONO[0]["dir"]).perf_samples, n=3)
    mark = top.filter(pl.col("gc_phase") == "mark")["sym"].to_list()
    assert "runtime.scanobject" in mark


@pytest.mark.parametrize("capture", MONO, ids=[c["dir"] for c in MONO])
def test_perf_gc_cpu_lies_between_gctrace_without_and_with_idle_marking(capture: dict[str, Any]) -> None:
    """perf sees the CPU GC work really got. gctrace's CPU fields are worker wall time: they leave
    out idle mark workers (the runtime counts idle Ps as free), so they bound perf from below, and
    with idle marking added from above. Under a CPU quota the workers' wall time includes time
    spent throttled, so gctrace then overstates GC CPU and perf reads lower."""
    result = aligned(capture["dir"])
    gc = read_trace(PERF / capture["dir"] / "trace.stderr").gc
    row = gc_cpu_compare(result.perf_samples, gc).row(0, named=True)
    assert row["cycles"] >= min(30, gc.height)
    if capture["capture"] == "cgroup-change":
        assert row["perf_gc_cpu_pct"] < row["gctrace_gc_cpu_pct"]
    else:
        assert row["gctrace_gc_cpu_pct"] - 2 <= row["perf_gc_cpu_pct"] <= row["gctrace_with_idle_pct"] + 2


def test_cgroup_change_is_seen_between_snapshots_and_by_the_cycles_after_it() -> None:
    capture = next(c for c in MANIFEST if c["capture"] == "cgroup-change")
    directory = PERF / capture["dir"]
    settings = read_settings(directory / "snapshots.jsonl")
    changes = settings_changes(settings)
    quota = changes.filter(pl.col("key").is_in(["cpu.cfs_quota_us", "cpu.max"]))
    assert quota.height == 1
    change = int(capture["change_mono_ns"])
    row = quota.row(0, named=True)
    assert row["after_mono_ns"] <= change <= row["changed_by_mono_ns"]


def test_cli_align_writes_every_table(tmp_path: Path) -> None:
    directory = PERF / MONO[0]["dir"]
    out = tmp_path / "out"
    args = [sys.executable, "-m", "gclens", "align", str(directory / "trace.stderr"),
            "--perf", str(directory / "perf.txt.gz"), "-o", str(out)]
    if (directory / "snapshots.jsonl").exists():
        args += ["--snapshot", str(directory / "snapshots.jsonl")]
    run = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "J 0." in run.stderr and "mark samples in mark" in run.stderr
    names = {p.stem for p in out.iterdir()}
    assert {"gc", "settings", "gc_settings", "perf_samples", "alignment"} <= names
    samples = pq.read_table(out / "perf_samples.parquet")
    stack_type = str(samples.schema.field("stack").type)
    assert stack_type.startswith("list<") and "string" in stack_type
    assert set(samples.column("gc_phase").drop_null().to_pylist()) == {"none", "sweep_term", "mark", "mark_term"}


def test_real_throttling_is_found_in_the_cycles_after_the_quota_change() -> None:
    from gclens.analysis.settings_rules import settings_findings

    capture = next(c for c in MANIFEST if c["capture"] == "cgroup-change")
    result = aligned(capture["dir"])
    trace = read_trace(PERF / capture["dir"] / "trace.stderr")
    findings = settings_findings(trace, result.settings, result.gc_settings)
    throttled = findings.filter(pl.col("rule") == "throttled-during-pauses")
    assert throttled.height >= 1
    cycles = [n for evidence in throttled["evidence_gc"].to_list() for n in evidence]
    placed = result.gc_settings.filter(pl.col("gc_num").is_in(cycles))
    assert (placed["mono_ns"] > int(capture["change_mono_ns"])).all()  # only cycles after the change
    assert "gomaxprocs-over-quota" in findings["rule"].to_list()


@pytest.mark.parametrize("bad", ["garbage", "snapshot"])
def test_cli_align_with_unreadable_context_exits_2_and_writes_nothing(tmp_path: Path, bad: str) -> None:
    directory = PERF / MONO[0]["dir"]
    junk = tmp_path / "junk.txt"
    junk.write_bytes(b"\x00\xff not perf output \xfe\n" * 3)
    out = tmp_path / "out"
    flag = "--perf" if bad == "garbage" else "--snapshot"
    run = subprocess.run([sys.executable, "-m", "gclens", "align", str(directory / "trace.stderr"), flag, str(junk),
                          "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and run.stderr.startswith("gclens: error:") and "Traceback" not in run.stderr
    assert "junk.txt" in run.stderr and not out.exists()


def test_a_snapshots_process_start_bounds_the_search_when_perf_missed_the_exec() -> None:
    capture = next(c for c in WITH_SNAPSHOTS if c["mode"] == "exec")
    directory = PERF / capture["dir"]
    perf = read_perf(directory / "perf.txt.gz")
    blind = type(perf)(**{**perf.__dict__, "exec_events": []})  # as if perf had attached later
    result = align(read_trace(directory / "trace.stderr"), [blind], read_settings(directory / "snapshots.jsonl"))
    row = result.alignment.row(0, named=True)
    # the process's first sample (at its exec) bounds the search from above as well
    assert row["method"] == "process-start+first-sample+xcorr" and row["verdict"] == "good"
    assert abs(row["offset_ns"] - _truth_theta(capture)) <= 1_000_000
    assert "forked at" in row["note"] and "first sampled at" in row["note"]


def test_journald_monotonic_times_bound_the_search(tmp_path: Path) -> None:
    """The trace as `journalctl -o short-monotonic` shows it: each gc line stamped when its cycle
    ended (truth θ + @ + a + b + c) plus a collector delay; other lines keep the last stamp."""
    import random
    import re

    capture = next(c for c in MONO if c["mode"] == "exec")
    directory = PERF / capture["dir"]
    theta, rng = _truth_theta(capture), random.Random(7)
    stamp, out = theta, []
    for line in (directory / "trace.stderr").read_text().splitlines():
        m = re.match(r"gc \d+ @([0-9.]+)s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock", line)
        if m:
            end_s = float(m[1]) + sum(float(m[i]) for i in (2, 3, 4)) / 1e3
            stamp = theta + int(end_s * 1e9) + rng.randrange(20_000, 400_000)
        out.append(f"[{stamp // 10**9:>6}.{stamp % 10**9 // 1000:06d}] node1 perfdemo[{capture['pid']}]: {line}")
    wrapped = tmp_path / "journal.txt"
    wrapped.write_text("\n".join(out) + "\n")
    trace = read_trace(wrapped, envelope="journald-monotonic")
    perf = read_perf(directory / "perf.txt.gz")
    blind = type(perf)(**{**perf.__dict__, "exec_events": []})
    row = align(trace, [blind]).alignment.row(0, named=True)
    assert row["method"] == "journald-anchor+xcorr"
    assert abs(row["offset_ns"] - theta) <= 1_000_000
