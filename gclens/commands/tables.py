"""Commands that write tables or describe them, and judge nothing: parse (and the fleet dataset),
schema, snapshot. Each is a thin wrapper over one library call; heavy modules load inside.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from gclens._errors import LineError, UsageError
from gclens.commands.common import EXIT_OK, EXIT_REJECTS, EXIT_USAGE, options_from

if TYPE_CHECKING:
    from gclens.pipeline.stream import Summary
    from gclens.read.sources import SourceLike

__all__ = ["PROGRESS_MIN_BYTES", "cmd_parse", "cmd_schema", "cmd_snapshot", "render_summary"]


def cmd_parse(args: argparse.Namespace) -> int:
    from gclens.pipeline.stream import survey
    from gclens.store.output import convert, stream_json_lines

    if args.output == "-" and args.format != "jsonl":
        raise UsageError("-o - writes to stdout and needs --format jsonl")
    if args.dataset:
        return _ingest(args)
    files, options = options_from(args)
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


def _ingest(args: argparse.Namespace) -> int:
    from gclens.store.dataset import ingest

    if args.output:
        raise UsageError("--dataset and -o are alternatives: give one")
    labels = dict(args.label)
    files, options = options_from(args)
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


def cmd_snapshot(args: argparse.Namespace) -> int:
    from gclens.context.snapshot import capture, capture_every, dumps, sysctl_text
    from gclens.store.output import write_text_atomic

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


def cmd_schema(args: argparse.Namespace) -> int:
    from gclens.store.schemas import ALL_SCHEMAS

    unknown = [name for name in args.tables if name not in ALL_SCHEMAS]
    if unknown:
        raise UsageError(f"unknown table {unknown[0]!r}; choose from {', '.join(ALL_SCHEMAS)}")
    render = _schema_markdown if args.markdown else _schema_text
    print("\n".join(render(name) for name in args.tables or ALL_SCHEMAS))
    return EXIT_OK


def _columns(name: str) -> list[tuple[str, str, str, str]]:
    from gclens.store.schemas import ALL_SCHEMAS

    fields = ALL_SCHEMAS[name]
    return [(f.name, str(f.type), (f.metadata or {}).get(b"unit", b"").decode(),
             (f.metadata or {})[b"doc"].decode()) for f in fields]


def _schema_text(name: str) -> str:
    from gclens.store.schemas import ALL_SCHEMAS

    doc = ALL_SCHEMAS[name].metadata[b"doc"].decode()
    rows = [f"  {col:<24} {typ:<22} {unit:<6} {doc}" for col, typ, unit, doc in _columns(name)]
    return "\n".join([f"{name}: {doc}", *rows])


def _schema_markdown(name: str) -> str:
    from gclens.store.schemas import ALL_SCHEMAS

    doc = ALL_SCHEMAS[name].metadata[b"doc"].decode()
    rows = [f"| `{col}` | {typ} | {unit} | {doc} |" for col, typ, unit, doc in _columns(name)]
    return "\n".join([f"#### `{name}`\n\n{doc}\n", "| column | type | unit | meaning |",
                      "|---|---|---|---|", *rows, ""])


def render_summary(summary: Summary, output: str | None, fmt: str) -> str:
    """The one-screen summary printed to stderr after a parse."""
    from gclens.store.schemas import SCHEMA_VERSION, TABLE_NAMES

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
