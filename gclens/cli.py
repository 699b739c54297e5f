"""The `gclens` command line: thin wrappers over the library, one command per public call.

Exit codes: 0 success · 1 a limit exceeded (check) or a regression (diff) · 2 bad usage (any
option value out of range is refused before input is read), unreadable input or unwritable
output (with ``--dataset``: some files unreadable, recorded in ``sources.error`` and skipped, the
others ingested) · 3 rejected lines under ``--strict`` · 4 no evidence: a source without GC cycles (check,
report; ``--allow-empty`` accepts it) · 5 not aligned (align): a run could not be placed on a perf
capture's clock, with one line saying why and what to add · 130 interrupted · 141 the reader of stdout went away (as
SIGPIPE would) · 143 terminated (SIGTERM) · run: the program's own status (126/127: it could not
be started; see ``gclens.live._cli``). Output files are written under temporary names and
renamed, so an interruption never leaves a partial file.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, NoReturn

from gclens import _validate as v
from gclens._envelopes import ENVELOPES
from gclens._errors import GclensError, LineError, UsageError
from gclens._formats import FORMATS

if TYPE_CHECKING:  # the heavy modules load inside the commands that use them: fast --help
    import polars as pl

    from gclens._pipeline import Options, Summary
    from gclens._sources import SourceLike
    from gclens._trace import Trace
    from gclens.align import Aligned
    from gclens.analysis import Limits

EXIT_OK, EXIT_LIMIT, EXIT_USAGE, EXIT_REJECTS, EXIT_NO_EVIDENCE, EXIT_INTERRUPTED, EXIT_PIPE, EXIT_TERMINATED = (
    0, 1, 2, 3, 4, 130, 141, 143)
EXIT_NOT_ALIGNED = 5


class _Terminated(BaseException):  # like KeyboardInterrupt: no `except Exception` swallows it
    """SIGTERM, turned into an exception so that temporary output is cleaned up on the way out."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


