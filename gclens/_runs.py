"""Split a source into runs (process lifetimes) and tie each line to its GC cycle and dump.

Time model (design.md §2). A gc line continues the run whose last cycle is its predecessor
(n-1, not earlier in time); failing that, the current run if it moves forward (lost lines leave
gaps); otherwise it starts a new run: gc numbers restarted (a restart, a `go run`/`go test`
child) or went back. Preferring exact continuations keeps two interleaved runtimes (a child
inheriting GODEBUG, a c-shared library) in two runs instead of flipping between them. SCHED
lines continue the run whose SCHED clock they follow. Lines without a clock of their own:

* `pacer: assist ratio`, the old `H_m_prev` line and the new `% CPU` line are printed during
  cycle N *before* the `gc N` line, so they take the cycle and run of the next gc line;
* `pacer: sweep done` and `scav` lines are printed when cycle N's sweeping ends. The gc line is
  printed after the world restarts, so real traces (go1.25, go1.27 here) show sweep done and
  scav for cycle N *before* `gc N`: once cycle N has announced itself (a pending line above),
  they belong to it; otherwise to the last gc line;
* every other line (scan, events) takes the last gc line seen in its run;
* scheddetail P/M/G lines take the time of the SCHED header of their dump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gclens._parse import Record

_BEFORE_GC_LINE = {"assist_ratio", "old_pacer", "cpu_pacer"}
_END_OF_SWEEP = {"sweep_done", "scav"}
_DUMP_TABLES = {"sched_p", "sched_m", "sched_g"}
_LIVE_RUNS = 8
"""Runs a line may still continue: interleaved runtimes are a handful, restarts are many."""


@dataclass
class _Run:
    """What one run has seen so far."""

    run_id: int
    cut_reason: str
    gc_num: int | None = None
    gc_t: float | None = None
    sched_t: float | None = None
    header: Record | None = None

    def continues_exactly(self, n: int, t: float) -> bool:
        return self.gc_num is not None and n == self.gc_num + 1 and t >= (self.gc_t or 0.0)

    def moves_forward(self, n: int, t: float) -> bool:
        return self.gc_num is None or (n > self.gc_num and t >= (self.gc_t or 0.0))


@dataclass
class _Splitter:
    """Assigns each clocked record (gc or SCHED line) to a run, opening runs as needed."""

    runs: list[_Run] = field(default_factory=list)  # the last _LIVE_RUNS: older ones take no more lines
    current: _Run | None = None
    opened: int = 0

    def place(self, rec: Record) -> _Run:
        if rec.table == "gc":
            self.current = self._for_gc(rec.row["gc_num"], rec.row["t_s"])
            self.current.gc_num, self.current.gc_t = rec.row["gc_num"], rec.row["t_s"]
        elif rec.table == "sched":
            self.current = self._for_sched(rec.row["t_s"])
            self.current.sched_t = rec.row["t_s"]
            self.current.header = rec if rec.row["detail"] else None
        elif self.current is None:
            self.current = self._open("start of source")
        return self.current

    def _for_gc(self, n: int, t: float) -> _Run:
        cur = self.current
        if cur is not None and cur.continues_exactly(n, t):
            return cur
        exact = [r for r in self.runs[-_LIVE_RUNS:] if r.continues_exactly(n, t)]
        if exact:
            return exact[-1]
        if cur is not None and cur.moves_forward(n, t):
            return cur
        if cur is None:
            return self._open("start of source")
        if cur.gc_num is not None and n <= cur.gc_num:
            return self._open(f"gc numbers restart: gc {n} after gc {cur.gc_num}")
        return self._open(f"gc clock went back: @{t:.3f}s after @{cur.gc_t:.3f}s")

    def _for_sched(self, t: float) -> _Run:
        cur = self.current
        if cur is not None and (cur.sched_t is None or t >= cur.sched_t):
            return cur
        behind = [r for r in self.runs[-_LIVE_RUNS:] if r.sched_t is not None and r.sched_t <= t]
        if behind:
            return max(behind, key=lambda r: r.sched_t or 0.0)
        if cur is None:
            return self._open("start of source")
        return self._open(f"SCHED clock went back: {t * 1000:.0f}ms after {(cur.sched_t or 0) * 1000:.0f}ms")

    def _open(self, reason: str) -> _Run:
        run = _Run(self.opened, "start of source" if not self.opened else reason)
        self.opened += 1
        self.runs.append(run)
        del self.runs[:-_LIVE_RUNS]
        return run

    def reason(self, run_id: int) -> str:
        """Why a live run started (a line is only ever placed in one of the last _LIVE_RUNS runs)."""
        return next((r.cut_reason for r in self.runs if r.run_id == run_id), "unknown")


Rows = dict[str, list[dict[str, Any]]]
"""Rows per table name."""


class Assembler:
    """Streams one source's records into table rows, keeping run and cycle state across batches.

    Rows come out in line order per table, except the lines that wait for the gc line of their
    cycle, which come out with it. ``finish`` settles what is still waiting and gives the runs.
    """

    def __init__(self, source: str) -> None:
        self.source = source
        self.splitter = _Splitter()
        self.pending: list[Record] = []  # lines waiting for the gc line of their cycle
        self.last_gc: dict[int, int | None] = {}
        self.runs: dict[int, dict[str, Any]] = {}

    def feed(self, records: list[Record]) -> Rows:
        out: Rows = {}
        for rec in records:
            run = self.splitter.place(rec)
            rec.row.update(source=self.source, line_no=rec.line_no, run_id=run.run_id)
            kind = rec.row.get("kind")
            if rec.table == "gc":
                self._settle(out, rec.row["gc_num"], run.run_id)
                self.last_gc[run.run_id] = rec.row["gc_num"]
            elif kind in _BEFORE_GC_LINE or (self.pending and kind in _END_OF_SWEEP):
                self.pending.append(rec)
                continue
            elif rec.table in _DUMP_TABLES:
                _attach_dump(rec, run.header)
            elif rec.table != "sched":
                rec.row["gc_num"] = self.last_gc.get(run.run_id)
            self._emit(out, rec)
        return out

    def close_runs(self) -> list[dict[str, Any]]:
        """The runs table rows of runs that can take no more lines, handed over and forgotten.

        Keeps memory flat on logs with thousands of restarts (a crash-looping pod).
        """
        oldest_live = self.splitter.opened - _LIVE_RUNS
        waiting = {rec.row["run_id"] for rec in self.pending}
        done = sorted(k for k in self.runs if k < oldest_live and k not in waiting)
        for run_id in done:
            self.last_gc.pop(run_id, None)
        return [self.runs.pop(k) for k in done]

    def finish(self) -> tuple[Rows, list[dict[str, Any]]]:
        out: Rows = {}
        if self.pending:
            run_id = self.pending[0].row["run_id"]
            last = self.last_gc.get(run_id)
            self._settle(out, None if last is None else last + 1, run_id)
        return out, [self.runs[k] for k in sorted(self.runs)]

    def _settle(self, out: Rows, gc_num: int | None, run_id: int) -> None:
        for rec in self.pending:
            rec.row.update(gc_num=gc_num, run_id=run_id)
            self._emit(out, rec)
        self.pending.clear()

    def _emit(self, out: Rows, rec: Record) -> None:
        out.setdefault(rec.table, []).append(rec.row)
        self._account(rec)

    def _account(self, rec: Record) -> None:
        """Keep the runs table up to date with one more row."""
        row = rec.row
        run = self.runs.setdefault(row["run_id"], {
            "source": self.source, "run_id": row["run_id"], "first_line": rec.line_no,
            "last_line": rec.line_no, "cut_reason": self.splitter.reason(row["run_id"]),
            "gc_lines": 0, "gomaxprocs_seen": [], "layouts_seen": [],
        })
        run["first_line"] = min(run["first_line"], rec.line_no)
        run["last_line"] = max(run["last_line"], rec.line_no)
        _add_unique(run["layouts_seen"], f"{rec.table}:{row.get('layout')}")
        if rec.table == "gc":
            run["gc_lines"] += 1
            run.setdefault("gc_first", row["gc_num"])
            run["gc_last"] = row["gc_num"]
            _add_unique(run["gomaxprocs_seen"], row["procs"])
        if rec.table == "sched":
            _add_unique(run["gomaxprocs_seen"], row["gomaxprocs"])
        if rec.table in ("gc", "sched"):
            run["t_last_s"] = max(run.get("t_last_s", 0.0), row["t_s"])


def _attach_dump(rec: Record, header: Record | None) -> None:
    rec.row["sched_line_no"] = None if header is None else header.line_no
    rec.row["t_s"] = None if header is None else header.row["t_s"]


def _add_unique(values: list[Any], value: Any) -> None:
    if value not in values:
        values.append(value)
