"""Live traces: watch a program (`gclens run`) or a growing log (`gclens follow`) as it runs.

>>> from gclens.live import follow
>>> result = follow("app.log", out_dir="out/", stop=stop_event)  # doctest: +SKIP

Both feed the bytes, as they arrive, into the same streaming pipeline as ``gclens parse``, so
the tables written at the end are the ones ``parse`` writes for the same bytes; on the way, a
``LiveState`` keeps the KPIs of the last minute (bounded memory) for a view and the metrics.
Names are imported on first use, so ``gclens --help`` stays fast.
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

if _TYPE_CHECKING:
    from gclens.live._api import Abandoned, follow, run_program
    from gclens.live._child import CommandError, extend_godebug
    from gclens.live._metrics import Metrics
    from gclens.live._session import LiveResult
    from gclens.live._state import Finding, LiveKpis, LiveState, live_kpis

_LAZY = {
    "Abandoned": "_api", "follow": "_api", "run_program": "_api", "CommandError": "_child",
    "extend_godebug": "_child", "Metrics": "_metrics", "LiveResult": "_session", "Finding": "_state",
    "LiveKpis": "_state", "LiveState": "_state", "live_kpis": "_state",
}

__all__ = ["Abandoned", "CommandError", "Finding", "LiveKpis", "LiveResult", "LiveState", "Metrics", "extend_godebug",
           "follow", "live_kpis", "run_program"]


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        value = getattr(_importlib.import_module(f"gclens.live.{_LAZY[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'gclens.live' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
