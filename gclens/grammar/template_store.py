"""The fast engine's templates kept on disk, so a known line shape needs no Lark in a later run.

One file per version of what a template depends on: its name holds a digest of the grammar
files, of the code that makes and runs templates (``_fastpath``, ``_transformers``, this module)
and of Lark's version, so any change starts a new file (other files not written for a week are
removed). The file lives in the user's own cache directory (``_paths.user_cache_dir``) and holds
JSON, never pickles. Each line is one template: a checksum (CRC-32), its family and shape, its
slots and program. Loading only indexes the lines by shape (thousands of shapes cost a start a
few milliseconds); a line is decoded when its shape is met. A line that fails its checksum or
does not describe a well-formed template (a torn write, a damaged disk, an edit) is ignored and
the file rewritten without it, so its shape is learnt from Lark again. Lines are appended with
one ``write`` each, so processes that learn at the same time do not tear each other's lines.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import re
import tempfile
import time
import zlib
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gclens._paths import grammar_dir, user_cache_dir

__all__ = ["Key", "Recipe", "Slot", "TemplateStore", "encode"]

Slot = tuple[str, int, int, int, int, "str | None"]
"""A token: its terminal, the parts it spans (first, last), characters trimmed at each end, and
the terminal's regex to check it with (None: the shape alone proves it)."""
Key = tuple[str, tuple[str, ...]]
_RULE = re.compile(r"[a-z][a-z0-9_]*")
"""A rule that reaches the tree (Lark inlines ``_rule``s): never one of the transformer's own helpers."""


@dataclass(frozen=True)
class Recipe:
    """A template as data: the family and shape it serves, its slots, and its program (per step,
    a slot to push, or an arity and the rule whose transformer method to call)."""

    family: str
    shape: tuple[str, ...]
    slots: tuple[Slot, ...]
    ops: tuple[tuple[int, str | None], ...]

    @property
    def key(self) -> Key:
        return self.family, self.shape


class TemplateStore:
    """The template file of this gclens, grammar set and Lark: indexed once by shape (a line is
    decoded and checked only when its shape is met), appended to as shapes are learnt, up to
    ``limit`` templates."""

    def __init__(self, path: Path, limit: int) -> None:
        self.path, self.limit = path, limit
        self._index: dict[bytes, bytes] | None = None

    @classmethod
    def default(cls, limit: int) -> TemplateStore | None:
        """The store in the user's cache directory; None when there is none or the digest's
        inputs cannot be read."""
        base = user_cache_dir()
        if base is None:
            return None
        try:
            return cls(base / f"templates-{_digest()}.jsonl", limit)
        except OSError:
            return None

    @property
    def count(self) -> int:
        """Templates in the file (one per shape)."""
        return len(self._lines())

    def get(self, key: Key, families: Collection[str]) -> Recipe | None:
        """The kept template of a shape, if its line is intact and describes a well-formed
        template; a bad line is dropped from the file (its shape is then learnt again)."""
        lines = self._lines()
        line = lines.get(_key_bytes(key))
        if line is None:
            return None
        recipe = _decode(line, families)
        if recipe is None or recipe.key != key:
            del lines[_key_bytes(key)]
            self._rewrite(lines.values())
            return None
        return recipe

    def add(self, recipe: Recipe) -> None:
        """Append one template (nothing once the file holds ``limit``, or when it cannot be written)."""
        lines = self._lines()
        if len(lines) >= self.limit:
            return
        line = encode(recipe)
        lines[_key_bytes(recipe.key)] = line
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)

    def _lines(self) -> dict[bytes, bytes]:
        """Each shape's line (the last one of a shape wins); a file with lines not even shaped
        like ours is rewritten without them, a missing one starts afresh."""
        if self._index is not None:
            return self._index
        self._index = {}
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self._remove_stale()
            return self._index
        except OSError:
            return self._index
        lines = data.splitlines(keepends=True)
        for line in lines:
            if _LINE.match(line):
                self._index[line[9:line.index(b"\t")]] = line
        if len(self._index) != len(lines):  # torn, foreign or repeated lines
            self._rewrite(self._index.values())
        return self._index

    def _rewrite(self, lines: Iterable[bytes]) -> None:
        with contextlib.suppress(OSError):
            fd, name = tempfile.mkstemp(prefix=".templates-", dir=self.path.parent)
            with os.fdopen(fd, "wb") as fh:
                fh.write(b"".join(lines))
            os.replace(name, self.path)

    def _remove_stale(self) -> None:
        """Template files of other digests (another gclens, grammar set or Lark) not written for
        a week: two installed versions in use do not remove each other's."""
        week_ago = time.time() - 7 * 86400
        for old in self.path.parent.glob("templates-*.jsonl"):
            with contextlib.suppress(OSError):
                if old != self.path and old.stat().st_mtime < week_ago:
                    old.unlink()


