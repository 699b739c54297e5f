"""Open inputs (paths, globs, stdin, file objects; gzip and zstd) and yield their lines.

This and the writers in ``_output`` are the only places that touch files. Lines are yielded as
raw bytes so that a line with invalid UTF-8 can be reported rather than crash the decoder.

Opening and decompressing an input is in ``opening``; the types yielded and the array work on a
block of bytes are in ``blocks``: their names are re-exported here, where callers import them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import IO, Any, cast

from gclens._errors import InputError
from gclens.read.blocks import (
    MAX_LINE_BYTES,
    Block,
    Fill,
    Line,
    _block,
    _buffer_fill,
    _concat_fill,
    _last_newline,
    _newlines,
    _raw,
    _tiny,
)
from gclens.read.blocks import _matching as _matching  # (re-exported: tests call it)
from gclens.read.opening import READ_ERRORS, Source, SourceLike, _open_path, _patient, _reason, expand, rotation_order
from gclens.read.opening import _decoded as _decoded  # (re-exported: the ingest planner opens with it)

__all__ = ["BLOCK_BYTES", "DENSE_SHARE", "KEPT_AFTER", "MAX_INPUT_BYTES", "MAX_LINE_BYTES", "SPARSE_GROWTH", "Block",
           "Fill", "Line", "LineReader", "Source", "SourceLike", "expand", "read_lines", "rotation_order"]

BLOCK_BYTES = 2 << 20
"""Plain logs are scanned (and parsed, with the fast engine) in blocks of this many bytes."""
SPARSE_GROWTH = 4
"""A block where at most 1 line in 8 is kept (application logs) is followed by one this much larger
(fewer, fuller blocks; the parser joins blocks already read into larger batches)."""
MAX_INPUT_BYTES = 64 << 30
"""A compressed input stops after this many decompressed bytes: a decompression bomb guard."""


def read_lines(source: Source, *, max_input_bytes: int | None = None) -> Iterator[Line]:
    """Yield every line of a source, decompressing on the fly; InputError when it breaks.

    A compressed source stops with InputError after ``max_input_bytes`` decompressed bytes.
    """
    return cast(Iterator[Line], iter(LineReader(source, max_input_bytes=max_input_bytes)))  # no blocks


DENSE_SHARE = 4
"""A block where more than 1 line in this many matched is followed by one matched line by line
(Polars): the automaton's cost grows with its hits (a Python call each), Polars' with the lines."""
KEPT_AFTER = 2
"""Lines kept after each candidate line: a torn runtime line's rest can follow one or two whole
application lines, each after another piece of it (go-trace-formats §1.2)."""


class LineReader:
    """The lines of a source; once ``candidates`` is set, only the lines that may matter.

    Most lines of a real log are application output. With ``candidates`` (regular expressions)
    set, the rest of the source is read in blocks: the lines matching any of them are marked, a
    block at a time (see ``_matching``), and only those and the KEPT_AFTER lines after each (a
    torn runtime line continues there) are yielded; the others are counted in ``skipped``. Line numbers,
    byte counts and the unterminated last line stay exact.
    """

    PROGRESS_LINES = 4096

    def __init__(self, source: Source, *, max_input_bytes: int | None = None,
                 progress: Callable[[int], None] | None = None) -> None:
        self.source = source
        self.progress = progress  # called with bytes read so far, every few MiB
        self.limit = MAX_INPUT_BYTES if max_input_bytes is None else max_input_bytes
        self.candidates: tuple[str, ...] | None = None
        self.block_bytes = BLOCK_BYTES  # read now, so a test may patch the module's value
        self.blocks = False
        self._sparse = False
        """With ``candidates``: yield each scanned block's kept lines as one Block."""
        self._dense = False  # the last block scanned had many hits (see _marks)
        self.skipped = 0
        self.unterminated_skipped: int | None = None
        self._no = 0
        self._keep_next = KEPT_AFTER  # lines still to keep after the last hit

    def __iter__(self) -> Iterator[Line | Block]:
        try:
            with contextlib.ExitStack() as owned:
                if self.source.stream is None:
                    raw: IO[bytes] = owned.enter_context(_open_path(self.source))
                else:
                    raw = self.source.stream  # the caller's stream: read it, never close it
                stream = _decoded(self.source, raw)
                for line in self._lines(stream):
                    self._check_limit()
                    yield line
                    if self.candidates is not None:
                        yield from self._blocks(stream)
                        return
        except READ_ERRORS as exc:
            raise InputError(f"{self.source.name}: {_reason(exc)}") from None

    def _lines(self, stream: IO[bytes]) -> Iterator[Line]:
        """Line by line: readline, with over-long lines cut at MAX_LINE_BYTES and the rest skipped."""
        while chunk := stream.readline(MAX_LINE_BYTES):
            self._no += 1
            length, last = len(chunk), chunk
            while len(last) == MAX_LINE_BYTES and not last.endswith(b"\n"):
                last = stream.readline(MAX_LINE_BYTES)  # discard the rest of an over-long line
                length += len(last)
            terminated = last.endswith(b"\n")
            self.source.bytes_read += length
            length -= terminated
            if self.progress is not None and not self._no % self.PROGRESS_LINES:
                self.progress(self.source.bytes_read)
            yield Line(self._no, chunk.rstrip(b"\n").removesuffix(b"\r"), terminated, length)

    def _check_limit(self) -> None:
        if self.source.compression != "none" and self.source.bytes_read > self.limit:
            raise InputError(f"{self.source.name}: stopped after {self.limit:,} decompressed bytes "
                             "(--max-input-bytes): a decompression bomb, or raise the limit")

    def _blocks(self, stream: IO[bytes]) -> Iterator[Line | Block]:
        if self.source.stream is None:  # a file: whole blocks, into one reused buffer
            yield from self._blocks_of(_buffer_fill(stream), stream.read)
            return
        # a pipe or the caller's stream: what is there now, so rows flow
        with _patient(stream) as read:
            yield from self._blocks_of(_concat_fill(read), read)

    def _blocks_of(self, fill: Fill, read: Callable[[int], bytes]) -> Iterator[Line | Block]:
        carry = b""
        size = self.block_bytes
        while True:
            data, got = fill(carry, size)
            if not got:
                break
            self.source.bytes_read += got
            self._check_limit()
            if self.progress is not None:
                self.progress(self.source.bytes_read)
            end = _last_newline(data)
            if end < 0 and len(data) <= 2 * MAX_LINE_BYTES:
                carry = bytes(data)
                continue
            if end < 0:  # the start of an over-long line: hand it over like _lines does
                yield from self._long_line(bytes(data), read)
                carry = b""
                continue
            yield from self._scan(data[:end + 1])
            carry = bytes(data[end + 1:])
            del data  # the buffer is refilled next: nothing may hold on to it
            sparse = self.blocks and self._sparse  # few kept lines: read more at once (fewer, fuller batches)
            size = self.block_bytes * SPARSE_GROWTH if sparse else self.block_bytes
        if carry:
            yield from self._scan(carry)

    def _long_line(self, head: bytes, read: Callable[[int], bytes]) -> Iterator[Line | Block]:
        length = len(head)
        while chunk := read(MAX_LINE_BYTES):
            self.source.bytes_read += len(chunk)
            self._check_limit()
            cut = chunk.find(b"\n")
            if cut >= 0:
                length += cut
                self._no += 1
                yield Line(self._no, _raw(head), True, length)
                yield from self._scan(chunk[cut + 1:])  # may hold an unterminated tail; scanned alone
                return
            length += len(chunk)
        self._no += 1
        yield Line(self._no, _raw(head), False, length)

    def _scan(self, region: bytes | memoryview) -> Iterator[Line | Block]:
        """Yield the candidate lines of a run of whole lines (the last may lack its newline)."""
        import numpy as np
        import pyarrow as pa

        if not region:
            return
        newlines = _newlines(np.frombuffer(region, np.uint8))
        terminated = region[-1:] == b"\n"
        count = len(newlines) + (not terminated)
        offsets = np.empty(count + 1, np.int64)
        offsets[0], offsets[1:len(newlines) + 1] = 0, newlines + 1
        offsets[-1] = len(region)
        lines = pa.LargeBinaryArray.from_buffers(pa.large_binary(), count,
                                                 [None, pa.py_buffer(offsets), pa.py_buffer(region)])
        assert self.candidates is not None
        hit = self._marks(region, newlines, lines) | _tiny(np.frombuffer(region, np.uint8), offsets, len(newlines))
        keep = hit.copy()
        for after in range(1, KEPT_AFTER + 1):  # a torn line's rest, perhaps torn again
            keep[after:] |= hit[:-after]
        keep[:self._keep_next] = True
        keep[-1] |= not terminated  # a log cut mid-line may end inside a runtime line: look at it
        since = np.flatnonzero(hit[::-1][:KEPT_AFTER])  # lines since the last hit, if it was that near
        self._keep_next = KEPT_AFTER - int(since[0]) if len(since) else max(0, self._keep_next - count)
        self._sparse = int(keep.sum()) * 8 < count
        if self.blocks:
            kept = np.flatnonzero(keep)
            yield _block(region, lines, offsets, kept, hit[kept], len(newlines), self._no)
        else:
            yield from self._kept_lines(region, offsets, keep, len(newlines))
        self.skipped += count - int(keep.sum())
        if not terminated and not keep[-1]:
            self.unterminated_skipped = self._no + count
        self._no += count

    def _marks(self, region: bytes | memoryview, newlines: Any, lines: Any) -> Any:
        """The lines matching a candidate pattern: one automaton over the block's bytes where hits
        are few, else line by line (``_scan``); the last block's hits choose for this one."""
        from gclens.read.scan import matching_lines

        assert self.candidates is not None
        hit = None if self._dense else matching_lines(region, newlines, self.candidates)
        if hit is None:
            hit = _matching(lines, self.candidates)
        self._dense = int(hit.sum()) * DENSE_SHARE > len(hit)
        return hit

    def _kept_lines(self, region: bytes | memoryview, offsets: Any, keep: Any, newlines: int) -> Iterator[Line]:
        import numpy as np

        for i in np.flatnonzero(keep).tolist():
            start, stop = int(offsets[i]), int(offsets[i + 1])
            ends_line = i < newlines
            line = bytes(region[start:stop - ends_line])
            yield Line(self._no + i + 1, _raw(line), ends_line, len(line))

