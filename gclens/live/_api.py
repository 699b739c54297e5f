"""``run_program`` and ``follow``: a live source, its session, its view, its signals."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

from gclens._allocator import child_environment
from gclens.analysis.limits import Limits
from gclens.live._child import FORWARDED, Child, CommandError, exit_status, extend_godebug
from gclens.live._feed import Feed, drain, tail
from gclens.live._metrics import Metrics
from gclens.live._session import LiveResult, Session
from gclens.live._state import Finding, LiveState
from gclens.live._view import PlainView
from gclens.pipeline.stream import Options
from gclens.store.formats import Format

__all__ = ["Abandoned", "follow", "run_program"]


class Abandoned(BaseException):
    """A second SIGINT/SIGTERM while stopping: the session was abandoned, nothing was written."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def _check_out_dir(out_dir: str | os.PathLike[str] | None) -> None:
    """Refuse an output directory that cannot be made before the program runs, not after."""
    from pathlib import Path

    from gclens._errors import OutputError

    if out_dir is not None and not Path(out_dir).absolute().parent.is_dir():
        raise OutputError(f"{out_dir}: parent directory {Path(out_dir).absolute().parent} does not exist")


def _both(*calls: Callable[[Finding], None]) -> Callable[[Finding], None]:
    def call(finding: Finding) -> None:
        for one in calls:
            one(finding)
    return call


def _state(limits: Limits, metrics: Metrics | None, view: Any) -> LiveState:
    state = LiveState(limits=limits)
    view.bind(state)
    state.on_finding = view.finding if metrics is None else _both(metrics.on_finding, view.finding)
    if metrics is not None:
        state.on_cycles, state.on_sched, state.on_rejects = metrics.on_cycles, metrics.on_sched, metrics.on_rejects
    return state


def follow(source: str | os.PathLike[str], *, out_dir: str | os.PathLike[str] | None = None,
           fmt: Format = "parquet", options: Options | None = None, limits: Limits | None = None,
           view: Any = None, metrics: Metrics | None = None, keep_trace: bool = False,
           stop: threading.Event | None = None, signals: bool = True) -> LiveResult:
    """Follow a growing log (``tail -F``: from its start, through rotation) or '-' (stdin, to its end).

    It stops when ``stop`` is set, or on SIGINT/SIGTERM (``signals``, from the main thread), or at
    the end of stdin; the tables then go to ``out_dir``, as ``parse`` writes them for the bytes
    read. A second signal abandons the write and raises ``Abandoned``.
    """
    limits, stop = limits or Limits(), stop or threading.Event()
    view = view or PlainView(limits, every_s=None)
    _check_out_dir(out_dir)
    name = os.fspath(source)
    feed = Feed(name, path=None if name == "-" else name)
    state = _state(limits, metrics, view)

    def produce() -> None:
        try:
            if name == "-":
                drain(0, feed, stop)
            else:
                tail(name, feed, stop, note=view.note)
        finally:
            feed.end()

    session = Session(feed, options or Options(), state, out_dir=out_dir, fmt=fmt, keep_trace=keep_trace).start()
    threading.Thread(target=produce, name="gclens-follow", daemon=True).start()
    stops: list[int] = []

    def on_signal(signum: int, frame: object) -> None:
        stops.append(signum)
        stop.set()
        if len(stops) > 1:
            session.cancel()

    with _handlers((signal.SIGINT, signal.SIGTERM), on_signal, signals):
        _watch(session, view, lambda: True)
    stop.set()  # the pipeline failed (an unwritable DIR): the follower stops too
    view.close()
    if len(stops) > 1:
        raise Abandoned(stops[-1])
    return session.result()