_LINE = re.compile(rb"[0-9a-f]{8} \[[^\t\n]*\]\t\[.*\]\n\Z", re.S)
"""A line: the checksum of what follows it, ``[family, shape]``, a tab, ``[slots, program]``."""


def _key_bytes(key: Key) -> bytes:
    """A shape as its line spells it (JSON escapes every tab and newline)."""
    return json.dumps([key[0], list(key[1])], separators=(",", ":"), ensure_ascii=True).encode()


def encode(recipe: Recipe) -> bytes:
    """One line of the file: a checksum of the rest, the shape, the template."""
    body = _key_bytes(recipe.key) + b"\t" + json.dumps([recipe.slots, recipe.ops], separators=(",", ":"),
                                                        ensure_ascii=True).encode()
    return b"%08x " % zlib.crc32(body) + body + b"\n"


def _decode(line: bytes, families: Collection[str]) -> Recipe | None:
    """The recipe of a line; None unless its checksum holds and it describes a well-formed template."""
    checksum, _, body = line.rstrip(b"\n").partition(b" ")
    if b"%08x" % zlib.crc32(body) != checksum:
        return None
    key, _, template = body.partition(b"\t")
    try:
        (family, shape), (slots, ops) = json.loads(key), json.loads(template)
        recipe = Recipe(family, tuple(shape), tuple(_slot(s) for s in slots),
                        tuple((arg, rule) for arg, rule in ops))
    except (ValueError, TypeError):
        return None
    return recipe if _well_formed(recipe, families) else None


def _slot(raw: Any) -> Slot:
    type_, first, last, head, tail, check = raw
    return type_, first, last, head, tail, check


def _well_formed(recipe: Recipe, families: Collection[str]) -> bool:
    """Types and bounds that running the template relies on: slots inside the line's parts, cut
    only inside literal text, and a program that leaves exactly one value."""
    if not isinstance(recipe.family, str) or recipe.family not in families:
        return False
    if not recipe.shape or not all(isinstance(p, str) for p in recipe.shape):
        return False
    parts = 2 * len(recipe.shape) - 1
    for type_, first, last, head, tail, check in recipe.slots:
        numbers = (first, last, head, tail)
        if not isinstance(type_, str) or not (check is None or isinstance(check, str)):
            return False
        if not all(type(n) is int and n >= 0 for n in numbers) or not first <= last < parts:
            return False
        if (first % 2 and head) or (last % 2 and tail):
            return False
        if (head and head > len(recipe.shape[first // 2])) or (tail and tail > len(recipe.shape[last // 2])):
            return False
    depth = 0
    for arg, rule in recipe.ops:
        if type(arg) is not int or arg < 0:
            return False
        if rule is None:
            if arg >= len(recipe.slots):
                return False
            depth += 1
        elif not isinstance(rule, str) or not _RULE.fullmatch(rule) or arg > depth:
            return False
        else:
            depth += 1 - arg
    return depth == 1


def _digest() -> str:
    """What a template depends on: the grammars, the code that makes and runs it, Lark's version."""
    here = Path(__file__).parent
    data = b"".join(path.name.encode() + b"\0" + path.read_bytes() + b"\0" for path in [
        *sorted(grammar_dir().glob("*.lark")),
        *(here / name for name in ("templates.py", "transformers.py", "sched_transformer.py",  # beside this one
                                   "transformer_base.py", "template_store.py"))])
    data += _lark_version().encode()
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"  # zlib is loaded already, hashlib (OpenSSL) is not


def _lark_version() -> str:
    """Lark's ``__version__``, read from its source without importing it (that is what is saved)."""
    spec = importlib.util.find_spec("lark")
    if spec is None or spec.origin is None:
        return ""
    found = re.search(r"""__version__\s*(?::\s*str\s*)?=\s*["']([^"']+)""", Path(spec.origin).read_text("utf-8"))
    return found.group(1) if found else Path(spec.origin).read_text("utf-8")
