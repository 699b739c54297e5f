"""Commands that read a trace and judge or explain it: check, summary, diff, whatif, report,
align, rules. The findings come from ``gclens.analysis.check`` alone, so that check, summary and
the report cannot disagree.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from gclens.commands.common import (
    EXIT_LIMIT,
    EXIT_NO_EVIDENCE,
    EXIT_NOT_ALIGNED,
    EXIT_OK,
    aligned_from,
    gate,
    limits_from,
    read_input,
)

if TYPE_CHECKING:
    from gclens.analysis import Checked

__all__ = ["cmd_align", "cmd_check", "cmd_diff", "cmd_report", "cmd_rules", "cmd_summary", "cmd_whatif"]


def _checked(args: argparse.Namespace) -> tuple[Checked, str]:
    """``gclens.analysis.check`` of the input under the command line's limits (the report's findings
    too), and the text of what --perf/--snapshot added (empty without them)."""
    from gclens.analysis import check

    limits, trace = limits_from(args), read_input(args)
    aligned = aligned_from(args, trace) if args.snapshot or args.perf else None
    checked = check(trace, limits, aligned=aligned)
    if aligned is None:
        return checked, ""
    from gclens.present.render import context_text

    return checked, context_text(aligned, checked.context)


def cmd_align(args: argparse.Namespace) -> int:
    from gclens.present.render import alignment_text
    from gclens.store.output import write_aligned

    trace = read_input(args)
    aligned = aligned_from(args, trace)
    write_aligned(trace, aligned, args.output, fmt=args.format)
    print(alignment_text(aligned), file=sys.stderr)
    if args.perf and (aligned.failed.height or not aligned.alignment.height):
        if not aligned.alignment.height:
            print("gclens: no GC cycles in the trace to align the perf samples with: is GODEBUG=gctrace=1 set?",
                  file=sys.stderr)
        return EXIT_NOT_ALIGNED
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    from gclens.present.render import findings_json, findings_junit, findings_text

    checked, context = _checked(args)
    findings, kpis = checked.findings, checked.kpis
    if context:  # json and junit on stdout stay machine-readable: there it goes to stderr
        print(context + "\n", file=sys.stdout if args.format == "text" else sys.stderr)
    if args.format == "json":
        print(findings_json(findings, kpis))
    elif args.format == "junit":
        print(findings_junit(findings, kpis))
    else:
        print(findings_text(findings))
    return gate(findings)


def cmd_summary(args: argparse.Namespace) -> int:
    from gclens.present.render import summary_text

    checked, context = _checked(args)
    findings, kpis = checked.findings, checked.kpis
    print(summary_text(kpis, findings))
    if context:
        print(f"\n{context}")
    code = gate(findings)
    return code if code == EXIT_NO_EVIDENCE else EXIT_OK  # a summary is not a gate, but has no evidence


def cmd_diff(args: argparse.Namespace) -> int:
    from gclens.analysis import diff_kpis
    from gclens.pipeline.reader import read_trace
    from gclens.present.render import diff_json, diff_text

    diff = diff_kpis(read_trace(args.before), read_trace(args.after),
                     max_regression_pct=args.max_regression_pct, exclude_forced=args.exclude_forced)
    render = diff_json if args.format == "json" else diff_text
    print(render(diff, exclude_forced=args.exclude_forced))
    return EXIT_LIMIT if diff["regression"].any() else EXIT_OK


def cmd_whatif(args: argparse.Namespace) -> int:
    from gclens.analysis.whatif import fit, predict, recommend, steady_cycles
    from gclens.present.render import whatif_json, whatif_text

    gc = read_input(args).frame("gc")
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


def cmd_report(args: argparse.Namespace) -> int:
    from gclens.present.report import report_with_findings
    from gclens.store.output import write_text_atomic

    limits = limits_from(args)
    trace = read_input(args)
    aligned = aligned_from(args, trace) if args.snapshot or args.perf else None
    html, findings = report_with_findings(trace, limits=limits, aligned=aligned)
    write_text_atomic(args.output, html)
    print(f"gclens: wrote {args.output}", file=sys.stderr)
    code = gate(findings)
    return code if code == EXIT_NO_EVIDENCE else EXIT_OK  # a report is not a gate, but has no evidence


def cmd_rules(args: argparse.Namespace) -> int:
    from gclens.analysis.guide_claims import rules_catalogue
    from gclens.present.rules_doc import catalogue_json, catalogue_markdown, catalogue_text

    render = {"text": catalogue_text, "markdown": catalogue_markdown, "json": catalogue_json}[args.format]
    print(render(rules_catalogue(args.section)))
    return EXIT_OK
