"""Memory of `gclens follow -` over a long stream: resident memory sampled as the stream goes.

    python benchmarks/live_soak.py [--cycles 360000] [--every-s 0.1]

Feeds a generated stream (real go1.25 gc and pacer lines renumbered, four application lines per
cycle; 36 000 cycles are an hour of the program's time) through a pipe into `gclens follow -
--view none -o DIR` and prints the follower's RSS after each tenth of the stream, the bytes fed
and the rate. Memory should be flat: the pipeline and the live state keep bounded windows.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from live_helpers import rss_bytes, synthetic_stream


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cycles", type=int, default=360_000)
    parser.add_argument("--every-s", type=float, default=0.1)
    parser.add_argument("--no-output", action="store_true", help="leave out -o (the live state alone)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        out = [] if args.no_output else ["-o", f"{tmp}/out"]
        proc = subprocess.Popen([sys.executable, "-m", "gclens", "follow", "-", "--view", "none", *out],
                                stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
        assert proc.stdin is not None
        fed, start, chunks = 0, time.monotonic(), list(range(0, args.cycles, 2000))
        marks = {chunks[len(chunks) * k // 10] for k in range(1, 10)}
        for at, chunk in zip(chunks, synthetic_stream(args.cycles, every_s=args.every_s), strict=True):
            proc.stdin.write(chunk)
            fed += len(chunk)
            if at in marks:
                proc.stdin.flush()
                print(f"{at:>8} cycles ({at * args.every_s / 3600:5.2f} h of trace) fed {fed / 2**20:8.1f} MiB  "
                      f"rss {rss_bytes(proc.pid) / 2**20:6.1f} MiB")
        proc.stdin.close()
        proc.wait()
        took = time.monotonic() - start
        print(f"{args.cycles} cycles, {fed / 2**20:.1f} MiB in {took:.1f} s ({fed / 2**20 / took:.1f} MiB/s), "
              f"exit {proc.returncode}")


if __name__ == "__main__":
    main()
