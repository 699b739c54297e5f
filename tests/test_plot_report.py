"""Figures (checked for content, not pixels) and the HTML report, rendered in headless Chromium."""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import matplotlib.image
import polars as pl
import pytest
from envelope_variants import wrap
from independent import cycles

import gclens
from conftest import ARTIFACTS, CHROMIUM, SAMPLES, chromium, chromium_layout, run
from gclens.analysis import Limits, evaluate, kpis_under
from gclens.present import plot
from gclens.present.report import go_version, render_report

PAUSES = SAMPLES / "go1.25" / "pauses-long.stderr"
CHURN = SAMPLES / "go1.25" / "churn-gogc10.stderr"
GOGC100 = SAMPLES / "go1.25" / "whatif-gogc100.stderr"


def _enveloped(tmp_path: Path) -> Path:
    """An 18 s run as a CRI collector writes it: every line with its time, so ``ts`` is known."""
    truth = json.loads(GOGC100.with_suffix(".truth.json").read_text())
    log = tmp_path / "gogc100-cri.log"
    log.write_text(wrap(GOGC100.read_text(), truth, "cri"))
    return log


def _labels(ax: object) -> list[str]:
    return [t.get_text() for t in ax.get_legend().get_texts()]  # type: ignore[attr-defined]


def test_timeline_draws_heap_pauses_cpu_and_limits() -> None:
    trace = gclens.read_trace(PAUSES)
    fig = plot.timeline(trace.gc, max_stw_ms=1.0, max_gc_cpu_pct=5.0, markers=[(1.5, "GOGC=200")])
    heap_ax, stw_ax, cpu_ax = fig.axes
    assert _labels(heap_ax) == ["heap start", "heap end", "heap live", "goal", "GOGC=200"]
    assert heap_ax.get_ylabel() == "heap (MiB)" and cpu_ax.get_xlabel().endswith("(s)")
    limit = next(line for line in stw_ax.get_lines() if line.get_label() == "1 ms limit")
    assert list(limit.get_ydata()) == [1.0, 1.0]
    cs = cycles(PAUSES)
    pauses = stw_ax.collections[0].get_segments()
    assert sorted(round(seg[1][1], 6) for seg in pauses) == sorted(round(c.stw, 6) for c in cs)
    assert any(line.get_label() == "5 % limit" for line in cpu_ax.get_lines())
    assert any(abs(line.get_xdata()[0] - 1.5) < 1e-9 for line in cpu_ax.get_lines()
               if line.get_label() != "5 % limit" and len(line.get_xdata()) == 2)


def test_pause_distribution_and_scheduler_figures() -> None:
    trace = gclens.read_trace(PAUSES)
    hist_ax, cdf_ax = plot.pause_distribution(trace.gc).axes
    kept = [c for c in cycles(PAUSES) if not c.forced]
    assert sum(p.get_height() for p in hist_ax.patches) == len(kept)
    assert cdf_ax.get_lines()[0].get_ydata()[-1] == 1.0
    fig = plot.scheduler(trace.sched)
    queue_ax, idle_ax, thread_ax, heat_ax = fig.axes[:4]
    assert [_labels(ax) for ax in (queue_ax, idle_ax, thread_ax)] == [
        ["global run queue"], ["idle Ps", "GOMAXPROCS"], ["OS threads"]]
    assert idle_ax.get_ylim()[1] <= 40 and thread_ax.get_ylim()[1] <= 40  # not flattened by the run queue
    ticks = [t for t in heat_ax.get_yticks() if -0.5 <= t <= 31.5]
    assert ticks and all(float(t).is_integer() for t in ticks)  # Ps are whole: no "P 0.25"
    grid = heat_ax.collections[0].get_array().reshape(32, -1)  # Ps x snapshots
    queues = [int(q) for line in PAUSES.read_text().splitlines() if line.startswith("SCHED")
              for q in line.split("[ ")[1].split(" ]")[0].split()]
    assert grid.shape[1] == trace.sched.height and grid.sum() == sum(queues)


def test_pause_histogram_ticks_are_plain_numbers_without_minor_labels() -> None:
    trace = gclens.read_trace(PAUSES)
    fig = plot.pause_distribution(trace.gc)
    fig.canvas.draw()
    for ax in fig.axes:
        shown = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
        low, high = ax.get_xlim()
        inside = [t for t, label in zip(ax.get_xticks(), ax.get_xticklabels(), strict=True)
                  if low <= t <= high and label.get_text()]
        assert {"0.1", "1", "10"} <= set(shown) and len(inside) <= 6, shown
        assert not any(t.get_text() for t in ax.get_xminorticklabels())
    narrow = plot.pause_distribution(trace.gc.filter(pl.col("stw_ms").is_between(0.1, 0.9)))
    narrow.canvas.draw()
    labels = [t.get_text() for t in narrow.axes[0].get_xticklabels() if t.get_text()]
    assert all(re.fullmatch(r"[0-9.]+", label) for label in labels) and len(labels) >= 2, labels


