#!/usr/bin/env python3
"""Print the what-if grid (manifest runs with a whatif_group) as a Markdown table.

Per run: cycles (truth num_gc), cycles after the live heap settled, live (marked) heap of the first
of those and of the last cycle in MiB, median heap goal over them, GC CPU % (truth gc_cpu_fraction),
duration (truth start to exit).  "Settled": for a steady live heap (churn-pointer-heap), from the
first cycle whose marked heap (the third MB value of the gc line) is >= 90 % of the median of the
later half's, as tests/test_whatif.py does; for a growing one (growheap), every cycle that starts
after the seed was built (truth extra.grow_start_unix_ns).  The goal median leaves out the last gc
line, whose goal the truth writer's SetGCPercent(-1) can inflate.  With --peaks, also the sampled
peak HeapAlloc and HeapSys (truth "heap", growheap only) and the largest printed heap.

    python3 whatif_grid.py [--peaks] [--group NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics

HERE = os.path.dirname(os.path.abspath(__file__))
GC = re.compile(r"^gc (\d+) @([\d.]+)s \d+%: .*? (\d+)->(\d+)->(\d+) MB, (\d+) MB goal", re.M)


def settled(rows: list[tuple], truth: dict) -> list[tuple]:
    grow_start = truth.get("extra", {}).get("grow_start_unix_ns")
    if grow_start:
        after_s = (grow_start - truth["start_unix_ns"]) / 1e9
        return [r for r in rows if r[1] >= after_s]
    later = sorted(r[4] for r in rows[len(rows) // 2:])
    level = later[len(later) // 2]
    first = next(i for i, r in enumerate(rows) if r[4] >= 0.9 * level)
    return rows[first:]


def row(run: dict, peaks: bool) -> list[str]:
    with open(os.path.join(HERE, run["file"]), errors="replace") as f:
        text = f.read()
    with open(os.path.join(HERE, run["truth"])) as f:
        truth = json.load(f)
    rows = [(int(m[1]), float(m[2]), *(int(x) for x in m.groups()[2:])) for m in GC.finditer(text)]
    steady = settled(rows, truth)
    goals = [r[5] for r in steady if r[0] != rows[-1][0]]
    env = run["env"]
    setting = f"GOGC={env['GOGC']}" + (f" GOMEMLIMIT={env['GOMEMLIMIT']}" if "GOMEMLIMIT" in env else "")
    out = [run["whatif_group"], run["file"].split("/")[0], setting, str(truth["num_gc"]), str(len(steady)),
           f"{steady[0][4]}", f"{rows[-1][4]}", f"{statistics.median(goals):g}" if goals else "-",
           f"{100 * truth['gc_cpu_fraction']:.1f}", f"{(truth['exit_unix_ns'] - truth['start_unix_ns']) / 1e9:.1f}"]
    if peaks:
        heap = truth.get("heap", {})
        out += [f"{heap['peak_heap_alloc_bytes'] / 2**20:.0f}" if heap else "-",
                f"{heap['peak_heap_sys_bytes'] / 2**20:.0f}" if heap else "-",
                f"{max(r[3] for r in rows)}"]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--peaks", action="store_true")
    ap.add_argument("--group")
    args = ap.parse_args()
    with open(os.path.join(HERE, "manifest.json")) as f:
        runs = [r for r in json.load(f)["runs"] if r.get("whatif_group") and r.get("truth")]
    if args.group:
        runs = [r for r in runs if r["whatif_group"] == args.group]

    def order(r: dict) -> tuple:
        gogc = r["env"].get("GOGC", "off")
        return (r["whatif_group"], r["file"].split("/")[0], gogc == "off", int(gogc) if gogc != "off" else 0)

    head = ["group", "go", "setting", "cycles", "settled", "live first MiB", "live last MiB",
            "goal median MB", "GC CPU %", "duration s"]
    if args.peaks:
        head += ["peak HeapAlloc MiB", "peak HeapSys MiB", "max printed heap MB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in sorted(runs, key=order):
        print("| " + " | ".join(row(r, args.peaks)) + " |")


if __name__ == "__main__":
    main()
