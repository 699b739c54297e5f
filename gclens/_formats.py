"""Output formats, kept apart from the writers so the command line can list them cheaply."""

from typing import Literal

Format = Literal["parquet", "csv", "jsonl"]
FORMATS: tuple[Format, ...] = ("parquet", "csv", "jsonl")
