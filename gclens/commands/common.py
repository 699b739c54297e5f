"""What every command of the command line shares: the exit codes, and the turning of parsed
arguments into library objects (options, the trace, limits, the aligned context) and of findings
into an exit code. Also used by gclens.live._cli (run, follow).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the heavy modules load inside the functions that use them
    import polars as pl

    from gclens.analysis import Limits
    from gclens.context.align import Aligned
    from gclens.pipeline.stream import Options
    from gclens.pipeline.trace import Trace
    from gclens.read.sources import SourceLike

__all__ = ["EXIT_INTERRUPTED", "EXIT_LIMIT", "EXIT_NOT_ALIGNED", "EXIT_NO_EVIDENCE", "EXIT_OK", "EXIT_PIPE",
           "EXIT_REJECTS", "EXIT_TERMINATED", "EXIT_USAGE", "aligned_from", "gate", "limits_from", "options_from",
           "read_input"]

EXIT_OK, EXIT_LIMIT, EXIT_USAGE, EXIT_REJECTS, EXIT_NO_EVIDENCE, EXIT_INTERRUPTED, EXIT_PIPE, EXIT_TERMINATED = (
    0, 1, 2, 3, 4, 130, 141, 143)
EXIT_NOT_ALIGNED = 5


def options_from(args: argparse.Namespace) -> tuple[list[SourceLike], Options]:
    """The input files and the reading options (envelope, start, clock...) of the command line."""
    from gclens.pipeline.reader import make_options

    options = make_options(envelope=args.envelope, start=args.start, year=args.year, tz=args.tz,
                           max_input_bytes=args.max_input_bytes, engine=args.engine)
    return list(getattr(args, "files", [])), options


def read_input(args: argparse.Namespace) -> Trace:
    """The command line's input, parsed into a Trace."""
    from gclens.pipeline.reader import trace_from
    from gclens.pipeline.stream import stream

    files, options = options_from(args)
    return trace_from(stream(files, options))


def limits_from(args: argparse.Namespace) -> Limits:
    """The limits of the command line: flags over ``--config`` over the defaults."""
    from gclens.analysis import Limits

    flags = {name: getattr(args, name) for name in
             ("max_stw_ms", "max_gc_cpu_pct", "window_s", "cpu_quota", "exclude_forced", "allow_empty")}
    if args.config:
        return Limits.from_toml(args.config, **flags)
    return replace(Limits(), **{k: v for k, v in flags.items() if v is not None})


def aligned_from(args: argparse.Namespace, trace: Trace) -> Aligned:
    """The trace lined up with the --perf and --snapshot inputs of the command line."""
    from datetime import datetime

    from gclens.context.align import align
    from gclens.context.perf import read_perf
    from gclens.context.settings import read_settings

    when = datetime.fromisoformat(args.snapshot_time.replace("Z", "+00:00")) if args.snapshot_time else None
    settings = read_settings(args.snapshot, captured_at=when) if args.snapshot else None
    captures = [read_perf(path, clock=args.perf_clock) for path in args.perf]
    return align(trace, captures, settings)


def gate(findings: pl.DataFrame) -> int:
    """The exit code of check: 1 a limit exceeded, else 4 when a source had no GC cycles (each
    such source gets its one-line message on stderr either way), else 0."""
    from gclens.analysis.evidence import NO_GC_LINES, no_gc_message, verdict

    empty = findings.filter((findings["rule"] == NO_GC_LINES) & (findings["severity"] == "error"))
    for source in empty["source"].to_list():
        print(f"gclens: {no_gc_message(source)}", file=sys.stderr)
    return {"limit": EXIT_LIMIT, "no-evidence": EXIT_NO_EVIDENCE, "pass": EXIT_OK}[verdict(findings)]
