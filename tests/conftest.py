"""Shared locations and loaders for the test suite."""

from __future__ import annotations

import json
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
