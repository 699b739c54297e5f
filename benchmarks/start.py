"""How long `gclens parse small.log -o out/` takes on a 50-line log, interpreter start included,
beside baselines measured in the same interleaved rounds: `python -c pass`, the imports the
parse needs (`pyarrow.parquet`) and the ones it no longer needs (`polars`, `lark`), and
`read_trace` in a notebook-like `python -c`. Prints medians (min-max) and ratios, then a first
run with empty caches, then the largest imports of a parse (``python -X importtime``) and
whether Lark, Polars, pandas or ``pyarrow.compute`` were imported.

The input is the first 50 lines of a real go1.25 run (gc, pacer, SCHED and scav lines). Runs
write bytecode (``PYTHONDONTWRITEBYTECODE`` is dropped), as an installed package has it.

    python benchmarks/start.py [--lines 50] [--repeat 11] [--compare ../other-checkout]

``--compare`` adds the same parse by another checkout (e.g. ``main`` before a change) to the rounds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_traces" / "go1.25" / "churn-full.stderr"
TARGET_S = 0.3
HEAVY = ("lark", "polars", "pandas", "pyarrow.compute", "matplotlib", "jinja2", "rich")


def _env(root: Path = ROOT, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(root), env.get("PYTHONPATH")) if p)
    return {**env, **extra}


def _wall(cmd: list[str], env: dict[str, str] | None = None, root: Path = ROOT) -> float:
    """Seconds one run takes, from ``root`` (``python -m`` puts the working directory first on the path)."""
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=root, env=env or _env(root),
                   check=True)
    return time.perf_counter() - start


def _line(name: str, values: list[float], ref: float | None = None) -> str:
    median = statistics.median(values)
    ratio = f"  x{median / ref:.2f}" if ref else ""
    return f"{name:<44} {median:.3f} ({min(values):.3f}-{max(values):.3f}){ratio}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=11)
    parser.add_argument("--compare", type=Path, help="another checkout whose parse joins the rounds")
    args = parser.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        small = Path(tmp) / "small.log"
        small.write_text("".join(SAMPLE.read_text().splitlines(keepends=True)[:args.lines]))
        out = str(Path(tmp) / "out")
        parse = [py, "-m", "gclens", "parse", str(small), "-o", out]
        read = [py, "-c", f"import gclens; gclens.read_trace({str(small)!r})"]
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "import pyarrow.parquet (what parse needs)": [py, "-c", "import pyarrow.parquet"],
            "import polars": [py, "-c", "import polars"],
            "import polars, pyarrow.parquet": [py, "-c", "import polars, pyarrow.parquet"],
            "import polars, pyarrow.parquet, lark": [py, "-c", "import polars, pyarrow.parquet, lark"],
            f"gclens parse ({args.lines} lines) -o dir": parse,
            "python -c 'gclens.read_trace(...)'": read,
        }
        roots = {name: ROOT for name in commands}
        if args.compare:
            commands[f"gclens parse by {args.compare}"] = parse
            roots[f"gclens parse by {args.compare}"] = args.compare.resolve()
        for name in commands:  # the first runs write the caches (templates, Lark's tables) and bytecode
            _wall(commands[name], root=roots[name])
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, cmd in commands.items():
                times[name].append(_wall(cmd, root=roots[name]))
        cold = [_wall(parse, _env(XDG_CACHE_HOME=tempfile.mkdtemp(dir=tmp))) for _ in range(3)]
        trace = subprocess.run([py, "-X", "importtime", *parse[1:]], capture_output=True, text=True,
                               cwd=ROOT, env=_env(), check=True).stderr
    base = statistics.median(times["import polars, pyarrow.parquet"])
    print(f"{len(commands)} commands in {args.repeat} interleaved rounds, median (min-max) wall seconds, x: ratio to "
          f"`import polars, pyarrow.parquet` ({base:.3f} s)")
    for name, values in times.items():
        print(_line(name, values, base))
    print(_line("gclens parse, first run (empty caches)", cold, base))
    parse_s = statistics.median(times[f"gclens parse ({args.lines} lines) -o dir"])
    floor = statistics.median(times["import pyarrow.parquet (what parse needs)"])
    print(f"parse: {parse_s:.3f} s median, target {TARGET_S} s: {'met' if parse_s <= TARGET_S else 'NOT met'}; "
          f"{parse_s - floor:.3f} s above importing pyarrow.parquet")
    rows = [(int(m[2]), m[3].strip()) for m in re.finditer(r"import time:\s+(\d+) \|\s+(\d+) \|( *\S+)", trace)
            if m[3].startswith(" ") and not m[3].startswith("   ")]  # the first two levels
    print("largest imports (cumulative ms):",
          ", ".join(f"{name} {us / 1000:.0f}" for us, name in sorted(rows, reverse=True)[:10]))
    imported = set(re.findall(r"\|\s+([\w.]+)\s*$", trace, re.M))
    print("heavy modules imported by the parse:", ", ".join(m for m in HEAVY if m in imported) or "none")


if __name__ == "__main__":
    main()
