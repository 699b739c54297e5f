"""How fast could runtime-only input go at best? The pieces no regex-based parser can skip, timed.

The runtime-only target of the fast engine is 100x the Lark-only engine. This script times, on
the same runtime-only input as ``parse_throughput.py``, the work any engine built on Polars and
Arrow must do, each piece alone and on its own:

* ``read + mark``: read the file in blocks and mark the runtime lines (the block scanner);
* ``tokens``: Rust's regex extracting each line's tokens with its learnt plan, nothing else
  (no casts, no checks, no shapes: the parse proper costs more);
* ``parquet``: encoding the finished tables (as ``gclens parse`` wrote them) to Parquet.

and then ``gclens parse`` itself, and ``--engine lark`` (with ``--lark``, about a minute per
100 MiB). Each figure is the best of ``--repeat`` runs; the floor is the sum of the three pieces,
compared with the budget that 100x Lark leaves.

    python benchmarks/runtime_floor.py [--mib 100] [--repeat 3] [--lark]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from parse_throughput import build_inputs

from gclens.grammar.templates import FastEngine
from gclens.pipeline import columnar as _columnar
from gclens.read.classify import CANDIDATES
from gclens.read.sources import Block, LineReader, expand

BATCH = 50_000


def best(repeat: int, work: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return min(times)


def read_and_mark(path: Path) -> int:
    reader = LineReader(expand(str(path))[0])
    reader.candidates, reader.blocks = CANDIDATES, True
    return sum(int(item.marked.sum()) for item in reader if isinstance(item, Block))


def token_queries(path: Path) -> list[pl.LazyFrame]:
    """Per batch and plan: only the regex extraction of the plan's tokens, as lazy queries."""
    engine = FastEngine()
    lines = pl.Series(path.read_text().splitlines())
    queries = []
    for at in range(0, len(lines), BATCH):
        texts = lines.slice(at, BATCH)
        frame = pl.DataFrame({"_rt": texts.str.strip_chars_start(" \t")}).with_columns(
            _shape=pl.col("_rt").str.replace_all("[0-9]+", "0"), _family=_columnar._family_expr())
        for family, shape, text in frame.group_by("_family", "_shape").agg(pl.col("_rt").first()).iter_rows():
            if family is None:
                continue
            plan = _columnar._plan_for(engine, family, shape, text)
            if plan is not None:
                mine = frame.filter(pl.col("_shape") == shape).select("_rt")
                queries.append(mine.lazy().select(pl.col("_rt").str.extract_groups(plan.regex)))
    return queries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--lark", action="store_true", help="also time --engine lark (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = build_inputs(Path(tmp), args.mib, ["runtime_only"])["runtime_only"]
        os.sync()  # no write-back of the new file while the pieces are timed
        out = Path(tmp) / "out"

        def parse(engine: str) -> None:
            subprocess.run([sys.executable, "-m", "gclens", "parse", str(path), "-o", str(out), "--engine", engine],
                           check=True, cwd=Path(__file__).resolve().parent.parent,
                           stderr=subprocess.DEVNULL)

        figures = {"read + mark": best(args.repeat, lambda: read_and_mark(path))}
        queries = token_queries(path)  # plans learnt and queries built outside the timing
        figures["tokens"] = best(args.repeat, lambda: pl.collect_all(queries))
        figures["gclens parse (fast)"] = best(args.repeat, lambda: parse("fast"))
        tables = {p.stem: pq.read_table(p) for p in out.glob("*.parquet")}
        figures["parquet"] = best(args.repeat, lambda: [pq.write_table(t, Path(tmp) / f"w-{n}.parquet",
                                                                       compression="zstd", row_group_size=65_536)
                                                        for n, t in tables.items()])
        if args.lark:
            figures["gclens parse --engine lark"] = best(1, lambda: parse("lark"))
        lines = sum(1 for _ in path.open())
        print(f"runtime-only input: {args.mib} MiB, {lines:,} lines; best of {args.repeat}")
        for name, seconds in figures.items():
            print(f"  {name:<28} {seconds:7.2f} s")
        floor = figures["read + mark"] + figures["tokens"] + figures["parquet"]
        print(f"  {'floor (the three pieces)':<28} {floor:7.2f} s")
        if args.lark:
            budget = figures["gclens parse --engine lark"] / 100
            print(f"  {'budget for 100x Lark':<28} {budget:7.2f} s  (floor is {floor / budget:.1f}x the budget)")


if __name__ == "__main__":
    main()
