"""Print the what-if validation table of the README from the recorded grid (no Go needed).

    python sample_traces/whatif_validation.py            # the README's table
    python sample_traces/whatif_validation.py --worst    # worst errors between GOGC 50 and 400

Every run of a ``whatif_group`` in manifest.json is fitted in turn (at the GOGC and memory limit it
was made with) and predicts every other run of its group and toolchain; churn -pointer-heap allocates in a
loop, so its predictions are ``cpu_bound``; growheap is paced (``CPU_BOUND``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import polars as pl

import gclens
from gclens.analysis.whatif import parse_size_mib
from gclens.analysis.whatif_validate import Run, cross_validate, markdown, worst_errors

HERE = Path(__file__).resolve().parent
CPU_BOUND = {"churn-pointer-heap": True, "growheap": False}
"""churn -pointer-heap allocates in busy loops, so GC CPU slows its allocation (``cpu_bound``);
growheap allocates at a paced rate that GC does not change."""


def grid_tables() -> dict[str, pl.DataFrame]:
    """One cross-validation table per (what-if group, Go version), in manifest order."""
    runs = [r for r in json.loads((HERE / "manifest.json").read_text())["runs"] if r.get("whatif_group")]
    groups: dict[tuple[str, str], list[Run]] = {}
    for r in runs:
        gogc, limit = r["env"].get("GOGC", "100"), r["env"].get("GOMEMLIMIT")
        run = Run(gclens.read_trace(HERE / r["file"]).gc, None if gogc == "off" else float(gogc),
                  parse_size_mib(limit) if limit else None, r["file"])
        groups.setdefault((r["whatif_group"], r["go_version"].split()[0]), []).append(run)
    return {f"{name}, {go}": cross_validate(group, cpu_bound=CPU_BOUND.get(name, False))
            for (name, go), group in sorted(groups.items())}


if __name__ == "__main__":
    tables = grid_tables()
    if "--worst" in sys.argv:
        for name, table in tables.items():
            print(name, {m: f"{e:.0%}" for m, e in worst_errors(table).items()})
    else:
        print(markdown(tables))
