"""Open inputs: paths, globs, '-', file objects; gzip and zstd chosen by their magic bytes.

Apart from the line reader (``sources``) because opening is what the ingest planner and other
readers need on their own (a decoded stream, rotation order), without the block scanner and its
numpy/Arrow work. This, ``sources`` and the writers in ``_output`` are the only places that
touch files.
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
from typing import IO, Any, Union

from gclens._errors import InputError

__all__ = ["READ_ERRORS", "Source", "SourceLike", "expand", "rotation_order"]

SourceLike = Union[str, "os.PathLike[str]", IO[bytes], IO[str], "Source"]

try:
    from zstandard import ZstdError as _ZstdError
except ImportError:  # pragma: no cover - zstandard is a dependency; keep gzip working without it
    class _ZstdError(Exception):  # type: ignore[no-redef]
        """Stands in when zstandard is missing."""

_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

READ_ERRORS: tuple[type[Exception], ...] = (OSError, EOFError, ValueError, _ZstdError)
"""What opening and reading a source may raise: the reader words each as an InputError (``_reason``)."""


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
