"""The live view: a Rich panel on a terminal, plain status lines otherwise, nothing with "none".

A view also carries the watched program's output (``run``): on a terminal its lines scroll above
the panel; elsewhere they pass through byte for byte, and a status line is written only between
two whole lines, so neither tears the other. ``render`` and ``status_line`` are pure functions of
the KPIs, tested without a terminal.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from typing import IO, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from gclens.analysis.limits import Limits
from gclens.live._state import Finding, LiveKpis, LiveState

__all__ = ["VIEWS", "LiveView", "PlainView", "gauge", "make_view", "render", "status_line"]

VIEWS = ("auto", "live", "text", "none")
GAUGE_WIDTH = 24


def gauge(value: float | None, limit: float, width: int = GAUGE_WIDTH) -> Text:
    """A bar for ``value`` with the limit marked at two thirds of its width (red when over)."""
    scale = 1.5 * limit if limit > 0 else 1.0
    filled = 0 if value is None else min(width, round(value / scale * width))
    mark = round(width / 1.5)
    style = "red" if value is not None and value > limit else "green"
    text = Text()
    for i in range(width):
        if i == mark:
            text.append("│", style="bold yellow")
        else:
            text.append("█" if i < filled else "─", style=style if i < filled else "grey50")
    return text


def _num(value: float | None, fmt: str = ".3g") -> str:
    return "–" if value is None else format(value, fmt)


def _pct(ratio: float | None) -> str:
    return "–" if ratio is None else f"{100 * ratio:.1f}%"


def render(kpis: list[LiveKpis], findings: list[Finding], limits: Limits, *, title: str = "gclens",
           rejected: int = 0) -> RenderableType:
    """The panel: per run cycles/s, STW, GC CPU windows, heap, run queues; the latest findings."""
    parts: list[RenderableType] = []
    if not kpis:
        parts.append(Text(f"{title}: waiting for the first gc line (is GODEBUG=gctrace=1 set?)", style="dim"))
    for k in kpis:
        head = Text.assemble((f"{title} ", "bold"), (f"{k.source} run {k.run_id}", "cyan"),
                             f"   t={_num(k.t_s, '.1f')} s   cycles {k.cycles}   {_num(k.cycles_per_s, '.2f')}/s")
        table = Table.grid(padding=(0, 2))
        for _ in range(3):
            table.add_column()
        table.add_row("STW ms", f"last {_num(k.stw_last_ms)}  p99 {_num(k.stw_p99_ms)}  max {_num(k.stw_max_ms)}",
                      Text.assemble(gauge(k.stw_max_ms, limits.max_stw_ms), f" {limits.max_stw_ms:g} ms"))
        long_label = f"{limits.window_s:g} s" + ("" if k.long_complete else " (partial)")
        table.add_row("GC CPU", f"{limits.short_window_s:g} s {_pct(k.gc_cpu_short)}  {long_label} "
                                f"{_pct(k.gc_cpu_long)}",
                      Text.assemble(gauge(None if k.gc_cpu_long is None else 100 * k.gc_cpu_long,
                                          limits.max_gc_cpu_pct), f" {limits.max_gc_cpu_pct:g} %"))
        table.add_row("heap MiB", f"live {_num(k.heap_live_mib, 'd')}  goal {_num(k.heap_goal_mib, 'd')}", "")
        if k.sched is not None:
            s = k.sched
            table.add_row("sched", f"P {s['gomaxprocs']}  idle {s['idleprocs']}  threads {s['threads']}  "
                                   f"runq global {s['runqueue']} local {s['local_runqueue_sum']}", "")
        parts += [head, table]
    if rejected:
        parts.append(Text(f"{rejected} rejected line(s)", style="yellow"))
    if findings:
        parts.append(Text("findings", style="bold"))
        parts += [Text(f"  {f.rule:<8} {f.message}", style="red" if f.rule in ("stw", "gc-cpu") else "yellow")
                  for f in findings]
    return Group(*parts)


def status_line(k: LiveKpis, limits: Limits) -> str:
    """One plain line of a run's KPIs (when stdout is not a terminal)."""
    sched = ""
    if k.sched is not None:
        sched = f" runq {k.sched['runqueue']}/{k.sched['local_runqueue_sum']} threads {k.sched['threads']}"
    return (f"gclens: {k.source} run {k.run_id} t={_num(k.t_s, '.1f')}s cycles={k.cycles} "
            f"({_num(k.cycles_per_s, '.2f')}/s) stw_ms last={_num(k.stw_last_ms)} p99={_num(k.stw_p99_ms)} "
            f"max={_num(k.stw_max_ms)} (limit {limits.max_stw_ms:g}) gc_cpu {limits.short_window_s:g}s="
            f"{_pct(k.gc_cpu_short)} {limits.window_s:g}s={_pct(k.gc_cpu_long)} (limit {limits.max_gc_cpu_pct:g}%) "
            f"heap_mib live={_num(k.heap_live_mib, 'd')} goal={_num(k.heap_goal_mib, 'd')}{sched}")


