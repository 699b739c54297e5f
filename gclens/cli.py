"""The `gclens` command line: thin wrappers over the library, one command per public call.

Exit codes: 0 success · 2 bad usage, unreadable input or unwritable output · 3 rejected lines
under ``--strict`` · 130 interrupted · 141 the reader of stdout went away (as SIGPIPE would).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from gclens._errors import GclensError, LineError
from gclens._output import FORMATS, write_tables
from gclens._schemas import SCHEMA_VERSION, SCHEMAS
from gclens._trace import Trace, read_trace

EXIT_OK, EXIT_USAGE, EXIT_REJECTS, EXIT_INTERRUPTED, EXIT_PIPE = 0, 2, 3, 130, 141


class _Parser(argparse.ArgumentParser):
    """argparse that exits with 2 and one line, as every other usage error does."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(EXIT_USAGE, f"gclens: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gclens", description="Go GC and scheduler traces as Arrow tables.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    parse = sub.add_parser(
        "parse", help="parse runtime trace output into tables",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Parse GODEBUG gctrace/gcpacertrace/schedtrace/scavtrace output.",
        epilog="example:\n  gclens parse app.log 'logs/*.log.gz' -o out/ --format parquet",
    )
    parse.add_argument("files", nargs="+", metavar="FILE", help="log file, glob, or - for stdin")
    parse.add_argument("-o", "--output", metavar="DIR", help="write every table to DIR")
    parse.add_argument("--format", choices=FORMATS, default="parquet", help="output format")
    parse.add_argument("--strict", action="store_true", help="exit 3 when any line is rejected")
    parse.set_defaults(run=_cmd_parse)
    schema = sub.add_parser("schema", help="print the tables and their columns",
                            epilog="example:\n  gclens schema gc")
    schema.add_argument("tables", nargs="*", metavar="TABLE", choices=[*SCHEMAS, []])
    schema.add_argument("--markdown", action="store_true", help="print Markdown tables")
    schema.set_defaults(run=_cmd_schema)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except GclensError as exc:
        print(f"gclens: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gclens: interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit flush
        return EXIT_PIPE
    return code


def _cmd_parse(args: argparse.Namespace) -> int:
    trace = read_trace(list(args.files))
    if args.output:
        write_tables(trace, args.output, fmt=args.format)
    print(render_summary(trace, args.output, args.format), file=sys.stderr)
    rejected = trace.arrow("rejects").num_rows
    return EXIT_REJECTS if args.strict and rejected else EXIT_OK


def _cmd_schema(args: argparse.Namespace) -> int:
    render = _schema_markdown if args.markdown else _schema_text
    print("\n".join(render(name) for name in args.tables or SCHEMAS))
    return EXIT_OK


def _columns(name: str) -> list[tuple[str, str, str, str]]:
    fields = SCHEMAS[name]
    return [(f.name, str(f.type), (f.metadata or {}).get(b"unit", b"").decode(),
             (f.metadata or {})[b"doc"].decode()) for f in fields]


def _schema_text(name: str) -> str:
    doc = SCHEMAS[name].metadata[b"doc"].decode()
    rows = [f"  {col:<24} {typ:<22} {unit:<6} {doc}" for col, typ, unit, doc in _columns(name)]
    return "\n".join([f"{name}: {doc}", *rows])


def _schema_markdown(name: str) -> str:
    doc = SCHEMAS[name].metadata[b"doc"].decode()
    rows = [f"| `{col}` | {typ} | {unit} | {doc} |" for col, typ, unit, doc in _columns(name)]
    return "\n".join([f"#### `{name}`\n\n{doc}\n", "| column | type | unit | meaning |",
                      "|---|---|---|---|", *rows, ""])


def render_summary(trace: Trace, output: str | None, fmt: str) -> str:
    """The one-screen summary printed to stderr after a parse."""
    src = trace.frame("sources")
    total = int(src["lines_read"].sum())
    runtime, rejected = int(src["runtime_lines"].sum()), int(src["rejected_lines"].sum())
    lines = [f"gclens: {src.height} source(s), {total:,} lines: {runtime:,} runtime, "
             f"{rejected:,} rejected, {total - runtime - rejected:,} other"]
    lines += [f"  {name:<8} {count:>9,} rows" for name, count in trace.row_counts().items()
              if name not in ("sources",)]
    for reason, count in trace.top_reject_reasons():
        lines.append(f"  reject x{count}: {reason}")
    for row in trace.frame("rejects").head(3).iter_rows(named=True):
        lines.append(str(LineError.from_reject(row)))
    if not total:
        lines.append("gclens: warning: the input is empty")
    elif not runtime and not rejected:
        lines.append("gclens: warning: no Go runtime trace lines found (is GODEBUG=gctrace=1 set?)")
    if output:
        lines.append(f"gclens: wrote {len(trace.tables)} tables to {output}/ as {fmt} "
                     f"(schema version {SCHEMA_VERSION})")
    else:
        lines.append("gclens: nothing written; add -o DIR to write the tables")
    return "\n".join(lines)
