"""`gclens run` as a person sees it: in a real terminal (tmux), the panel drawn, the program's
output above it, Ctrl-C typed, the tables written. Skipped only where tmux is missing (.ci/run
installs it)."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from live_helpers import REPLAY, wait_for

from conftest import ROOT, SAMPLES, without_pandas

TMUX = shutil.which("tmux")
pytestmark = pytest.mark.skipif(TMUX is None, reason="tmux is not installed (.ci/run installs it)")
PAUSES = SAMPLES / "go1.25" / "pauses-long.stderr"  # pauses over 1 ms: findings on the panel


def test_run_draws_the_panel_in_a_terminal_and_ctrl_c_writes_the_tables(tmp_path: Path) -> None:
    assert TMUX is not None
    tmux = [TMUX, "-S", str(tmp_path / "tmux.sock")]
    env = {**without_pandas(), "TERM": "xterm-256color"}
    subprocess.run([*tmux, "new-session", "-d", "-s", "live", "-x", "120", "-y", "45", "bash", "--norc",
                    "--noprofile"], check=True, env=env, cwd=ROOT)
    try:
        command = [sys.executable, "-m", "gclens", "run", "--schedtrace", "1000", "-o", str(tmp_path / "out"),
                   "--", *REPLAY, str(PAUSES), "--speed", "4", "--hold"]
        subprocess.run([*tmux, "send-keys", "-t", "live", shlex.join(command) + "; echo EXIT=$?", "Enter"],
                       check=True)

        def pane() -> str:
            return subprocess.run([*tmux, "capture-pane", "-p", "-S", "-", "-t", "live"], capture_output=True,
                                  text=True, check=True).stdout  # with the lines scrolled off

        # the program has written everything: every cycle but the last (it waits for its neighbour)
        shown = wait_for(lambda: "cycles 70 " in (p := pane()) and p, what="the panel with 70 cycles")
        for text in ("gclens run python", "STW ms", "GC CPU", "1 ms", "5 %", "heap MiB", "findings",
                     "over the 1 ms limit", "replay: done", "GODEBUG=gctrace=1,schedtrace=1000"):
            assert text in shown, (text, shown)
        subprocess.run([*tmux, "send-keys", "-t", "live", "C-c"], check=True)
        done = wait_for(lambda: re.search(r"^EXIT=\d+$", p := pane(), re.M) and p, what="gclens to exit")
        assert "replay: got signal 2" in done and "EXIT=130" in done and "wrote 12 tables" in done, done
        assert "Traceback" not in done
        assert pq.read_table(tmp_path / "out" / "gc.parquet").num_rows == 71  # the last cycle too
    finally:
        subprocess.run([*tmux, "kill-server"], check=False)