class PlainView:
    """Pass-through byte for byte; with ``every_s`` a status line per run that often, and the findings."""

    def __init__(self, limits: Limits, *, every_s: float | None = 5.0) -> None:
        self.limits, self.every_s = limits, every_s
        self.lock = threading.Lock()
        self.at_line_start = {1: True, 2: True}
        self.waiting: list[str] = []  # status and notes held until stdout is between lines
        self.next_at = time.monotonic() + (every_s or 0)
        self.state: LiveState | None = None
        self.closed = False

    def bind(self, state: LiveState) -> None:
        """The session's state, whose KPIs the status lines show."""
        self.state = state

    def child_out(self, data: bytes) -> None:
        self._write(1, data)

    def child_err(self, data: bytes) -> None:
        self._write(2, data)

    def _write(self, fd: int, data: bytes) -> None:
        with self.lock:
            _write_to(fd, data)
            self.at_line_start[fd] = data.endswith(b"\n")
        self._flush_waiting()

    def note(self, text: str) -> None:
        """A message of gclens itself (stderr)."""
        self._say(2, f"gclens: {text}")

    def finding(self, finding: Finding) -> None:
        if self.every_s is not None:
            self._say(1, f"gclens: finding {finding.rule}: {finding.message}")

    def _say(self, fd: int, line: str) -> None:
        with self.lock:
            self.waiting.append(f"{fd}{line}")
        self._flush_waiting()

    def _flush_waiting(self) -> None:
        with self.lock:
            keep = []
            for item in self.waiting:
                fd = int(item[0])
                if self.at_line_start[fd]:
                    _write_to(fd, (item[1:] + "\n").encode())
                else:
                    keep.append(item)
            self.waiting = keep

    def tick(self) -> None:
        if self.every_s is None or self.state is None or time.monotonic() < self.next_at:
            return
        self.next_at = time.monotonic() + self.every_s
        for k in self.state.kpis():
            self._say(1, status_line(k, self.limits))

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.every_s is not None:
            self.next_at = 0.0
            self.tick()
        with self.lock:
            self.at_line_start = {1: True, 2: True}  # the program is gone: its half line stays half
        self._flush_waiting()


class LiveView:
    """A Rich panel redrawn 4 times a second; the program's lines and notes scroll above it."""

    def __init__(self, limits: Limits, *, title: str, console: Console | None = None) -> None:
        self.state: LiveState | None = None
        self.limits, self.title = limits, title
        self.console = console or Console(file=sys.stdout)
        self.partial = {1: b"", 2: b""}
        self.err_here = os.isatty(2)  # stderr redirected elsewhere: it passes through there, byte for byte
        self.live = Live(get_renderable=self._renderable, console=self.console, refresh_per_second=4,
                         redirect_stdout=False, redirect_stderr=False)
        self.live.start()

    def bind(self, state: LiveState) -> None:
        self.state = state

    def _renderable(self) -> RenderableType:
        if self.state is None:
            return Text(f"{self.title}: starting", style="dim")
        return render(self.state.kpis(), self.state.recent_findings(), self.limits, title=self.title,
                      rejected=self.state.rejected_lines)

    def child_out(self, data: bytes) -> None:
        self._lines(1, data)

    def child_err(self, data: bytes) -> None:
        if self.err_here:
            self._lines(2, data)
        else:
            _write_all(2, data)

    def _lines(self, fd: int, data: bytes) -> None:
        *whole, self.partial[fd] = (self.partial[fd] + data).split(b"\n")
        for line in whole:
            self.console.print(Text(line.decode("utf-8", "replace")), soft_wrap=True)

    def note(self, text: str) -> None:
        self.console.print(Text(f"gclens: {text}", style="dim"), soft_wrap=True)

    def finding(self, finding: Finding) -> None:
        pass  # the panel lists them

    def tick(self) -> None:
        pass  # Live redraws on its own

    def close(self) -> None:
        if not self.live.is_started:
            return
        for fd in (1, 2):
            if self.partial[fd]:
                self._lines(fd, b"\n")
        self.live.refresh()
        self.live.stop()


def make_view(kind: str, limits: Limits, *, title: str, every_s: float = 5.0) -> Any:
    """``auto``: the panel when stdout is a terminal, status lines otherwise."""
    if kind == "auto":
        kind = "live" if sys.stdout.isatty() else "text"
    if kind == "live":
        return LiveView(limits, title=title)
    return PlainView(limits, every_s=every_s if kind == "text" else None)


def _write_to(fd: int, data: bytes) -> None:
    """To sys.stdout (1) or sys.stderr (2) as they are now, bytes unchanged where they have a
    buffer (a notebook's or a test's text stream gets the text)."""
    stream: IO[str] = sys.stdout if fd == 1 else sys.stderr
    buffer = getattr(stream, "buffer", None)
    if buffer is not None:
        stream.flush()
        buffer.write(data)
        buffer.flush()
    else:
        stream.write(data.decode("utf-8", "replace"))
        stream.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]
