"""Wrap a real sample run's stderr in each collector envelope, with realistic collector times.

No log collector runs on the test machine, so the envelopes are written here to each format's
documented layout. The times are independent of gclens: a gc line was written when its cycle
ended, i.e. at the runtime's own PauseEnd for that cycle (from the program's MemStats); other
lines are interpolated between their neighbours, from the program's start to its exit; the
collector then adds a delay of 20-400 µs and prints its time at its own resolution.
"""

from __future__ import annotations

import itertools
import json
import random
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

GC_LINE = re.compile(r"^gc (\d+) @")
BOOT_ID = "5b0f2d6c1e8a4f0c9d7e3a2b1c0d9e8f"
MONO_AT_EPOCH_NS = 1_795_000_000_000_000_000 - 86_400 * 10**9  # a boot one day before the run


def write_times(lines: list[str], truth: dict[str, Any]) -> list[int]:
    """When each line reached the collector, in ns since the epoch."""
    ends = {p["gc_num"]: p["pause_end_unix_ns"] for p in truth["pauses"]}
    known = {0: truth["start_unix_ns"], len(lines) - 1: truth["exit_unix_ns"]}
    for i, line in enumerate(lines):
        m = GC_LINE.match(line)
        if m and int(m[1]) in ends:
            known[i] = ends[int(m[1])]
    points = sorted(known.items())
    out = []
    rng = random.Random(42)
    for i in range(len(lines)):
        (i0, t0), (i1, t1) = next((a, b) for a, b in itertools.pairwise(points) if a[0] <= i <= b[0])
        base = t0 if i1 == i0 else t0 + (t1 - t0) * (i - i0) // (i1 - i0)
        out.append(base + rng.randrange(20_000, 400_000))
    return out


def rfc3339nano(ns: int) -> str:
    """Go's time.RFC3339Nano: trailing zeros of the fraction are dropped."""
    whole = datetime.fromtimestamp(ns // 10**9, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{ns % 10**9:09d}".rstrip("0")
    return f"{whole}.{frac}Z" if frac else f"{whole}Z"


def _utc(ns: int, fmt: str) -> str:
    return datetime.fromtimestamp(ns // 10**9, UTC).strftime(fmt)


def _mono(ns: int) -> str:
    """journalctl -o short-monotonic: seconds since boot, 6 decimals, right-aligned."""
    mono = ns - MONO_AT_EPOCH_NS
    return f"{mono // 10**9:>6}.{mono % 10**9 // 1000:06d}"


def _go_json(obj: dict[str, Any]) -> str:
    """encoding/json escapes <, > and & (Docker's `->` becomes `-\\u003e`)."""
    text = json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _cri(line: str, ns: int) -> list[str]:
    if GC_LINE.match(line):  # split like a runtime that flushed part of the line: P then F
        return [f"{rfc3339nano(ns)} stderr P {line[:40]}", f"{rfc3339nano(ns + 1000)} stderr F {line[40:]}"]
    return [f"{rfc3339nano(ns)} stderr F {line}"]


def _journald_json(line: str, ns: int, i: int) -> list[str]:
    message: Any = list(line.encode()) if i % 10 == 3 else line  # journald's byte-array form
    return [json.dumps({
        "__REALTIME_TIMESTAMP": str(ns // 1000), "__MONOTONIC_TIMESTAMP": str((ns - MONO_AT_EPOCH_NS) // 1000),
        "_BOOT_ID": BOOT_ID, "_HOSTNAME": "node1", "_SYSTEMD_UNIT": "app.service", "_PID": "4242",
        "_TRANSPORT": "stdout", "MESSAGE": message,
    })]


VARIANTS: dict[str, Callable[[str, int, int], list[str]]] = {
    "kubectl": lambda line, ns, i: [f"{rfc3339nano(ns)} {line}"],
    "cri": lambda line, ns, i: _cri(line, ns),
    "docker": lambda line, ns, i: [_go_json({"log": line + "\n", "stream": "stderr", "time": rfc3339nano(ns)})],
    "journald-json": _journald_json,
    "syslog": lambda line, ns, i: [f"{_utc(ns, '%b %d %H:%M:%S')}.{ns % 10**9 // 1000:06d} node1 app[4242]: {line}"],
    "syslog-iso": lambda line, ns, i: [
        f"<14>1 {_utc(ns, '%Y-%m-%dT%H:%M:%S')}.{ns % 10**9 // 1000:06d}Z node1 app 4242 - - {line}"],
    "golog": lambda line, ns, i: [f"{_utc(ns, '%Y/%m/%d %H:%M:%S')}.{ns % 10**9 // 1000:06d} {line}"],
    "journald-monotonic": lambda line, ns, i: [f"[{_mono(ns)}] node1 app[4242]: {line}"],
}


def wrap(raw: str, truth: dict[str, Any], envelope: str) -> str:
    lines = raw.splitlines()
    times = write_times(lines, truth)
    out: list[str] = []
    for i, (line, ns) in enumerate(zip(lines, times, strict=True)):
        out.extend(VARIANTS[envelope](line, ns, i))
    return "\n".join(out) + "\n"
