"""Make docs/live-view.svg and docs/live-view.txt: `gclens run` on a real Go program, in tmux.

    python docs/capture_live_view.py PROGRAM [ARGS...]

Starts a tmux session 110 columns wide, runs `gclens run --schedtrace 200 -- PROGRAM ARGS` in it
(build PROGRAM first, e.g. sample_traces/programs/pauses with a Go toolchain), waits until the
panel shows a pause finding and 40 cycles, captures the pane with its colours and writes it as
text and as SVG (Rich's export). Needs tmux; the environment's GOGC/GOMAXPROCS pass through.
"""

from __future__ import annotations

import io
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.text import Text

DOCS = Path(__file__).resolve().parent


def main() -> None:
    program = sys.argv[1:]
    with tempfile.TemporaryDirectory() as tmp:
        tmux = ["tmux", "-S", f"{tmp}/sock"]
        subprocess.run([*tmux, "new-session", "-d", "-s", "shot", "-x", "110", "-y", "30", "bash", "--norc"],
                       check=True, cwd=DOCS.parent)
        try:
            command = [sys.executable, "-m", "gclens", "run", "--view", "live", "--schedtrace", "200", "-o",
                       f"{tmp}/out", "--", *program]
            subprocess.run([*tmux, "send-keys", "-t", "shot", "clear; " + shlex.join(command), "Enter"], check=True)
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                pane = subprocess.run([*tmux, "capture-pane", "-p", "-e", "-t", "shot"], capture_output=True,
                                      text=True, check=True).stdout
                m = re.search(r"cycles (\d+) ", re.sub(r"\x1b\[[0-9;]*m", "", pane))
                if m and int(m[1]) >= 40 and "over the 1 ms limit" in pane:
                    break
                time.sleep(0.2)
            else:
                raise SystemExit("the panel did not show 40 cycles and a pause finding in time")
            subprocess.run([*tmux, "send-keys", "-t", "shot", "C-c"], check=True)
        finally:
            time.sleep(1)
            subprocess.run([*tmux, "kill-server"], check=False)
    text = Text.from_ansi(pane.rstrip("\n"))
    console = Console(record=True, width=110, force_terminal=True, color_system="truecolor", file=io.StringIO())
    console.print(text)
    (DOCS / "live-view.svg").write_text(console.export_svg(title="gclens run -- ./pauses"), encoding="utf-8")
    (DOCS / "live-view.txt").write_text(text.plain + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
