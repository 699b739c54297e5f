"""What `gclens parse` cannot go below, stage by stage, beside `grep -E` and issue #18's targets.

On the inputs of ``real_logs.py`` (built the same way), each in fresh processes, medians of
``--repeat`` rounds:

* ``grep -E``: the yardstick (output to a file, as ``real_logs.py`` runs it);
* ``imports``: ``python -c "import polars, pyarrow.parquet"``, what any run of gclens pays first;
* ``read+scan``: the reader thread's work alone: read the file in blocks, find the candidate
  lines with the automaton, split and decode the kept lines (nothing parsed);
* ``columns``: the parser thread's work alone, on blocks already in memory: every marked line
  parsed by the templates' Polars plans, in batches of ``BATCH_LINES`` (after a first pass that
  learned the shapes and built the plans, which is left out);
* ``one batch``: the same lines in one batch (the Polars work without the per-batch cost);
* ``parse``: the whole command, ``gclens parse FILE -o DIR`` (every table to Parquet).

The stages run one after another, each on one thread; the command runs them on three threads
at once, but much of each holds Python's GIL, so on 2 cores its wall time lies between the
largest stage and their sum. A target below ``imports + read+scan`` (or below ``columns``) is
out of reach of this design whatever the rest costs.

    python benchmarks/floors.py [--mixed-mib 100] [--runtime-mib 30] [--gc-lines 200000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from real_logs import GO_RATIOS, GREP, ROOT, _run, build_inputs

STAGE = """
import sys, tempfile, time
from gclens._allocator import prefer_lean_allocators
prefer_lean_allocators()
import gclens.pipeline.columnar as C
from gclens.pipeline.chunks import chunk_frame, joined, record_frames
from gclens.pipeline.parse import LineTaker, open_source, physical_lines
from gclens.pipeline.result import SourceResult
from gclens.pipeline.stages import Stages
from gclens.read.blocks import Block
from gclens.read.classify import CANDIDATES
from gclens.read.envelopes import NO_META
from gclens.read.opening import expand
from gclens.store.output import write_batches

times = {}
def timed(name, work):
    start = time.perf_counter()
    out = work()
    times[name] = time.perf_counter() - start
    return out

result = SourceResult(expand(sys.argv[1])[0])
opened = open_source(result, envelope="raw", engine="fast")
opened.reader.candidates, opened.reader.blocks = CANDIDATES, True
items = timed("read+scan", lambda: list(opened.items))

def groups(limit):  # as the reader's blocks are joined for the parser; other items in their place
    out, waiting, marked = [], [], 0
    for item in items:
        if isinstance(item, Block):
            waiting.append(item)
            marked += int(item.marked.sum())
            if marked < limit:
                continue
        if waiting:
            out.append(Block.joined(waiting))
            waiting, marked = [], 0
        if not isinstance(item, Block):
            out.append(item)
    return out + ([Block.joined(waiting)] if waiting else [])

batch_lines = C.BATCH_LINES
timed("learn", lambda: list(C._batches(iter(groups(1 << 40)), result.engine)))  # shapes, templates, plans
C.BATCH_LINES = 1 << 40
timed("one-batch", lambda: list(C._batches(iter(groups(1 << 40)), result.engine)))
C.BATCH_LINES = batch_lines
batches = timed("columns", lambda: list(C._batches(iter(groups(batch_lines)), result.engine)))

def line_by_line():  # frame_chunks' own loop, on one thread: lines no plan served, torn-line repair
    taker, chunks = LineTaker(result), []
    for no, text in opened.head:
        taker.take(no, text, NO_META)
    for item in batches:
        if not isinstance(item, C.Batch):
            for no, text in physical_lines(result, iter([item])):
                taker.take(no, text, NO_META)
            continue
        C._take_lines(result, taker, item)
        records, more = result.drain(holding=taker.holding_reject)
        chunks.append(joined(item.chunk, chunk_frame(record_frames(records))))
    records, more = result.drain()
    return [c for c in [*chunks, chunk_frame(record_frames(records))] if c is not None]

chunks = timed("line-by-line", line_by_line)
stages = Stages(result, start_ns=None, timeless=True)
tables = timed("stages", lambda: [b for c in [*chunks, None] for b in stages.feed(c, final=c is None)])
with tempfile.TemporaryDirectory() as out:
    timed("write", lambda: write_batches(iter(tables), out))
print(*(f"{k}={v}" for k, v in times.items()))
"""


def _median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mixed-mib", type=int, default=100)
    parser.add_argument("--runtime-mib", type=int, default=30)
    parser.add_argument("--gc-lines", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--inputs", default="mixed,runtime_only,gc_only")
    args = parser.parse_args()
    sizes = {"mixed": args.mixed_mib, "runtime_only": args.runtime_mib, "gc_only": args.gc_lines}
    sizes = {name: sizes[name] for name in args.inputs.split(",")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inputs = build_inputs(work, sizes)
        os.sync()
        got: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.repeat):
            for name, path in inputs.items():
                got.setdefault((name, "grep"), []).append(_run(["grep", "-E", GREP, str(path)], work / "grep.out")[0])
                start = time.perf_counter()
                subprocess.run([sys.executable, "-c", "import polars, pyarrow.parquet"], check=True, cwd=ROOT)
                got.setdefault((name, "imports"), []).append(time.perf_counter() - start)
                stages = subprocess.run([sys.executable, "-c", STAGE, str(path)], check=True, cwd=ROOT,
                                        capture_output=True, text=True).stdout.split()
                for stage, value in (item.split("=") for item in stages):
                    got.setdefault((name, stage), []).append(float(value))
                wall, cpu, _ = _run([sys.executable, "-m", "gclens", "parse", str(path), "-o", str(work / "out")],
                                    work / "parse.out")
                got.setdefault((name, "parse"), []).append(wall)
                got.setdefault((name, "parse CPU"), []).append(cpu)
        stages = ("imports", "read+scan", "learn", "columns", "one-batch", "line-by-line", "stages", "write",
                  "parse", "parse CPU")
        print(f"{args.repeat} rounds, medians: seconds (x grep)")
        print(f"{'input':<13} {'grep -E':>8} " + " ".join(f"{s:>14}" for s in stages) + f" {'target x grep':>14}")
        for name in inputs:
            grep = _median(got[(name, "grep")])
            cells = [f"{_median(got[(name, s)]):.2f} ({_median(got[(name, s)]) / grep:4.1f}x)" for s in stages]
            target = min(r for r in GO_RATIOS[name] if r is not None)
            print(f"{name:<13} {grep:>8.2f} " + " ".join(f"{c:>14}" for c in cells) + f" {target:>14}")


if __name__ == "__main__":
    main()
