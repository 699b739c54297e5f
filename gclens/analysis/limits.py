"""The limits and switches of `gclens check`: one dataclass, every value checked where it is made.

A value is checked the same way whether it comes from a flag (the command line checks it first,
with the same functions from ``gclens._validate``), from ``[check]`` in a TOML file or from a
notebook: a bad one is a ``UsageError`` naming the key, never a traceback later on.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

from gclens import _validate as v
from gclens._errors import UsageError

__all__ = ["CHECKS", "REMOVED", "Limits"]

REMOVED = {
    "include_forced": "include_forced was removed: forced cycles count by default, as in the runtime's "
                      "own GCCPUFraction; set exclude_forced = true for background cycles only",
}


@dataclass(frozen=True)
class Limits:
    """Thresholds of `gclens check`; each is a key of [check] in TOML, the main ones also flags.

    ``exclude_forced`` leaves forced cycles (runtime.GC, debug.FreeOSMemory) out of GC CPU and
    pauses; by default they count, as in the runtime's GCCPUFraction, PauseNs and printed %.
    ``allow_empty`` accepts a source without GC cycles. ``min_live_trend_span_s`` and
    ``min_live_trend_cycles`` are the evidence a leak finding needs (``heap.live_trend``).
    """

    max_stw_ms: float = 1.0
    max_gc_cpu_pct: float = 5.0
    window_s: float = 60.0
    short_window_s: float = 10.0
    cpu_quota: float | None = None
    max_live_growth_mib_per_min: float = 10.0
    max_runqueue_per_p: float = 4.0
    max_thread_growth: float = 10.0
    max_forced_cycles: float = 0.0
    max_goal_overshoots: float = 0.0
    exclude_forced: bool = False
    allow_empty: bool = False
    min_live_trend_span_s: float = 60.0
    min_live_trend_cycles: int = 20

    def __post_init__(self) -> None:
        for name, check in CHECKS.items():
            value = getattr(self, name)
            if value is None and name == "cpu_quota":
                continue
            if isinstance(value, str):  # the command line converts its text first: a string is TOML's "5"
                raise UsageError(f"{name} = {value!r}: expected a number or true/false, not text")
            try:
                object.__setattr__(self, name, check(value))
            except ValueError as exc:
                raise UsageError(f"{name} = {value!r}: {exc}") from None

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> Limits:
        """Read ``[check]`` from a TOML file; explicit overrides (CLI flags) win."""
        try:
            document = tomllib.loads(Path(path).read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise UsageError(f"{path}: cannot read limits ({exc})") from None
        table = document.get("check", {})
        if not isinstance(table, dict):
            raise UsageError(f"{path}: [check] must be a table of limits")
        removed = sorted(set(table) & set(REMOVED))
        if removed:
            raise UsageError(f"{path}: {REMOVED[removed[0]]}")
        unknown = set(table) - {f.name for f in fields(cls)}
        if unknown:
            raise UsageError(f"{path}: unknown keys in [check]: {', '.join(sorted(unknown))}")
        try:
            limits = cls(**table)
        except UsageError as exc:
            raise UsageError(f"{path}: [check] {exc}") from None
        return replace(limits, **{k: v for k, v in overrides.items() if v is not None})


CHECKS: dict[str, v.Check] = {
    "max_stw_ms": v.STW_MS, "max_gc_cpu_pct": v.PERCENT, "window_s": v.SECONDS,
    "short_window_s": v.SECONDS, "cpu_quota": v.CPUS, "max_live_growth_mib_per_min": v.NON_NEGATIVE,
    "max_runqueue_per_p": v.NON_NEGATIVE, "max_thread_growth": v.NON_NEGATIVE,
    "max_forced_cycles": v.NON_NEGATIVE, "max_goal_overshoots": v.NON_NEGATIVE,
    "exclude_forced": v.boolean, "allow_empty": v.boolean,
    "min_live_trend_span_s": v.number(low=0.0, what="seconds"),
    "min_live_trend_cycles": v.integer(low=3, what="a number of cycles"),
}
"""How each field is checked (and converted: TOML integers become floats where a float is meant)."""