def test_gc_cpu_panel_agrees_with_the_kpi_and_finding(tmp_path: Path) -> None:
    """The limit's windows: partial ones grey and dashed, the worst one the KPI's own number."""
    log = _enveloped(tmp_path)
    trace = gclens.read_trace(log)
    limits = Limits()
    kpi = kpis_under(trace, limits).row(0, named=True)
    finding = evaluate(trace, limits).filter(pl.col("rule") == "gc-cpu").row(0, named=True)
    fig = plot.timeline(trace.gc, window_s=limits.window_s, worst_window=(kpi["worst_window_end_s"],
                        kpi["worst_window_pct"]))
    cpu_ax = fig.axes[2]
    lines = {line.get_label(): line for line in cpu_ax.get_lines()}
    assert "GC CPU, 60 s window" not in lines  # an 18 s run has no complete 60 s window
    partial = lines["partial window (< 60 s of run)"]
    assert partial.get_linestyle() == "--" and partial.get_color() == "tab:gray"
    dot = lines[f"worst window (KPI): {kpi['worst_window_pct']:.3g} %"]
    assert dot.get_ydata()[0] == pytest.approx(finding["value"]) == pytest.approx(kpi["worst_window_pct"])
    short = plot.timeline(trace.gc, window_s=10.0).axes[2]  # 10 s windows: complete ones exist
    solid = next(line for line in short.get_lines() if line.get_label() == "GC CPU, 10 s window")
    assert solid.get_linestyle() == "-"
    assert max(solid.get_ydata()) == pytest.approx(kpi["worst_short_window_pct"])


def test_figures_use_the_wall_clock_when_the_log_has_times(tmp_path: Path) -> None:
    trace = gclens.read_trace(_enveloped(tmp_path))
    fig = plot.timeline(trace.gc)
    stw_ax, cpu_ax = fig.axes[1], fig.axes[2]
    assert cpu_ax.get_xlabel().startswith("wall clock, UTC, 2026-11-27")
    first = trace.gc.sort("gc_num").row(0, named=True)
    x = stw_ax.collections[0].get_segments()[0][0][0]  # matplotlib's days since the epoch
    assert abs(x * 86400 - first["ts"].timestamp()) < 1e-3
    raw = plot.timeline(gclens.read_trace(PAUSES).gc).axes[2]
    assert raw.get_xlabel() == "seconds since runtime start (s)"


def test_go_version_from_the_line_layouts() -> None:
    assert go_version(["sched:go1.25+", "pacer:go1.10-1.25", "gc:go1.18+"]) == "go1.25"
    assert go_version(["gc:go1.18+", "pacer:go1.9-1.25"]) == "go1.18–1.25"
    assert go_version([]) == "unknown"
    layouts = gclens.read_trace(PAUSES).runs["layouts_seen"][0].to_list()
    assert go_version(layouts) == "go1.25"  # the sample's toolchain (sample_traces/go1.25)


def test_report_is_self_contained_and_escapes_log_text(tmp_path: Path) -> None:
    hostile = tmp_path / "<img src=x onerror=alert(1)>.log"
    hostile.write_text(PAUSES.read_text() + "gc 7 @1.0<script>alert('x')</script>\n")
    html = render_report(gclens.read_trace(hostile), limits=Limits())
    assert "<script>" not in html and "onerror=alert(1)>" not in html
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in html
    assert "http://" not in html.replace('href="https://', "")  # no resource fetched from anywhere
    images = html.count('src="data:image/png;base64,')
    assert images == 3  # timeline, pause distribution, scheduler
    first = html.split('src="data:image/png;base64,')[1].split('"')[0]
    assert matplotlib.image.imread(io.BytesIO(base64.b64decode(first)), format="png").shape[2] in (3, 4)


