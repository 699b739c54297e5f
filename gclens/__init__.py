"""gclens: Go runtime GC and scheduler traces as Arrow tables.

>>> import gclens
>>> trace = gclens.read_trace("app.log")  # doctest: +SKIP
>>> trace.gc  # a Polars DataFrame, one row per GC cycle  # doctest: +SKIP

Names are imported on first use (PEP 562), so the command line starts without loading
pyarrow, polars or matplotlib until a command needs them.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from gclens._errors import GclensError, InputError, LineError, OutputError, UsageError

if _TYPE_CHECKING:
    from gclens.analysis.guide_claims import rules
    from gclens.pipeline.parse import parse_runtime_line
    from gclens.pipeline.reader import read_trace
    from gclens.pipeline.trace import Trace
    from gclens.store.output import write_tables
    from gclens.store.schemas import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES

_LAZY = {
    "write_tables": "gclens.store.output", "parse_runtime_line": "gclens.pipeline.parse",
    "SCHEMA_VERSION": "gclens.store.schemas", "SCHEMAS": "gclens.store.schemas",
    "TABLE_NAMES": "gclens.store.schemas", "Trace": "gclens.pipeline.trace", "read_trace": "gclens.pipeline.reader",
    "rules": "gclens.analysis.guide_claims",
}

__all__ = [
    "SCHEMAS",
    "SCHEMA_VERSION",
    "TABLE_NAMES",
    "GclensError",
    "InputError",
    "LineError",
    "OutputError",
    "Trace",
    "UsageError",
    "parse_runtime_line",
    "read_trace",
    "rules",
    "write_tables",
]


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gclens' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