def run_program(command: Sequence[str], *, out_dir: str | os.PathLike[str] | None = None, fmt: Format = "parquet",
                options: Options | None = None, limits: Limits | None = None, gctrace: int = 1,
                schedtrace_ms: int | None = None, name: str | None = None, env: Mapping[str, str] | None = None,
                view: Any = None, metrics: Metrics | None = None, keep_trace: bool = False,
                signals: bool = True, grace_s: float = 2.0) -> LiveResult:
    """Run ``command`` with GODEBUG extended (gctrace, schedtrace), watch its stderr, return when it ends.

    Its stdout and stderr pass through ``view`` (by default unchanged, byte for byte); SIGINT,
    SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2 are forwarded (``signals``; a second SIGINT/SIGTERM kills
    it; one more once it has ended abandons the tables and raises ``Abandoned``). ``ts`` is
    anchored at the moment it was started (``result.clocks``, all clocks) unless
    ``options.start_ns`` says otherwise. CommandError when it cannot be started.
    """
    if not command:
        raise CommandError("no command to run (give it after --)", 2)
    _check_out_dir(out_dir)
    limits = limits or Limits()
    view = view or PlainView(limits, every_s=None)
    env = child_environment() if env is None else dict(env)
    wanted = {"gctrace": str(gctrace)} if gctrace else {}
    if schedtrace_ms:
        wanted["schedtrace"] = str(schedtrace_ms)
    env["GODEBUG"], added, kept = extend_godebug(env.get("GODEBUG"), wanted)
    if added:
        view.note(f"GODEBUG={env['GODEBUG']} (added {','.join(f'{k}={v}' for k, v in added.items())})")
    if kept:
        view.note(f"kept your GODEBUG {','.join(f'{k}={v}' for k, v in kept.items())}")
    feed = Feed(name or os.path.basename(command[0]))
    child = Child.start(command, feed, env=env, echo_out=view.child_out, echo_err=view.child_err)
    try:
        options = options or Options()
        if options.start_ns is None:
            options = replace(options, start_ns=child.clocks["realtime_ns"])
        state = _state(limits, metrics, view)
        session = Session(feed, options, state, out_dir=out_dir, fmt=fmt, keep_trace=keep_trace).start()
        exited: list[float] = []

        def finished() -> bool:
            if not exited and child.process.poll() is not None:
                exited.append(time.monotonic())
            if exited and time.monotonic() - exited[0] > grace_s:
                child.stop.set()  # something of its own holds its stderr open: stop reading
            return bool(exited)

        snapshot = _snapshot_soon(child.pid) if out_dir is not None else None
        stops: list[int] = []
        abandoned: list[int] = []

        def on_signal(signum: int, frame: object) -> None:
            if signum in (signal.SIGINT, signal.SIGTERM):
                stops.append(signum)
                # Ctrl-C reaches the whole process group, so the program may be gone before this
                # handler runs: the first stop always keeps the tables; a second one, once the
                # program is gone, abandons them rather than wait
                if len(stops) > 1 and child.process.poll() is not None:
                    abandoned.append(signum)
                    session.cancel()
            child.forward(signum)

        with _handlers(FORWARDED, on_signal, signals):
            _watch(session, view, lambda: finished() or bool(abandoned))
        if session.error is not None:
            child.kill()
        child.wait_output(grace_s)
    finally:
        child.kill()
    view.close()
    if abandoned:
        raise Abandoned(abandoned[-1])
    result = session.result(exit_code=exit_status(child.process.returncode), clocks=child.clocks)
    if out_dir is not None:
        _write_start(out_dir, command, child, env["GODEBUG"], added, result, snapshot)
    return result


def _snapshot_soon(pid: int) -> tuple[threading.Thread, list[dict[str, Any]]]:
    """A ``gclens snapshot`` of the program just started (sysctl, cgroup, limits, its start time),
    taken in the background; empty if it was gone too soon."""
    from gclens.context.snapshot import capture

    taken: list[dict[str, Any]] = []

    def take() -> None:
        with suppress(Exception):  # best effort: a program that ended at once has no snapshot
            taken.append(capture(pid))

    thread = threading.Thread(target=take, name="gclens-snapshot", daemon=True)
    thread.start()
    return thread, taken


def _write_start(out_dir: str | os.PathLike[str], command: Sequence[str], child: Child, godebug: str,
                 added: dict[str, str], result: LiveResult,
                 snapshot: tuple[threading.Thread, list[dict[str, Any]]] | None) -> None:
    """``live.json`` (the command, GODEBUG, the start on every clock, the exit status) and
    ``snapshot.json`` (for ``--snapshot``) beside the tables."""
    import json
    from pathlib import Path

    from gclens.context.snapshot import dumps
    from gclens.store.output import write_text_atomic

    taken: list[dict[str, Any]] = []
    if snapshot is not None:
        snapshot[0].join(10.0)
        taken = snapshot[1]
    record = {"command": list(command), "pid": child.pid, "godebug": godebug, "godebug_added": added,
              "started": child.clocks, "exit_code": result.exit_code}
    write_text_atomic(Path(out_dir) / "live.json", json.dumps(record, indent=1) + "\n")
    if taken:
        write_text_atomic(Path(out_dir) / "snapshot.json", dumps(taken[0]))


def _watch(session: Session, view: Any, finished: Callable[[], bool]) -> None:
    """Tick the view until the pipeline is done and ``finished()`` (the program exited)."""
    while True:
        view.tick()
        if session.error is not None or session.cancelled or (session.done.is_set() and finished()):
            return
        session.done.wait(0.1)


@contextmanager
def _handlers(signums: Sequence[int], handler: Callable[[int, Any], None], wanted: bool) -> Iterator[None]:
    """Signal handlers for the session, put back afterwards (only the main thread may set them)."""
    if not wanted or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {s: signal.signal(s, handler) for s in signums}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
