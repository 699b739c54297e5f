"""Shared locations and loaders for the test suite."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_traces"
CORPUS = Path(__file__).resolve().parent / "corpus"
GOLDEN = Path(__file__).resolve().parent / "golden"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
"""Debian's headless browser (.ci/run installs it); tests that need it skip when it is missing."""


NO_PANDAS = Path(__file__).resolve().parent / "no_pandas"


def without_pandas() -> dict[str, str]:
    """The environment for a subprocess that cannot import pandas, as after ``pip install gclens``.

    The test extra brings pandas (through pyspark); with it, pyarrow quietly makes Python values of
    nanosecond timestamps that fail without it. See tests/no_pandas/sitecustomize.py.
    """
    paths = [str(NO_PANDAS), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}


def load_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def sample_runs() -> list[dict[str, Any]]:
    """The runs recorded in sample_traces/manifest.json (real output of real toolchains)."""
    manifest = json.loads((SAMPLES / "manifest.json").read_text())
    runs: list[dict[str, Any]] = manifest["runs"] if isinstance(manifest, dict) else manifest
    return runs


def run(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python -m gclens ARGS`` as a user would (without pandas); no run may end in a traceback."""
    proc = subprocess.run(
        [sys.executable, "-m", "gclens", *args], input=stdin.decode() if stdin else None,
        capture_output=True, text=True, cwd=cwd, timeout=120, env=without_pandas(),
    )
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def run_in_process(*args: str) -> tuple[int, str, str]:
    """``gclens ARGS`` through ``gclens.cli.main`` in this process (no interpreter start-up): the
    exit code, stdout and stderr. An exception escaping ``main`` (a traceback) fails the test."""
    import contextlib
    import io

    from gclens.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse: usage errors and --help
            code = exc.code if isinstance(exc.code, int) else 2
    return code, out.getvalue(), err.getvalue()


def chromium(html: Path, shot_name: str, height: int, profile: Path) -> tuple[subprocess.CompletedProcess[str], str]:
    """Open ``html`` in headless Chromium: a screenshot kept in test-artifacts/, and the rendered DOM.

    Returns the screenshot run (its stderr carries console messages, with --enable-logging) and the DOM.
    """
    assert CHROMIUM is not None
    ARTIFACTS.mkdir(exist_ok=True)
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0"]
    shot = subprocess.run([*flags, f"--screenshot={ARTIFACTS / shot_name}", f"--window-size=1200,{height}",
                           html.as_uri()], capture_output=True, text=True, timeout=120)
    dom = subprocess.run([*flags, "--dump-dom", html.as_uri()], capture_output=True, text=True, timeout=120)
    return shot, dom.stdout
