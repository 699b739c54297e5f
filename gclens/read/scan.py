"""Find the lines of a block that match any of the scanner's patterns in one pass over its bytes.

Hyperscan (Vectorscan) compiles all the patterns into one automaton and runs it over the whole
block, as grep does: application lines are never split apart or copied. Each pattern gets
``[^\\n]*(?:\\n|$)`` appended, so every match on a line ends at that line's end and the engine
reports it once (it reports each end offset once): one Python callback per matching line, not
one per marker. That callback is the cost that grows with the hits, so the block scanner uses
this on blocks with few hits (application logs) and matches line by line with Polars on dense
ones (``_sources``); with 5 % runtime lines this halves the scan's time and CPU (README, "Speed").

The compiled automaton (20-40 ms to build) is kept, like Lark's tables, in the user's cache
directory, keyed by the patterns and the library's version.
"""

from __future__ import annotations

import functools
import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from gclens._paths import user_cache_dir

__all__ = ["automaton", "matching_lines"]

_LOCAL = threading.local()  # one Hyperscan scratch space per thread and automaton


@functools.cache
def automaton(patterns: tuple[str, ...]) -> Any:
    """The compiled automaton of ``patterns`` (None: Hyperscan is missing or refuses a pattern)."""
    try:
        import hyperscan
    except ImportError:  # pragma: no cover - a platform without a wheel: Polars scans instead
        return None
    expression = ("(?:" + "|".join(f"(?:{p})" for p in patterns) + r")[^\n]*(?:\n|$)").encode()
    path = _cache_path(expression, getattr(hyperscan, "__version__", ""))
    if path is not None and path.is_file():
        try:
            return hyperscan.loadb(path.read_bytes(), mode=hyperscan.HS_MODE_BLOCK)
        except hyperscan.error:  # pragma: no cover - a damaged cache file: build anew
            pass
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    try:
        database.compile(expressions=[expression], ids=[0], elements=1, flags=[hyperscan.HS_FLAG_MULTILINE])
    except hyperscan.error:  # pragma: no cover - a pattern outside Hyperscan's syntax
        return None
    if path is not None:
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        try:
            temporary.write_bytes(hyperscan.dumpb(database))
            os.replace(temporary, path)
        except OSError:  # pragma: no cover - a full or read-only cache: still usable
            temporary.unlink(missing_ok=True)
    return database


def matching_lines(region: bytes | memoryview, newlines: Any, patterns: tuple[str, ...]) -> Any | None:
    """Which lines of ``region`` (split at ``newlines``, the last perhaps unterminated) match
    any of ``patterns``, as a numpy bool array; None when no automaton can be had."""
    import numpy as np

    database = automaton(patterns)
    if database is None:
        return None
    scratch = getattr(_LOCAL, "scratch", {}).get(id(database))
    if scratch is None:
        import hyperscan

        scratch = hyperscan.Scratch(database)
        _LOCAL.scratch = {**getattr(_LOCAL, "scratch", {}), id(database): scratch}
    ends: list[int] = []
    database.scan(region,  # (a memoryview of the read buffer is scanned in place)
                  match_event_handler=lambda _id, _from, to, _flags, _context: ends.append(to),
                  scratch=scratch)
    count = len(newlines) + (not region or region[-1:] != b"\n")
    hit = np.zeros(count, dtype=bool)
    hit[np.searchsorted(newlines, np.asarray(ends, np.int64) - 1)] = True  # the line each match ends in
    return hit


def _cache_path(expression: bytes, version: str) -> Path | None:
    """The cache file of an automaton, under ``$XDG_CACHE_HOME/gclens`` (mode 0700, the user's
    own: the file is loaded as is); None when that directory cannot be used."""
    base = user_cache_dir()
    digest = hashlib.sha256(expression + version.encode()).hexdigest()[:16]
    return None if base is None else base / f"scan-{digest}.hs"
