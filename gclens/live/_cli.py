"""`gclens run` and `gclens follow`: thin wrappers over ``gclens.live.run_program`` and ``follow``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from gclens import _validate as v
from gclens.commands.args import add_command, add_input_options, add_limits, typed
from gclens.commands.common import EXIT_OK, gate, limits_from, options_from
from gclens.commands.tables import render_summary
from gclens.store.formats import FORMATS

__all__ = ["add_commands"]

PORT = v.integer(low=0, high=65535, what="a TCP port (0: any free one)")
GCTRACE = v.integer(low=0, high=2, what="a gctrace level (0 adds none)")
SCHEDTRACE = v.integer(low=1, what="milliseconds")


def add_commands(sub: Any) -> None:
    run = add_command(sub, "run", "start a program with GODEBUG tracing, watch it live, write the tables at the end",
                      "gclens run --schedtrace 1000 -o out/ --metrics-port 9464 -- ./svc -flag")
    run.add_argument("--gctrace", type=typed(GCTRACE), default=1, metavar="N",
                     help="add gctrace=N to GODEBUG unless it is set there (default 1; 0: add nothing)")
    run.add_argument("--schedtrace", type=typed(SCHEDTRACE), metavar="MS",
                     help="add schedtrace=MS to GODEBUG unless it is set there (run queues in the view)")
    run.add_argument("--name", help="the source's name in the tables (default: the program's file name)")
    run.add_argument("--check", action="store_true",
                     help="judge the run at the end as `gclens check` does and exit with its code, "
                          "not the program's (keeps the tables in memory)")
    _common(run, envelope="auto")
    add_limits(run)
    run.add_argument("command", nargs=argparse.REMAINDER, metavar="-- CMD ARGS",
                     help="the program and its arguments, after --")
    run.set_defaults(run=cmd_run)
    follow = add_command(sub, "follow", "follow a growing log (tail -F) or stdin, live; write the tables when stopped",
                         "kubectl logs -f pod/svc | gclens follow - -o out/")
    follow.add_argument("file", metavar="FILE", help="log file (followed from its start, through rotation) or -")
    _common(follow, envelope="auto")
    add_limits(follow)
    follow.set_defaults(run=cmd_follow)


def _common(parser: argparse.ArgumentParser, envelope: str) -> None:
    parser.add_argument("-o", "--output", metavar="DIR", help="write every table to DIR at the end")
    parser.add_argument("--format", choices=FORMATS, default="parquet", help="output format")
    group = parser.add_argument_group("live view and metrics")
    group.add_argument("--view", choices=("auto", "live", "text", "none"), default="auto",
                       help="live: a panel (needs a terminal); text: a status line every --every seconds; "
                            "auto: live on a terminal, else text")
    group.add_argument("--every", type=typed(v.SECONDS), default=5.0, metavar="SECONDS",
                       help="seconds between status lines with --view text (default 5)")
    group.add_argument("--metrics-port", type=typed(PORT), metavar="N",
                       help="serve OpenMetrics/Prometheus metrics on http://ADDR:N/metrics")
    group.add_argument("--metrics-addr", default="127.0.0.1", metavar="ADDR",
                       help="address the metrics listen on (default 127.0.0.1)")
    add_input_options(parser, envelope)


def _setup(args: argparse.Namespace, title: str) -> tuple[Any, Any, Any, Any]:
    from gclens.live import Metrics
    from gclens.live._view import make_view

    limits = limits_from(args)
    _, options = options_from(args)
    metrics = Metrics(windows_s=(limits.short_window_s, limits.window_s)) if args.metrics_port is not None else None
    view = make_view(args.view, limits, title=title, every_s=args.every)
    if metrics is not None:
        try:
            port = metrics.serve(args.metrics_port, args.metrics_addr)
        except OSError as exc:
            from gclens._errors import UsageError

            view.close()
            raise UsageError(f"--metrics-port {args.metrics_port}: cannot listen ({exc.strerror})") from None
        view.note(f"metrics on http://{args.metrics_addr}:{port}/metrics")
    return limits, options, metrics, view


def cmd_run(args: argparse.Namespace) -> int:
    from gclens.live import Abandoned, CommandError, run_program

    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        from gclens._errors import UsageError

        raise UsageError("no program to run: give it after --, e.g. gclens run -- ./svc")
    limits, options, metrics, view = _setup(args, "gclens run")
    try:
        result = run_program(command, out_dir=args.output, fmt=args.format, options=options, limits=limits,
                             gctrace=args.gctrace, schedtrace_ms=args.schedtrace, name=args.name, view=view,
                             metrics=metrics, keep_trace=args.check)
    except CommandError as exc:
        print(f"gclens: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except Abandoned as exc:
        print("gclens: stopped again after the program ended; abandoned, no partial output was left",
              file=sys.stderr)
        return 128 + exc.signum
    finally:
        view.close()  # (done already unless something went wrong: the terminal is given back)
        if metrics is not None:
            metrics.close()
    print(render_summary(result.summary, args.output, args.format), file=sys.stderr)
    print(f"gclens: {command[0]} exited with status {result.exit_code}", file=sys.stderr)
    if args.check:
        return _check(result, limits)
    return int(result.exit_code or 0)


def cmd_follow(args: argparse.Namespace) -> int:
    from gclens.live import Abandoned, follow

    limits, options, metrics, view = _setup(args, "gclens follow")
    try:
        result = follow(args.file, out_dir=args.output, fmt=args.format, options=options, limits=limits, view=view,
                        metrics=metrics)
    except Abandoned as exc:
        print("gclens: stopped again while writing; abandoned, no partial output was left", file=sys.stderr)
        return 128 + exc.signum
    finally:
        view.close()
        if metrics is not None:
            metrics.close()
    print(render_summary(result.summary, args.output, args.format), file=sys.stderr)
    return EXIT_OK


def _check(result: Any, limits: Any) -> int:
    from gclens.analysis import check
    from gclens.present.render import findings_text

    findings = check(result.trace, limits).findings  # as `gclens check` judges
    print(findings_text(findings))
    return gate(findings)



