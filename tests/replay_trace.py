"""A stand-in for a Go program (CI has no Go toolchain): replays a recorded stderr at its pace.

    python tests/replay_trace.py sample_traces/go1.25/churn-full.stderr --speed 20 [--exit N]

Each line is written to stderr, byte for byte, when its time comes: the time of a line is the
latest runtime clock printed so far (a gc line's ``@Xs``, a SCHED line's ``Nms``), divided by
``--speed``. A few lines go to stdout (start and end), to check that stdout passes through.
On SIGINT or SIGTERM it says so on stdout and exits 128 + the signal, as a Go program would.
``--burst`` writes everything at once (no pacing); ``--hold`` waits for a signal at the end.
"""

from __future__ import annotations

import argparse
import re
import signal
import sys
import time

_CLOCK = re.compile(rb"\bgc \d+ @(\d+\.\d+)s|SCHED (\d+)ms:")


def _stopped(signum: int, frame: object) -> None:
    sys.stdout.write(f"replay: got signal {signum}\n")
    sys.stdout.flush()
    sys.exit(128 + signum)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("trace")
    parser.add_argument("--speed", type=float, default=10.0)
    parser.add_argument("--exit", type=int, default=0)
    parser.add_argument("--burst", action="store_true")
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    signal.signal(signal.SIGINT, _stopped)
    signal.signal(signal.SIGTERM, _stopped)
    with open(args.trace, "rb") as fh:
        data = fh.read()
    sys.stdout.write(f"replay: {args.trace} at {args.speed:g}x\n")
    sys.stdout.flush()
    err = sys.stderr.buffer
    for _ in range(args.repeat):
        start = time.monotonic()
        for line in data.splitlines(keepends=True):
            m = _CLOCK.search(line)
            if m and not args.burst:
                at = float(m[1]) if m[1] else int(m[2]) / 1000
                delay = start + at / args.speed - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
            err.write(line)
            if not args.burst:
                err.flush()
        err.flush()
    sys.stdout.write("replay: done\n")
    sys.stdout.flush()
    while args.hold:
        time.sleep(0.05)
    return args.exit


if __name__ == "__main__":
    sys.exit(main())
