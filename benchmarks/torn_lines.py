"""What torn runtime lines cost: the same log intact, torn, and flooded with pieces that fit nothing.

Three inputs are built from the gc, SCHED, pacer and scav lines of the sample traces, each
runtime line followed by ``--app-per-line`` application lines (slog text):

* ``intact``: the runtime lines as printed;
* ``torn``: every runtime line torn the way the runtime tears it (head + a whole application
  line, then the rest on the next line), at a split chosen per line;
* ``flood``: the head of each line with an application line, followed by the rest of *another*
  line (pieces that look torn but fit nothing: every one is tried and rejected).

Each is parsed by ``gclens parse`` to Parquet (``--repeat`` times, median); the report gives the
wall time, the extra time per torn line over ``intact``, and the ratios. Run:
``python benchmarks/torn_lines.py [--lines 20000] [--app-per-line 19] [--repeat 3]``.
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
APP = 'time=2026-11-27T03:27:41.337Z level=INFO msg="request done" worker=3 seq={n} dur_us=738'
FIRST = re.compile(r"gc |SCHED |scav |pacer: ")


def runtime_lines(count: int) -> list[str]:
    lines = [line for path in sorted((ROOT / "sample_traces").glob("go1.*/churn-full.stderr"))
             for line in path.read_text().splitlines() if FIRST.match(line)]
    return [lines[i % len(lines)] for i in range(count)]


def split(line: str, n: int) -> int:
    """A point between two print pieces: after a space, a `+` or a `/` (after the first piece)."""
    first = FIRST.match(line)
    assert first is not None
    points = [m.end() for m in re.finditer(r"[ +/]", line) if m.end() > first.end() and m.end() < len(line)]
    return points[(n * 7919) % len(points)]


def build(kind: str, lines: list[str], per: int) -> str:
    out = []
    for n, line in enumerate(lines):
        other = lines[(n + 7) % len(lines)]
        apps = [APP.format(n=n * per + i) for i in range(per)]
        if kind == "intact":
            out += [line, *apps]
        elif kind == "torn":
            k = split(line, n)
            out += [line[:k] + apps[0], line[k:], *apps[1:]]
        else:
            k, j = split(line, n), split(other, n)
            out += [line[:k] + apps[0], other[j:], *apps[1:]]
    return "\n".join(out) + "\n"


def timed(path: Path, out: Path, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gclens", "parse", str(path), "-o", str(out)],
                       check=True, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=20_000, help="runtime lines (torn lines)")
    parser.add_argument("--app-per-line", type=int, default=19)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    lines = runtime_lines(args.lines)
    with tempfile.TemporaryDirectory() as tmp:
        base = Path(tmp)
        results = {}
        for kind in ("intact", "torn", "flood"):
            path = base / f"{kind}.log"
            path.write_text(build(kind, lines, args.app_per_line))
            results[kind] = timed(path, base / kind, args.repeat)
    intact = results["intact"]
    print(f"{args.lines} runtime lines, {args.lines * args.app_per_line} application lines, "
          f"median of {args.repeat}")
    for kind, seconds in results.items():
        extra = (seconds - intact) / args.lines * 1e6
        print(f"{kind:7s} {seconds:7.2f} s  {seconds / intact:5.2f}x intact  "
              f"{extra:7.1f} µs more per runtime line")


if __name__ == "__main__":
    main()
