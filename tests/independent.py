"""Independent re-computations for the analysis tests: plain Python over the raw log lines.

Nothing here calls gclens; the tests compare gclens's frames against these numbers.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path

GC_RE = re.compile(
    r"gc (\d+) @(\d+\.\d+)s \d+%[^:]*: ([\d.+]+) ms clock, ([\d.+/]+) ms cpu, "
    r"(\d+)->(\d+)->(\d+) MB, (\d+) MB goal, .*?(\d+) P( \(forced\))?$")
SCHED_RE = re.compile(r"SCHED (\d+)ms: (.*?) \[ ?([\d ]+?) ?\]")


@dataclass
class Cycle:
    num: int
    start_s: float
    clocks: list[float]
    cpus: list[float]
    heap: tuple[int, int, int]
    goal: int
    procs: int
    forced: bool

    @property
    def stw(self) -> float:
        return self.clocks[0] + self.clocks[-1]

    end_s: float = 0.0  # set by cycles(): max(start, previous end) + wall time

    @property
    def gc_cpu(self) -> float:
        """Non-idle GC CPU: every CPU value except the idle mark one (second to last)."""
        return sum(self.cpus) - self.cpus[-2]


def cycles(path: Path) -> list[Cycle]:
    """The gc lines of a file; a cycle cannot start before the previous one ended."""
    out: list[Cycle] = []
    for line in path.read_text(errors="replace").splitlines():
        m = GC_RE.search(line)
        if m:
            out.append(Cycle(
                int(m[1]), float(m[2]), [float(x) for x in m[3].split("+")],
                [float(x) for x in re.split(r"[+/]", m[4])], (int(m[5]), int(m[6]), int(m[7])),
                int(m[8]), int(m[9]), bool(m[10])))
            previous_end = out[-2].end_s if len(out) > 1 else 0.0
            out[-1].end_s = max(out[-1].start_s, previous_end) + sum(out[-1].clocks) / 1000
    return out


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def windows(cs: list[Cycle], window_s: float, *, exclude_forced: bool = False) -> list[tuple[float, float]]:
    """(end time, GC CPU %) of the window ending at each cycle end, by brute force; every cycle
    counts unless ``exclude_forced``."""
    intervals = []
    prev_end = 0.0
    for c in cs:
        cpu = 0.0 if c.forced and exclude_forced else c.gc_cpu
        intervals.append((c.end_s, cpu, (c.end_s - prev_end) * 1000 * c.procs))
        prev_end = c.end_s
    out = []
    for end, _, _ in intervals:
        inside = [(cpu, cap) for e, cpu, cap in intervals if end - window_s < e <= end + 1e-9]
        out.append((end, 100 * sum(x for x, _ in inside) / sum(y for _, y in inside)))
    return out


def least_squares_slope(xs: list[float], ys: list[float]) -> float:
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def worst_window(cs: list[Cycle], window_s: float, *, exclude_forced: bool = False) -> float:
    """The highest window that spans ``window_s``; a shorter run is one window: all of it."""
    all_windows = windows(cs, window_s, exclude_forced=exclude_forced)
    complete = [pct for end, pct in all_windows if end >= window_s]
    return max(complete) if complete else all_windows[-1][1]


def _printed_us(text: str) -> tuple[int, int]:
    """The interval [low, high) of whole microseconds a printed fmtNSAsMS value stands for."""
    whole, _, frac = text.partition(".")
    us = int(whole) * 1000 + (int(frac.ljust(3, "0")) if frac else 0)
    step = 1000 if not frac else 10 ** (3 - len(frac))  # `12` → 1 ms, `4.5` → 100 µs, `0.045` → 1 µs
    return us, us + max(step, 1)


def pause_cpu_explained(clock_a: str, clock_e: str, cpu_a: str, cpu_e: str, procs: int) -> bool:
    """Could one stwprocs in 1..procs make both printed pause CPUs stwprocs × their printed
    clocks, every value truncated to its printed precision? (In whole µs, from the texts.)"""
    (ca, ca_hi), (ce, ce_hi) = _printed_us(clock_a), _printed_us(clock_e)
    (pa, pa_hi), (pe, pe_hi) = _printed_us(cpu_a), _printed_us(cpu_e)
    return any(s * ca < pa_hi and pa < s * ca_hi and s * ce < pe_hi and pe < s * ce_hi
               for s in range(1, procs + 1))
