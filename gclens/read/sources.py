"""Open inputs (paths, globs, stdin, file objects; gzip and zstd) and yield their lines.

This and the writers in ``_output`` are the only places that touch files. Lines are yielded as
raw bytes so that a line with invalid UTF-8 can be reported rather than crash the decoder.
"""

from __future__ import annotations

import contextlib
import glob
import gzip
import io
import os
import re
import select
import stat
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union, cast

from gclens._errors import InputError
from gclens.read.classify import CANDIDATES, ROUGH, TINY_TAIL_BYTES

__all__ = ["BLOCK_BYTES", "DENSE_SHARE", "KEPT_AFTER", "MAX_INPUT_BYTES", "MAX_LINE_BYTES", "SPARSE_GROWTH", "Block",
           "Fill", "Line", "LineReader", "Source", "SourceLike", "expand", "read_lines", "rotation_order"]

MAX_LINE_BYTES = 1 << 20
"""Longer lines are not parsed (reported as such); reading them costs bounded memory."""
BLOCK_BYTES = 2 << 20
"""Plain logs are scanned (and parsed, with the fast engine) in blocks of this many bytes."""
SPARSE_GROWTH = 4
"""A block where at most 1 line in 8 is kept (application logs) is followed by one this much larger
(fewer, fuller blocks; the parser joins blocks already read into larger batches)."""
MAX_INPUT_BYTES = 64 << 30
"""A compressed input stops after this many decompressed bytes: a decompression bomb guard."""

SourceLike = Union[str, "os.PathLike[str]", IO[bytes], IO[str], "Source"]

