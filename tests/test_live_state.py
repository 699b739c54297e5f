"""The live KPIs and findings, cycle by cycle, against plain-Python reckonings of the same lines
(tests/independent.py), and the panel they draw, without a terminal."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest
from independent import cycles, nearest_rank, windows
from rich.console import Console

from conftest import SAMPLES
from gclens import read_trace
from gclens.analysis.limits import Limits
from gclens.live import LiveState, extend_godebug
from gclens.live._state import _MARGIN_S
from gclens.live._view import gauge, render, status_line

MEMLIMIT = SAMPLES / "go1.25" / "whatif-memlimit.stderr"  # 18 s, GC CPU near 60 %
PAUSES = SAMPLES / "go1.25" / "pauses-long.stderr"  # 29 pauses over 1 ms


def _fed_cycle_by_cycle(path: Path, limits: Limits) -> tuple[LiveState, list[tuple[int, object]]]:
    """The gc rows handed over one at a time, the KPIs read after each."""
    gc = read_trace(path).arrow("gc")
    state, seen = LiveState(limits=limits), []
    for i in range(gc.num_rows):
        state.add("gc", gc.slice(i, 1))
        seen.append((i, state.kpis()[0]))
    return state, seen


def test_windows_rates_and_pauses_after_every_cycle_match_a_plain_reckoning() -> None:
    limits = Limits(window_s=5, short_window_s=2)  # windows that roll over within the 18 s run
    state, seen = _fed_cycle_by_cycle(MEMLIMIT, limits)
    cs = cycles(MEMLIMIT)
    long_w, short_w = windows(cs, 5), windows(cs, 2)
    for i, k in seen:
        end = cs[i].end_s
        assert k.cycles == i + 1 and k.t_s == pytest.approx(end)
        assert k.gc_cpu_long == pytest.approx(long_w[i][1] / 100, rel=1e-9)
        assert k.gc_cpu_short == pytest.approx(short_w[i][1] / 100, rel=1e-9)
        assert k.long_complete == (end >= 5)
        recent = [c for c in cs[:i + 1] if c.end_s > end - 5]
        assert k.stw_p99_ms == pytest.approx(nearest_rank([c.stw for c in recent], 0.99))
        assert k.stw_max_ms == pytest.approx(max(c.stw for c in cs[:i + 1]))
        assert k.cycles_per_s == pytest.approx(sum(c.end_s > end - 2 for c in cs[:i + 1]) / min(2, end))
        assert (k.heap_live_mib, k.heap_goal_mib) == (cs[i].heap[2], cs[i].goal)
    # bounded: only the window and its margin are kept, not the run
    kept = state.runs[(str(MEMLIMIT), 0)].recent
    assert kept is not None and kept.height == sum(c.start_s >= cs[-1].start_s - 5 - _MARGIN_S for c in cs)
    assert kept.height < len(cs) * 0.7


def test_findings_fire_for_each_pause_over_the_limit_and_each_window_crossing_it() -> None:
    limits = Limits(window_s=1, short_window_s=0.5, max_stw_ms=1.0, max_gc_cpu_pct=1.2)  # crossed 3 times
    state, _ = _fed_cycle_by_cycle(PAUSES, limits)
    cs = cycles(PAUSES)
    rules = [f.rule for f in state.findings]
    assert rules.count("stw") == sum(c.stw > 1.0 for c in cs) > 0
    over = [end >= 1 and pct > 1.2 for end, pct in windows(cs, 1)]
    crossings = sum(now and not before for before, now in zip([False, *over], over, strict=False))
    assert rules.count("gc-cpu") == crossings > 0
    stw = next(f for f in state.findings if f.rule == "stw")
    first = next(c for c in cs if c.stw > 1.0)
    assert stw.message.startswith(f"gc {first.num} @{first.start_s:.3f}s: STW ")


def test_a_restart_and_rejected_lines_are_findings() -> None:
    gc = read_trace(MEMLIMIT).arrow("gc")
    state = LiveState()
    state.add("gc", gc.slice(0, 3))
    state.add("gc", gc.slice(0, 2).set_column(gc.schema.get_field_index("run_id"), "run_id",
                                              pa.array([1, 1], pa.int32())))
    state.add("rejects", [{"source": "x", "line_no": 7, "family": "gc", "reason": "torn", "column": None,
                           "text": "gc 1 @"}])
    assert [f.rule for f in state.findings] == ["restart", "rejects"]
    assert [k.cycles for k in state.kpis()] == [3, 2] and state.rejected_lines == 1


def test_the_panel_and_the_status_line_show_the_kpis() -> None:
    limits = Limits(window_s=10, short_window_s=2)
    state, _ = _fed_cycle_by_cycle(PAUSES, limits)
    k = state.kpis()[0]
    console = Console(record=True, width=120, color_system=None)
    console.print(render(state.kpis(), state.recent_findings(), limits, title="gclens follow"))
    text = console.export_text()
    assert f"cycles {k.cycles}" in text and f"max {k.stw_max_ms:.3g}" in text
    assert "STW ms" in text and "GC CPU" in text and "1 ms" in text and "5 %" in text
    assert "findings" in text and f"gc {[c for c in cycles(PAUSES) if c.stw > 1][-1].num} " in text  # the latest
    line = status_line(k, limits)
    assert f"cycles={k.cycles} " in line and f"max={k.stw_max_ms:.3g} (limit 1)" in line
    over, under = gauge(2.0, 1.0), gauge(0.5, 1.0)
    assert {s.style for s in over.spans} >= {"red"} and "red" not in {s.style for s in under.spans}
    assert over.plain.index("│") == 16  # the limit line at two thirds of the bar


@pytest.mark.parametrize(("given", "value", "added", "kept"), [
    (None, "gctrace=1,schedtrace=500", {"gctrace": "1", "schedtrace": "500"}, {}),
    ("gctrace=2", "gctrace=2,schedtrace=500", {"schedtrace": "500"}, {"gctrace": "2"}),
    ("madvdontneed=1,schedtrace=10", "madvdontneed=1,schedtrace=10,gctrace=1", {"gctrace": "1"},
     {"schedtrace": "10"}),
])
def test_godebug_is_extended_never_overridden(given: str | None, value: str, added: dict[str, str],
                                               kept: dict[str, str]) -> None:
    assert extend_godebug(given, {"gctrace": "1", "schedtrace": "500"}) == (value, added, kept)


def test_the_grafana_dashboard_queries_metrics_that_exist() -> None:
    """Every metric the dashboard in docs/ queries is exported after a real trace (gctrace,
    schedtrace and torn lines: cycles, pauses, windows, heap, run queues, rejects, findings)."""
    import json
    import re

    from prometheus_client import generate_latest

    from conftest import ROOT
    from gclens.live import Metrics
    from gclens.live._metrics import METRIC_NAMES
    from gclens.pipeline.stream import Options, stream

    metrics, state = Metrics(), LiveState(limits=Limits(max_stw_ms=0.05))
    state.on_cycles, state.on_sched, state.on_rejects = metrics.on_cycles, metrics.on_sched, metrics.on_rejects
    state.on_finding = metrics.on_finding
    for path in (SAMPLES / "go1.25" / "churn-full.stderr", SAMPLES / "go1.25" / "spliced.stderr"):
        for name, rows in stream(str(path), Options()):
            state.add(name, rows)
    exported = set(re.findall(r"^(gclens_\w+?)(?:\{| )", generate_latest(metrics.registry).decode(), re.M))
    dashboard = json.loads((ROOT / "docs" / "grafana-gclens.json").read_text())
    queried = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"gclens_\w+", t["expr"])}
    assert queried and queried <= exported, queried - exported
    assert {n if n != "gclens_stw_seconds" else "gclens_stw_seconds_bucket" for n in METRIC_NAMES} <= exported


@pytest.mark.parametrize("path", sorted((SAMPLES / "go1.25").glob("*.stderr")), ids=lambda p: p.name)
def test_a_named_envelope_reads_no_lines_ahead_and_gives_the_detected_tables(path: Path) -> None:
    """With the envelope named (`--envelope raw`) nothing is read ahead for detection, so a live
    source's first rows show at once; the rows are those of the detected envelope (the stdlog
    run is detected as `golog`, whose prefix no runtime line carries: only the name differs)."""
    named, detected = read_trace(path, envelope="raw"), read_trace(path)
    for table in named:
        a, b = named.arrow(table), detected.arrow(table)
        if table == "sources":
            a, b = a.drop_columns(["envelope"]), b.drop_columns(["envelope"])
        assert a.equals(b), table
