"""KPIs per settings snapshot, the line-up figures and the report's Settings and Alignment sections,
on the real cgroup-change capture (sample_traces/perf/go1.19-cgroup-change).

The recount works from the raw files: gc lines by regex, snapshot times and the quota from the
snapshot JSON, and the runtime's start from the program's own ``runtimeInitTime`` (truth.json),
not from gclens's alignment.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import matplotlib.image
import polars as pl
import pytest
from independent import Cycle, cycles, nearest_rank

from conftest import ARTIFACTS, CHROMIUM, SAMPLES, chromium
from gclens import read_trace
from gclens.analysis.segments import kpis_by_snapshot
from gclens.context.align import Aligned, align
from gclens.context.perf import read_perf
from gclens.context.settings import read_settings, settings_changes
from gclens.pipeline.trace import Trace
from gclens.present import plot
from gclens.present.report import render_report

CHANGE = SAMPLES / "perf" / "go1.19-cgroup-change"
QUOTA_LABEL = "cpu.cfs_quota_us: -1 -> 50000"


@cache
def _lined_up(snapshots: Path = CHANGE / "snapshots.jsonl",
              perf_name: str | None = None) -> tuple[Trace, Aligned]:
    trace = read_trace(CHANGE / "trace.stderr")
    return trace, align(trace, [read_perf(CHANGE / "perf.txt.gz", name=perf_name)], read_settings(snapshots))


def _theta() -> int:
    return int(json.loads((CHANGE / "truth.json").read_text())["capture"]["theta_mono_ns"])


def _snapshots() -> list[dict[str, Any]]:
    return [json.loads(line) for line in (CHANGE / "snapshots.jsonl").read_text().splitlines() if line.strip()]


def _quota(doc: dict[str, Any]) -> str:
    return str(doc["cgroup"]["v1"]["cpu"]["files"]["cpu.cfs_quota_us"]).strip()


def _recount() -> list[dict[str, Any]]:
    """Segments by hand: each cycle gets the last snapshot captured before it started."""
    theta, docs = _theta(), _snapshots()
    segments: list[dict[str, Any]] = []
    previous_end = 0.0
    for cycle in cycles(CHANGE / "trace.stderr"):
        start_mono = theta + cycle.start_s * 1e9
        seen = [i for i, d in enumerate(docs) if d["captured"]["monotonic_ns"] <= start_mono]
        snap = seen[-1] if seen else None
        if not segments or segments[-1]["snap"] != snap:
            segments.append({"snap": snap, "cycles": [], "cpu": 0.0, "capacity": 0.0})
        segment = segments[-1]
        segment["cycles"].append(cycle)
        segment["cpu"] += cycle.gc_cpu  # every cycle, forced ones too
        segment["capacity"] += (cycle.end_s - previous_end) * 1000 * cycle.procs
        previous_end = cycle.end_s
    return segments


def _pauses(segment: dict[str, Any], *, exclude_forced: bool = False) -> list[float]:
    kept: list[Cycle] = [c for c in segment["cycles"] if not (exclude_forced and c.forced)]
    return [c.stw for c in kept]


def test_kpis_by_snapshot_match_a_recount_of_the_real_capture() -> None:
    trace, aligned = _lined_up()
    table = kpis_by_snapshot(trace.gc, aligned.gc_settings, aligned.settings)
    expected = _recount()
    docs = _snapshots()
    assert table.height == len(expected) == 8  # cycles before the first capture, then 7 snapshots
    for row, seg in zip(table.iter_rows(named=True), expected, strict=True):
        nums = [c.num for c in seg["cycles"]]
        assert (row["first_gc"], row["last_gc"], row["cycles"]) == (nums[0], nums[-1], len(nums))
        assert row["stw_max_ms"] == pytest.approx(max(_pauses(seg)))
        assert row["stw_p99_ms"] == pytest.approx(nearest_rank(_pauses(seg), 0.99))
        assert row["gc_cpu_pct"] == pytest.approx(100 * seg["cpu"] / seg["capacity"], rel=1e-6)
        assert row["forced"] == sum(c.forced for c in seg["cycles"])
        if seg["snap"] is None:
            assert row["snapshot_id"] is None and row["changed"] is None
            continue
        assert row["snapshot_t_s"] == pytest.approx((docs[seg["snap"]]["captured"]["monotonic_ns"] - _theta()) / 1e9,
                                                    abs=1e-3)
        previous = expected[expected.index(seg) - 1]["snap"]
        if previous is None:
            assert row["changed"] is None
        else:
            quota_moved = _quota(docs[previous]) != _quota(docs[seg["snap"]])
            assert row["changed"] == (["cpu.cfs_quota_us"] if quota_moved else [])
            assert row["changes"] == ([QUOTA_LABEL] if quota_moved else [])


def test_merged_epochs_split_at_the_quota_change_only() -> None:
    trace, aligned = _lined_up()
    epochs = kpis_by_snapshot(trace.gc, aligned.gc_settings, aligned.settings, merge_unchanged=True)
    assert epochs["changed"].to_list() == [None, None, ["cpu.cfs_quota_us"]]
    assert epochs["snapshots"].to_list() == [0, 3, 4]
    first_after = next(s for s in _recount() if s["snap"] is not None and _quota(_snapshots()[s["snap"]]) == "50000")
    assert epochs.row(2, named=True)["first_gc"] == first_after["cycles"][0].num
    segments = kpis_by_snapshot(trace.gc, aligned.gc_settings, aligned.settings)
    assert epochs["cycles"].sum() == segments["cycles"].sum() == trace.gc.height
    assert epochs["stw_max_ms"].to_list()[1:] == [
        segments.filter(pl.col("segment").is_between(a, b))["stw_max_ms"].max() for a, b in ((2, 4), (5, 8))]


def test_keys_that_appear_or_vanish_count_as_changed(tmp_path: Path) -> None:
    """settings_changes skips a key only one snapshot has; a GOMEMLIMIT set by a restart is a change."""
    lines = []
    for i, doc in enumerate(_snapshots()):
        if i >= 3:
            doc["env"]["GOMEMLIMIT"] = "64MiB"
            del doc["sysctl"]["vm.swappiness"]
        lines.append(json.dumps(doc))
    path = tmp_path / "snapshots.jsonl"
    path.write_text("\n".join(lines) + "\n")
    trace, aligned = _lined_up(path)
    table = kpis_by_snapshot(trace.gc, aligned.gc_settings, aligned.settings, merge_unchanged=True)
    assert table.row(2, named=True)["changed"] == ["GOMEMLIMIT", "cpu.cfs_quota_us", "vm.swappiness"]
    swappiness = aligned.settings.filter(pl.col("key") == "vm.swappiness")["value"][0]
    assert table.row(2, named=True)["changes"] == [
        "GOMEMLIMIT: absent -> 64MiB", QUOTA_LABEL, f"vm.swappiness: {swappiness} -> absent"]


def test_kpis_by_snapshot_without_snapshots_is_one_segment_per_run() -> None:
    trace, aligned = _lined_up()
    table = kpis_by_snapshot(trace.gc, aligned.gc_settings.head(0), aligned.settings)
    assert table.height == 1 and table["cycles"].item() == trace.gc.height
    assert table["stw_max_ms"].item() == pytest.approx(max(c.stw for c in cycles(CHANGE / "trace.stderr")))
    background = kpis_by_snapshot(trace.gc, aligned.gc_settings.head(0), aligned.settings, exclude_forced=True)
    assert background["stw_max_ms"].item() == pytest.approx(
        max(c.stw for c in cycles(CHANGE / "trace.stderr") if not c.forced))
    assert table["snapshot_id"].item() is None and table["changed"].item() is None


def test_setting_markers_sit_at_the_capture_that_first_saw_the_change() -> None:
    _, aligned = _lined_up()
    markers = plot.setting_markers(aligned)
    assert [label for _, label in markers] == [QUOTA_LABEL]
    docs, theta = _snapshots(), _theta()
    first_seen = next(d for d in docs if _quota(d) == "50000")["captured"]["monotonic_ns"]
    change = json.loads((CHANGE / "truth.json").read_text())["capture"]["change_mono_ns"]
    t = markers[0][0]
    assert t == pytest.approx((first_seen - theta) / 1e9, abs=1e-3)  # alignment within 1 ms of the truth
    assert t > (change - theta) / 1e9  # never before the change really happened
    assert plot.setting_markers(aligned.gc_settings, settings_changes(aligned.settings)) == markers


def test_timeline_shows_the_setting_marker() -> None:
    trace, aligned = _lined_up()
    markers = plot.setting_markers(aligned)
    heap_ax, stw_ax, cpu_ax = plot.timeline(trace.gc, markers=markers).axes
    assert QUOTA_LABEL in [t.get_text() for t in heap_ax.get_legend().get_texts()]
    for ax in (heap_ax, stw_ax, cpu_ax):
        assert any(list(line.get_xdata()) == [markers[0][0]] * 2 for line in ax.get_lines())


def test_perf_phases_stacks_every_aligned_sample_by_phase_and_work() -> None:
    _, aligned = _lined_up()
    samples = aligned.perf_samples
    fig = plot.perf_phases(samples, top=5)
    bar_ax, top_ax = fig.axes
    assert [t.get_text() for t in bar_ax.get_xticklabels()] == ["sweep_term", "mark", "mark_term", "none"]
    assert bar_ax.get_ylabel() == "perf samples"
    heights: dict[float, float] = {}
    for patch in bar_ax.patches:
        heights[patch.get_x()] = heights.get(patch.get_x(), 0.0) + patch.get_height()
    per_phase = dict(samples.group_by("gc_phase").len().iter_rows())
    assert sorted(heights.values()) == sorted(float(per_phase.get(p, 0)) for p in plot.PHASES)
    legend = [t.get_text() for t in bar_ax.get_legend().get_texts()]
    assert {"mark", "assist", "write barrier", "mutator"} <= set(legend)
    ticks = [t.get_text() for t in top_ax.get_yticklabels()]
    mark_top = samples.filter(pl.col("gc_phase") == "mark").group_by("sym").len().sort("len").row(-1)[0]
    assert mark_top in ticks and "%" in top_ax.get_xlabel()
    assert any(t.startswith("mark (") for t in (x.get_text() for x in top_ax.get_legend().get_texts()))
    period = plot.perf_phases(samples, weight="period").axes[0]
    assert period.get_ylabel() == "sampled time (ms)"


def test_perf_phases_without_aligned_samples_draws_empty_axes() -> None:
    _, aligned = _lined_up()
    fig = plot.perf_phases(aligned.perf_samples.head(0))
    bar_ax, top_ax = fig.axes
    assert not bar_ax.patches and not top_ax.patches and bar_ax.get_legend() is None
    assert fig.get_suptitle() == "perf samples by GC phase: 0 samples of 0 aligned runs"


def test_before_after_compares_epochs_with_the_limits() -> None:
    trace, aligned = _lined_up()
    fig = plot.before_after(trace.gc, aligned.gc_settings, aligned.settings, max_stw_ms=1.0, max_gc_cpu_pct=5.0)
    stw_ax, cpu_ax = fig.axes
    limit = next(line for line in stw_ax.get_lines() if line.get_label() == "1 ms limit")
    assert list(limit.get_ydata()) == [1.0, 1.0] and stw_ax.get_yscale() == "log"
    assert any(line.get_label() == "5 % limit" for line in cpu_ax.get_lines())
    labels = [t.get_text() for t in cpu_ax.get_xticklabels()]
    assert len(labels) == 3 and labels[0].startswith("before the first snapshot")
    assert "cpu.cfs_quota_us" in labels[2] and "-1 -> 50000" in labels[2]
    table = kpis_by_snapshot(trace.gc, aligned.gc_settings, aligned.settings, merge_unchanged=True)
    bars = [p.get_height() for p in cpu_ax.patches]
    assert bars == pytest.approx(table["gc_cpu_pct"].to_list())
    dots = next(line for line in stw_ax.get_lines() if line.get_label() == "cycles")
    points = sum(len(line.get_ydata()) for line in stw_ax.get_lines() if line.get_marker() == ".")
    assert dots is not None and points == trace.gc.height  # every cycle, forced ones too
    assert cpu_ax.get_ylabel().startswith("GC CPU (%")


def test_report_adds_settings_alignment_and_figures() -> None:
    trace, aligned = _lined_up()
    html = render_report(trace, aligned=aligned)
    for section in ('<h2>Settings</h2>', 'id="snapshots"', 'id="changes"', 'id="epochs"', '<h2>Alignment</h2>',
                    'id="alignment"'):
        assert section in html
    findings = html.split('id="findings"')[1].split("</table>")[0]
    assert "throttled-during-pauses" in findings and "gomaxprocs-over-quota" in findings
    assert findings.index("throttled-during-pauses") < findings.index("gomaxprocs-over-quota")  # errors first
    changes = html.split('id="changes"')[1].split("</table>")[0]
    assert "cpu.cfs_quota_us" in changes and "50000" in changes
    row = aligned.alignment.row(0, named=True)
    assert str(row["offset_ns"]) in html and "exec-anchor+" in html
    assert html.count('src="data:image/png;base64,') == 4  # timeline, perf phases, before/after, pauses
    assert "Dotted lines" in html
    plain = render_report(trace)
    assert "<h2>Settings</h2>" not in plain and "<h2>Alignment</h2>" not in plain
    assert plain.count('src="data:image/png;base64,') == 2


def _hostile_snapshots(tmp_path: Path) -> Path:
    """The real snapshots with a hostile host name and a setting that 'changes' to a script."""
    lines = []
    for i, doc in enumerate(_snapshots()):
        doc["hostname"] = "<img src=x onerror=alert(1)>"
        doc["sysctl"]["vm.swappiness"] = "<script>alert('x')</script>" if i >= 3 else "60"
        lines.append(json.dumps(doc))
    path = tmp_path / "snapshots.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_escapes_snapshot_and_perf_text(tmp_path: Path) -> None:
    trace, aligned = _lined_up(_hostile_snapshots(tmp_path), "<b onclick=alert(2)>perf</b>")
    html = render_report(trace, aligned=aligned)
    assert "<script>" not in html and "<img src=x" not in html and "<b onclick" not in html
    changes = html.split('id="changes"')[1].split("</table>")[0]
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in changes
    assert "&lt;img src=x onerror=alert(1)&gt;" in html.split('id="snapshots"')[1]
    assert "&lt;b onclick=alert(2)&gt;perf&lt;/b&gt;" in html.split('id="alignment"')[1]
    epochs = html.split('id="epochs"')[1].split("</table>")[0]
    assert "vm.swappiness: 60 -&gt; &lt;script&gt;" in epochs


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_aligned_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    trace, aligned = _lined_up()
    html = tmp_path / "report.html"
    html.write_text(render_report(trace, aligned=aligned))
    proc, dom = chromium(html, "report-aligned.png", 5000, tmp_path / "profile")
    assert proc.returncode == 0 and "CONSOLE" not in proc.stderr, proc.stderr[-2000:]
    pixels = matplotlib.image.imread(ARTIFACTS / "report-aligned.png")
    assert pixels.shape[:2] == (5000, 1200) and pixels.std() > 0.05
    assert dom.count("<img ") == 4 and "Alignment" in dom and QUOTA_LABEL.split(":")[0] in dom
