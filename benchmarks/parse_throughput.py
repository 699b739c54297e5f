"""Throughput and memory of `gclens parse` against `grep -E` on the same files, in one run.

Builds inputs from the real sample traces: a mixed log with ~5 % runtime lines, the same in a
container runtime's CRI envelope (what kubelet keeps under /var/log/pods), a runtime-only file
and a scheddetail-heavy file, each made of whole runs in their real order, one after another.
Then times, with the median and min-max of several runs: `grep -E` writing the runtime lines to
a file, gclens parse to Parquet with the fast engine (the default: templates derived from the
grammars, applied to blocks of a plain log as columns) and with ``--engine lark`` (every line
through the Lark reference parser and the line-by-line stages). Peak RSS is each child's own
(os.wait4). Ratios are against grep in the same run, and fast against Lark; nothing here is a
pass/fail test.

    python benchmarks/parse_throughput.py [--mib 20] [--repeat 3] [--inputs mixed,cri_mixed]
                                          [--engines fast,lark]
"""

from __future__ import annotations

import argparse
import json
import os
import random
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
GREP = r"gc [0-9]+ @|pacer: |SCHED [0-9]+ms|scav [0-9]|scvg|^ +[PMG][0-9]+: "


def _runs() -> list[list[str]]:
    """The runtime lines of every clean sample run, each run's lines in their real order."""
    runs = json.loads((SAMPLES / "manifest.json").read_text())["runs"]
    out = []
    for r in runs:
        if r["status"] == "ok" and not r.get("expect_splices") and "detail" not in r["scenario"]:
            out.append([ln for ln in (SAMPLES / r["file"]).read_text().splitlines() if not ln.startswith("app")])
    return out


def build_inputs(workdir: Path, mib: int, wanted: list[str] | None = None) -> dict[str, Path]:
    """Logs as services write them: whole runs one after another (a restart between two), with
    application lines between the runtime lines of the mixed log (about 95 % of its lines)."""
    rng = random.Random(1)
    runs = _runs()
    detail = (SAMPLES / "go1.25" / "goroutines-detail.stderr").read_text().splitlines()
    app = [f'{{"level":"info","ts":"2026-11-27T04:51:{i % 60:02d}Z","msg":"request served","path":"/api/v1/items/{i}",'
           f'"status":200,"duration_ms":{i % 97}}}' for i in range(5000)]

    def runtime() -> Iterator[str]:
        while True:
            yield from rng.choice(runs)

    def mixed() -> Iterator[str]:
        for line in runtime():
            yield from (rng.choice(app) for _ in range(rng.randrange(39)))  # 19 on average
            yield line

    def dumps() -> Iterator[str]:
        while True:
            yield from detail

    def cri() -> Iterator[str]:
        for i, line in enumerate(mixed()):  # a line every 50 µs, from 04:00:00 UTC
            us = i * 50
            yield (f"2026-11-27T04:{us // 60_000_000 % 60:02d}:{us // 1_000_000 % 60:02d}.{us % 1_000_000:06d}"
                   f"000Z stderr F {line}")

    out = {}
    for name, lines in (("mixed", mixed()), ("cri_mixed", cri()), ("runtime_only", runtime()),
                        ("scheddetail", dumps())):
        if wanted is not None and name not in wanted:
            continue
        path = workdir / f"{name}.log"
        with path.open("w") as fh:
            size = 0
            while size < mib << 20:
                chunk = "\n".join(next(lines) for _ in range(2000)) + "\n"
                fh.write(chunk)
                size += len(chunk)
        out[name] = path
    return out


def measure(cmd: list[str], repeat: int, out: Path) -> dict[str, float]:
    """Wall time per run, and the peak RSS of that very child (os.wait4 gives its own rusage).

    Standard output goes to a real file: GNU grep stops at the first match when it sees that its
    output is /dev/null, which would time nothing.
    """
    times, rss = [], []
    for _ in range(repeat):
        start = time.perf_counter()
        with out.open("wb") as sink:
            child = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.DEVNULL)
            _, status, usage = os.wait4(child.pid, 0)
        times.append(time.perf_counter() - start)
        child.returncode = os.waitstatus_to_exitcode(status)
        if child.returncode not in (0, 1):  # grep -c exits 1 when nothing matched
            raise SystemExit(f"{cmd[0]} failed with {child.returncode}")
        rss.append(usage.ru_maxrss / 1024)
    return {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
            "peak_rss_mib": max(rss)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=20, help="size of each generated input")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--inputs", default="mixed,cri_mixed,runtime_only,scheddetail",
                        help="which inputs to build and time")
    parser.add_argument("--engines", default="fast,lark", help="which gclens engines to time")
    args = parser.parse_args()
    wanted, engines = args.inputs.split(","), args.engines.split(",")
    gclens = str(Path(sys.executable).parent / "gclens")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = build_inputs(Path(tmp), args.mib, wanted)
        os.sync()  # the kernel writing the new files back while a tool runs would time the disk too
        print(f"{'input':<14} {'lines':>10} {'tool':<8} {'median s':>9} {'min-max s':>13} {'lines/s':>11} "
              f"{'MB/s':>7} {'RSS MiB':>8} {'x grep':>7}")
        for name, path in inputs.items():
            lines = sum(1 for _ in path.open())
            mb = path.stat().st_size / 1e6
            out = str(Path(tmp) / f"out-{name}")
            stdout = Path(tmp) / "stdout"
            results = {"grep": measure(["grep", "-E", GREP, str(path)], args.repeat, stdout)
                       if shutil.which("grep") else None}
            for engine in engines:
                results[engine] = measure([gclens, "parse", str(path), "-o", out, "--engine", engine], args.repeat,
                                          stdout)
            base = results["grep"]["median_s"] if results["grep"] else None
            for tool, r in results.items():
                if r is None:
                    continue
                ratio = f"{r['median_s'] / base:.1f}" if base else "-"
                print(f"{name:<14} {lines:>10,} {tool:<8} {r['median_s']:>9.2f} "
                      f"{r['min_s']:>6.2f}-{r['max_s']:<6.2f} {lines / r['median_s']:>11,.0f} "
                      f"{mb / r['median_s']:>7.1f} {r['peak_rss_mib']:>8.0f} {ratio:>7}")
            if "fast" in results and "lark" in results:
                print(f"{name:<14} fast engine is {results['lark']['median_s'] / results['fast']['median_s']:.1f}x "
                      "the Lark-only engine")


if __name__ == "__main__":
    main()
