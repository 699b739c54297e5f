"""Figures (checked for content, not pixels) and the HTML report, rendered in headless Chromium."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import matplotlib.image
import pytest
from independent import cycles

import gclens
from conftest import ARTIFACTS, CHROMIUM, SAMPLES, chromium, run
from gclens import plot
from gclens.analysis import Limits
from gclens.report import render_report

PAUSES = SAMPLES / "go1.25" / "pauses-long.stderr"


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
    line_ax, heat_ax = fig.axes[:2]
    assert _labels(line_ax) == ["global run queue", "OS threads", "idle Ps"]
    grid = heat_ax.collections[0].get_array().reshape(32, -1)  # Ps x snapshots
    queues = [int(q) for line in PAUSES.read_text().splitlines() if line.startswith("SCHED")
              for q in line.split("[ ")[1].split(" ]")[0].split()]
    assert grid.shape[1] == trace.sched.height and grid.sum() == sum(queues)


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

    model = fit(gclens.read_trace(SAMPLES / "go1.21/churn-gogc10.stderr").gc)
    cpu_ax, heap_ax = plot.whatif(model, observed=[(10, 16.9, 63), (50, 5.0, 75)]).axes
    assert sorted(_labels(cpu_ax)) == ["fit range", "observed runs", "predicted"]
    assert cpu_ax.get_xscale() == "log" and cpu_ax.get_xlabel() == "GOGC"
    dots = next(line for line in heap_ax.get_lines() if line.get_label() == "observed runs")
    assert list(dots.get_ydata()) == [63, 75]
