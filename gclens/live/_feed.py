"""Bytes from a live source to the parsing pipeline: a bounded hand-over and its producers.

The pipeline reads a ``Feed`` like any stream (``gclens.read.sources`` reads a stream as it comes).
A producer thread puts what it reads; ``put`` blocks while the pipeline is behind, so a fast
writer is slowed down (its pipe fills, its writes wait), never dropped. Producers: ``tail``
(``tail -F`` over a growing file, rotated by rename or truncated) and ``drain`` (a pipe or
stdin, until its end or ``stop``).
"""

from __future__ import annotations

import io
import os
import queue
import select
import threading
import time
from collections.abc import Callable
from typing import Any

__all__ = ["CHUNK_BYTES", "Feed", "drain", "tail"]

CHUNK_BYTES = 1 << 16
MAX_CHUNKS = 64
"""At most this many chunks wait for the pipeline (4 MiB): then the producer waits."""
POLL_S = 0.1


class Feed(io.RawIOBase):
    """A byte stream fed by another thread; ``end()`` is its end of file."""

    def __init__(self, name: str, max_chunks: int = MAX_CHUNKS, *, path: str | None = None) -> None:
        super().__init__()
        self.name = name  # the source's name in the tables
        self.path = path  # the file followed, if any (a Kubernetes log path names the container)
        self._queue: queue.Queue[bytes | None] = queue.Queue(max_chunks)
        self._rest = b""
        self._eof = False
        self._abandoned = threading.Event()
        self.bytes_in = 0

    def readable(self) -> bool:
        return True

    def put(self, data: bytes) -> None:
        """Hand over ``data``; waits while MAX_CHUNKS wait already (back-pressure)."""
        self.bytes_in += len(data)
        self._offer(data)

    def end(self) -> None:
        """No more data: the pipeline finishes with what it has."""
        self._offer(None)

    def abandon(self) -> None:
        """The reader is gone (it failed): producers stop waiting and what they put is dropped."""
        self._abandoned.set()

    def _offer(self, item: bytes | None) -> None:
        while not self._abandoned.is_set():
            try:
                self._queue.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _take(self, item: bytes | None) -> None:
        if item is None:
            self._eof = True
        else:
            self._rest += item

    def peek(self, lines: int, within_s: float) -> bytes:
        """The first ``lines`` lines, or what came in the first ``within_s`` seconds (or before the
        end): read ahead and kept, so reading starts from the beginning again."""
        head = bytearray(self._rest)
        deadline = time.monotonic() + within_s
        while not self._eof and head.count(b"\n") < lines:
            try:
                item = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            if item is None:
                self._eof = True
            else:
                head += item
        self._rest = bytes(head)
        return self._rest

    def readinto(self, buffer: Any) -> int:
        """Waits for data; then gives all that is waiting, up to the buffer's size (a backlog is
        read in the pipeline's large blocks, not chunk by chunk)."""
        if not self._rest and not self._eof:
            self._take(self._queue.get())
        pieces, size = [self._rest], len(self._rest)
        while not self._eof and size < len(buffer):
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is None:
                self._eof = True
            else:
                pieces.append(item)
                size += len(item)
        self._rest = b"".join(pieces)
        n = min(len(buffer), len(self._rest))
        buffer[:n], self._rest = self._rest[:n], self._rest[n:]
        return n


def drain(fd: int, feed: Feed, stop: threading.Event, *, echo: Callable[[bytes], None] | None = None) -> None:
    """Put what ``fd`` gives until its end or ``stop`` (looked at while it is quiet); ``echo``
    first gets every chunk (the pass-through of a child's stderr)."""
    while True:
        if not select.select([fd], [], [], 0.2)[0]:
            if stop.is_set():
                return
            continue
        data = os.read(fd, CHUNK_BYTES)
        if not data:
            return
        if echo is not None:
            try:
                echo(data)
            except BrokenPipeError:  # nobody reads our stderr any more: the parser still does
                echo = None
        feed.put(data)


def tail(path: str, feed: Feed, stop: threading.Event, *, note: Callable[[str], None] = lambda _: None,
         poll_s: float = POLL_S) -> None:
    """``tail -F`` from the file's start until ``stop``: a file renamed away is read to its end and
    the new one followed from its start; a file cut shorter (copytruncate) is read again from its
    start. A half-written last line stays in the pipeline until its rest arrives."""
    handle = _wait_for(path, stop, note, poll_s)
    if handle is None:
        return
    try:
        while True:
            data = handle.read(CHUNK_BYTES)
            if data:
                feed.put(data)
                continue
            if stop.is_set():
                return
            switched = _switched(path, handle)
            if switched == "renamed":
                _rest_of(handle, feed)  # written to the old file after our last read
                handle.close()
                handle = _wait_for(path, stop, note, poll_s)
                if handle is None:
                    return
                note(f"{path}: rotated (renamed); following the new file from its start")
            elif switched == "truncated":
                handle.seek(0)
                note(f"{path}: truncated (copytruncate); reading it again from its start")
            else:
                stop.wait(poll_s)
    finally:
        if handle is not None:
            handle.close()


def _wait_for(path: str, stop: threading.Event, note: Callable[[str], None], poll_s: float) -> Any:
    told = False
    while True:
        try:
            return open(path, "rb", buffering=0)
        except FileNotFoundError:
            if not told:
                note(f"{path}: waiting for the file to appear")
                told = True
        if stop.wait(poll_s):
            return None


def _switched(path: str, handle: Any) -> str | None:
    try:
        now = os.stat(path)
    except FileNotFoundError:
        return None  # renamed away, the new one not yet created: keep reading the old one
    mine = os.fstat(handle.fileno())
    if (now.st_ino, now.st_dev) != (mine.st_ino, mine.st_dev):
        return "renamed"
    if now.st_size < handle.tell():
        return "truncated"
    return None


def _rest_of(handle: Any, feed: Feed) -> None:
    while data := handle.read(CHUNK_BYTES):
        feed.put(data)
