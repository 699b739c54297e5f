"""How long `gclens parse small.log -o out/` takes on a 50-line log, interpreter start included,
and where that time goes: the wall time of whole runs beside `python -c pass` and beside
importing the libraries the parse path needs, in interleaved rounds (medians, min-max), then
the largest imports by ``python -X importtime``.

    python benchmarks/startup.py [--lines 50] [--repeat 7]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_traces" / "go1.25" / "applog-stdlog.stderr"


def _wall(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT, check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.log"
        small.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:args.lines]))
        parse = [sys.executable, "-m", "gclens", "parse", str(small), "-o", str(Path(tmp) / "out")]
        commands = {
            "python -c pass": [sys.executable, "-c", "pass"],
            "import polars": [sys.executable, "-c", "import polars"],
            "import polars, pyarrow.parquet": [sys.executable, "-c", "import polars, pyarrow.parquet"],
            "import ... and lark": [sys.executable, "-c", "import polars, pyarrow.parquet, lark"],
            f"gclens parse ({args.lines} lines)": parse,
        }
        _wall(parse)  # the first run builds the caches (Lark's tables, the scanner's automaton)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                times[name].append(_wall(cmd))
        print(f"{args.repeat} rounds, median (min-max) wall seconds")
        for name, values in times.items():
            print(f"{name:<34} {statistics.median(values):.3f} ({min(values):.3f}-{max(values):.3f})")
        trace = subprocess.run([sys.executable, "-X", "importtime", *parse[1:]], capture_output=True, text=True,
                               cwd=ROOT, check=True).stderr
    rows = [(int(m[2]), m[3].strip()) for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|( *\S+)", trace)
            if m[3].startswith(" ") and not m[3].startswith("  ")]  # top-level imports only
    print("largest top-level imports (cumulative ms):",
          ", ".join(f"{name} {us / 1000:.0f}" for us, name in sorted(rows, reverse=True)[:8]))


if __name__ == "__main__":
    main()
