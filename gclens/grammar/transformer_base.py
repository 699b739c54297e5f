"""What every transformer shares: the row it returns, the Legacy verdict, and value-less markers.

Split from ``transformers`` so the per-grammar transformers, in ``transformers`` and
``sched_transformer``, build on one definition of a row without importing each other.
``transformers`` re-exports ``Row`` and ``Legacy``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Legacy", "Row"]

Row = tuple[str, dict[str, Any]]
"""A parsed line: the table it belongs to and its column values."""


@dataclass(frozen=True)
class Legacy:
    """A line of a pre-go1.5 runtime: recognised, reported as a reject, never parsed into a table."""

    reason: str


class _Marker:
    """A sub-rule that carries no value, only its presence (e.g. ` (forced)`)."""

    def __init__(self, name: str) -> None:
        self.name = name


def _has(children: list[Any], name: str) -> bool:
    return any(isinstance(c, _Marker) and c.name == name for c in children)


def _values(children: list[Any]) -> list[Any]:
    return [c for c in children if not isinstance(c, _Marker)]
