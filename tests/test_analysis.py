"""Analyses against independent computations (tests/independent.py) on real traces: the
sample runs of eight toolchains and the users' corpus (which holds real pauses over 1 ms and
GC CPU over 5 %)."""

from __future__ import annotations

import itertools
import math
import statistics
from pathlib import Path

import polars as pl
import pytest
from independent import cycles, least_squares_slope, nearest_rank, windows, worst_window

import gclens
from conftest import CORPUS, SAMPLES, sample_runs
from gclens.analysis import (
    Limits,
    death_spiral,
    evaluate,
    gc_cpu_stats,
    gc_cpu_windows,
    heap_stats,
    pause_stats,
    sched_stats,
)

HEAVY = [CORPUS / "058-go118plus-gotest-bench-interleaved-midline-1P-felixge.txt",
         CORPUS / "028-go114rc1-leading-blank-cmdline-4P-37116.txt",
         CORPUS / "017-go15-gcvis-example-log-4P.txt"]
FILES = [SAMPLES / r["file"] for r in sample_runs()
         if r["status"] == "ok" and not r.get("expect_splices")] + HEAVY


def _ids(paths: list[Path]) -> list[str]:
    return [f"{p.parent.name}/{p.name}" for p in paths]


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
@pytest.mark.parametrize("exclude_forced", [False, True], ids=["every-cycle", "exclude-forced"])
def test_pause_stats_match_a_plain_recount(path: Path, exclude_forced: bool) -> None:
    """Every cycle by default (forced pauses stop the program too); background ones on request."""
    kept = [c for c in cycles(path) if not (exclude_forced and c.forced)]
    stw = [c.stw for c in kept]
    row = pause_stats(gclens.read_trace(path).gc, exclude_forced=exclude_forced).row(0, named=True)
    assert row["cycles"] == len(kept)
    for q, col in ((0.5, "stw_p50_ms"), (0.9, "stw_p90_ms"), (0.99, "stw_p99_ms")):
        assert row[col] == pytest.approx(nearest_rank(stw, q))
    assert row["stw_max_ms"] == pytest.approx(max(stw))
    assert row["over_threshold"] == sum(c.stw > 1.0 for c in kept)
    assert row["over_threshold_forced"] == sum(c.stw > 1.0 and c.forced for c in kept)


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_gc_cpu_windows_match_brute_force(path: Path) -> None:
    cs = cycles(path)
    if cs[0].num != 1:
        pytest.skip("the log starts after gc 1")
    gc = gclens.read_trace(path).gc
    capacity = sum((c.end_s - (cs[i - 1].end_s if i else 0.0)) * 1000 * c.procs for i, c in enumerate(cs))
    forced_cpu = sum(c.gc_cpu for c in cs if c.forced)
    for exclude in (False, True):
        expected = windows(cs, 1.0, exclude_forced=exclude)
        got = gc_cpu_windows(gc, window_s=1.0, exclude_forced=exclude).sort("t_end_s")
        assert got["gc_cpu_pct"].to_list() == pytest.approx([pct for _, pct in expected], rel=1e-9)
        stats = gc_cpu_stats(gc, exclude_forced=exclude).row(0, named=True)
        counted = sum(c.gc_cpu for c in cs if not (exclude and c.forced))
        assert stats["gc_cpu_pct"] == pytest.approx(100 * counted / capacity)
        assert stats["forced_gc_cpu_pct"] == pytest.approx(100 * forced_cpu / capacity)
        assert stats["forced_share_pct"] == pytest.approx(100 * forced_cpu / sum(c.gc_cpu for c in cs))
        assert stats["forced_excluded"] is exclude


def test_heavy_corpus_trace_exceeds_both_limits() -> None:
    """felixge's 1-P benchmark: a 3.1 ms sweep termination and ~15 % GC CPU, printed 15-18 %."""
    trace = gclens.read_trace(HEAVY[0])
    findings = evaluate(trace)
    errors = findings.filter(pl.col("severity") == "error")
    assert set(errors["rule"]) == {"stw-pause", "gc-cpu"}
    info = dict(findings.filter(pl.col("severity") == "info").select("rule", "value").iter_rows())
    cs = cycles(HEAVY[0])
    assert info == {"forced-gc": sum(c.forced for c in cs),
                    "goal-overshoot": sum(c.heap[1] > c.goal for c in cs)}
    over = [c.num for c in cycles(HEAVY[0]) if c.stw > 1.0]
    assert findings.filter(pl.col("rule") == "stw-pause")["evidence_gc"].to_list() == [over]
    worst = worst_window(cycles(HEAVY[0]), 60.0)
    assert findings.filter(pl.col("rule") == "gc-cpu")["value"][0] == pytest.approx(worst)


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_heap_stats_match_a_plain_recount(path: Path) -> None:
    cs = cycles(path)
    row = heap_stats(gclens.read_trace(path).gc).row(0, named=True)
    assert row["goal_overshoots"] == sum(c.heap[1] > c.goal for c in cs)
    assert row["peak_heap_mib"] == max(c.heap[1] for c in cs)
    slope = least_squares_slope([c.start_s for c in cs], [float(c.heap[2]) for c in cs])
    assert row["live_slope_mib_per_min"] == pytest.approx(slope * 60, rel=1e-6, abs=1e-9)
    allocated = sum(b.heap[0] - a.heap[2] for a, b in itertools.pairwise(cs))
    assert row["alloc_mib_per_s"] == pytest.approx(allocated / (cs[-1].end_s - cs[0].end_s))


SCHED_FILES = [SAMPLES / r["file"] for r in sample_runs() if "schedtrace" in r["env"]["GODEBUG"]
               and "scheddetail" not in r["env"]["GODEBUG"] and not r.get("expect_splices")]


