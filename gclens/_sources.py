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
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Union

from gclens._errors import InputError

MAX_LINE_BYTES = 1 << 20
"""Longer lines are not parsed (reported as such); reading them costs bounded memory."""
MAX_INPUT_BYTES = 64 << 30
"""A compressed input stops after this many decompressed bytes: a decompression bomb guard."""

SourceLike = Union[str, "os.PathLike[str]", IO[bytes], IO[str]]

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
    limit = MAX_INPUT_BYTES if max_input_bytes is None else max_input_bytes
    try:
        with contextlib.ExitStack() as owned:
            if source.stream is None:
                raw: IO[bytes] = owned.enter_context(_open_path(source))
            else:
                raw = source.stream  # the caller's stream: read it, never close it
            for line in _split(source, _decoded(source, raw)):
                if source.compression != "none" and source.bytes_read > limit:
                    raise InputError(f"{source.name}: stopped after {limit:,} decompressed bytes "
                                     "(--max-input-bytes): a decompression bomb, or raise the limit")
                yield line
    except (OSError, EOFError, ValueError, _ZstdError) as exc:
        raise InputError(f"{source.name}: {_reason(exc)}") from None


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


def _split(source: Source, stream: IO[bytes]) -> Iterator[Line]:
    no = 0
    while chunk := stream.readline(MAX_LINE_BYTES):
        no += 1
        length, last = len(chunk), chunk
        while len(last) == MAX_LINE_BYTES and not last.endswith(b"\n"):
            last = stream.readline(MAX_LINE_BYTES)  # discard the rest of an over-long line
            length += len(last)
        terminated = last.endswith(b"\n")
        source.bytes_read += length
        length -= terminated
        yield Line(no, chunk.rstrip(b"\n").removesuffix(b"\r"), terminated, length)


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
