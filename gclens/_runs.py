"""Split a source into runs (process lifetimes) and tie each line to its GC cycle and dump.

Time model (design.md §2): a new run starts when gc numbers restart or go back, or when the gc
or SCHED clock goes back. Lines without a clock of their own inherit one:

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


@dataclass
class _Clock:
    """What the current run has seen so far."""

    run_id: int = 0
    gc_num: int | None = None
    gc_t: float | None = None
    sched_t: float | None = None
    header: Record | None = None

    def starts_new_run(self, rec: Record) -> bool:
        row = rec.row
        if rec.table == "gc":
            return self.gc_num is not None and (
                row["gc_num"] <= self.gc_num or row["t_s"] < (self.gc_t or 0.0))
        if rec.table == "sched":
            return self.sched_t is not None and row["t_s"] < self.sched_t
        return False

    def advance(self, rec: Record) -> None:
        if self.starts_new_run(rec):
            self.run_id += 1
            self.gc_num = self.gc_t = self.sched_t = None
            self.header = None
        if rec.table == "gc":
            self.gc_num, self.gc_t = rec.row["gc_num"], rec.row["t_s"]
        elif rec.table == "sched":
            self.sched_t = rec.row["t_s"]
            self.header = rec if rec.row["detail"] else None


@dataclass
class Assembled:
    """Rows per table for one source, plus its runs table rows."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    runs: list[dict[str, Any]] = field(default_factory=list)


def assemble(source: str, records: list[Record]) -> Assembled:
    """Give every record its source, line_no, run_id and (where it has one) gc_num and dump."""
    clock = _Clock()
    pending: list[Record] = []  # pacer lines waiting for the gc line of their cycle
    out = Assembled()
    for rec in records:
        clock.advance(rec)
        rec.row.update(source=source, line_no=rec.line_no, run_id=clock.run_id)
        if rec.table == "gc":
            _settle(pending, rec.row["gc_num"], clock.run_id)
        elif rec.row.get("kind") in _BEFORE_GC_LINE or (pending and rec.row.get("kind") in _END_OF_SWEEP):
            pending.append(rec)
        elif rec.table in _DUMP_TABLES:
            _attach_dump(rec, clock.header)
        elif rec.table != "sched":
            rec.row["gc_num"] = clock.gc_num
        out.tables.setdefault(rec.table, []).append(rec.row)
    _settle(pending, None if clock.gc_num is None else clock.gc_num + 1, clock.run_id)
    out.runs = _run_rows(source, records)
    return out


def _settle(pending: list[Record], gc_num: int | None, run_id: int) -> None:
    for rec in pending:
        rec.row.update(gc_num=gc_num, run_id=run_id)
    pending.clear()


def _attach_dump(rec: Record, header: Record | None) -> None:
    rec.row["sched_line_no"] = None if header is None else header.line_no
    rec.row["t_s"] = None if header is None else header.row["t_s"]


def _run_rows(source: str, records: list[Record]) -> list[dict[str, Any]]:
    runs: dict[int, dict[str, Any]] = {}
    for rec in records:
        row = rec.row
        run = runs.setdefault(row["run_id"], {
            "source": source, "run_id": row["run_id"], "first_line": rec.line_no,
            "gc_lines": 0, "gomaxprocs_seen": [], "layouts_seen": [], "anchor": None,
            "start_ts": None,
        })
        run["first_line"] = min(run["first_line"], rec.line_no)
        run["last_line"] = max(run.get("last_line", 0), rec.line_no)
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
    return [runs[k] for k in sorted(runs)]


def _add_unique(values: list[Any], value: Any) -> None:
    if value not in values:
        values.append(value)
