"""Analyses against independent computations (tests/independent.py) on real traces: the
sample runs of eight toolchains and the users' corpus (which holds real pauses over 1 ms and
GC CPU over 5 %)."""

from __future__ import annotations

import itertools
import math
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
def test_pause_stats_match_a_plain_recount(path: Path) -> None:
    kept = [c for c in cycles(path) if not c.forced]
    stw = [c.stw for c in kept]
    row = pause_stats(gclens.read_trace(path).gc).row(0, named=True)
    assert row["cycles"] == len(kept)
    for q, col in ((0.5, "stw_p50_ms"), (0.9, "stw_p90_ms"), (0.99, "stw_p99_ms")):
        assert row[col] == pytest.approx(nearest_rank(stw, q))
    assert row["stw_max_ms"] == pytest.approx(max(stw))
    assert row["over_threshold"] == sum(s > 1.0 for s in stw)


@pytest.mark.parametrize("path", FILES, ids=_ids(FILES))
def test_gc_cpu_windows_match_brute_force(path: Path) -> None:
    cs = cycles(path)
    if cs[0].num != 1:
        pytest.skip("the log starts after gc 1")
    expected = windows(cs, 1.0)
    got = gc_cpu_windows(gclens.read_trace(path).gc, window_s=1.0).sort("t_end_s")
    assert got["gc_cpu_pct"].to_list() == pytest.approx([pct for _, pct in expected], rel=1e-9)
    overall = 100 * sum(c.gc_cpu for c in cs if not c.forced) / sum(
        (c.end_s - (cs[i - 1].end_s if i else 0.0)) * 1000 * c.procs for i, c in enumerate(cs))
    assert gc_cpu_stats(gclens.read_trace(path).gc)["gc_cpu_pct"][0] == pytest.approx(overall)


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
    over = [c.num for c in cycles(HEAVY[0]) if not c.forced and c.stw > 1.0]
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
GOGC10 = [p for p in HOT if "gogc10" in p.name]


@pytest.mark.parametrize("path", HOT, ids=_ids(HOT))
def test_real_runs_over_the_limits_are_flagged_with_the_right_cycles(path: Path) -> None:
    """The runs made to exceed 1 ms pauses (pauses-long) or 5 % GC CPU (churn-gogc10)."""
    cs = cycles(path)
    findings = evaluate(gclens.read_trace(path))
    over = [c.num for c in cs if not c.forced and c.stw > 1.0]
    pause = findings.filter(pl.col("rule") == "stw-pause")
    assert pause["evidence_gc"].to_list() == ([over] if over else [])
    worst = worst_window(cs, 60.0)
    cpu = findings.filter(pl.col("rule") == "gc-cpu")
    assert cpu["value"].to_list() == ([pytest.approx(worst)] if worst > 5.0 else [])
    if "pauses-long" in path.name:
        assert over, "the long-pause scenario must really pause over 1 ms"
    else:
        assert worst > 5.0, "the GOGC=10 scenario must really spend over 5 % of CPU in GC"


@pytest.mark.parametrize("path", GOGC10, ids=_ids(GOGC10))
def test_death_spiral_windows_match_brute_force(path: Path) -> None:
    """With thresholds low enough to fire on these runs, the same cycles as a plain recount."""
    cs = [c for c in cycles(path) if c.goal >= 4]
    by_end = dict(windows(cycles(path), 1.0, include_forced=True))
    expected = []
    for c in cs:
        goals = [d.goal for d in cs if c.end_s - 1.0 < d.end_s <= c.end_s + 1e-9]
        if (by_end[c.end_s] > 5.0 and c.heap[2] / c.goal >= 0.5 and max(goals) / min(goals) <= 1.5
                and len(goals) >= 3):
            expected.append(c.num)
    assert expected, "these thresholds must fire on the hot runs"
    got = death_spiral(gclens.read_trace(path).gc, window_s=1.0, gc_cpu_pct=5.0, goal_ratio=0.5,
                       goal_flatness=1.5, min_cycles=3, min_goal_mib=4)
    assert sorted(got["gc_num"].to_list()) == expected


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
    assert stats["gc_cpu_pct"] == pytest.approx(100 * sum(c.gc_cpu for c in cs if not c.forced) / capacity)
    assert stats["idle_mark_pct"] == pytest.approx(100 * sum(c.cpus[-2] for c in cs) / capacity)
