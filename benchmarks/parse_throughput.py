"""Throughput and memory of `gclens parse` against `grep -E` on the same files, in one run.

Builds inputs from the real sample traces (``real_logs.py``): a mixed log with ~5 % runtime lines
between application lines of four real styles, the same in a container runtime's CRI envelope
(what kubelet keeps under /var/log/pods), a runtime-only file and a scheddetail-heavy file, each
made of whole runs in their real order, one after another.
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
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import real_logs

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
GREP = real_logs.GREP


def build_inputs(workdir: Path, mib: int, wanted: list[str] | None = None) -> dict[str, Path]:
    """Logs as services write them (``real_logs``: every sample run in its real order, application
    lines of the four applog styles between the runtime lines of the mixed log, 95 % of its
    lines), and a scheddetail-heavy log (the go1.25 scheddetail run over and over)."""
    names = wanted or ["mixed", "cri_mixed", "runtime_only", "scheddetail"]
    out = real_logs.build_inputs(workdir, {name: mib for name in names if name != "scheddetail"})
    if "scheddetail" in names:
        detail = (SAMPLES / "go1.25" / "goroutines-detail.stderr").read_text()
        path = workdir / "scheddetail.log"
        with path.open("w") as fh:
            for _ in range(max(1, (mib << 20) // len(detail))):
                fh.write(detail)
        out["scheddetail"] = path
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
            child = subprocess.Popen(cmd, stdout=sink, stderr=subprocess.DEVNULL, cwd=ROOT)  # this checkout's gclens
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
                cmd = [sys.executable, "-m", "gclens", "parse", str(path), "-o", out, "--engine", engine]
                results[engine] = measure(cmd, args.repeat, stdout)
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
