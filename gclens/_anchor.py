"""Wall-clock anchors: when t_s = 0 of each run happened, so every row can get a `ts`.

Runtime times are monotonic and relative to runtime start. An envelope time (``log_ts``) says
when the collector saw a line: a gc line is written at the *end* of its cycle, so each gc line
gives the estimate ``log_ts - (t_s + wall time)``; a SCHED line gives ``log_ts - t_s`` (its base is
the first schedtrace call, within milliseconds of runtime start). The run's anchor is the median
of these estimates (collector delays and truncated times make single lines noisy), its spread
the median absolute deviation. Without envelope times there is no anchor unless the user gives
the start time; nothing is guessed.
"""

from __future__ import annotations

import statistics
from typing import Any

from gclens._runs import Assembled

_CLOCKED = ("gc", "sched")


def anchor(assembled: Assembled, *, start_ns: int | None = None) -> None:
    """Fill ``start_ts``/``anchor`` in the runs rows and ``ts`` in every row that has a time."""
    for run in assembled.runs:
        rows = {t: [r for r in assembled.tables.get(t, []) if r["run_id"] == run["run_id"]]
                for t in _CLOCKED}
        wall, mono = _offsets(rows, "log_ts"), _offsets(rows, "_mono_ns")
        run["mono_start_ns"] = _median(mono)
        run["boot_id"] = next((r["_boot_id"] for r in rows["gc"] + rows["sched"] if r.get("_boot_id")), None)
        if start_ns is not None:
            run.update(start_ts=start_ns, anchor="given by the user (--start)", anchor_lines=0)
        elif wall:
            run.update(start_ts=_median(wall), anchor_lines=len(wall),
                       anchor=f"median of {len(wall)} envelope times", anchor_spread_ms=_mad_ms(wall))
    starts = {r["run_id"]: r.get("start_ts") for r in assembled.runs}
    _fill_ts(assembled, starts)


def _offsets(rows: dict[str, list[dict[str, Any]]], key: str) -> list[int]:
    """Per line, the estimated wall (or monotonic) time of t_s = 0.

    A collector that truncates its times (to seconds, ms, ...) saw the line somewhere in
    [log_ts, log_ts + resolution): the middle of that interval is used.
    """
    def when(row: dict[str, Any]) -> int:
        return int(row[key]) + (int(row.get("_log_ts_res") or 0) // 2 if key == "log_ts" else 0)

    out = [when(row) - round((row["t_s"] + row["wall_ms"] / 1000) * 1e9)
           for row in rows["gc"] if row.get(key) is not None]
    if not out:  # SCHED lines only when no gc line carries a time: their base differs slightly
        out = [when(row) - round(row["t_s"] * 1e9) for row in rows["sched"] if row.get(key) is not None]
    return out


def _median(values: list[int]) -> int | None:
    return round(statistics.median(values)) if values else None


def _mad_ms(values: list[int]) -> float:
    mid = statistics.median(values)
    return statistics.median(abs(v - mid) for v in values) / 1e6


def _fill_ts(assembled: Assembled, starts: dict[int, int | None]) -> None:
    cycle_t: dict[tuple[int, int], float] = {
        (r["run_id"], r["gc_num"]): r["t_s"] for r in assembled.tables.get("gc", [])}
    for rows in assembled.tables.values():
        for row in rows:
            start = starts.get(row["run_id"])
            if start is None:
                continue
            t = row.get("t_s")
            if t is None and row.get("gc_num") is not None:
                t = cycle_t.get((row["run_id"], row["gc_num"]))
            if t is not None:
                row["ts"] = start + round(t * 1e9)