@pytest.mark.parametrize("path", SCHED_FILES, ids=_ids(SCHED_FILES))
def test_sched_stats_match_a_plain_recount(path: Path) -> None:
    snaps = []
    for line in path.read_text().splitlines():
        if line.startswith("SCHED ") and "[" in line:  # summaries, not detail headers
            fields = dict(kv.split("=") for kv in line.split("[")[0].split()[2:])
            queues = [int(x) for x in line.split("[")[1].split("]")[0].split()]
            snaps.append((fields, queues))
    row = sched_stats(gclens.read_trace(path).sched).row(0, named=True)
    assert row["snapshots"] == len(snaps)
    assert row["global_runqueue_max"] == max(int(f["runqueue"]) for f, _ in snaps)
    assert row["local_runqueue_max"] == max(sum(q) for _, q in snaps)
    assert row["threads_max"] == max(int(f["threads"]) for f, _ in snaps)
    per_p = sum(sum(q) / int(f["gomaxprocs"]) for f, q in snaps) / len(snaps)
    assert math.isclose(row["local_runqueue_per_p_mean"], per_p)


def test_limits_come_from_toml_and_flags_win(tmp_path: Path) -> None:
    toml = tmp_path / "gclens.toml"
    toml.write_text("[check]\nmax_stw_ms = 5.0\nmax_gc_cpu_pct = 50\n")
    limits = Limits.from_toml(toml, max_stw_ms=2.0, window_s=None)
    assert (limits.max_stw_ms, limits.max_gc_cpu_pct, limits.window_s) == (2.0, 50, 60.0)
    toml.write_text("[check]\nmax_pause = 5.0\n")
    with pytest.raises(gclens.UsageError, match="unknown keys in \\[check\\]: max_pause"):
        Limits.from_toml(toml)


HOT = [SAMPLES / r["file"] for r in sample_runs() if r["scenario"] in ("churn-gogc10", "pauses-long")]


@pytest.mark.parametrize("path", HOT, ids=_ids(HOT))
def test_real_runs_over_the_limits_are_flagged_with_the_right_cycles(path: Path) -> None:
    """The runs made to exceed 1 ms pauses (pauses-long) or 5 % GC CPU (churn-gogc10)."""
    cs = cycles(path)
    findings = evaluate(gclens.read_trace(path))
    over = [c.num for c in cs if c.stw > 1.0]
    pause = findings.filter(pl.col("rule") == "stw-pause")
    assert pause["evidence_gc"].to_list() == ([over] if over else [])
    worst = worst_window(cs, 60.0)
    cpu = findings.filter(pl.col("rule") == "gc-cpu")
    assert cpu["value"].to_list() == ([pytest.approx(worst)] if worst > 5.0 else [])
    if "pauses-long" in path.name:
        assert over, "the long-pause scenario must really pause over 1 ms"
    else:
        assert worst > 5.0, "the GOGC=10 scenario must really spend over 5 % of CPU in GC"


SPIRAL_REFERENCES = [SAMPLES / r["file"] for r in sample_runs()
                     if r["scenario"] in ("whatif-memlimit", "whatif-gogc10", "memlimit-scav")]


@pytest.mark.parametrize("path", SPIRAL_REFERENCES, ids=_ids(SPIRAL_REFERENCES))
def test_death_spiral_windows_match_brute_force(path: Path) -> None:
    """The flagged cycles are those a plain recount flags, and only the memory-limit runs have any.

    whatif-memlimit (GOMEMLIMIT=80MiB, GOGC=off) is the firing reference; memlimit-scav (a limit
    that binds, with little GC work) and whatif-gogc10 (as hot, but GOGC's goal) are not spirals.
    """
    cs = cycles(path)
    by_end = dict(windows(cs, 10.0))
    expected = []
    for c in cs:
        inside = [(j, d) for j, d in enumerate(cs) if c.end_s - 10.0 < d.end_s <= c.end_s + 1e-9]
        fills = statistics.median(d.heap[2] / d.goal if d.goal else math.inf for _, d in inside)
        rooms = [d.goal / cs[j - 1].heap[2] if cs[j - 1].heap[2] else math.inf for j, d in inside if j > 0]
        rate = len(inside) / min(c.end_s, 10.0)
        if (by_end[c.end_s] > 25.0 and fills >= 0.95 and rooms and statistics.median(rooms) <= 1.05
                and rate >= 4.0 and len(inside) >= 10 and statistics.median(d.goal for _, d in inside) >= 16):
            expected.append(c.num)
    got = death_spiral(gclens.read_trace(path).gc)
    assert sorted(got["gc_num"].to_list()) == expected
    assert bool(expected) == ("whatif-memlimit" in path.name)


@pytest.mark.parametrize("path", FILES[:6], ids=_ids(FILES[:6]))
def test_cpu_quota_and_idle_mark_match_a_plain_recount(path: Path) -> None:
    """With cgroup cpu.max at one CPU, a GOMAXPROCS=2 run has half the capacity; idle mark apart."""
    cs = cycles(path)
    if cs[0].num != 1:
        pytest.skip("the log starts after gc 1")
    quota = 1.0
    capacity = sum((c.end_s - (cs[i - 1].end_s if i else 0.0)) * 1000 * min(c.procs, quota)
                   for i, c in enumerate(cs))
    stats = gc_cpu_stats(gclens.read_trace(path).gc, cpu_quota=quota).row(0, named=True)
    assert stats["gc_cpu_pct"] == pytest.approx(100 * sum(c.gc_cpu for c in cs) / capacity)
    assert stats["idle_mark_pct"] == pytest.approx(100 * sum(c.cpus[-2] for c in cs) / capacity)
