"""The program `gclens run` watches: started with GODEBUG extended, its output passed through.

GODEBUG is extended, never overridden: a setting the user gave is kept as given, and what was
added is said. stdout and stderr come through pipes so that the live view can keep them apart
from its own drawing; stderr is also fed to the parser. Signals gclens gets are forwarded; the
child dies with gclens even on SIGKILL (PR_SET_PDEATHSIG), so it is never left running.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gclens._errors import InputError
from gclens.live._feed import Feed, drain

__all__ = ["Child", "CommandError", "exit_status", "extend_godebug", "start_clocks"]

FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2)
"""Signals gclens passes on to the program (SIGQUIT makes a Go program dump its goroutines)."""


class CommandError(InputError):
    """The program cannot be started: ``exit_code`` is the shell's (127 not found, 126 not runnable)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def extend_godebug(current: str | None, wanted: Mapping[str, str]) -> tuple[str, dict[str, str], dict[str, str]]:
    """GODEBUG with ``wanted`` added where the user set nothing: (value, added, kept as the user set).

    >>> extend_godebug("gctrace=2,madvdontneed=1", {"gctrace": "1", "schedtrace": "1000"})
    ('gctrace=2,madvdontneed=1,schedtrace=1000', {'schedtrace': '1000'}, {'gctrace': '2'})
    """
    items = [item for item in (current or "").split(",") if item]
    given = {item.split("=", 1)[0]: item.split("=", 1)[1] if "=" in item else "" for item in items}
    added = {k: v for k, v in wanted.items() if k not in given}
    kept = {k: given[k] for k in wanted if k in given}
    return ",".join(items + [f"{k}={v}" for k, v in added.items()]), added, kept


def start_clocks() -> dict[str, Any]:
    """CLOCK_REALTIME, CLOCK_MONOTONIC and CLOCK_BOOTTIME back to back, with the boot id: the
    program's start on every timeline (wall time for ``ts``, perf ``-k mono``, snapshots)."""
    clocks: dict[str, Any] = {
        "realtime_ns": time.clock_gettime_ns(time.CLOCK_REALTIME),
        "monotonic_ns": time.clock_gettime_ns(time.CLOCK_MONOTONIC),
        "boottime_ns": time.clock_gettime_ns(time.CLOCK_BOOTTIME),
    }
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            clocks["boot_id"] = fh.read().strip()
    except OSError:
        clocks["boot_id"] = None
    return clocks


def exit_status(returncode: int) -> int:
    """The exit status a shell reports: 128 + N for a program killed by signal N."""
    return 128 - returncode if returncode < 0 else returncode


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class Child:
    """A running program: its stderr goes to ``feed`` (and ``echo_err``), its stdout to ``echo_out``."""

    process: subprocess.Popen[bytes]
    clocks: dict[str, Any]
    threads: list[threading.Thread]
    stop: threading.Event
    signals: list[int]

    @classmethod
    def start(cls, command: Sequence[str], feed: Feed, *, env: Mapping[str, str],
              echo_out: Callable[[bytes], None], echo_err: Callable[[bytes], None]) -> Child:
        """Start ``command``; CommandError when it cannot be."""
        clocks = start_clocks()
        try:
            process = subprocess.Popen(list(command), env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                       preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        except FileNotFoundError:
            raise CommandError(f"{command[0]}: command not found", 127) from None
        except PermissionError:
            raise CommandError(f"{command[0]}: permission denied (not executable)", 126) from None
        except OSError as exc:
            raise CommandError(f"{command[0]}: cannot be started ({exc.strerror})", 126) from None
        stop = threading.Event()
        assert process.stdout is not None and process.stderr is not None
        err_fd = process.stderr.fileno()

        def errors() -> None:
            try:
                drain(err_fd, feed, stop, echo=echo_err)
            finally:
                feed.end()

        threads = [threading.Thread(target=errors, name="gclens-stderr", daemon=True),
                   threading.Thread(target=_copy, args=(process.stdout, echo_out, stop), name="gclens-stdout",
                                    daemon=True)]
        for thread in threads:
            thread.start()
        return cls(process, clocks, threads, stop, [])

    @property
    def pid(self) -> int:
        return self.process.pid

    def forward(self, signum: int) -> None:
        """Pass a signal on; a second SIGINT/SIGTERM while it still runs kills it."""
        if self.process.poll() is not None:
            return
        stopping = signum in (signal.SIGINT, signal.SIGTERM)
        again = stopping and any(s in (signal.SIGINT, signal.SIGTERM) for s in self.signals)
        self.signals.append(signum)
        self.process.send_signal(signal.SIGKILL if again else signum)

    def wait_output(self, grace_s: float = 2.0) -> None:
        """After the program exited, its output to its end (a child of its own may hold the pipes
        open: given ``grace_s``, then left)."""
        deadline = time.monotonic() + grace_s
        for thread in self.threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self.stop.set()
        for thread in self.threads:
            thread.join()
        for pipe in (self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()

    def kill(self) -> None:
        """Never leave it running: SIGTERM, then SIGKILL after 2 s."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(2.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.stop.set()


def _copy(pipe: Any, echo: Callable[[bytes], None], stop: threading.Event) -> None:
    """The program's stdout to ``echo``; when our reader went away (``| head``), the pipe is
    closed so that the program gets SIGPIPE, as it would without gclens in between."""
    import select

    fd = pipe.fileno()
    while True:
        if not select.select([fd], [], [], 0.2)[0]:
            if stop.is_set():
                return
            continue
        data = os.read(fd, 1 << 16)
        if not data:
            return
        try:
            echo(data)
        except BrokenPipeError:
            pipe.close()
            return
