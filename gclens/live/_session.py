"""One live session: the parse pipeline over a Feed in its own thread, its batches shared out.

The batches ``gclens.pipeline.stream.stream`` yields go, in order, to the file writer (``-o DIR``,
the same writer as ``gclens parse -o``), to the ``LiveState`` the view and the metrics read, and
(for ``--check``) to an in-memory Trace. Stopping a session means ending its Feed: the pipeline
then finishes exactly as at the end of a file, so the tables are those ``parse`` gives for the
same bytes. ``cancel`` instead abandons the write (nothing is left behind).
"""

from __future__ import annotations

import io
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gclens.live._feed import Feed
from gclens.live._state import Finding, LiveKpis, LiveState
from gclens.pipeline.stream import Batch, Options, Summary, stream
from gclens.read.envelopes import DETECT_LINES, detect
from gclens.read.sources import Source
from gclens.store.formats import Format

__all__ = ["LiveResult", "Session"]


DETECT_WITHIN_S = 2.0


class _Cancelled(BaseException):
    """Raised inside the writer's loop: its temporary directory is removed on the way out."""


@dataclass
class LiveResult:
    """What a live session produced: the parse summary, the final KPIs and findings, what was written.

    ``exit_code`` is the program's (``run``; 128 + N when signal N killed it), None for ``follow``;
    ``clocks`` the program's start on every clock (``run``); ``trace`` the tables, with ``keep_trace``.
    """

    summary: Summary
    kpis: list[LiveKpis]
    findings: list[Finding]
    finding_count: int
    written: list[Path] = field(default_factory=list)
    exit_code: int | None = None
    clocks: dict[str, Any] | None = None
    trace: Any = None


class Session:
    """The pipeline in a worker thread; ``done`` is set when it has finished (or failed)."""

    def __init__(self, feed: Feed, options: Options, state: LiveState, *, out_dir: str | os.PathLike[str] | None,
                 fmt: Format = "parquet", keep_trace: bool = False) -> None:
        self.feed, self.options, self.state = feed, options, state
        self.out_dir, self.fmt, self.keep_trace = out_dir, fmt, keep_trace
        self.summary = Summary()
        self.kept: list[Batch] = []
        self.written: list[Path] = []
        self.envelope: str | None = None  # the envelope detected, once known
        self.error: BaseException | None = None
        self.done = threading.Event()
        self._cancel = threading.Event()
        self.thread = threading.Thread(target=self._work, name="gclens-pipeline", daemon=True)

    def start(self) -> Session:
        self.thread.start()
        return self

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def cancel(self) -> None:
        """Abandon the session: the write is undone, producers stop waiting."""
        self._cancel.set()
        self.feed.abandon()
        self.feed.end()

    def _detected(self) -> None:
        """An envelope to detect is detected from the first lines (``parse``'s 200), or from those of
        the first DETECT_WITHIN_S seconds: a live source may be slow to give 200."""
        if self.options.envelope != "auto":
            return
        head = self.feed.peek(DETECT_LINES, DETECT_WITHIN_S).split(b"\n")[:DETECT_LINES]
        texts = (line.removesuffix(b"\r").decode("utf-8", "replace") for line in head)
        self.options = replace(self.options, envelope=detect(texts, self.options.clock))
        self.envelope = self.options.envelope

    def _batches(self) -> Iterator[Batch]:
        self._detected()
        path = None if self.feed.path is None else Path(self.feed.path)
        source = Source(self.feed.name, path=path, stream=io.BufferedReader(self.feed))  # named as parse names it
        for name, rows in stream(source, self.options):
            if self._cancel.is_set():
                raise _Cancelled
            self.summary.add(name, rows)
            self.state.add(name, rows)
            if self.keep_trace:
                self.kept.append((name, rows))
            yield name, rows

    def _work(self) -> None:
        try:
            if self.out_dir is not None:
                from gclens.store.output import write_batches

                self.written = write_batches(self._batches(), self.out_dir, fmt=self.fmt)
            else:
                for _ in self._batches():
                    pass
        except _Cancelled:
            pass
        except BaseException as exc:  # handed to the caller's thread by result()
            self.error = exc
            self.feed.abandon()
        finally:
            self.done.set()

    def result(self, **extra: Any) -> LiveResult:
        """After ``done``: the result, or the pipeline's error raised here."""
        self.thread.join()
        if self.error is not None:
            raise self.error
        trace = None
        if self.keep_trace:
            from gclens.pipeline.reader import trace_from

            trace = trace_from(self.kept)
        return LiveResult(self.summary, self.state.kpis(), self.state.recent_findings(self.state.max_findings),
                          self.state.finding_count, self.written, trace=trace, **extra)
