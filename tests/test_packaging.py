"""The wheel ships the grammars, and the public surface is what __all__ says."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import gclens
from conftest import ROOT


def test_wheel_contains_the_grammars(tmp_path: Path) -> None:
    subprocess.run([sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
                   check=True, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("gclens-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    shipped = {n.removeprefix("gclens/grammars/") for n in names if n.startswith("gclens/grammars/")}
    assert shipped == {p.name for p in (ROOT / "grammars").glob("*.lark")}


def test_exported_members() -> None:
    assert len(set(gclens.__all__)) == len(gclens.__all__)  # ruff RUF022 keeps it sorted
    assert dir(gclens) == sorted(gclens.__all__)
    for name in gclens.__all__:  # every exported name resolves (lazily)
        assert getattr(gclens, name) is not None


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert f"```sh\n{ci}\n```" in readme


def test_readme_lists_every_table() -> None:
    readme = (ROOT / "README.md").read_text()
    listed = readme[readme.index("<!-- tables:start -->"):readme.index("<!-- tables:end -->")]
    for name in gclens.TABLE_NAMES:
        assert f"`{name}`" in listed
