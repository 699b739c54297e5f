"""Checks of option values: one per kind of value, shared by the command line (argparse ``type=``)
and by ``Limits`` (TOML), so that a flag and a config key with the same bad value fail alike,
with one line, before any input is read.

Every check takes the value (the text of a flag, or what TOML gave) and returns it converted, or
raises ``ValueError`` with a message that says what is expected. Nothing here imports Polars: the
command line parses its arguments before loading anything heavy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

Check = Callable[[Any], Any]

MAX_WINDOW_S = 365 * 86400.0
"""A year: any window longer than the run is the whole run; longer ones only risk overflowing
the nanosecond periods of the rolling windows."""
YEARS = (1678, 2261)
"""The years a nanosecond timestamp (int64 since 1970) can hold."""
_SIZE_UNITS = {"": 1.0, "m": 1.0, "mi": 1.0, "mib": 1.0, "mb": 1.0, "g": 1024.0, "gi": 1024.0,
               "gib": 1024.0, "gb": 1024.0, "k": 1 / 1024, "ki": 1 / 1024, "kib": 1 / 1024}


def _as_number(value: Any, what: str) -> float:
    if isinstance(value, bool):  # True is an int to Python, never a number to a user
        raise ValueError(f"expected {what}, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"expected {what}, got {value!r}") from None
    if not math.isfinite(number):
        raise ValueError(f"expected {what}, got {value!r}")
    return number


def number(*, low: float, high: float = math.inf, low_open: bool = False, what: str = "a number") -> Check:
    """A finite number in [low, high] (or (low, high] with ``low_open``)."""
    bound = f"> {low:g}" if low_open else f">= {low:g}"
    if high != math.inf:
        bound += f" and <= {high:g}"
    expected = f"{what} {bound}"

    def check(value: Any) -> float:
        got = _as_number(value, expected)
        if got < low or (low_open and got == low) or got > high:
            raise ValueError(f"expected {expected}, got {value!r}")
        return got
    return check


def integer(*, low: int, high: int | None = None, what: str = "a whole number") -> Check:
    """A whole number in [low, high]."""
    expected = f"{what} >= {low}" + ("" if high is None else f" and <= {high}")

    def check(value: Any) -> int:
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError(f"expected {expected}, got {value!r}")
        try:
            got = int(value) if not isinstance(value, str) else int(value.strip(), 10)
        except (TypeError, ValueError):
            raise ValueError(f"expected {expected}, got {value!r}") from None
        if got < low or (high is not None and got > high):
            raise ValueError(f"expected {expected}, got {value!r}")
        return got
    return check


def boolean(value: Any) -> bool:
    """TOML true or false (not 1, not "yes")."""
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value


STW_MS = number(low=0.0, what="milliseconds")
PERCENT = number(low=0.0, high=100.0, what="a percentage")
SECONDS = number(low=0.001, high=MAX_WINDOW_S, what="seconds")
"""From 1 ms (the resolution of the gc line's times) to a year (MAX_WINDOW_S)."""
CPUS = number(low=0.001, what="a number of CPUs")
"""From 0.001: cgroup cpu.max grants at least 1 ms per period of at most 1 s."""
NON_NEGATIVE = number(low=0.0)
COUNT = integer(low=1)
JOBS = integer(low=1, high=256, what="a number of processes")
BYTES = integer(low=1, what="a number of bytes")
RT_MS = number(low=0, high=3_600_000, what="milliseconds")
PID = integer(low=1, what="a process id")
YEAR = integer(low=YEARS[0], high=YEARS[1], what="a year")


def target_percent(value: Any) -> float:
    """A GC CPU target strictly between 0 and 100 %."""
    expected = "a percentage > 0 and < 100"
    got = _as_number(value, expected)
    if not 0 < got < 100:
        raise ValueError(f"expected {expected}, got {value!r}")
    return got


def time_zone(value: Any) -> str:
    """An IANA time zone name that this system knows (``Europe/Paris``, ``UTC``)."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a time zone name such as Europe/Paris, got {value!r}")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r} (give an IANA name such as Europe/Paris or UTC)") from None
    return value


def rfc3339(value: Any) -> str:
    """An RFC 3339 time (``2026-11-27T04:44:54.123Z``) or a date (``2026-11-27``, midnight UTC)."""
    from gclens.read.envelopes import iso_ns

    text = str(value)
    try:
        iso_ns(text if "T" in text or " " in text else text + "T00:00:00Z")
    except (ValueError, OverflowError):
        raise ValueError(f"expected an RFC 3339 time such as 2026-11-27T04:44:54.123Z, got {value!r}") from None
    return text


def size_mib(text: str) -> float:
    """`512MiB`, `2GiB`, `1.5G`, `800M` or a plain number of MiB; more than zero."""
    stripped = text.strip()
    digits = stripped.rstrip("BbIiKkMmGg")
    unit = stripped[len(digits):].lower()
    problem = f"expected a size such as 512MiB or 2GiB, got {text!r}"
    if unit not in _SIZE_UNITS:
        raise ValueError(problem)
    try:
        mib = float(digits) * _SIZE_UNITS[unit]
    except ValueError:
        raise ValueError(problem) from None
    if not math.isfinite(mib) or mib <= 0:
        raise ValueError(problem)
    return mib


def size_list(text: str) -> list[float]:
    """Comma-separated GOMEMLIMIT sizes (empty: none)."""
    return [size_mib(item) for item in text.split(",") if item.strip()]


def run_gogc(text: Any) -> float:
    """The GOGC a traced run had: a number from 1 (``off`` has no goal to pin the model to)."""
    return float(number(low=1.0, high=1e6, what="a GOGC value")(text))


def gogc_list(text: str) -> list[int | None]:
    """Comma-separated GOGC values: whole numbers from 1 (as the runtime reads GOGC), or ``off``."""
    values: list[int | None] = []
    for item in (i.strip() for i in text.split(",")):
        if not item:
            continue
        if item.lower() == "off":
            values.append(None)
            continue
        values.append(integer(low=1, what="GOGC values: whole numbers")(item))
    if not values:
        raise ValueError(f"expected GOGC values such as 50,100,off, got {text!r}")
    return values


def label(text: str) -> tuple[str, str]:
    """``KEY=VALUE``, the key a column name."""
    key, sep, value = text.partition("=")
    if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
        raise ValueError(f"expected KEY=VALUE with a column-name key (letters, digits, _), got {text!r}")
    return key, value


def column_list(text: str) -> tuple[str, ...]:
    """Comma-separated column names (at least one)."""
    keys = tuple(k.strip() for k in text.split(",") if k.strip())
    if not keys or not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) for k in keys):
        raise ValueError(f"expected column names separated by commas, such as host,date, got {text!r}")
    return keys
