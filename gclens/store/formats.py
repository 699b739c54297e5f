"""Output formats, kept apart from the writers so the command line can list them cheaply."""

from typing import Literal

__all__ = ["FORMATS", "Format"]

Format = Literal["parquet", "csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("parquet", "csv", "jsonl")