class _Parser(argparse.ArgumentParser):
    """argparse that exits with 2 and one line, as every other usage error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"gclens: error: {message}\n")


def _typed(check: v.Check) -> Callable[[str], Any]:
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
    fleet.add_argument("--partition-by", default="host,date", metavar="KEYS", type=_typed(v.column_list),
                       help="partition columns, comma-separated (default host,date; labels allowed)")
    fleet.add_argument("--label", action="append", default=[], metavar="KEY=VALUE", type=_typed(v.label),
                       help="a provenance column on every row, e.g. --label cluster=eu1 (repeatable)")
    fleet.add_argument("--jobs", type=_typed(v.JOBS), default=1, metavar="N", help="parse files in N processes")
    fleet.add_argument("--complete", action="store_true",
                       help="the files are finished: ingest an unterminated last line too")
    parse.set_defaults(run=_cmd_parse)
    check = _command(sub, "check", "exit 1 when pauses or GC CPU exceed their limits, 4 when a source has no GC cycles",
                     "gclens check app.log --max-stw-ms 1 --max-gc-cpu-pct 5 --format junit > gc.xml")
    _add_input(check)
    _add_limits(check)
    _add_context(check)
    check.add_argument("--format", choices=("text", "json", "junit"), default="text")
    check.set_defaults(run=_cmd_check)
    summary = _command(sub, "summary", "KPIs and top findings, one screen per run",
                       "gclens summary app.log")
    _add_input(summary)
    _add_limits(summary)
    _add_context(summary)
    summary.set_defaults(run=_cmd_summary)
    diff = _command(sub, "diff", "compare KPIs of two traces; exit 1 on a regression",
                    "gclens diff before.log after.log --max-regression-pct 10 --format json")
    diff.add_argument("before", metavar="BEFORE")
    diff.add_argument("after", metavar="AFTER")
    diff.add_argument("--max-regression-pct", type=_typed(v.NON_NEGATIVE), default=10.0,
                      help="a KPI worse by more than this is a regression (default 10)")
    diff.add_argument("--exclude-forced", action="store_true",
                      help="leave forced cycles (runtime.GC) out of pauses and GC CPU")
    diff.add_argument("--include-forced", action=_Removed)
    diff.add_argument("--format", choices=("text", "json"), default="text")
    diff.set_defaults(run=_cmd_diff)
    whatif = _command(sub, "whatif", "predict GC CPU and peak heap under other GOGC / GOMEMLIMIT values",
                      "gclens whatif app.log --gogc 50,100,200,off --memlimit 512MiB --format json")
    _add_input(whatif)
    whatif.add_argument("--gogc", default="50,100,200,400", type=_typed(v.gogc_list),
                        help="comma-separated GOGC values ('off' allowed)")
    whatif.add_argument("--memlimit", default="", type=_typed(v.size_list),
                        help="comma-separated GOMEMLIMIT values, e.g. 256MiB,1GiB")
    whatif.add_argument("--target-gc-cpu-pct", type=_typed(v.target_percent), default=5.0,
                        help="recommend the smallest GOGC that keeps GC CPU under this (default 5)")
    whatif.add_argument("--cpu-bound", action="store_true",
                        help="the program allocates as fast as its CPU allows (batch job, benchmark)")
    whatif.add_argument("--rt-p95-ms", type=_typed(v.RT_MS), default=None,
                        help="your service's P95 response time: also show the tuning guide's adaptive GOGC "
                             "for it (a heuristic; a trace has no request latency)")
    whatif.add_argument("--run-gogc", type=_typed(v.run_gogc), default=None, metavar="GOGC",
                        help="the GOGC the traced run had (default: inferred from its heap goals, "
                             "which MiB rounding blurs on small heaps)")
    whatif.add_argument("--run-memlimit", type=_typed(v.size_mib), default=None, metavar="SIZE",
                        help="the GOMEMLIMIT the traced run had, if any (tells how much of it is not heap)")
    whatif.add_argument("--format", choices=("text", "json"), default="text")
    whatif.set_defaults(run=_cmd_whatif)
    report = _command(sub, "report", "write a self-contained HTML report (exit 4 when a source has no GC cycles)",
                      "gclens report app.log -o report.html")
    _add_input(report)
    report.add_argument("-o", "--output", metavar="HTML", required=True, help="the report file to write")
    _add_limits(report)
    _add_context(report)
    report.set_defaults(run=_cmd_report)
    align = _command(sub, "align", "line GC cycles up with perf samples and settings snapshots",
                     "gclens align app.log --perf perf.txt --snapshot before.json --snapshot after.json -o out/")
    _add_input(align)
    _add_context(align)
    align.add_argument("-o", "--output", metavar="DIR", required=True,
                       help="write the parse tables plus settings, gc_settings, perf_samples, alignment to DIR")
    align.add_argument("--format", choices=FORMATS, default="parquet", help="output format")
    align.set_defaults(run=_cmd_align)
    snapshot = _command(sub, "snapshot", "capture sysctl, cgroup, THP, limits and Go settings of a process",
                        "gclens snapshot --pid $(pidof myservice) -o before.json")
    snapshot.add_argument("--pid", type=_typed(v.PID), help="process to describe (default: the host only)")
    snapshot.add_argument("-o", "--output", metavar="FILE", default="-",
                          help="JSON file to write (default: stdout); with --every, one JSON line per capture")
    snapshot.add_argument("--every", type=_typed(v.SECONDS), metavar="SECONDS",
                          help="keep capturing every SECONDS until the process exits or Ctrl-C")
    snapshot.add_argument("--count", type=_typed(v.COUNT), metavar="N", help="with --every: stop after N captures")
    snapshot.add_argument("--format", choices=("json", "sysctl"), default="json",
                          help="json (everything); sysctl: sysctl -a text under a '# gclens snapshot TIME boot_id=... "
                               "monotonic_ns=...' header that keeps it on the timeline (one file per capture)")
    snapshot.set_defaults(run=_cmd_snapshot)
    from gclens.live._cli import add_commands

    add_commands(sub)
    schema = sub.add_parser("schema", help="print the tables and their columns",
                            epilog="example:\n  gclens schema gc")
    schema.add_argument("tables", nargs="*", metavar="TABLE", help="tables to describe (default: all)")
    schema.add_argument("--markdown", action="store_true", help="print Markdown tables")
    schema.set_defaults(run=_cmd_schema)
    rules = _command(sub, "rules", "list every claim of the tuning guide, our verdict, and the rule that checks it",
                     "gclens rules --section 1 --format json")
    rules.add_argument("--format", choices=("text", "markdown", "json"), default="text",
                       help="text table (default), Markdown (docs/rules.md) or JSON")
    rules.add_argument("--markdown", action="store_const", const="markdown", dest="format",
                       help="the same as --format markdown")
    rules.add_argument("--section", choices=("1", "2", "3", "4", "5", "gclens"),
                       help="one section of the guide (gclens: rules the guide does not name)")
    rules.set_defaults(run=_cmd_rules)
    return parser


def _command(sub: Any, name: str, help_: str, example: str) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(
        name, help=help_, description=help_[0].upper() + help_[1:] + ".",
        formatter_class=argparse.RawDescriptionHelpFormatter, epilog=f"example:\n  {example}")
    return parser


def _add_input(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="log file, glob, or - for stdin")
    _add_input_options(parser)


def _add_input_options(parser: argparse.ArgumentParser, envelope: str = "auto") -> None:
    group = parser.add_argument_group("input")
    group.add_argument("--envelope", default=envelope, choices=["auto", "raw", *ENVELOPES],
                       help=f"log collector envelope around each line (default: {envelope})")
    group.add_argument("--start", metavar="TIME", type=_typed(v.rfc3339),
                       help="runtime start, RFC 3339 (anchors ts)")
    group.add_argument("--year", type=_typed(v.YEAR), help="year for envelope times that lack one (syslog, klog)")
    group.add_argument("--tz", default="UTC", type=_typed(v.time_zone),
                       help="time zone for envelope times that lack one")
    group.add_argument("--max-input-bytes", type=_typed(v.BYTES), default=None, metavar="N",
                       help="stop reading a compressed input after N decompressed bytes (default 64 GiB)")
    group.add_argument("--engine", choices=("fast", "lark"), default="fast",
                       help="fast: templates derived from the grammars (default); lark: the reference parser")


def _add_context(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("context (settings snapshots and perf samples to line up with the trace)")
    # one value each, repeatable: a list-taking option would swallow the trace FILE after it
    group.add_argument("--snapshot", action="append", default=[], metavar="FILE",
                       help="gclens snapshot JSON/JSONL, sysctl -a text, a directory of them, or a copied /proc/sys "
                            "directory (repeatable)")
    group.add_argument("--snapshot-time", metavar="TIME", type=_typed(v.rfc3339),
                       help="capture time (RFC 3339) of sysctl -a text without a gclens header (default: its mtime)")
    group.add_argument("--perf", action="append", default=[], metavar="FILE",
                       help="perf script output (text, .gz, or gclens' JSONL export; repeatable); "
                            "record with -k mono -g")
    group.add_argument("--perf-clock", choices=("monotonic", "perf_local"),
                       help="perf's clock when the file has no header (perf script --header shows it)")


def _options(args: argparse.Namespace) -> tuple[list[SourceLike], Options]:
    from gclens._trace import make_options

    options = make_options(envelope=args.envelope, start=args.start, year=args.year, tz=args.tz,
                           max_input_bytes=args.max_input_bytes, engine=args.engine)
    return list(getattr(args, "files", [])), options


def _read(args: argparse.Namespace) -> Trace:
    from gclens._pipeline import stream
    from gclens._trace import trace_from

    files, options = _options(args)
    return trace_from(stream(files, options))


def _add_limits(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("limits (defaults: 1 ms pause, 5 % GC CPU over 60 s, every cycle counted)")
    group.add_argument("--max-stw-ms", type=_typed(v.STW_MS), help="longest acceptable STW pause (ms, >= 0)")
    group.add_argument("--max-gc-cpu-pct", type=_typed(v.PERCENT), help="GC CPU limit for the worst window (0-100)")
    group.add_argument("--window-s", type=_typed(v.SECONDS),
                       help="sliding window for GC CPU (seconds, 0.001 to a year)")
    group.add_argument("--cpu-quota", type=_typed(v.CPUS), help="CPUs of the cgroup quota (cpu.max, >= 0.001)")
    group.add_argument("--exclude-forced", action="store_true", default=None,
                       help="leave forced cycles (runtime.GC) out of pauses and GC CPU (default: they count, "
                            "as in the runtime's GCCPUFraction)")
    group.add_argument("--include-forced", action=_Removed)
    group.add_argument("--allow-empty", action="store_true", default=None,
                       help="accept a source without GC cycles (default: exit 4, no evidence is not a pass)")
    group.add_argument("--config", metavar="TOML", help="read limits from [check] of a TOML file")


def _limits(args: argparse.Namespace) -> Limits:
    from gclens.analysis import Limits

    flags = {name: getattr(args, name) for name in
             ("max_stw_ms", "max_gc_cpu_pct", "window_s", "cpu_quota", "exclude_forced", "allow_empty")}
    if args.config:
        return Limits.from_toml(args.config, **flags)
    return replace(Limits(), **{k: v for k, v in flags.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        code: int = args.run(args)
    except GclensError as exc:
        print(f"gclens: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gclens: interrupted; no partial output was left", file=sys.stderr)
        return EXIT_INTERRUPTED
    except _Terminated:
        print("gclens: terminated; no partial output was left", file=sys.stderr)
        return EXIT_TERMINATED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit flush
        return EXIT_PIPE
    finally:
        signal.signal(signal.SIGTERM, previous)
    return code


def run() -> NoReturn:
    """The ``gclens`` command: ``main``, then exit without tearing the interpreter down.

    Once every output is written and flushed, the interpreter's finalisation (module teardown,
    freeing each object one by one) only costs time: 0.08 s of every run, a fifth of a small
    file's parse. Nothing of gclens waits for it: files are closed and renamed before ``main``
    returns.
    """
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader of our output went away: as main() reports it
        code = EXIT_PIPE
    os._exit(code)


def _cmd_parse(args: argparse.Namespace) -> int:
    from gclens._output import convert, stream_json_lines
    from gclens._pipeline import survey

    if args.output == "-" and args.format != "jsonl":
        raise UsageError("-o - writes to stdout and needs --format jsonl")
    if args.dataset:
        return _ingest(args)
    files, options = _options(args)
    with _progress_bar(files, args.progress) as progress:
        options = replace(options, progress=progress)
        if args.output == "-":
            summary = stream_json_lines(files, sys.stdout, options=options)
        elif args.output:
            summary = convert(files, args.output, fmt=args.format, options=options)
        else:
            summary = survey(files, options)
    print(render_summary(summary, args.output, args.format), file=sys.stderr)
    return EXIT_REJECTS if args.strict and summary.row_counts["rejects"] else EXIT_OK


def _analysed(args: argparse.Namespace) -> tuple[pl.DataFrame, pl.DataFrame, str]:
    """The findings and the per-run KPIs of the input, under the limits of the command line, and
    what --perf/--snapshot added (empty without them)."""
    from gclens.analysis import evaluate, kpis_under

    limits, trace = _limits(args), _read(args)
    kpis = kpis_under(trace, limits)
    findings = evaluate(trace, limits, kpis=kpis)
    context = ""
    if args.snapshot or args.perf:
        from gclens.analysis.pressure import pressure_findings
        from gclens.analysis.settings_rules import settings_findings
        from gclens.render import context_text

        aligned = _aligned(args, trace)
        extra = _worst_first(settings_findings(trace, aligned.settings, aligned.gc_settings, limits),
                             pressure_findings(trace.gc, aligned.perf_samples, limits))
        findings = _worst_first(findings, extra)
        context = context_text(aligned, extra)
    return findings, kpis, context


def _worst_first(*frames: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    order = {"error": 0, "warning": 1, "info": 2}
    return pl.concat(frames).sort(pl.col("severity").replace_strict(order), "source", "run_id", nulls_last=True)


def _aligned(args: argparse.Namespace, trace: Trace) -> Aligned:
    """The trace lined up with the --perf and --snapshot inputs of the command line."""
    from datetime import datetime

    from gclens.align import align
    from gclens.perf import read_perf
    from gclens.settings import read_settings

    when = datetime.fromisoformat(args.snapshot_time.replace("Z", "+00:00")) if args.snapshot_time else None
    settings = read_settings(args.snapshot, captured_at=when) if args.snapshot else None
    captures = [read_perf(path, clock=args.perf_clock) for path in args.perf]
    return align(trace, captures, settings)


def _ingest(args: argparse.Namespace) -> int:
    from gclens.dataset import ingest

    if args.output:
        raise UsageError("--dataset and -o are alternatives: give one")
    labels = dict(args.label)
    files, options = _options(args)
    result = ingest(files, args.dataset, partition_by=args.partition_by, labels=labels or None, processes=args.jobs,
                    options=options, complete=args.complete)
    rows = ", ".join(f"{name} {count:,}" for name, count in result.rows.items() if count)
    failed = f", {len(result.failed)} unreadable file(s) skipped" if result.failed else ""
    print(f"gclens: {len(result.new)} new, {len(result.resumed)} grown, {len(result.skipped)} unchanged file(s)"
          f"{failed}; {result.lines:,} lines added to {args.dataset} (ingest {result.ingest_id})"
          + (f"\n  rows: {rows}" if rows else "")
          + "".join(f"\n  skipped: {error}" for _, error in result.failed), file=sys.stderr)
    # Unreadable input is exit 2, as for every command, though the other files were ingested:
    # a script retrying on 2 is right to, and the retry adds only the skipped files.
    return EXIT_USAGE if result.failed else EXIT_OK


PROGRESS_MIN_BYTES = 64 << 20


@contextlib.contextmanager
def _progress_bar(files: list[SourceLike], wanted: bool | None) -> Iterator[Callable[[str, int], None] | None]:
    """A tqdm bar of bytes read, for people at a terminal; pipelines and small files get none."""
    sizes = [os.path.getsize(f) if isinstance(f, str) and os.path.isfile(f) else None for f in files]
    known = None if None in sizes else sum(s for s in sizes if s is not None)
    show = wanted if wanted is not None else sys.stderr.isatty() and (known is None or known >= PROGRESS_MIN_BYTES)
    if not show:
        yield None
        return
    from tqdm import tqdm

    done: dict[str, int] = {}
    with tqdm(total=known, unit="B", unit_scale=True, unit_divisor=1024, file=sys.stderr, desc="gclens",
              leave=False, mininterval=0.5) as bar:
        def update(name: str, bytes_read: int) -> None:
            bar.update(bytes_read - done.get(name, 0))
            done[name] = bytes_read

        yield update


def _cmd_align(args: argparse.Namespace) -> int:
    from gclens._output import write_aligned
    from gclens.render import alignment_text

    trace = _read(args)
    aligned = _aligned(args, trace)
    write_aligned(trace, aligned, args.output, fmt=args.format)
    print(alignment_text(aligned), file=sys.stderr)
    if args.perf and (aligned.failed.height or not aligned.alignment.height):
        if not aligned.alignment.height:
            print("gclens: no GC cycles in the trace to align the perf samples with: is GODEBUG=gctrace=1 set?",
                  file=sys.stderr)
        return EXIT_NOT_ALIGNED
    return EXIT_OK


def _cmd_check(args: argparse.Namespace) -> int:
    from gclens.render import findings_json, findings_junit, findings_text

    findings, kpis, context = _analysed(args)
    if context:  # json and junit on stdout stay machine-readable: there it goes to stderr
        print(context + "\n", file=sys.stdout if args.format == "text" else sys.stderr)
    if args.format == "json":
        print(findings_json(findings, kpis))
    elif args.format == "junit":
        print(findings_junit(findings, kpis))
    else:
        print(findings_text(findings))
    return _gate(findings)


def _gate(findings: pl.DataFrame) -> int:
    """The exit code of check: 1 a limit exceeded, else 4 when a source had no GC cycles (each
    such source gets its one-line message on stderr either way), else 0."""
    from gclens.analysis.evidence import NO_GC_LINES, no_gc_message, verdict

    empty = findings.filter((findings["rule"] == NO_GC_LINES) & (findings["severity"] == "error"))
    for source in empty["source"].to_list():
        print(f"gclens: {no_gc_message(source)}", file=sys.stderr)
    return {"limit": EXIT_LIMIT, "no-evidence": EXIT_NO_EVIDENCE, "pass": EXIT_OK}[verdict(findings)]


def _cmd_summary(args: argparse.Namespace) -> int:
    from gclens.render import summary_text

    findings, kpis, context = _analysed(args)
    print(summary_text(kpis, findings))
    if context:
        print(f"\n{context}")
    return EXIT_OK


def _cmd_diff(args: argparse.Namespace) -> int:
    from gclens._trace import read_trace
    from gclens.analysis import diff_kpis
    from gclens.render import diff_json, diff_text

    diff = diff_kpis(read_trace(args.before), read_trace(args.after),
                     max_regression_pct=args.max_regression_pct, exclude_forced=args.exclude_forced)
    render = diff_json if args.format == "json" else diff_text
    print(render(diff, exclude_forced=args.exclude_forced))
    return EXIT_LIMIT if diff["regression"].any() else EXIT_OK


def _cmd_whatif(args: argparse.Namespace) -> int:
    from gclens.analysis.whatif import fit, predict, recommend, steady_cycles
    from gclens.render import whatif_json, whatif_text

    gc = _read(args).frame("gc")
    model = fit(gc, gogc=args.run_gogc, memlimit_mib=args.run_memlimit)
    scenarios = [predict(model, gogc=g, memlimit_mib=m, cpu_bound=args.cpu_bound)
                 for g in args.gogc for m in [None, *args.memlimit] if g is not None or m is not None]
    advice = recommend(model, target_gc_cpu_pct=args.target_gc_cpu_pct, cpu_bound=args.cpu_bound)
    heuristic = None
    if args.rt_p95_ms is not None:
        from gclens.analysis.guide_gogc import guide_gogc, live_growth_per_s

        value = guide_gogc(args.rt_p95_ms, live_growth_per_s(steady_cycles(gc, model)))
        heuristic = (value, predict(model, gogc=value.gogc, cpu_bound=args.cpu_bound))
    render = whatif_json if args.format == "json" else whatif_text
    print(render(model, scenarios, advice, heuristic))
    return EXIT_OK


def _cmd_report(args: argparse.Namespace) -> int:
    from gclens._output import write_text_atomic
    from gclens.report import report_with_findings

    limits = _limits(args)
    trace = _read(args)
    aligned = _aligned(args, trace) if args.snapshot or args.perf else None
    html, findings = report_with_findings(trace, limits=limits, aligned=aligned)
    write_text_atomic(args.output, html)
    print(f"gclens: wrote {args.output}", file=sys.stderr)
    code = _gate(findings)
    return code if code == EXIT_NO_EVIDENCE else EXIT_OK  # a report is not a gate, but has no evidence


def _cmd_snapshot(args: argparse.Namespace) -> int:
    from gclens._output import write_text_atomic
    from gclens.snapshot import capture, capture_every, dumps, sysctl_text

    if args.format == "sysctl" and args.every is not None:
        raise UsageError("--format sysctl writes one capture per file: run it once per capture, "
                         "or use JSON with --every")
    if args.every is None:
        text = (sysctl_text if args.format == "sysctl" else dumps)(capture(args.pid))
        if args.output == "-":
            sys.stdout.write(text)
        else:
            write_text_atomic(args.output, text)
        return EXIT_OK
    out = sys.stdout if args.output == "-" else _append(args.output)
    with out:
        for snap in capture_every(args.pid, args.every, count=args.count):
            out.write(dumps(snap))  # one complete line per capture, flushed: a reader never sees half
            out.flush()
    return EXIT_OK


def _append(path: str) -> Any:
    try:
        return open(path, "a", encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write ({exc.strerror})") from None


def _cmd_schema(args: argparse.Namespace) -> int:
    from gclens._schemas import ALL_SCHEMAS

    unknown = [name for name in args.tables if name not in ALL_SCHEMAS]
    if unknown:
        raise UsageError(f"unknown table {unknown[0]!r}; choose from {', '.join(ALL_SCHEMAS)}")
    render = _schema_markdown if args.markdown else _schema_text
    print("\n".join(render(name) for name in args.tables or ALL_SCHEMAS))
    return EXIT_OK


def _cmd_rules(args: argparse.Namespace) -> int:
    from gclens.analysis.guide_claims import rules_catalogue
    from gclens.rules_doc import catalogue_json, catalogue_markdown, catalogue_text

    render = {"text": catalogue_text, "markdown": catalogue_markdown, "json": catalogue_json}[args.format]
    print(render(rules_catalogue(args.section)))
    return EXIT_OK


def _columns(name: str) -> list[tuple[str, str, str, str]]:
    from gclens._schemas import ALL_SCHEMAS

    fields = ALL_SCHEMAS[name]
    return [(f.name, str(f.type), (f.metadata or {}).get(b"unit", b"").decode(),
             (f.metadata or {})[b"doc"].decode()) for f in fields]


def _schema_text(name: str) -> str:
    from gclens._schemas import ALL_SCHEMAS

    doc = ALL_SCHEMAS[name].metadata[b"doc"].decode()
    rows = [f"  {col:<24} {typ:<22} {unit:<6} {doc}" for col, typ, unit, doc in _columns(name)]
    return "\n".join([f"{name}: {doc}", *rows])


def _schema_markdown(name: str) -> str:
    from gclens._schemas import ALL_SCHEMAS

    doc = ALL_SCHEMAS[name].metadata[b"doc"].decode()
    rows = [f"| `{col}` | {typ} | {unit} | {doc} |" for col, typ, unit, doc in _columns(name)]
    return "\n".join([f"#### `{name}`\n\n{doc}\n", "| column | type | unit | meaning |",
                      "|---|---|---|---|", *rows, ""])


def render_summary(summary: Summary, output: str | None, fmt: str) -> str:
    """The one-screen summary printed to stderr after a parse."""
    from gclens._schemas import SCHEMA_VERSION, TABLE_NAMES

    total = sum(src["lines_read"] for src in summary.sources)
    runtime = sum(src["runtime_lines"] for src in summary.sources)
    rejected = sum(src["rejected_lines"] for src in summary.sources)
    lines = [f"gclens: {len(summary.sources)} source(s), {total:,} lines: {runtime:,} runtime, "
             f"{rejected:,} rejected, {total - runtime - rejected:,} other"]
    lines += [f"  {name:<8} {summary.row_counts[name]:>9,} rows" for name in TABLE_NAMES if name != "sources"]
    for reason, count in summary.reasons.most_common(5):
        lines.append(f"  reject x{count}: {reason}")
    lines += [str(LineError.from_reject(row)) for row in summary.first_rejects]
    if not total:
        lines.append("gclens: warning: the input is empty")
    elif not runtime and not rejected:
        lines.append("gclens: warning: no Go runtime trace lines found (is GODEBUG=gctrace=1 set?)")
    if output == "-":
        lines.append(f"gclens: wrote every table's rows to stdout as JSON lines (schema version {SCHEMA_VERSION})")
    elif output:
        lines.append(f"gclens: wrote {len(TABLE_NAMES)} tables to {output.rstrip('/')}/ as {fmt} "
                     f"(schema version {SCHEMA_VERSION})")
    else:
        lines.append("gclens: nothing written; add -o DIR to write the tables")
    return "\n".join(lines)
