"""Driving `gclens run` / `gclens follow` as processes: their output read as it comes, waits on
conditions with timeouts (never a fixed sleep)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from conftest import ROOT, without_pandas

REPLAY = [sys.executable, str(ROOT / "tests" / "replay_trace.py")]
TABLES = ("gc", "pacer", "scav", "sched", "sched_p", "sched_m", "sched_g", "gc_scan", "events", "rejects",
          "runs", "sources")


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``predicate`` until it gives a true value; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class Proc:
    """``python -m gclens ARGS`` with stdout and stderr collected by threads as they arrive."""

    started: list[Proc] = []  # noqa: RUF012 - killed after each test (see test_live's fixture)

    def __init__(self, *args: str, stdin: Any = None, cwd: Path | None = None) -> None:
        self.popen = subprocess.Popen([sys.executable, "-m", "gclens", *args], stdin=stdin, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, env=without_pandas(), cwd=cwd)
        self.out, self.err = bytearray(), bytearray()
        self.threads = [threading.Thread(target=self._collect, args=(s, b), daemon=True)
                        for s, b in ((self.popen.stdout, self.out), (self.popen.stderr, self.err))]
        for thread in self.threads:
            thread.start()
        Proc.started.append(self)

    @classmethod
    def kill_leftovers(cls) -> None:
        """A test that failed half-way leaves no gclens running."""
        for proc in cls.started:
            if proc.popen.poll() is None:
                proc.popen.kill()
                proc.popen.wait()
            for thread in proc.threads:
                thread.join(5)
            for stream in (proc.popen.stdout, proc.popen.stderr):
                if stream is not None and not stream.closed:
                    stream.close()
        cls.started.clear()

    @staticmethod
    def _collect(stream: Any, into: bytearray) -> None:
        while chunk := stream.read1(1 << 16):
            into.extend(chunk)

    def text(self) -> tuple[str, str]:
        return bytes(self.out).decode(errors="replace"), bytes(self.err).decode(errors="replace")

    def finish(self, timeout: float = 60.0) -> int:
        code = self.popen.wait(timeout)
        for thread in self.threads:
            thread.join(timeout)
        for stream in (self.popen.stdout, self.popen.stderr):
            assert stream is not None
            stream.close()
        assert "Traceback" not in self.text()[1], self.text()[1]
        return code


def assert_same_tables(live: Path, parsed: Path) -> None:
    """Every table of ``gclens parse -o`` and of the live command, equal row for row."""
    for name in TABLES:
        a, b = pq.read_table(live / f"{name}.parquet"), pq.read_table(parsed / f"{name}.parquet")
        assert a.schema == b.schema, name
        assert a.to_pylist() == b.to_pylist(), name


def parse_to(path: Path | str, out: Path, *extra: str, cwd: Path | None = None) -> None:
    proc = subprocess.run([sys.executable, "-m", "gclens", "parse", str(path), "-o", str(out), *extra],
                          capture_output=True, text=True, env=without_pandas(), timeout=120, cwd=cwd)
    assert proc.returncode == 0, proc.stderr


def synthetic_stream(cycles: int, *, every_s: float = 0.1, app_lines: int = 4, chunk_cycles: int = 2000) -> Any:
    """Chunks of a long, plausible stream: real gc and pacer lines (go1.25 churn-full) renumbered
    and retimed, ``app_lines`` application lines after each. ``every_s`` apart: 36 000 cycles
    are an hour of the program's time."""
    from conftest import SAMPLES

    lines = (SAMPLES / "go1.25" / "churn-full.stderr").read_text().splitlines()
    gc_tail = next(x for x in lines if x.startswith("gc 5 ")).split("%", 1)[1]
    pacer = next(x for x in lines if x.startswith("pacer: 3"))
    parts: list[str] = []
    for n in range(1, cycles + 1):
        parts.append(f"gc {n} @{n * every_s:.3f}s 1%{gc_tail}\n{pacer}\n")
        parts.extend(f"app: request {n}.{i} served in {i + 1}ms status=200\n" for i in range(app_lines))
        if n % chunk_cycles == 0 or n == cycles:
            yield "".join(parts).encode()
            parts = []


def rss_bytes(pid: int) -> int:
    """Resident memory of a process (VmRSS)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")
