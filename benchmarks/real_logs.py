"""`gclens parse` against `grep -E` on logs built like real services' logs, in one run.

Inputs are made of every sample run (sample_traces/go1.*/*.stderr: torn and spliced lines,
scheddetail dumps, gctrace=2, forced cycles, memory limits, crashes), each run's runtime lines in
their real order, one run after another:

* ``mixed``: application lines between the runtime lines (5 % runtime lines on average), in
  the four styles of the applog runs (stdlib ``log`` with a date, ``slog`` text, ``slog`` JSON,
  bracket-tagged): real lines from those runs, one style per run, as one service writes one;
* ``cri_mixed``: ``mixed`` in a container runtime's CRI envelope (what kubelet keeps);
* ``runtime_only``: the runs' runtime lines alone;
* ``gc_only``: the runs' ``gc N @`` lines alone.

Each round times `grep -E` (the runtime markers, output to a file) and `gclens parse -o DIR`
(Parquet) on each input, interleaved, so that a busy moment of a shared machine hits both; the
table gives the medians and min-max of ``--repeat`` rounds, and gclens ÷ grep as the median (and
min-max) of each round's own ratio, beside what the Go parsers measured on such logs (issue #18;
gcscope and tebeka/gctrace are not installed here, so their ratios are quoted, not re-measured),
gclens's peak RSS (the largest of the rounds; issue #18 asks for at most 400 MB on 2 GB) and
its CPU time (user + system): on a shared machine CPU time moves far less than wall time, so
``--compare`` gives both ratios.

    python benchmarks/real_logs.py [--mixed-mib 100] [--runtime-mib 30] [--gc-lines 200000]
                                   [--repeat 5] [--inputs mixed,cri_mixed,runtime_only,gc_only]
                                   [--compare /path/to/another/checkout]
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
GREP = r"gc [0-9]+ @|scan: |pacer: |SCHED [0-9]+ms|scav [0-9]|scvg|GC forced|^ +[PMG][0-9]+: "
_MARKER = re.compile(GREP)
STYLES = {  # how each style's application line starts
    "stdlog": re.compile(r"[0-9]{4}/[0-9]{2}/[0-9]{2} [0-9:.]+ "),
    "slogtext": re.compile(r"time=[0-9T:.+-]+Z? level="),
    "slogjson": re.compile(r'\{"time":'),
    "bracket": re.compile(r"\[[A-Z]+\] [0-9:]+ "),
}
GO_RATIOS = {  # x grep, from issue #18's table (300 MiB mixed, 99 MiB runtime-only, 200k gc lines)
    "mixed": (1.9, 3.0), "cri_mixed": (None, None), "runtime_only": (5.4, 2.6), "gc_only": (6.6, 6.8),
}
MIXED_GAP = 39
"""Application lines between two runtime lines: 0 to MIXED_GAP - 1 (19 on average: 5 % runtime)."""


def _app_style(line: str) -> str | None:
    """The style of a whole application line (None: a runtime line, or one with runtime text in it)."""
    if _MARKER.search(line):
        return None
    return next((name for name, start in STYLES.items() if start.match(line)), None)


def sample_runs() -> tuple[list[list[str]], dict[str, list[str]]]:
    """Every sample run's runtime lines in their real order, and the applog runs' application
    lines by style. A run's line that is not a whole application line (runtime output, a torn or
    spliced piece, an empty line) counts as its runtime output."""
    runs: list[list[str]] = []
    app: dict[str, list[str]] = {name: [] for name in STYLES}
    for path in sorted(SAMPLES.glob("go1.*/*.stderr")):
        lines = path.read_text(errors="surrogateescape").splitlines()
        rest = []
        for line in lines:
            style = _app_style(line) if path.name.startswith("applog-") else None
            if style is None:
                rest.append(line)
            else:
                app[style].append(line)
        if rest:
            runs.append(rest)
    return runs, app


def _runtime(rng: random.Random, runs: list[list[str]]) -> Iterator[str]:
    """Whole runs one after another (a restart between two), in a random order of runs."""
    while True:
        yield from rng.choice(runs)


def _mixed(rng: random.Random, runs: list[list[str]], app: dict[str, list[str]]) -> Iterator[str]:
    styles = sorted(app)
    while True:
        run, pool = rng.choice(runs), app[rng.choice(styles)]
        for line in run:
            for _ in range(rng.randrange(MIXED_GAP)):
                yield pool[rng.randrange(len(pool))]
            yield line


def _cri(lines: Iterator[str]) -> Iterator[str]:
    """Each line as containerd writes it (a line every 50 µs from 04:00:00 UTC)."""
    for i, line in enumerate(lines):
        us = i * 50
        yield (f"2026-11-27T{4 + us // 3_600_000_000 % 20:02d}:{us // 60_000_000 % 60:02d}:"
               f"{us // 1_000_000 % 60:02d}.{us % 1_000_000:06d}000Z stderr F {line}")


def _gc(rng: random.Random, runs: list[list[str]]) -> Iterator[str]:
    gc = [[ln for ln in run if ln.startswith("gc ") and " @" in ln] for run in runs]
    yield from _runtime(rng, [g for g in gc if g])


def build_inputs(workdir: Path, sizes: dict[str, int], seed: int = 1) -> dict[str, Path]:
    """Write each wanted input (name → MiB, or lines for ``gc_only``) under ``workdir``."""
    runs, app = sample_runs()
    makers = {
        "mixed": lambda rng: _mixed(rng, runs, app),
        "cri_mixed": lambda rng: _cri(_mixed(rng, runs, app)),
        "runtime_only": lambda rng: _runtime(rng, runs),
        "gc_only": lambda rng: _gc(rng, runs),
    }
    out = {}
    for name, size in sizes.items():
        lines, path = makers[name](random.Random(seed)), workdir / f"{name}.log"
        with path.open("w", errors="surrogateescape") as fh:
            if name == "gc_only":
                fh.write("".join(next(lines) + "\n" for _ in range(size)))
            else:
                written = 0
                while written < size << 20:
                    chunk = "".join(next(lines) + "\n" for _ in range(4000))
                    written += len(chunk.encode(errors="surrogateescape"))
                    fh.write(chunk)
        out[name] = path
    return out


def _run(cmd: list[str], sink: Path, checkout: Path = ROOT) -> tuple[float, float, float]:
    """Wall time, CPU time (user + system, s: steadier than wall time on a busy machine) and peak
    RSS (MiB) of one run; output to a real file (GNU grep stops at the first match when its
    output is /dev/null). ``python -m gclens`` runs the gclens of ``checkout``."""
    start = time.perf_counter()
    with sink.open("wb") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.DEVNULL, cwd=checkout)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):  # grep exits 1 when nothing matched
        raise SystemExit(f"{' '.join(cmd)} failed with exit code {proc.returncode}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def _spread(values: list[float], fmt: str) -> str:
    return f"{format(statistics.median(values), fmt)} ({format(min(values), fmt)}-{format(max(values), fmt)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixed-mib", type=int, default=100, help="size of mixed and cri_mixed")
    parser.add_argument("--runtime-mib", type=int, default=30, help="size of runtime_only")
    parser.add_argument("--gc-lines", type=int, default=200_000, help="lines of gc_only")
    parser.add_argument("--repeat", type=int, default=5, help="rounds (each times every tool on every input)")
    parser.add_argument("--inputs", default="mixed,cri_mixed,runtime_only,gc_only")
    parser.add_argument("--compare", type=Path, help="another checkout of gclens, timed in the same rounds")
    args = parser.parse_args()
    if shutil.which("grep") is None:
        raise SystemExit("grep is needed: the ratios are to grep in the same run")
    sizes = {"mixed": args.mixed_mib, "cri_mixed": args.mixed_mib, "runtime_only": args.runtime_mib,
             "gc_only": args.gc_lines}
    sizes = {name: sizes[name] for name in args.inputs.split(",")}
    gclens = [sys.executable, "-m", "gclens", "parse"]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = build_inputs(work, sizes)
        os.sync()  # the kernel writing the new files back while a tool runs would time the disk too
        times: dict[tuple[str, str], list[float]] = {}
        cpu: dict[tuple[str, str], list[float]] = {}
        rss: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):  # rounds: every tool on every input, interleaved
            for name, path in inputs.items():
                runs = {"grep": (["grep", "-E", GREP, str(path)], ROOT),
                        "gclens": ([*gclens, str(path), "-o", str(work / f"out-{name}")], ROOT)}
                if args.compare:
                    runs["other"] = ([*gclens, str(path), "-o", str(work / f"other-{name}")], args.compare)
                for tool, (cmd, checkout) in runs.items():
                    elapsed, used, peak = _run(cmd, work / f"{tool}.out", checkout)
                    times.setdefault((name, tool), []).append(elapsed)
                    cpu.setdefault((name, tool), []).append(used)
                    rss.setdefault((name, tool), []).append(peak)
        print(f"{args.repeat} rounds; median (min-max); gclens x grep is the median (min-max) of each round's ratio")
        print(f"{'input':<13} {'MiB':>5} {'lines':>10} {'grep -E s':>17} {'gclens s':>17} {'gclens x grep':>17} "
              f"{'gcscope x':>9} {'tebeka x':>8} {'gclens RSS MiB':>14} {'gclens CPU s':>17}")
        for name, path in inputs.items():
            grep, ours = times[(name, "grep")], times[(name, "gclens")]
            ratios = [g / r for g, r in zip(ours, grep, strict=True)]
            gcscope, tebeka = GO_RATIOS[name]
            with path.open("rb") as fh:
                lines = sum(1 for _ in fh)
            print(f"{name:<13} {path.stat().st_size / 2**20:>5.0f} {lines:>10,} {_spread(grep, '.2f'):>17} "
                  f"{_spread(ours, '.2f'):>17} {_spread(ratios, '.1f'):>17} {gcscope or '-':>9} {tebeka or '-':>8} "
                  f"{max(rss[(name, 'gclens')]):>14.0f} {_spread(cpu[(name, 'gclens')], '.2f'):>17}")
            if args.compare:
                other = times[(name, "other")]
                cpu_ratio = [t / o for t, o in zip(cpu[(name, "gclens")], cpu[(name, "other")], strict=True)]
                print(f"{'':<13} {args.compare}: {_spread(other, '.2f')} s, peak {max(rss[(name, 'other')]):.0f} MiB, "
                      f"{_spread([o / g for o, g in zip(other, grep, strict=True)], '.1f')} x grep, this checkout "
                      f"{_spread([t / o for t, o in zip(ours, other, strict=True)], '.2f')} x it; CPU "
                      f"{_spread(cpu[(name, 'other')], '.2f')} s, this checkout "
                      f"{_spread(cpu_ratio, '.2f')} x it")


if __name__ == "__main__":
    main()
