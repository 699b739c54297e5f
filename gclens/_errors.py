"""Every error gclens raises, under one base class.

    GclensError
    ├── InputError      input that cannot be read: missing file, corrupt or truncated archive
    ├── OutputError     output that cannot be written: missing directory, disk full
    ├── UsageError      arguments that make no sense together
    └── LineError       one runtime-looking line that no grammar accepts; becomes a reject row

No exception of Lark, pyarrow or polars reaches a caller of the public API.
"""

from __future__ import annotations


class GclensError(Exception):
    """Base class of every error gclens raises on purpose."""


class InputError(GclensError):
    """An input source cannot be opened, decompressed or read to its end."""


class OutputError(GclensError):
    """The tables cannot be written where they were asked to go."""


class UsageError(GclensError):
    """The caller asked for something gclens cannot do (bad option, unknown table)."""


class LineError(GclensError):
    """A line that looks like runtime output does not match its grammar.

    The message follows compiler convention, ``source:line:col: reason``, then the line and a
    caret under the column where parsing stopped.
    """

    def __init__(
        self, reason: str, text: str, *, column: int | None = None, family: str = "",
        source: str = "<line>", line_no: int = 0,
    ) -> None:
        self.reason = reason
        self.text = text
        self.column = column
        self.family = family
        self.source = source
        self.line_no = line_no
        super().__init__(self._render())

    @classmethod
    def from_reject(cls, row: dict[str, object]) -> LineError:
        """Rebuild the error of a `rejects` table row, to show it with its caret."""
        column = row.get("column")
        return cls(str(row["reason"]), str(row["text"]), column=column if isinstance(column, int) else None,
                   family=str(row.get("family", "")), source=str(row["source"]),
                   line_no=int(row["line_no"]))  # type: ignore[call-overload]

    def _render(self) -> str:
        where = f"{self.source}:{self.line_no}"
        if self.column is None:
            return f"{where}: {self.reason}\n    {self.text}"
        caret = " " * (self.column - 1) + "^"
        return f"{where}:{self.column}: {self.reason}\n    {self.text}\n    {caret}"
