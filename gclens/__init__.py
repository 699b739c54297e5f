"""gclens: Go runtime GC and scheduler traces as Arrow tables.

>>> import gclens
>>> trace = gclens.read_trace("app.log")  # doctest: +SKIP
>>> trace.gc  # a Polars DataFrame, one row per GC cycle  # doctest: +SKIP
"""

from gclens._errors import GclensError, InputError, LineError, OutputError, UsageError
from gclens._output import write_tables
from gclens._parse import parse_runtime_line
from gclens._schemas import SCHEMA_VERSION, SCHEMAS, TABLE_NAMES
from gclens._trace import Trace, read_trace

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
    "write_tables",
]
