"""Real output of real toolchains (sample_traces/, see its README) against the runtime's own
ground truth: runtime.MemStats written by each program at exit.

What "agrees within the print truncation" means, per check:

* gc rows == MemStats.NumGC and `(forced)` rows == NumForcedGC, exactly.
* STW: the printed phases are truncated (fmtNSAsMS), so PauseNs < stw_max_ms always. Up to
  go1.21 PauseNs is measured from tSweepTerm/tMarkTerm, the same instants the phases start at,
  so also PauseNs >= stw_ms. From go1.22 PauseNs starts when stopping the world begins
  (``stw.startedStopping``), after the phase start the gc line uses, so PauseNs may be below
  stw_ms by that gap: a few µs on an idle machine, but 0.7 ms in go1.27/applog-bracket (gc 169,
  recorded on a loaded machine), so from go1.22 only the upper bound is asserted.
* The printed cumulative % lies within the interval recomputed from the CPU fields
  (gclens.consistency: the formula per era is in its docstring).
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import polars as pl
import pytest

import gclens
from conftest import SAMPLES, sample_runs
from gclens.analysis.consistency import gc_cpu_cum_bounds, stw_bounds

RUNS = sample_runs()
IDS = [r["file"] for r in RUNS]
TRUTHED = [r for r in RUNS if r.get("truth")]
FRAGMENTED = [r for r in TRUTHED if r["program"] == "spliced"]
"""Runs whose application wrote 2-byte fragments into runtime lines: some lines lose even `gc N @`."""
CLEAN = [r for r in TRUTHED if r not in FRAGMENTED]
"""Every other run, those whose runtime lines whole application lines tore (``applog``) included:
every cycle must come back."""
TORN = [r for r in TRUTHED if r["program"] == "applog"]


def _minor(run: dict[str, Any]) -> int:
    match = re.match(r"go1\.(\d+)", run["go_version"])
    assert match, run["go_version"]
    return int(match.group(1))


@cache
def _trace(file: str) -> gclens.Trace:
    return gclens.read_trace(SAMPLES / file)


def _truth(run: dict[str, Any]) -> dict[str, Any]:
    truth: dict[str, Any] = json.loads((SAMPLES / run["truth"]).read_text())
    return truth


def test_samples_cover_the_toolchains_the_issue_asks_for() -> None:
    minors = {_minor(r) for r in RUNS}
    assert {19, 21, 22, 23, 24, 25, 26, 27} <= minors
    scenarios = {r["scenario"] for r in RUNS}
    assert {"churn-full", "churn-p1", "memlimit-scav", "goroutines-detail",
            "goroutines-sched", "churn-gctrace2"} <= scenarios


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_every_line_is_accounted_for(run: dict[str, Any]) -> None:
    trace = _trace(run["file"])
    src = trace.sources.row(0, named=True)
    raw = (SAMPLES / run["file"]).read_bytes()
    assert src["lines_read"] == raw.count(b"\n") + (not raw.endswith(b"\n") and bool(raw))
    assert src["lines_read"] == (src["runtime_lines"] + src["rejected_lines"] + src["other_lines"]
                                 + src["joined_lines"])
    if run["program"] == "spliced":
        # application fragments landed inside runtime lines: those lines are rejected, with a reason
        assert trace.rejects.height > 0 and trace.rejects["reason"].str.len_chars().min() > 10
    elif run["status"] == "hung":
        # the process hung mid-line (runtime deadlock under scavtrace): only that line is lost
        assert trace.rejects["reason"].str.starts_with("unterminated last line").all()
        assert trace.rejects["line_no"].to_list() in ([], [src["lines_read"]])
    else:
        assert trace.rejects.height == 0, trace.rejects.to_dicts()[:3]
    assert trace.runs.height == 1


def test_samples_hold_runtime_lines_torn_by_whole_application_lines() -> None:
    """The applog runs tear lines the real way, in every application log style."""
    assert {r["scenario"] for r in TORN} == {"applog-stdlog", "applog-slogtext", "applog-slogjson",
                                             "applog-bracket"}
    assert sum(_trace(r["file"]).sources["rejoined_lines"][0] for r in TORN) >= 300


@pytest.mark.parametrize("run", CLEAN, ids=[r["file"] for r in CLEAN])
def test_gc_rows_match_memstats(run: dict[str, Any]) -> None:
    gc, truth = _trace(run["file"]).gc, _truth(run)
    assert gc.height == truth["num_gc"]
    assert gc["gc_num"].to_list() == list(range(1, truth["num_gc"] + 1))
    forced = set(gc.filter(pl.col("forced"))["gc_num"])
    if _minor(run) <= 19:
        # go1.9-1.19 set work.userForced before taking worldsema, so a runtime.GC() call that
        # arrives while the previous cycle prints its line stamps `(forced)` on that line too
        # (fixed in go1.20, mgc.go gcStart). Such a line is directly followed by a forced one.
        stamped = {n for n in forced if n + 1 in forced}
        assert len(forced) - len(stamped) <= truth["num_forced_gc"] <= len(forced)
    else:
        assert len(forced) == truth["num_forced_gc"]


@pytest.mark.parametrize("run", FRAGMENTED, ids=[r["file"] for r in FRAGMENTED])
def test_spliced_runs_never_yield_wrong_numbers(run: dict[str, Any]) -> None:
    """Every gc row that survives splicing is exactly a cycle of the ground truth."""
    trace, truth = _trace(run["file"]), _truth(run)
    gc = trace.gc
    assert gc["gc_num"].is_unique().all() and gc["gc_num"].is_sorted()
    assert set(gc["gc_num"]) <= set(range(1, truth["num_gc"] + 1))
    assert set(gc["procs"]) == {truth["gomaxprocs"]}
    assert gc["t_s"].is_sorted() and trace.runs.height == 1
    torn = trace.rejects.filter(pl.col("family").is_in(["gctrace", "fragment"]))
    assert gc.height + torn.height >= truth["num_gc"]


@pytest.mark.parametrize("run", TRUTHED, ids=[r["file"] for r in TRUTHED])
def test_stw_agrees_with_pause_ns(run: dict[str, Any]) -> None:
    pauses = pl.DataFrame(_truth(run)["pauses"]).select(
        "gc_num", pause_ms=pl.col("pause_ns") / 1e6)
    gc = stw_bounds(_trace(run["file"]).gc).join(pauses, on="gc_num")
    assert gc.height == (_trace(run["file"]).gc.height if run.get("expect_splices") else pauses.height)
    slack = 0.0 if _minor(run) <= 21 else float("inf")
    outside = gc.filter((pl.col("pause_ms") >= pl.col("stw_max_ms"))
                        | (pl.col("pause_ms") < pl.col("stw_ms") - slack - 1e-9))
    assert outside.height == 0, outside.select("gc_num", "stw_ms", "stw_max_ms", "pause_ms").to_dicts()


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_printed_cumulative_pct_is_reproduced_from_cpu_fields(run: dict[str, Any]) -> None:
    era = "gomaxprocs" if _minor(run) >= 23 else "stwprocs"
    gc = gc_cpu_cum_bounds(_trace(run["file"]).gc, pause_cpu=era)
    if not run.get("expect_splices"):  # with torn lines, cycles after a gap cannot be checked
        assert gc["gc_cpu_cum_consistent"].null_count() == 0
    bad = gc.filter(~pl.col("gc_cpu_cum_consistent"))
    assert bad.height == 0, bad.select("gc_num", "gc_cpu_cum_pct", "gc_cpu_cum_min_pct",
                                       "gc_cpu_cum_max_pct").to_dicts()


def _expected_layouts(run: dict[str, Any]) -> dict[str, set[str]]:
    """Layouts each table must show for this Go version, from go-trace-formats.md."""
    minor = _minor(run)
    old_float = minor < 26
    sched = "go1.5-1.19" if minor < 20 else ("go1.20-1.24" if minor < 25 else "go1.25+")
    return {
        "gc": {"go1.18+"},
        "assist_ratio": {"go1.10-1.25" if old_float else "go1.26+"},
        "cpu_pacer": {"go1.18-1.25" if old_float else "go1.26+"},
        "sweep_done": {"go1.9-1.25" if old_float else "go1.26+"},
        "sched": {sched},
        "sched_detail": {"go1.5-1.19" if minor < 20 else "go1.20+"},
        "scav": {"go1.14,go1.19-1.20" if minor < 21 else "go1.21+"},
    }


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_layouts_match_the_go_version(run: dict[str, Any]) -> None:
    trace, expected = _trace(run["file"]), _expected_layouts(run)
    seen: dict[str, set[str]] = {
        "gc": set(trace.gc["layout"]), "scav": set(trace.scav["layout"]),
        "sched": set(trace.sched.filter(~pl.col("detail"))["layout"]),
        "sched_detail": set(trace.sched.filter(pl.col("detail"))["layout"]),
    }
    for kind in ("assist_ratio", "cpu_pacer", "sweep_done"):
        seen[kind] = set(trace.pacer.filter(pl.col("kind") == kind)["layout"])
    wrong = {k: v for k, v in seen.items() if v and v != expected[k]}
    assert not wrong, f"seen {wrong}, expected {expected}"


@pytest.mark.parametrize("run", [r for r in RUNS if "gctrace=2" in r["env"]["GODEBUG"]],
                         ids=lambda r: r["file"])
def test_gctrace2_scan_lines_follow_their_gc_line(run: dict[str, Any]) -> None:
    trace = _trace(run["file"])
    scan = trace.gc_scan
    greentea = _minor(run) >= 26 or run.get("goexperiment") == "greenteagc"
    assert set(scan["layout"]) == {"greentea" if greentea else "classic"}
    totals = scan.filter(pl.col("size_class") == "total")
    assert totals["gc_num"].to_list() == trace.gc["gc_num"].to_list()
    per_class = scan.filter(pl.col("size_class") != "total").group_by("gc_num").agg(pl.col("objs").sum())
    check = totals.join(per_class, on="gc_num", suffix="_classes")
    assert (check["objs"] == check["objs_classes"]).all()


@pytest.mark.parametrize("run", RUNS, ids=IDS)
def test_pacer_lines_belong_to_printed_cycles(run: dict[str, Any]) -> None:
    trace = _trace(run["file"])
    if "gcpacertrace" not in run["env"]["GODEBUG"]:
        assert trace.pacer.height == 0
        return
    cycles = set(trace.gc["gc_num"])
    last = max(cycles)
    assist = trace.pacer.filter(pl.col("kind") == "assist_ratio")
    assert set(assist["gc_num"]) <= cycles | {last + 1}
    assert assist["gc_num"].is_unique().all()
    sweep = trace.pacer.filter(pl.col("kind") == "sweep_done")
    assert set(sweep["gc_num"]) <= cycles


@pytest.mark.parametrize("run", [r for r in RUNS if "scheddetail" in r["env"]["GODEBUG"]],
                         ids=lambda r: r["file"])
def test_scheddetail_dumps_are_complete(run: dict[str, Any]) -> None:
    trace = _trace(run["file"])
    headers = trace.sched.filter(pl.col("detail"))
    assert headers.height > 0
    per_dump = trace.sched_p.group_by("sched_line_no").agg(pl.len().alias("ps"))
    check = headers.join(per_dump, left_on="line_no", right_on="sched_line_no")
    assert (check["ps"] == check["gomaxprocs"]).all()
    assert trace.sched_m.height > 0 and trace.sched_g.height > 0
    assert trace.sched_g["sched_line_no"].null_count() == 0


def test_sweep_done_before_its_gc_line_belongs_to_that_cycle() -> None:
    """Real go1.25+ traces print `scav` and `pacer: sweep done` of cycle N before `gc N`."""
    early = 0
    for run in CLEAN:
        trace = _trace(run["file"])
        gc_lines = trace.gc.select("gc_num", gc_line="line_no")
        for table in (trace.pacer.filter(pl.col("kind") == "sweep_done"), trace.scav):
            rows = table.join(gc_lines, on="gc_num", how="left")
            before = rows.filter(pl.col("line_no") < pl.col("gc_line"))
            previous = rows.join(gc_lines.with_columns(pl.col("gc_num") + 1), on="gc_num",
                                 how="left", suffix="_prev")
            # a line before its gc line must come after the previous cycle's gc line
            assert (before.join(previous.select("line_no", "gc_line_prev"), on="line_no")
                    .filter(pl.col("line_no") < pl.col("gc_line_prev")).height == 0)
            early += before.height
    assert early > 0


@pytest.mark.parametrize("run", [r for r in RUNS if r["status"] == "crash"], ids=lambda r: r["file"])
def test_crash_is_an_event_with_its_goroutines(run: dict[str, Any]) -> None:
    """A deadlock prints `fatal error:` then (schedtrace set) a detail dump, then tracebacks."""
    trace = _trace(run["file"])
    fatal = trace.events.filter(pl.col("kind") == "fatal_error")
    assert fatal.select("category", "message").rows() == [
        ("deadlock", "all goroutines are asleep - deadlock!")]
    goroutines = trace.events.filter(pl.col("kind") == "goroutine")
    assert goroutines.height >= 1 and (goroutines["line_no"] > fatal["line_no"][0]).all()
    assert trace.sched.filter(pl.col("detail")).height >= 1
