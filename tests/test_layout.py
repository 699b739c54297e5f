"""The package's shape: what a module may import, what it exports, and one judgement for every caller.

- analyses name ``Trace`` through a leaf module, so ``import gclens.analysis`` loads no reader;
- every public module declares ``__all__``, and every name in it exists;
- modules stay under 400 lines (a few pipeline-core modules are still over: the list can only shrink);
- ``gclens check`` and the HTML report list the same findings and reach the same verdict, because
  both call ``gclens.analysis.check`` (before, each merged and sorted the findings its own way).
"""

from __future__ import annotations

import html
import importlib
import json
import pkgutil
import re
import subprocess
import sys
from pathlib import Path

import pytest

import gclens
from conftest import SAMPLES, run_in_process

READER = ("lark", "gclens.pipeline.parse", "gclens.pipeline.stream", "gclens.grammar.loader",
          "gclens.read.sources", "gclens.pipeline.reader", "gclens.pipeline.columnar", "gclens.grammar.templates")


def _loaded(code: str, prefixes: tuple[str, ...]) -> list[str]:
    """Modules among ``prefixes`` (or under them) that running ``code`` in a fresh interpreter loads."""
    probe = f"{code}\nimport sys\nprint(sorted(m for m in sys.modules if m.startswith({prefixes!r})))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    found: list[str] = eval(proc.stdout.strip().splitlines()[-1])  # a list of strings printed by the probe
    return [m for m in found if any(m == p or m.startswith(p + ".") for p in prefixes)]


def test_analyses_do_not_import_the_reader() -> None:
    every = [f"gclens.analysis.{m.name}" for m in pkgutil.iter_modules(gclens.analysis.__path__)]
    assert "gclens.analysis.judge" in every
    assert _loaded("\n".join(f"import {m}" for m in every), READER) == []
    reader = _loaded("import gclens.pipeline.reader", READER)
    assert "gclens.pipeline.parse" in reader  # the probe does see the reader when it loads


def _public_modules() -> list[str]:
    names = ["gclens"]
    for info in pkgutil.walk_packages(gclens.__path__, "gclens."):
        parts = info.name.split(".")
        if not any(p.startswith("_") for p in parts[1:]):
            names.append(info.name)
    return names


@pytest.mark.parametrize("name", _public_modules())
def test_every_public_module_declares_what_it_exports(name: str) -> None:
    module = importlib.import_module(name)
    assert isinstance(getattr(module, "__all__", None), list), f"{name} has no __all__"
    missing = [attr for attr in module.__all__ if not hasattr(module, attr)]
    assert missing == [], f"{name}.__all__ names what it does not have"
    assert len(set(module.__all__)) == len(module.__all__)


MAX_LINES = 400
OVER_BUDGET: set[str] = set()
"""Modules allowed over the budget for now: none since session 18 (the list can only shrink)."""


def test_modules_stay_under_the_size_budget() -> None:
    root = Path(gclens.__file__).parent
    sizes = {f"gclens/{p.relative_to(root).as_posix()}": len(p.read_text().splitlines()) for p in root.rglob("*.py")}
    over = {name for name, lines in sizes.items() if lines > MAX_LINES}
    assert over - OVER_BUDGET == set(), "split these modules (one coherent unit each, with a docstring)"
    assert OVER_BUDGET - over == set(), "these are under budget now: take them off OVER_BUDGET"


CAPTURE = SAMPLES / "perf" / "go1.19-cgroup-change"


def test_check_and_report_give_the_same_findings(tmp_path: Path) -> None:
    """On a real run with its perf capture and settings snapshots, under limits it breaks: the KPI
    findings and the settings findings, merged, in the same order, with the same verdict."""
    inputs = [str(CAPTURE / "trace.stderr"), "--perf", str(CAPTURE / "perf.txt.gz"),
              "--snapshot", str(CAPTURE / "snapshots.jsonl"), "--max-stw-ms", "0.05"]
    code, out, _ = run_in_process("check", *inputs, "--format", "json")
    checked = json.loads(out)
    page = tmp_path / "report.html"
    assert run_in_process("report", *inputs, "-o", str(page))[0] == 0  # a report is not a gate
    rows = re.findall(r'<td class="(\w+)" data-label="severity">\w+</td><td data-label="rule">([^<]+)</td>\n'
                      r'<td data-label="where">.*?</td>\n<td data-label="finding">([^<]*)</td>', page.read_text())
    shown = [(severity, rule, html.unescape(message)) for severity, rule, message in rows]
    listed = [(f["severity"], f["rule"], f["message"]) for f in checked["findings"]]
    assert shown == listed
    assert {"stw-pause", "throttled-during-pauses", "gomaxprocs-over-quota"} <= {rule for _, rule, _ in listed}
    assert (code, checked["verdict"]) == (1, "limit")
    assert '<span class="verdict fail">fail</span>' in page.read_text()
