"""Which files an ingest reads, and from where: new, grown since the last ingest, or already there.

A file is known by the SHA-256 of the first 64 KiB of its text (decompressed) and the text's size,
compared with the manifest entries of the same path, of its rotated siblings (``app.log.1`` for
``app.log``) and of any file with the same first 64 KiB.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any

import pyarrow as pa

from gclens._errors import InputError
from gclens.read.sources import Source, _decoded, rotation_order
from gclens.store.schemas import python_rows

__all__ = ["HEAD_BYTES", "Prev", "Task", "fingerprint", "plan"]

HEAD_BYTES = 64 << 10
"""Bytes fingerprinted at the start of each file: enough to tell a rotated file from a grown one."""
_COMPRESSED = {b"\x1f\x8b": "gzip", b"\x28\xb5\x2f\xfd": "zstd"}


@dataclass(frozen=True)
class Prev:
    """Where the last ingest of a file stopped, and its last run (to continue it)."""

    offset: int
    lines: int
    run_id: int | None
    gc_num: int | None
    t_s: float | None


@dataclass(frozen=True)
class Task:
    """One file to parse: from where, and what is known about it (sizes are of the decompressed text)."""

    path: str
    size: int
    content_bytes: int
    mtime_ns: int
    head_len: int
    head_sha256: str
    compression: str
    prev: Prev | None = None
    labels: dict[str, str | None] = field(default_factory=dict)
    error: str | None = None
    """Why the file cannot be read: it is recorded in ``sources`` and skipped, not parsed."""


_UNCHANGED = Prev(-1, 0, None, None, None)


def plan(paths: list[Path], manifest: pa.Table, complete: bool,
         labels: dict[str, dict[str, str | None]]) -> tuple[list[Task], list[str]]:
    """Compare each file with the manifest: skip what is there, resume what grew, read the rest.

    A file that cannot be read (permission, corrupt compression, gone since it was listed) becomes
    a task carrying its ``error``: recorded in ``sources``, not parsed, never stopping the others.
    """
    index = _Index(python_rows(manifest))
    tasks: list[Task] = []
    skipped: list[str] = []
    seen: set[tuple[str, int]] = set()
    for path in paths:
        try:
            task, head = _inspect(path)
        except InputError as exc:
            tasks.append(_failed(path, str(exc), labels[str(path)]))
            continue
        if (task.head_sha256, task.content_bytes) in seen:
            skipped.append(task.path)
            continue
        seen.add((task.head_sha256, task.content_bytes))
        task = replace(_against(task, head, index.candidates(task), complete), labels=labels[task.path])
        if task.prev is _UNCHANGED:
            skipped.append(task.path)
        else:
            tasks.append(task)
    return tasks, skipped


class _Index:
    """The latest manifest entry of each path, found by path, rotation base name or content head."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.by_path: dict[str, dict[str, Any]] = {}
        self.by_head: dict[tuple[int, str], dict[str, Any]] = {}
        self.by_base: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:  # in ingest order: the last entry of a path wins
            self.by_path[row["path"]] = row
            self.by_head[(row["head_len"], row["head_sha256"])] = row
            self.by_base.setdefault(rotation_order(row["path"])[0], {})[row["path"]] = row

    def candidates(self, task: Task) -> list[dict[str, Any]]:
        same = self.by_path.get(task.path)
        rotated = [e for p, e in self.by_base.get(rotation_order(task.path)[0], {}).items() if p != task.path]
        head = self.by_head.get((task.head_len, task.head_sha256))
        return [e for e in (same, *rotated, head) if e is not None]


def _inspect(path: Path) -> tuple[Task, bytes]:
    """Size, mtime, and the first 64 KiB of the decompressed text with its hash."""
    try:
        st = path.stat()
        with path.open("rb") as fh:
            magic = fh.read(4)
            fh.seek(0)
            compression = _COMPRESSED.get(magic, _COMPRESSED.get(magic[:2], "none"))
            if compression == "none":
                head, content = fh.read(HEAD_BYTES), st.st_size
            else:
                head, content = _decoded_head(path, fh)
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    task = Task(str(path), st.st_size, content, st.st_mtime_ns, len(head), hashlib.sha256(head).hexdigest(),
                 compression)
    return task, head


def _failed(path: Path, error: str, labels: dict[str, str | None]) -> Task:
    try:
        st = path.stat()
        size, mtime_ns = st.st_size, st.st_mtime_ns
    except OSError:  # gone: its rows (one, in sources) go under the ingest's day
        size, mtime_ns = 0, time.time_ns()
    return Task(str(path), size, 0, mtime_ns, 0, "", "unknown", labels=labels, error=error)


def _decoded_head(path: Path, fh: IO[bytes]) -> tuple[bytes, int]:
    """A compressed file is known by its text (a rotated log compressed later is the same log)."""
    try:
        decoded = _decoded(Source(str(path)), fh)
        head = decoded.read(HEAD_BYTES)
        size = len(head)
        while chunk := decoded.read(1 << 20):
            size += len(chunk)
    except (OSError, EOFError, ValueError) as exc:
        raise InputError(f"{path}: cannot be decompressed ({exc})") from None
    return head, size


def _against(task: Task, head: bytes, candidates: list[dict[str, Any]], complete: bool) -> Task:
    """Unchanged (prev is _UNCHANGED), grown (prev says where to resume), or new (no prev)."""
    for entry in candidates:
        length = entry["head_len"]
        if length > len(head) or hashlib.sha256(head[:length]).hexdigest() != entry["head_sha256"]:
            continue
        if task.content_bytes == entry["content_bytes"] and not (complete and entry["pending_bytes"]):
            return replace(task, prev=_UNCHANGED)
        if task.content_bytes >= entry["content_bytes"]:
            return replace(task, prev=Prev(entry["bytes_ingested"], entry["lines_ingested"], entry["last_run_id"],
                                            entry["last_gc_num"], entry["last_t_s"]))
    return task


def fingerprint(task: Task) -> str:
    return hashlib.sha256(f"{task.head_sha256}:{task.content_bytes}".encode()).hexdigest()
