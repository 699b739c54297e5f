"""Findings about the input itself: is there evidence to judge, and is it whole?

A gate that passes a log without a single gc line has checked nothing: the program ran without
GODEBUG=gctrace=1, or the wrong file was given. Such a source is a ``no-gc-lines`` finding of
its own, and ``verdict`` keeps it apart from a limit exceeded, so that the command line can exit
with a code of its own (``--allow-empty`` turns it into a warning). A log that ends inside a
runtime line (no newline after ``gc `` or ``SCHED 100ms: gomaxprocs=2 idle``) comes from a process
killed or hung while printing: the reader rejects that line as ``unterminated last line`` and it
becomes a ``truncated-log`` finding with its line number and text.
"""

from __future__ import annotations

from typing import Any, Literal

import polars as pl

from gclens.analysis._finding import finding
from gclens.pipeline.trace import Trace

__all__ = ["NO_GC_LINES", "TRUNCATED", "UNTERMINATED", "Verdict", "input_findings", "no_gc_message", "verdict"]

NO_GC_LINES = "no-gc-lines"
TRUNCATED = "truncated-log"
UNTERMINATED = "unterminated last line"
"""How the reader's reject reason for a cut-off last line starts (``gclens.pipeline.parse``)."""
Verdict = Literal["pass", "limit", "no-evidence"]


def no_gc_message(source: str) -> str:
    return f"no gc lines in {source}: is GODEBUG=gctrace=1 set?"


def input_findings(trace: Trace, *, allow_empty: bool = False) -> list[dict[str, Any]]:
    """Sources without GC cycles, logs cut inside a runtime line, and other rejected lines."""
    out = []
    with_gc = set(trace.gc["source"].unique().to_list())
    for source in trace.sources["source"].to_list():
        if source in with_gc:
            continue
        out.append(finding(
            NO_GC_LINES, "warning" if allow_empty else "error", {"source": source, "run_id": None},
            0.0, 1.0, "cycles", (None, None), [], no_gc_message(source),
            "Run the program with GODEBUG=gctrace=1 (the gc lines go to its stderr) and give that "
            "output; --allow-empty accepts a source without cycles.",
            "https://pkg.go.dev/runtime#hdr-Environment_Variables"))
    rejects = trace.rejects
    cut = pl.col("reason").str.starts_with(UNTERMINATED)
    for row in rejects.filter(cut).iter_rows(named=True):
        out.append(finding(
            TRUNCATED, "warning", {"source": row["source"], "run_id": None}, float(row["line_no"]), 0.0,
            "line", (None, None), [],
            f"the log ends inside a runtime line (line {row['line_no']}: {row['text']!r}): the process "
            "was killed or hung while printing it, so the trace stops early",
            "Find out how the process ended (exit status, timeout, OOM kill). GODEBUG=scavtrace=1 "
            "under memory-limit pressure has hung go1.23/go1.24 processes in the middle of a line.",
            "", line=row["line_no"], text=row["text"]))
    for (source,), rows in rejects.filter(~cut).group_by(["source"], maintain_order=True):
        out.append(finding(
            "rejected-lines", "warning", {"source": source, "run_id": None}, float(rows.height),
            0.0, "lines", (None, None), [], f"{rows.height} runtime-looking lines did not parse",
            "See the rejects table (line numbers and reasons).", ""))
    return out


def verdict(findings: pl.DataFrame) -> Verdict:
    """``limit`` when an error finding says a limit was exceeded; else ``no-evidence`` when a
    source had no GC cycles (and that was not allowed); else ``pass``."""
    errors = findings.filter(pl.col("severity") == "error")
    if (errors["rule"] != NO_GC_LINES).any():
        return "limit"
    return "no-evidence" if errors.height else "pass"
