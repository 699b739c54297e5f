"""Runtime lines torn the way the runtime tears them (go-trace-formats §1.2).

The runtime writes a line in many writes, one per print argument; an application that logs a
whole line from another thread at that moment puts it between two of them: line N is the
runtime line's head followed by the whole application line, line N+1 is the runtime line's
rest. Built here from real sample lines of every family, torn at every point between two
print pieces (right after the marker, and after any number, where the application's digits
merge with the runtime's), with application lines in the common styles: each must come back as
the row the intact line gives, the application line counted as other output, and no row may be
made of the head and rest of two different lines.
"""

from __future__ import annotations

import io
import re
from functools import cache

import polars as pl
import pytest
from independent import pause_cpu_explained

import gclens
from conftest import SAMPLES
from gclens import parse_runtime_line
from gclens._errors import LineError
from gclens.grammar.recognize import Prefix
from gclens.read.classify import classify

STYLES = {
    "stdlog": "2026/11/27 03:27:41.337545 applog: served request id=17 bytes=5120",
    "ltime": "03:27:41.337545 app: processed batch 17 items=4096",
    "slogtext": 'time=2026-11-27T03:27:41.337Z level=INFO msg="served request" id=17',
    "slogjson": '{"time":"2026-11-27T03:27:41.337545Z","level":"INFO","msg":"served","id":17}',
    "bracket": "[INFO] 12:00:01 worker=3 served request 17",
}
_FIRST_PIECE = re.compile(r"gc |scan: |SCHED |  [PMG]|scav |pacer: [a-zA-Z_ ]*|scvg")
_TABLES = ("gc", "pacer", "sched", "sched_p", "sched_m", "sched_g", "scav", "gc_scan")


@cache
def _representatives() -> tuple[str, ...]:
    """One real line per layout (digit runs and run-queue lists aside) of every runtime family."""
    seen: dict[str, str] = {}
    for path in sorted(SAMPLES.glob("go1.*/*.stderr")):
        for line in path.read_text(errors="replace").splitlines():
            key = re.sub(r"\[[^]]*\]", "[]", re.sub(r"[0-9]+", "0", line))
            if key not in seen and _FIRST_PIECE.match(line) and _parses(line):
                seen[key] = line
    return tuple(seen.values())


def _parses(line: str) -> bool:
    try:
        parse_runtime_line(line)
    except LineError:
        return False
    return True


def _splits(line: str) -> list[int]:
    """Every point between two print pieces: the boundaries of the line's tokens (literals and
    numbers; the runtime prints each in one write, or a literal in several) after the first."""
    hit, first = classify(line), _FIRST_PIECE.match(line)
    assert hit is not None and first is not None
    ends = [hit.start + s.end for s in Prefix(hit.family, line[hit.start:]).steps]
    return [k for k in ends if first.end() <= k < len(line)]


def _in_sequence(lines: tuple[str, ...]) -> list[str]:
    """The representatives with their gc numbers renumbered 1000, 1001, ... in log order.

    They come from many runs, so their own numbers jump about (gc 63 then gc 173): a sequence the
    splice guard rightly takes for digits glued onto a number ("1" + "73"), in the intact log too.
    One run's numbers only rise."""
    numbers = iter(range(1000, 1000 + len(lines)))
    return [re.sub(r"^gc [0-9]+", lambda _: f"gc {next(numbers)}", line) for line in lines]


def _tables(text: str) -> tuple[dict[str, pl.DataFrame], dict[str, int], pl.DataFrame]:
    trace = gclens.read_trace(io.StringIO(text))
    counts = trace.sources.select("lines_read", "runtime_lines", "other_lines").row(0, named=True)
    # rows in line order: runs of these logs (a line repeated) close in another order when some of
    # their lines take the line-by-line path
    tables = {name: trace.frame(name).drop("source").sort("line_no", maintain_order=True) for name in _TABLES}
    return tables, counts, trace.rejects


def test_every_family_is_represented() -> None:
    lines = _representatives()
    starts = {m.group(0).strip()[:5] for line in lines if (m := _FIRST_PIECE.match(line))}
    assert {"gc", "SCHED", "P", "M", "G", "scav", "pacer", "scan:"} <= starts, starts
    assert len(lines) >= 60


@pytest.mark.parametrize("style", sorted(STYLES))
def test_every_split_of_every_layout_gives_the_intact_row(style: str) -> None:
    """Each representative line torn at each split is its own little log, parsed in one go:
    intact and torn logs give the same tables, line numbers included, and the same accounting."""
    app = STYLES[style]
    intact, torn = [], []
    for line in _in_sequence(_representatives()):
        for k in _splits(line):
            intact += [line, app]
            torn += [line[:k] + app, line[k:]]
    want, want_counts, want_rejects = _tables("\n".join(intact) + "\n")
    got, got_counts, got_rejects = _tables("\n".join(torn) + "\n")
    assert want_rejects.height == 0
    assert got_rejects.height == 0, got_rejects.select("line_no", "reason", "text").head(5).to_dicts()
    assert got_counts == want_counts
    for name in _TABLES:
        assert got[name].equals(want[name]), name


