"""``benchmarks/floors.py`` times the pipeline's stages through their internal entry points: a
change to those must keep the benchmark running. Tiny inputs; timings are never asserted."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

import pytest

from conftest import ROOT


@pytest.mark.skipif(shutil.which("grep") is None, reason="the benchmark times grep beside gclens")
def test_the_floor_benchmark_runs_every_stage_on_every_input() -> None:
    done = subprocess.run([sys.executable, "benchmarks/floors.py", "--repeat", "1", "--mixed-mib", "1",
                           "--runtime-mib", "1", "--gc-lines", "2000"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()[1:]
    assert header.split()[:3] == ["input", "grep", "-E"]
    for stage in ("imports", "read+scan", "learn", "columns", "one-batch", "line-by-line", "stages", "write"):
        assert stage in header
    assert [row.split()[0] for row in rows] == ["mixed", "runtime_only", "gc_only"]
    for row in rows:  # seconds (x grep) for each of the 10 stages, then the target
        assert len(re.findall(r"[0-9]+\.[0-9]{2} \( *[0-9.]+x\)", row)) == 10, row
