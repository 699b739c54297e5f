"""Read ahead on a worker thread, with a bound on what waits.

The fast engine's pipeline runs in three threads: one reads and scans blocks, one parses them
as columns, and the main thread assembles and writes. Arrow, zlib and Polars release the GIL,
so the stages overlap on separate cores. Each hand-over is a ``Prefetched``.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["Prefetched"]

_DONE = object()


class Prefetched:
    """``items``, produced by a worker thread ahead of the consumer: the next blocks are read,
    decompressed and scanned (Arrow, zlib and Polars release the GIL) while this one is parsed.

    At most ``limit`` (by ``weight``, e.g. lines) wait at a time, so memory stays bounded
    whatever an item holds; one item may always wait. The worker's exceptions (an InputError
    for a truncated gzip) are raised here, in order. If the consumer stops early (an interrupt,
    a closed pipe), the worker stops at its next item.
    """

    def __init__(self, items: Iterator[Any], name: str, limit: int = 1,
                 weight: Callable[[Any], int] = lambda _: 1) -> None:
        self.items, self.name, self.limit, self.weight = items, name, limit, weight
        self.waiting: collections.deque[tuple[Any, BaseException | None, int]] = collections.deque()
        self.load = 0
        self.changed = threading.Condition()

    def ready(self) -> bool:
        """True when the next item can be had without waiting."""
        with self.changed:
            return bool(self.waiting)

    def __iter__(self) -> Iterator[Any]:
        stop = threading.Event()
        worker = threading.Thread(target=self._produce, args=(stop,), name=self.name, daemon=True)
        worker.start()
        try:
            while True:
                with self.changed:
                    while not self.waiting:  # a timeout, so a signal some other thread took is acted on
                        self.changed.wait(0.2)
                    item, error, weight = self.waiting.popleft()
                    self.load -= weight
                    self.changed.notify_all()
                if error is not None:
                    raise error
                if item is _DONE:
                    return
                yield item
        finally:
            stop.set()
            with self.changed:
                self.changed.notify_all()
            worker.join(timeout=1.0)

    def _produce(self, stop: Any) -> None:
        try:
            for item in self.items:
                weight = self.weight(item)
                with self.changed:
                    while self.waiting and self.load + weight > self.limit and not stop.is_set():
                        self.changed.wait(0.1)
                    if stop.is_set():
                        return
                    self._put(item, None, weight)
            with self.changed:
                self._put(_DONE, None, 0)
        except BaseException as exc:  # handed to the consumer, which raises it
            with self.changed:
                self._put(_DONE, exc, 0)

    def _put(self, item: Any, error: BaseException | None, weight: int) -> None:
        self.waiting.append((item, error, weight))
        self.load += weight
        self.changed.notify_all()
