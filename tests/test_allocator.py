"""The `gclens` command allocates Arrow memory with malloc and has Polars' jemalloc give pages back
soon (a lower, flat resident memory), keeps what the user chose, and does not hand its own choice
on to the program `gclens run` starts."""

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
    print(pyarrow.default_memory_pool().backend_name, os.environ["_RJEM_MALLOC_CONF"], flush=True)
    leave(code)
os._exit = say_pool
sys.argv = ["gclens", "parse", sys.argv[1], "-o", sys.argv[2]]
gclens.cli.run()
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in without_pandas().items() if k not in ("ARROW_DEFAULT_MEMORY_POOL", "_RJEM_MALLOC_CONF")}
    return {**env, **extra}


@pytest.mark.parametrize(("chosen", "used"), [
    ({}, ["system", "dirty_decay_ms:200,muzzy_decay_ms:0"]),
    ({"ARROW_DEFAULT_MEMORY_POOL": "mimalloc", "_RJEM_MALLOC_CONF": "narenas:2"}, ["mimalloc", "narenas:2"]),
])
def test_the_command_parses_with_lean_allocators_unless_the_user_chose(chosen: dict[str, str], used: list[str],
                                                                       tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-c", PARSE_THEN_SAY_POOL, str(CHURN), str(tmp_path / "out")],
                          capture_output=True, text=True, env=_env(**chosen), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    pool, conf = done.stdout.split()
    assert pool == used[0] and conf.endswith(f",{used[1]}")  # Polars puts its own defaults first
    assert (tmp_path / "out" / "gc.parquet").is_file()


@pytest.mark.parametrize(("chosen", "seen"), [
    ({}, "unset unset"),
    ({"ARROW_DEFAULT_MEMORY_POOL": "jemalloc", "_RJEM_MALLOC_CONF": "narenas:2"}, "jemalloc narenas:2"),
])
def test_the_program_run_starts_sees_only_the_users_choice(chosen: dict[str, str], seen: str) -> None:
    program = ("import os; print('seen', *(os.environ.get(v, 'unset') "
               "for v in ('ARROW_DEFAULT_MEMORY_POOL', '_RJEM_MALLOC_CONF')))")
    done = subprocess.run([sys.executable, "-m", "gclens", "run", "--view", "none", "--", sys.executable, "-c",
                           program], capture_output=True, text=True, env=_env(**chosen), cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert f"seen {seen}\n" in done.stdout
