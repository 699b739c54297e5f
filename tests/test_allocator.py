"""The `gclens` command allocates Arrow memory with malloc (lower, flat resident memory), keeps a
pool the user chose, and does not hand its own choice on to the program `gclens run` starts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, SAMPLES, without_pandas

CHURN = SAMPLES / "go1.25" / "churn-full.stderr"

# The real entry point, a real parse; then, instead of leaving, the pool Arrow used.
PARSE_THEN_SAY_POOL = """
import os, sys
import gclens.cli
leave = os._exit
def say_pool(code):
    import pyarrow
    print(pyarrow.default_memory_pool().backend_name, pyarrow.total_allocated_bytes() >= 0, flush=True)
    leave(code)
os._exit = say_pool
sys.argv = ["gclens", "parse", sys.argv[1], "-o", sys.argv[2]]
gclens.cli.run()
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in without_pandas().items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    return {**env, **extra}


@pytest.mark.parametrize(("chosen", "used"), [(None, "system"), ("mimalloc", "mimalloc")])
def test_the_command_parses_with_malloc_unless_the_user_chose_a_pool(chosen: str | None, used: str,
                                                                      tmp_path: Path) -> None:
    env = _env() if chosen is None else _env(ARROW_DEFAULT_MEMORY_POOL=chosen)
    done = subprocess.run([sys.executable, "-c", PARSE_THEN_SAY_POOL, str(CHURN), str(tmp_path / "out")],
                          capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [used, "True"]
    assert (tmp_path / "out" / "gc.parquet").is_file()


@pytest.mark.parametrize(("chosen", "seen"), [(None, "unset"), ("jemalloc", "jemalloc")])
def test_the_program_run_starts_sees_only_the_users_choice(chosen: str | None, seen: str) -> None:
    env = _env() if chosen is None else _env(ARROW_DEFAULT_MEMORY_POOL=chosen)
    program = "import os; print('pool=' + os.environ.get('ARROW_DEFAULT_MEMORY_POOL', 'unset'))"
    done = subprocess.run([sys.executable, "-m", "gclens", "run", "--view", "none", "--", sys.executable, "-c",
                           program], capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert f"pool={seen}\n" in done.stdout
