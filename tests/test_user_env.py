"""gclens as users install it: `pip install gclens` brings no pandas (the test extra does, through pyspark).

pyarrow makes a Python value of a nanosecond timestamp only through pandas, so code that calls
``to_pylist()``/``as_py()`` on a timestamp column passes here with pandas and dies for a user.
These tests run the user-environment smoke script (which `.ci/run` also runs in an environment made
by `pip install .` alone) with pandas blocked; conftest.run and the notebook tests block it too.
"""

from __future__ import annotations

import subprocess
import sys

from conftest import ROOT, without_pandas


def test_pandas_is_blocked() -> None:
    proc = subprocess.run([sys.executable, "-c", "import pandas"], env=without_pandas(), capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 1 and "blocked: tests/no_pandas" in proc.stderr, proc.stderr


def test_timestamps_become_python_values_without_pandas() -> None:
    """What the library does instead of to_pylist(): gclens.store.schemas.python_rows, nanoseconds as ints."""
    code = ("import pyarrow as pa; from gclens.store.schemas import python_rows\n"
            "t = pa.table({'ts': pa.array([1796455274504810417, None], pa.timestamp('ns', tz='UTC')), 'n': [1, 2]})\n"
            "try:\n    t.to_pylist()\nexcept ValueError:\n    pass\nelse:\n    raise SystemExit('pandas was used')\n"
            "assert python_rows(t) == [{'ts': 1796455274504810417, 'n': 1}, {'ts': None, 'n': 2}]\n")
    proc = subprocess.run([sys.executable, "-c", code], env=without_pandas(), capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stderr


def test_user_env_smoke_without_pandas() -> None:
    """parse, check, summary, report, diff, whatif, align, snapshot, schema; a dataset ingested twice and grown."""
    proc = subprocess.run([sys.executable, str(ROOT / "tests" / "user_env_smoke.py")], env=without_pandas(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "pandas absent" in proc.stdout and "all passed" in proc.stdout
