"""Shared locations and loaders for the test suite."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
CORPUS = Path(__file__).resolve().parent / "corpus"
GOLDEN = Path(__file__).resolve().parent / "golden"


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample_runs() -> list[dict[str, Any]]:
    """The runs recorded in sample_traces/manifest.json (real output of real toolchains)."""
    manifest = json.loads((SAMPLES / "manifest.json").read_text())
    runs: list[dict[str, Any]] = manifest["runs"] if isinstance(manifest, dict) else manifest
    return runs


def run(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gclens ARGS`` as a user would; no run may end in a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "gclens", *args], input=stdin.decode() if stdin else None,
        capture_output=True, text=True, cwd=cwd, timeout=120,
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc
