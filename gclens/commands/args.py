"""The command line's arguments: every command, its options and their checks
(gclens._validate), with no import of what the commands run, so that --help is fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from gclens import _validate as v
from gclens.commands.common import EXIT_USAGE
from gclens.commands.judge import cmd_align, cmd_check, cmd_diff, cmd_report, cmd_rules, cmd_summary, cmd_whatif
from gclens.commands.tables import cmd_parse, cmd_schema, cmd_snapshot
from gclens.read.envelopes import ENVELOPES
from gclens.store.formats import FORMATS

__all__ = ["add_command", "add_input_options", "add_limits", "build_parser", "typed"]


class _Parser(argparse.ArgumentParser):
    """argparse that exits with 2 and one line, as every other usage error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"gclens: error: {message}\n")


def typed(check: v.Check) -> Callable[[str], Any]:
    """An argparse ``type=`` from a ``gclens._validate`` check: its message becomes argparse's."""
    def parse(text: str) -> Any:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    parse.__name__ = getattr(check, "__name__", "value")
    return parse


class _Removed(argparse.Action):
    """A flag that no longer exists: using it is a usage error that says what replaced it."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> None:
        parser.error(f"{option_string} was removed: forced cycles count by default, as in the runtime's "
                     "own GCCPUFraction; --exclude-forced counts background cycles only")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gclens", description="Go GC and scheduler traces as Arrow tables.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parse = sub.add_parser(
        "parse", help="parse runtime trace output into tables",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Parse GODEBUG gctrace/gcpacertrace/schedtrace/scavtrace output.",
        epilog="example:\n  gclens parse app.log 'logs/*.log.gz' -o out/ --format parquet",
    )
    _add_input(parse)
    parse.add_argument("-o", "--output", metavar="DIR",
                       help="write every table to DIR; '-' streams JSON lines to stdout (--format jsonl)")
    parse.add_argument("--format", choices=FORMATS, default="parquet", help="output format")
    parse.add_argument("--strict", action="store_true", help="exit 3 when any line is rejected")
    parse.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                       help="progress bar on stderr (default: on a terminal, for inputs over 64 MiB)")
    fleet = parse.add_argument_group("fleet dataset (instead of -o)")
    fleet.add_argument("--dataset", metavar="DIR",
                       help="append to a hive-partitioned Parquet dataset; files already ingested add nothing")
    fleet.add_argument("--partition-by", default="host,date", metavar="KEYS", type=typed(v.column_list),
                       help="partition columns, comma-separated (default host,date; labels allowed)")
    fleet.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", type=typed(v.label),
                       help="a provenance column on every row, e.g. --label cluster=eu1 (repeatable)")
    fleet.add_argument("--jobs", type=typed(v.JOBS), default=1, metavar="N", help="parse files in N processes")
    fleet.add_argument("--complete", action="store_true",
                       help="the files are finished: ingest an unterminated last line too")
    parse.set_defaults(run=cmd_parse)
    check = add_command(sub, "check",
                        "exit 1 when pauses or GC CPU exceed their limits, 4 when a source has no GC cycles",
                        "gclens check app.log --max-stw-ms 1 --max-gc-cpu-pct 5 --format junit > gc.xml")
    _add_input(check)
    add_limits(check)
    _add_context(check)
    check.add_argument("--format", choices=("text", "json", "junit"), default="text")
    check.set_defaults(run=cmd_check)
    summary = add_command(sub, "summary", "KPIs and top findings, one screen per run",
                          "gclens summary app.log")
    _add_input(summary)
    add_limits(summary)
    _add_context(summary)
    summary.set_defaults(run=cmd_summary)
    diff = add_command(sub, "diff", "compare KPIs of two traces; exit 1 on a regression",
                       "gclens diff before.log after.log --max-regression-pct 10 --format json")
    diff.add_argument("before", metavar="BEFORE")
    diff.add_argument("after", metavar="AFTER")
    diff.add_argument("--max-regression-pct", type=typed(v.NON_NEGATIVE), default=10.0,
                      help="a KPI worse by more than this is a regression (default 10)")
    diff.add_argument("--exclude-forced", action="store_true",
                      help="leave forced cycles (runtime.GC) out of pauses and GC CPU")
    diff.add_argument("--include-forced", action=_Removed)
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.set_defaults(run=cmd_diff)
    whatif = add_command(sub, "whatif", "predict GC CPU and peak heap under other GOGC / GOMEMLIMIT values",
                         "gclens whatif app.log --gogc 50,100,200,off --memlimit 512MiB --format json")
    _add_input(whatif)
    whatif.add_argument("--gogc", default="50,100,200,400", type=typed(v.gogc_list),
                        help="comma-separated GOGC values ('off' allowed)")
    whatif.add_argument("--memlimit", default="", type=typed(v.size_list),
                        help="comma-separated GOMEMLIMIT values, e.g. 256MiB,1GiB")
    whatif.add_argument("--target-gc-cpu-pct", type=typed(v.target_percent), default=5.0,
                        help="recommend the smallest GOGC that keeps GC CPU under this (default 5)")
    whatif.add_argument("--cpu-bound", action="store_true",
                        help="the program allocates as fast as its CPU allows (batch job, benchmark)")
    whatif.add_argument("--rt-p95-ms", type=typed(v.RT_MS), default=None,
                        help="your service's P95 response time: also show the tuning guide's adaptive GOGC "
                             "for it (a heuristic; a trace has no request latency)")
    whatif.add_argument("--run-gogc", type=typed(v.run_gogc), default=None, metavar="GOGC",
                        help="the GOGC the traced run had (default: inferred from its heap goals, "
                             "which MiB rounding blurs on small heaps)")
    whatif.add_argument("--run-memlimit", type=typed(v.size_mib), default=None, metavar="SIZE",
                        help="the GOMEMLIMIT the traced run had, if any (tells how much of it is not heap)")
    whatif.add_argument("--format", choices=("text", "json"), default="text")
    whatif.set_defaults(run=cmd_whatif)
    report = add_command(sub, "report", "write a self-contained HTML report (exit 4 when a source has no GC cycles)",
                         "gclens report app.log -o report.html")
    _add_input(report)
    report.add_argument("-o", "--output", metavar="HTML", required=True, help="the report file to write")
    add_limits(report)
    _add_context(report)
    report.set_defaults(run=cmd_report)
    align = add_command(sub, "align", "line GC cycles up with perf samples and settings snapshots",
                        "gclens align app.log --perf perf.txt --snapshot before.json --snapshot after.json -o out/")
    _add_input(align)
    _add_context(align)
    align.add_argument("-o", "--output", metavar="DIR", required=True,
                       help="write the parse tables plus settings, gc_settings, perf_samples, alignment to DIR")
    align.add_argument("--format", choices=FORMATS, default="parquet", help="output format")
    align.set_defaults(run=cmd_align)
    snapshot = add_command(sub, "snapshot", "capture sysctl, cgroup, THP, limits and Go settings of a process",
                           "gclens snapshot --pid $(pidof myservice) -o before.json")
    snapshot.add_argument("--pid", type=typed(v.PID), help="process to describe (default: the host only)")
    snapshot.add_argument("-o", "--output", metavar="FILE", default="-",
                          help="JSON file to write (default: stdout); with --every, one JSON line per capture")
    snapshot.add_argument("--every", type=typed(v.SECONDS), metavar="SECONDS",
                          help="keep capturing every SECONDS until the process exits or Ctrl-C")
    snapshot.add_argument("--count", type=typed(v.COUNT), metavar="N", help="with --every: stop after N captures")
    snapshot.add_argument("--format", choices=("json", "sysctl"), default="json",
                          help="json (everything); sysctl: sysctl -a text under a '# gclens snapshot TIME boot_id=... "
                               "monotonic_ns=...' header that keeps it on the timeline (one file per capture)")
    snapshot.set_defaults(run=cmd_snapshot)
    from gclens.live._cli import add_commands

    add_commands(sub)
    schema = sub.add_parser("schema", help="print the tables and their columns",
                            epilog="example:\n  gclens schema gc")
    schema.add_argument("tables", nargs="*", metavar="TABLE", help="tables to describe (default: all)")
    schema.add_argument("--markdown", action="store_true", help="print Markdown tables")
    schema.set_defaults(run=cmd_schema)
    rules = add_command(sub, "rules", "list every claim of the tuning guide, our verdict, and the rule that checks it",
                        "gclens rules --section 1 --format json")
    rules.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                       help="text table (default), Markdown (docs/rules.md) or JSON")
    rules.add_argument("--markdown", action="store_const", const="markdown", dest="format",
                       help="the same as --format markdown")
    rules.add_argument("--section", choices=("1", "2", "3", "4", "5", "gclens"),
                       help="one section of the guide (gclens: rules the guide does not name)")
    rules.set_defaults(run=cmd_rules)
    return parser


def add_command(sub: Any, name: str, help_: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_[0].upper() + help_[1:] + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=f"example:\n  {example}")
    return parser


def _add_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="log file, glob, or - for stdin")
    add_input_options(parser)


def add_input_options(parser: argparse.ArgumentParser, envelope: str = "auto") -> None:
    group = parser.add_argument_group("input")
    group.add_argument("--envelope", default=envelope, choices=["auto", "raw", *ENVELOPES],
                       help=f"log collector envelope around each line (default: {envelope})")
    group.add_argument("--start", metavar="TIME", type=typed(v.rfc3339),
                       help="runtime start, RFC 3339 (anchors ts)")
    group.add_argument("--year", type=typed(v.YEAR), help="year for envelope times that lack one (syslog, klog)")
    group.add_argument("--tz", default="UTC", type=typed(v.time_zone),
                       help="time zone for envelope times that lack one")
    group.add_argument("--max-input-bytes", type=typed(v.BYTES), default=None, metavar="N",
                       help="stop reading a compressed input after N decompressed bytes (default 64 GiB)")
    group.add_argument("--engine", choices=("fast", "lark"), default="fast",
                       help="fast: templates derived from the grammars (default); lark: the reference parser")


def _add_context(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("context (settings snapshots and perf samples to line up with the trace)")
    # one value each, repeatable: a list-taking option would swallow the trace FILE after it
    group.add_argument("--snapshot", action="append", default=[], metavar="FILE",
                       help="gclens snapshot JSON/JSONL, sysctl -a text, a directory of them, or a copied /proc/sys "
                            "directory (repeatable)")
    group.add_argument("--snapshot-time", metavar="TIME", type=typed(v.rfc3339),
                       help="capture time (RFC 3339) of sysctl -a text without a gclens header (default: its mtime)")
    group.add_argument("--perf", action="append", default=[], metavar="FILE",
                       help="perf script output (text, .gz, or gclens' JSONL export; repeatable); "
                            "record with -k mono -g")
    group.add_argument("--perf-clock", choices=("monotonic", "perf_local"),
                       help="perf's clock when the file has no header (perf script --header shows it)")


def add_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (defaults: 1 ms pause, 5 % GC CPU over 60 s, every cycle counted)")
    group.add_argument("--max-stw-ms", type=typed(v.STW_MS), help="longest acceptable STW pause (ms, >= 0)")
    group.add_argument("--max-gc-cpu-pct", type=typed(v.PERCENT), help="GC CPU limit for the worst window (0-100)")
    group.add_argument("--window-s", type=typed(v.SECONDS),
                       help="sliding window for GC CPU (seconds, 0.001 to a year)")
    group.add_argument("--cpu-quota", type=typed(v.CPUS), help="CPUs of the cgroup quota (cpu.max, >= 0.001)")
    group.add_argument("--exclude-forced", action="store_true", default=None,
                       help="leave forced cycles (runtime.GC) out of pauses and GC CPU (default: they count, "
                            "as in the runtime's GCCPUFraction)")
    group.add_argument("--include-forced", action=_Removed)
    group.add_argument("--allow-empty", action="store_true", default=None,
                       help="accept a source without GC cycles (default: exit 4, no evidence is not a pass)")
    group.add_argument("--config", metavar="TOML", help="read limits from [check] of a TOML file")
