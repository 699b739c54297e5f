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



PROBE = """<script>
addEventListener("load", () => {
  const d = document.documentElement;
  parent.postMessage(JSON.stringify({
    scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, innerWidth: innerWidth, scrollHeight: d.scrollHeight,
    images: [...document.images].map(i => ({alt: i.alt, width: i.naturalWidth,
                                            shown: i.getBoundingClientRect().width})),
    wider: [...document.querySelectorAll("body *")].filter(e => e.getBoundingClientRect().right > innerWidth + 0.5)
      .map(e => e.tagName + (e.id ? "#" + e.id : "")).slice(0, 20),
    remedies: [...document.querySelectorAll("#findings td.remedy")].map(e => e.getBoundingClientRect().width),
  }), "*");
});
</script>"""
"""Measures the laid-out page; added to a copy only: the report itself has no script."""
HOST = """<!DOCTYPE html><html><body style="margin:0"><pre id="layout-probe"></pre>
<iframe src="{src}" style="border:0;display:block" width="{width}" height="{height}"></iframe>{script}</body></html>"""
LISTEN = """<script>addEventListener("message", e => {
  document.getElementById("layout-probe").textContent = e.data; });</script>"""


def chromium_layout(html: Path, shot_name: str, width: int, profile: Path) -> tuple[dict[str, Any], str]:
    """Lay ``html`` out in a viewport ``width`` CSS px wide: the page's measures (see ``PROBE``) and
    a full-page screenshot in test-artifacts/ (up to 16000 px tall).

    The page sits in an iframe of that width: headless Chromium's window is at least 500 px wide,
    narrower than a phone.
    """
    assert CHROMIUM is not None
    probed = profile.parent / f"probe-{width}-{html.name}"
    probed.write_text(html.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"), encoding="utf-8")
    host = profile.parent / f"host-{width}-{html.name}"
    host.write_text(HOST.format(src=probed.as_uri(), width=width, height=900, script=LISTEN), encoding="utf-8")
    flags = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--hide-scrollbars", "--allow-file-access-from-files", f"--user-data-dir={profile}"]
    window = f"--window-size={max(width, 500)},"
    dom = subprocess.run([*flags, window + "900", "--virtual-time-budget=5000", "--dump-dom", host.as_uri()],
                         capture_output=True, text=True, timeout=120).stdout
    text = dom.split('<pre id="layout-probe">')[1].split("</pre>")[0]
    measures = json.loads(text.replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
    height = min(int(measures["scrollHeight"]), 16000)
    host.write_text(HOST.format(src=html.as_uri(), width=width, height=height, script=""), encoding="utf-8")
    ARTIFACTS.mkdir(exist_ok=True)
    subprocess.run([*flags, f"--screenshot={ARTIFACTS / shot_name}", window + str(height), host.as_uri()],
                   capture_output=True, text=True, timeout=120)
    return measures, dom
