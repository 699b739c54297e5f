"""What the reader yields (``Line``, ``Block``) and the array work on a block of bytes.

Apart from the reader's loop (``sources``: line numbers, carry-over, the lines kept after a
hit) because this part is stateless numpy/Arrow/Polars work on one buffer: find the newlines,
mark the lines a candidate pattern matches, cut the kept ones out as a ``Block``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any

from gclens.read.classify import CANDIDATES, ROUGH, TINY_TAIL_BYTES

__all__ = ["MAX_LINE_BYTES", "Block", "Fill", "Line"]

MAX_LINE_BYTES = 1 << 20
"""Longer lines are not parsed (reported as such); reading them costs bounded memory."""


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


def _raw(line: bytes) -> bytes:
    """What _lines keeps of a line: at most MAX_LINE_BYTES, without the newline and a CR before it."""
    return line[:MAX_LINE_BYTES].rstrip(b"\n").removesuffix(b"\r") if len(line) >= MAX_LINE_BYTES \
        else line.removesuffix(b"\r")

