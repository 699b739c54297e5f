"""Alignment accuracy on the real perf captures of sample_traces/perf: one Markdown table row each.

For ``perf record -k mono`` captures the truth is the runtime's own start (``runtimeInitTime``,
read by the program through linkname); for default-clock captures, which live in perf's own
clock, the table shows how long after the exec event the runtime start was placed instead.
Also: GC CPU seen by perf against the gctrace CPU fields over the cycles perf covered.

    python benchmarks/alignment_accuracy.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gclens import read_trace  # noqa: E402
from gclens.context.align import align, gc_cpu_compare  # noqa: E402
from gclens.context.perf import read_perf  # noqa: E402
from gclens.context.settings import read_settings  # noqa: E402

PERF = ROOT / "sample_traces" / "perf"


def main() -> None:
    captures = json.loads((PERF / "manifest.json").read_text())["captures"]
    print("| capture | clock | method | offset error (ms) | J | margin | runner-up (ms) | mark samples "
          "| in mark windows % | perf GC CPU % | gctrace % (with idle) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for c in captures:
        d = PERF / c["dir"]
        if not (d / "perf.txt.gz").exists():
            continue
        trace, perf = read_trace(d / "trace.stderr"), read_perf(d / "perf.txt.gz")
        snaps = d / "snapshots.jsonl"
        result = align(trace, [perf], read_settings(snaps) if snaps.exists() else None)
        r = result.alignment.row(0, named=True)
        if c["perf_clock"] == "monotonic":
            error = f"{(r['offset_ns'] - c['theta_mono_ns']) / 1e6:+.3f}"
        else:
            exec_ns = next(e.time_ns for e in perf.exec_events if e.pid == c["pid"])
            error = f"n/a (θ − exec {(r['offset_ns'] - exec_ns) / 1e6:.2f})"
        g = gc_cpu_compare(result.perf_samples, trace.gc).row(0, named=True)
        print(f"| {c['dir']} | {r['perf_clock']} | {r['method']} | {error} | {r['score']:.3f} | {r['margin']:.3f} "
              f"| {(r['runner_up_offset_ns'] - r['offset_ns']) / 1e6:+.1f} | {r['mark_samples']} "
              f"| {r['mark_in_window_pct']:.1f} | {g['perf_gc_cpu_pct']:.1f} "
              f"| {g['gctrace_gc_cpu_pct']:.1f} ({g['gctrace_with_idle_pct']:.1f}) |")


if __name__ == "__main__":
    main()
