"""`Trace`, the type every analysis takes: the tables of a parse, as Arrow tables and Polars frames.

A leaf module (pyarrow and the table names only; Polars on first use) so that ``gclens.analysis``, the plots and
the report can name the type without importing the reader: ``import gclens.analysis`` loads no
grammar, no Lark and no pipeline. ``read_trace`` (``gclens.pipeline.reader``) is what builds one.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from gclens.store.schemas import TABLE_NAMES

if TYPE_CHECKING:  # Polars loads when a frame is first asked for: a parse that writes files needs none
    import polars as pl

__all__ = ["Trace"]


@dataclass(frozen=True)
class Trace:
    """Every table parsed from one or more sources, as Arrow tables and Polars frames.

    Attribute access gives a Polars DataFrame (``trace.gc``, ``trace.sched_g``, ...);
    ``trace.arrow(name)`` gives the Arrow table with its schema metadata.
    """

    tables: dict[str, pa.Table]

    def arrow(self, name: str) -> pa.Table:
        """The Arrow table ``name`` (one of TABLE_NAMES)."""
        return self.tables[name]

    def frame(self, name: str) -> pl.DataFrame:
        """The table ``name`` as a Polars DataFrame."""
        import polars as pl

        frame = pl.from_arrow(self.tables[name])
        assert isinstance(frame, pl.DataFrame)
        return frame

    def __getattr__(self, name: str) -> pl.DataFrame:
        if name in TABLE_NAMES:
            return self.frame(name)
        raise AttributeError(name)

    def __iter__(self) -> Iterator[str]:
        return iter(TABLE_NAMES)

    def row_counts(self) -> dict[str, int]:
        """Rows per table, in table order."""
        return {name: self.tables[name].num_rows for name in TABLE_NAMES}