def test_report_command_writes_the_file(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    proc = run("report", str(PAUSES), "-o", str(out))
    assert proc.returncode == 0 and out.read_text().startswith("<!DOCTYPE html>")
    assert "stw-pause" in out.read_text()
    assert run("report", str(PAUSES), "-o", str(tmp_path / "no" / "r.html")).returncode == 2


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    html = tmp_path / "report.html"
    assert run("report", str(PAUSES), str(SAMPLES / "go1.21/churn-gogc10.stderr"), "-o", str(html)).returncode == 0
    proc, dom = chromium(html, "report.png", 2400, tmp_path / "profile")
    assert proc.returncode == 0 and "CONSOLE" not in proc.stderr, proc.stderr[-2000:]
    pixels = matplotlib.image.imread(ARTIFACTS / "report.png")
    assert pixels.shape[:2] == (2400, 1200) and pixels.std() > 0.05  # not a blank page
    assert dom.count("<img ") == 4 and "gclens report" in dom


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
@pytest.mark.parametrize("width", [1280, 390])
def test_report_reads_at_a_glance_on_desktop_and_phone(tmp_path: Path, width: int) -> None:
    """Tiles, figures and findings laid out in Chromium: nothing wider than the viewport, every
    figure drawn, every finding with its evidence and a readable "what to do"."""
    html = tmp_path / "report.html"
    logs = [_enveloped(tmp_path), CHURN, PAUSES]
    assert run("report", *map(str, logs), "-o", str(html)).returncode == 0
    measures, _ = chromium_layout(html, f"report-{width}.png", width, tmp_path / "profile")
    assert measures["innerWidth"] == width
    assert measures["scrollWidth"] <= width, measures["wider"]
    assert measures["wider"] == []
    assert len(measures["images"]) == 5  # 3 timelines, the pause distribution, 1 scheduler
    assert all(0 < image["shown"] <= width and image["width"] > 0 for image in measures["images"])
    findings = evaluate(gclens.read_trace(logs), Limits())
    assert len(measures["remedies"]) == findings.height
    assert min(measures["remedies"]) >= (250 if width > 1000 else 0.8 * width)
    text = html.read_text()
    page = text.split('<table id="findings">')[1].split("</table>")[0]
    evidence = re.findall(r'<td class="evidence" data-label="evidence">(.*?)</td>', page, re.S)
    remedies = re.findall(r'<td class="remedy" data-label="what to do">(.*?)</td>', page, re.S)
    assert len(evidence) == len(remedies) == findings.height and all(e.strip() for e in evidence)
    assert all(len(r.strip()) > 20 for r in remedies)
    assert '<span class="verdict fail">fail</span>' in text
    tiles = text.split('<div id="tiles">')[1].split("</div>\n\n")[0]
    for label in ("STW p99", "STW max", "GC CPU worst window", "GC cycles", "duration", "Go", "GOMAXPROCS"):
        assert tiles.count(f'<div class="label">{label}</div>') == 3
    assert "go1.25" in tiles and "from 2026-11-27 06:27:05 UTC" in tiles
    assert "MiB/min" in text and "1.2e+03" not in text and "n/a (3 s &lt; 60 s)" in text
    pixels = matplotlib.image.imread(ARTIFACTS / f"report-{width}.png")
    assert pixels.shape[1] == max(width, 500) and pixels.std() > 0.05


def test_short_run_shows_no_heap_trend_but_a_long_enough_one_does() -> None:
    from gclens.present.report import _shown_trend

    kpis = kpis_under(gclens.read_trace(CHURN), Limits()).row(0, named=True)
    assert _shown_trend(kpis, Limits())["live_slope_mib_per_min"] == "n/a (3 s < 60 s)"
    assert _shown_trend(kpis, Limits(min_live_trend_span_s=2.0))["live_slope_mib_per_min"] == pytest.approx(
        kpis["live_slope_mib_per_min"])


def test_notebook_html_output_escapes_log_text(tmp_path: Path) -> None:
    """What a notebook shows of a frame is HTML: text from a log or a file name must be escaped."""
    hostile = tmp_path / "<b onmouseover=alert(1)>.log"
    hostile.write_text("gc 7 @1.0<script>alert('x')</script>\n")
    trace = gclens.read_trace(hostile)
    html = trace.rejects._repr_html_()
    assert "<script>" not in html and "<b onmouseover" not in html
    assert "&lt;script&gt;" in html


def test_whatif_figure_shows_prediction_range_and_observed_runs() -> None:
    from gclens.analysis.whatif import fit

    model = fit(gclens.read_trace(SAMPLES / "go1.25/whatif-gogc100.stderr").gc, gogc=100)
    cpu_ax, heap_ax = plot.whatif(model, observed=[(10, 16.9, 63), (50, 5.0, 75)]).axes
    assert sorted(_labels(cpu_ax)) == ["fit range", "fitted run (observed)", "observed runs", "predicted"]
    star = next(line for line in cpu_ax.get_lines() if line.get_label() == "fitted run (observed)")
    assert list(star.get_xdata()) == [100] and list(star.get_ydata()) == [model.observed["gc_cpu_pct"]]
    assert cpu_ax.get_xscale() == "log" and cpu_ax.get_xlabel() == "GOGC"
    dots = next(line for line in heap_ax.get_lines() if line.get_label() == "observed runs")
    assert list(dots.get_ydata()) == [63, 75]