try:
    from zstandard import ZstdError as _ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency; keep gzip working without it
    class _ZstdError(Exception):  # type: ignore[no-redef]
        """Stands in when zstandard is missing."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass
class Line:
    """One physical line: its number, bytes (without the newline), and how it ended."""

    no: int
    raw: bytes
    terminated: bool
    length: int  # full length in bytes without the newline, even when raw was cut at MAX_LINE_BYTES


@dataclass
class Block:
    """The kept lines of one scanned block (see ``LineReader.blocks``), for parsing as columns.

    ``numbers`` are the kept lines' line numbers; ``texts`` their decoded text without the
    newline (and a CR before it), or null where the line cannot go the columnar way (invalid
    UTF-8, over-long, or the unterminated last line): ``line(i)`` gives those as Lines.
    """

    numbers: Any  # numpy int64
    texts: Any  # polars String Series
    marked: Any  # numpy bool: the line matched the scanner's pattern (the others follow one)
    _raw: Any  # pyarrow LargeBinaryArray (or chunks of one): the kept lines' bytes, with their newline
    _terminated: Any

    @classmethod
    def joined(cls, blocks: list[Block]) -> Block:
        """Consecutive blocks as one (parsed together: fewer, larger batches)."""
        import numpy as np
        import polars as pl
        import pyarrow as pa

        if len(blocks) == 1:
            return blocks[0]
        return cls(np.concatenate([b.numbers for b in blocks]), pl.concat([b.texts for b in blocks], rechunk=False),
                   np.concatenate([b.marked for b in blocks]), pa.chunked_array([b._raw for b in blocks]),
                   np.concatenate([b._terminated for b in blocks]))  # (text and bytes: chunks, not copies)

    def line(self, i: int) -> Line:
        """Kept line ``i`` exactly as the line-by-line reader gives it."""
        raw: bytes = self._raw[i].as_py()
        terminated = bool(self._terminated[i])
        if terminated:
            raw = raw[:-1]
        return Line(int(self.numbers[i]), _raw(raw), terminated, len(raw))


@dataclass
class Source:
    """One input: a display name and how to open it as a binary stream."""

    name: str
    path: Path | None = None
    stream: IO[bytes] | None = None
    compression: str = "none"
    bytes_read: int = 0


def expand(inputs: SourceLike | list[SourceLike]) -> list[Source]:
    """Turn paths, globs, '-' and file objects into Sources, in the order given."""
    items = inputs if isinstance(inputs, list) else [inputs]
    sources: list[Source] = []
    for item in items:
        sources.extend(_expand_one(item))
    return sources


def _expand_one(item: SourceLike) -> list[Source]:
    if isinstance(item, Source):  # made by the caller, e.g. a live stream named after its file
        return [item]
    if isinstance(item, io.TextIOBase) or hasattr(item, "read"):
        return [Source(getattr(item, "name", "<stream>"), stream=_binary(item))]  # type: ignore[arg-type]
    text = os.fspath(item)  # type: ignore[arg-type]
    if text == "-":
        return [Source("-", stream=sys.stdin.buffer)]
    if glob.has_magic(text) and not Path(text).exists():
        matches = sorted(glob.glob(text), key=rotation_order)
        if not matches:
            raise InputError(f"{text}: no file matches this pattern")
        return [Source(m, path=Path(m)) for m in matches]
    return [Source(text, path=Path(text))]


_ROTATED = re.compile(r"^(?P<base>.*?)(?:[.-](?P<n>\d{1,4}))?(?P<ext>\.(?:gz|zst))?$")


def rotation_order(name: str) -> tuple[str, int]:
    """Sort key putting rotated logs oldest first: app.log.2.gz, app.log.1, app.log."""
    m = _ROTATED.match(name)
    assert m is not None  # the pattern matches every string
    return m["base"], -int(m["n"]) if m["n"] else 0


def _binary(stream: IO[bytes] | IO[str]) -> IO[bytes]:
    if isinstance(stream, io.TextIOBase):
        return io.BytesIO(stream.read().encode("utf-8", "surrogateescape"))
    return stream  # type: ignore[return-value]


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
        except (OSError, EOFError, ValueError, _ZstdError) as exc:
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


def _tiny(data: Any, offsets: Any, newlines: int) -> Any:
    """Lines of 2 to TINY_TAIL_BYTES bytes that start with a space: perhaps the last pieces of a
    torn gc line (` P`), which no pattern can find without slowing the scan of every line."""
    import numpy as np

    lengths = np.diff(offsets)
    lengths[:newlines] -= 1
    short = (lengths >= 2) & (lengths <= TINY_TAIL_BYTES)
    first = np.zeros(len(lengths), dtype=bool)
    first[short] = data[offsets[:-1][short]] == ord(" ")
    return first


Fill = Callable[[bytes, int], "tuple[bytes | memoryview, int]"]
"""(carry, size) -> (carry followed by up to ``size`` new bytes, how many were new)."""


def _matching(lines: Any, patterns: tuple[str, ...], step: int = 32768) -> Any:
    """Which of a block's lines match any of ``patterns``, as a numpy bool array.

    Rust's regex (through Polars) searches a pattern's leading literals with SIMD: about 3x
    faster than RE2 here, which walks every byte. It needs UTF-8, so the lines are copied as
    strings, ``step`` lines at a time to keep the copy small; a slice that is not UTF-8 falls
    back to RE2 on the bytes (Arrow). The classifier's CANDIDATES are searched in two steps: its
    ROUGH pattern over every line, then CANDIDATES themselves over the lines ROUGH found.
    """
    import numpy as np
    import polars as pl
    import pyarrow as pa

    rough = [p for p in patterns if p in CANDIDATES]
    direct = [p for p in patterns if p not in CANDIDATES]
    hit = np.zeros(len(lines), dtype=bool)
    maybe: list[Any] = [np.empty(0, np.int64)]  # ROUGH's lines
    for at in range(0, len(lines), step):
        part = lines.slice(at, step)
        try:
            texts = pl.Series(part.cast(pa.large_string()))
        except pa.ArrowInvalid:
            import pyarrow.compute as pc  # (only here: 25 ms to import)

            found = pc.indices_nonzero(pc.match_substring_regex(part, "|".join(patterns)))
            # (Arrow's to_numpy on booleans would import pandas: 0.16 s)
            hit[at + np.frombuffer(found.buffers()[1], np.uint64, len(found), found.offset * 8)] = True
            continue
        if rough:
            maybe.append(at + np.flatnonzero(texts.str.contains(ROUGH).to_numpy()))
        if direct:
            hit[at:at + len(part)] |= _any_match(texts, direct)
    found = np.concatenate(maybe)
    if rough and len(found):  # few lines: CANDIDATES over them all at once
        taken = lines.take(pa.Array.from_buffers(pa.int64(), len(found), [None, pa.py_buffer(found)]))
        hit[found[_any_match(pl.Series(taken.cast(pa.large_string())), rough)]] = True
    return hit


def _any_match(texts: Any, patterns: list[str]) -> Any:
    import polars as pl

    return pl.select(pl.any_horizontal(pl.lit(texts).str.contains(p) for p in patterns)).to_series().to_numpy()


def _buffer_fill(stream: IO[bytes]) -> Fill:
    """Blocks of a file read into one reused buffer, not a fresh block each time.

    Fresh 32 MiB blocks cost the kernel a page fault per 4 KiB (about a second of system time
    per GB). A block is only valid until the next call; the scanner copies what it keeps.
    """
    buffer = bytearray()

    def fill(carry: bytes, size: int) -> tuple[memoryview, int]:
        nonlocal buffer
        need = len(carry) + size
        if len(buffer) < need:
            buffer = bytearray(need)  # a new one: views of the old one may still be alive
        view = memoryview(buffer)
        view[:len(carry)] = carry
        got = stream.readinto(view[len(carry):need]) or 0  # type: ignore[attr-defined]
        return view[:len(carry) + got], got

    return fill


def _concat_fill(read: Callable[[int], bytes]) -> Fill:
    def fill(carry: bytes, size: int) -> tuple[bytes, int]:
        chunk = read(size)
        return (carry + chunk, len(chunk)) if chunk else (carry, 0)

    return fill


def _last_newline(data: bytes | memoryview) -> int:
    """Offset of the last newline in ``data`` (-1: none), searched from the end."""
    import numpy as np

    array = np.frombuffer(data, np.uint8)
    end, step = len(array), 1 << 16
    while end > 0:
        start = max(0, end - step)
        found = np.flatnonzero(array[start:end] == 10)
        if len(found):
            return start + int(found[-1])
        end, step = start, step * 4
    return -1


def _newlines(data: Any, step: int = 4 << 20) -> Any:
    """Offsets of the newlines, a few MiB at a time into one scratch array (``data == 10`` takes
    a byte per byte: a fresh array per step churns the allocator)."""
    import numpy as np

    scratch = np.empty(min(step, len(data)), dtype=bool)
    found = [np.empty(0, np.int64)]
    for at in range(0, len(data), step):
        piece = data[at:at + step]
        found.append(np.flatnonzero(np.equal(piece, 10, out=scratch[:len(piece)])) + at)
    return np.concatenate(found)


def _block(region: bytes | memoryview, lines: Any, offsets: Any, kept: Any, marked: Any, newlines: int,
           before: int) -> Block:
    """The kept lines of a region as a Block: decoded in one go when they are all valid UTF-8."""
    import numpy as np
    import polars as pl
    import pyarrow as pa

    terminated = kept < newlines
    starts, stops = offsets[kept], offsets[kept + 1] - terminated
    indices = np.ascontiguousarray(kept, dtype=np.int64)  # (pa.array on numpy would import pandas)
    taken = lines.take(pa.Array.from_buffers(pa.int64(), len(indices), [None, pa.py_buffer(indices)]))
    try:
        texts = pl.from_arrow(taken.cast(pa.large_string()))
    except pa.ArrowInvalid:  # some line is not UTF-8: decode line by line, that one stays null
        texts = pl.Series([_utf8(bytes(region[a:b])) for a, b in zip(starts.tolist(), stops.tolist(), strict=True)],
                          dtype=pl.String)
    assert isinstance(texts, pl.Series)
    texts = texts.str.strip_suffix("\n").str.strip_suffix("\r")
    fine = terminated & ((stops - starts) <= MAX_LINE_BYTES)
    if not fine.all():
        texts = pl.select(pl.when(pl.Series(fine)).then(texts)).to_series()
    return Block(before + kept.astype(np.int64) + 1, texts, marked, taken, terminated)


def _utf8(raw: bytes) -> str | None:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return None


@contextlib.contextmanager
def _patient(stream: IO[bytes]) -> Iterator[Callable[[int], bytes]]:
    """``read1`` for a stream that, on a quiet pipe, wakes every 0.2 s instead of blocking.

    Worker threads (Polars, Arrow) may take SIGINT or SIGTERM for the process; Python then only
    sets a flag, which a main thread blocked in read(2) would never look at. Polling keeps
    Ctrl-C and `kill` working on `tail -f app.log | gclens parse -`. The pipe is put back in
    blocking mode afterwards (it may be shared with the shell).
    """
    read1 = getattr(stream, "read1", stream.read)
    try:
        fd = stream.fileno()
        pipe = stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode)
    except (OSError, ValueError, io.UnsupportedOperation):
        pipe = False
    if not pipe or not isinstance(stream, io.BufferedReader) or not os.get_blocking(fd):
        yield read1
        return

    def read(size: int) -> bytes:
        while True:
            data = read1(size)
            if data:
                return data
            if select.select([fd], [], [], 0.2)[0]:  # readable: data, or the end of the input
                return read1(size)

    os.set_blocking(fd, False)
    try:
        yield read
    finally:
        os.set_blocking(fd, True)


def _raw(line: bytes) -> bytes:
    """What _lines keeps of a line: at most MAX_LINE_BYTES, without the newline and a CR before it."""
    return line[:MAX_LINE_BYTES].rstrip(b"\n").removesuffix(b"\r") if len(line) >= MAX_LINE_BYTES \
        else line.removesuffix(b"\r")


def _decoded(source: Source, raw: IO[bytes]) -> IO[bytes]:
    """Wrap ``raw`` in a decompressor chosen by its magic bytes (not its file name)."""
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)  # type: ignore[arg-type,type-var]
    magic = buffered.peek(4)[:4]
    if magic.startswith(_GZIP_MAGIC):
        source.compression = "gzip"
        return gzip.GzipFile(fileobj=buffered)  # type: ignore[return-value]
    if magic.startswith(_ZSTD_MAGIC):
        source.compression = "zstd"
        return io.BufferedReader(_ZstdFrames(buffered))  # type: ignore[return-value]
    return buffered  # type: ignore[return-value]


def _open_path(source: Source) -> IO[bytes]:
    assert source.path is not None
    if source.path.is_dir():
        raise InputError(f"{source.name}: is a directory, not a log file")
    return open(source.path, "rb")


class _ZstdFrames(io.RawIOBase):
    """Decompress concatenated zstd frames; EOFError when the input ends inside a frame.

    (zstandard's own stream reader returns the data so far and no error on truncated input.)
    """

    def __init__(self, compressed: IO[bytes]) -> None:
        import zstandard

        self._new = zstandard.ZstdDecompressor().decompressobj
        self._in, self._dec, self._out = compressed, self._new(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._out:
            chunk = self._in.read(1 << 16)
            if not chunk:
                if not self._dec.eof:
                    raise EOFError("zstd frame truncated")
                return 0
            if self._dec.eof:
                chunk, self._dec = self._dec.unused_data + chunk, self._new()
            self._out = self._dec.decompress(chunk)
        n = min(len(buffer), len(self._out))
        buffer[:n], self._out = self._out[:n], self._out[n:]
        return n


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    if isinstance(exc, PermissionError):
        return "permission denied"
    if isinstance(exc, IsADirectoryError):
        return "is a directory, not a log file"
    if isinstance(exc, EOFError):
        return "compressed stream is truncated (it ends before its end-of-stream marker)"
    if isinstance(exc, gzip.BadGzipFile):
        return f"not a valid gzip file ({exc})"
    return f"cannot be read: {exc}"
