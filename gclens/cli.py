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

Where things are: the arguments of every command in ``gclens.commands.args``; the commands that
write tables (parse, schema, snapshot) in ``gclens.commands.tables``; those that judge or explain a
trace (check, summary, diff, whatif, report, align, rules) in ``gclens.commands.judge``; what they
share (exit codes, options, limits) in ``gclens.commands.common``. Nothing heavy is imported before a
command runs, and a command imports only what it needs: ``gclens parse`` loads no matplotlib,
jinja2, rich, prometheus_client or analysis (tests/test_layout.py checks it).
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from gclens._allocator import prefer_lean_allocators
from gclens._errors import GclensError
from gclens.commands.args import build_parser
from gclens.commands.common import (
    EXIT_INTERRUPTED,
    EXIT_LIMIT,
    EXIT_NO_EVIDENCE,
    EXIT_NOT_ALIGNED,
    EXIT_OK,
    EXIT_PIPE,
    EXIT_REJECTS,
    EXIT_TERMINATED,
    EXIT_USAGE,
)
from gclens.commands.tables import render_summary

__all__ = ["EXIT_INTERRUPTED", "EXIT_LIMIT", "EXIT_NOT_ALIGNED", "EXIT_NO_EVIDENCE", "EXIT_OK", "EXIT_PIPE",
           "EXIT_REJECTS", "EXIT_TERMINATED", "EXIT_USAGE", "build_parser", "main", "render_summary", "run"]


class _Terminated(BaseException):  # like KeyboardInterrupt: no `except Exception` swallows it
    """SIGTERM, turned into an exception so that temporary output is cleaned up on the way out."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise _Terminated


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
    prefer_lean_allocators()
    code = main()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # the reader of our output went away: as main() reports it
        code = EXIT_PIPE
    os._exit(code)