@pytest.mark.parametrize("run", ["go1.21/churn-full.stderr", "go1.25/goroutines-detail.stderr",
                                 "go1.27/pauses-long.stderr", "go1.19/memlimit-scav.stderr"])
def test_every_line_of_a_real_run_torn_once(run: str) -> None:
    """A whole real run with every runtime line torn at one of its splits (chosen by its line
    number) by an application line of a rotating style: the tables of the intact run."""
    lines = (SAMPLES / run).read_text().splitlines()
    styles = list(STYLES.values())
    intact, torn = [], []
    for no, line in enumerate(lines):
        splits = _splits(line) if _FIRST_PIECE.match(line) and _parses(line) else []
        app = styles[no % len(styles)]
        if not splits:
            intact.append(line)
            torn.append(line)
            continue
        k = splits[(no * 7919) % len(splits)]
        intact += [line, app]
        torn += [line[:k] + app, line[k:]]
    want, want_counts, _ = _tables("\n".join(intact) + "\n")
    got, got_counts, rejects = _tables("\n".join(torn) + "\n")
    assert rejects.height == 0, rejects.select("line_no", "reason", "text").head(5).to_dicts()
    assert got_counts == want_counts
    for name in _TABLES:
        assert got[name].equals(want[name]), name


def test_head_and_rest_of_two_different_lines_make_no_row() -> None:
    """`gc 5 @0.059s 4%: 0.044+3.4+<app line>` followed by the rest of a *different* gc line:
    the pause CPU of the rest is not stwprocs × the pause clock of the head, so no row (each
    pair here has pause clocks that no one stwprocs can reconcile)."""
    gcs = [line for line in (SAMPLES / "go1.25/pauses-long.stderr").read_text().splitlines()
           if line.startswith("gc ")]
    pairs = 0
    for a, b in zip(gcs, gcs[7:], strict=False):
        cut_a, cut_b = a.index(" ms clock, "), b.index(" ms clock, ")
        if _pauses(a) == _pauses(b):
            continue
        log = f"{a[:cut_a]}{STYLES['stdlog']}\n{b[cut_b:]}\n"
        trace = gclens.read_trace(io.StringIO(log))
        if _reconcilable(a, b):
            continue
        pairs += 1
        assert trace.gc.height == 0, log
        assert trace.rejects.height == 1 and trace.sources["other_lines"][0] == 1
    assert pairs >= 10


def _pauses(line: str) -> tuple[str, ...]:
    clock, cpu = line.split(": ", 1)[1].split(" ms clock, ")[0], line.split(" ms clock, ")[1].split(" ms cpu")[0]
    return clock.split("+")[0], clock.split("+")[-1], cpu.split("+")[0], cpu.split("+")[-1]


def _reconcilable(a: str, b: str) -> bool:
    """Does some stwprocs make a's pause clocks and b's pause CPU consistent (then the mix cannot
    be told from a real line, and the test skips the pair)? Reckoned apart from gclens."""
    clock_a, clock_e, _, _ = _pauses(a)
    _, _, cpu_a, cpu_e = _pauses(b)
    procs = int(b.rsplit(" P", 1)[0].rsplit(" ", 1)[1])
    return pause_cpu_explained(clock_a, clock_e, cpu_a, cpu_e, procs)


def test_digits_that_merge_are_read_by_the_runtime_rendering() -> None:
    """`@5.808` + `2026/...`: the seconds have exactly three decimals; `0.32` + `2026`: fmtNSAsMS
    has two significant digits; `4` + `2026/...` (an integer): the timestamp layout decides."""
    line = ("gc 105 @5.808s 4%: 0.32+6.6+0.29 ms clock, 0.64+0.35/1.1/2.6+0.58 ms cpu, "
            "4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P")
    for piece in ("@5.808", "s 4", "0.32", "4->4->2"):
        k = line.index(piece) + len(piece)
        trace = gclens.read_trace(io.StringIO(f"{line[:k]}{STYLES['stdlog']}\n{line[k:]}\n"))
        assert trace.gc.select("gc_num", "t_s", "gc_cpu_cum_pct", "clock_sweep_term_ms",
                               "heap_live_mib").row(0) == (105, 5.808, 4, 0.32, 2), piece


def test_digits_that_nothing_decides_are_a_reject_naming_the_readings() -> None:
    """`gc 105` + `42 requests served` + ` @5.808s ...`: cycle 105, 1054 or 10542? The line
    stays out of the table, and the reject names the readings."""
    line = ("gc 105 @5.808s 4%: 0.32+6.6+0.29 ms clock, 0.64+0.35/1.1/2.6+0.58 ms cpu, "
            "4->4->2 MB, 5 MB goal, 0 MB stacks, 0 MB globals, 2 P")
    trace = gclens.read_trace(io.StringIO(f"gc 105{'42 requests served'}\n{line[6:]}\n"))
    assert trace.gc.height == 0
    reason = trace.rejects["reason"].to_list()
    assert len(reason) == 1 and "readings" in reason[0] and "gc 105 @5.808s" in reason[0]
    assert "gc 10542 @5.808s" in reason[0]
