"""A runtime line parsed on its own (by Lark or one template), before the later stages.

A leaf: the line-by-line parser makes them, ``_chunks`` turns them into frames, and neither the
stages nor the analyses need the parser to name the type.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gclens.read.envelopes import NO_META, Meta

__all__ = ["Record"]


@dataclass
class Record:
    """A parsed runtime line: its table, its columns and its text, and the envelope around it."""

    line_no: int
    table: str
    row: dict[str, Any]
    text: str
    meta: Meta = NO_META
