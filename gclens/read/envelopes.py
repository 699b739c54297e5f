"""Log collector envelopes: strip what a collector wrapped around each stderr line, keep its time
and origin.

Supported (``ENVELOPES``): kubectl --timestamps, CRI (containerd/CRI-O files, with `P` partial
lines rejoined), Docker json-file (split lines rejoined), journald (`-o json`, `short`,
`short-iso`, `short-precise`, `short-monotonic`), syslog RFC 3164 and RFC 5424, Go's `log`
prefix, klog headers. ``detect`` picks the envelope that explains most of a file's first lines;
``raw`` (no envelope) is the fallback. Times are nanoseconds since the Unix epoch (UTC); formats
that print no year or zone take them from ``Clock``.
"""

from __future__ import annotations

import calendar
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from gclens._errors import UsageError

__all__ = ["CONTINUED", "DETECT_LINES", "ENVELOPES", "NO_META", "Clock", "Decoder", "Meta", "Piece",
           "container_from_path", "decoder_for", "detect", "iso_ns", "unwrap"]


@dataclass(frozen=True)
class Meta:
    """What the envelope said about a line: when the collector saw it and where it came from."""

    log_ts_ns: int | None = None
    log_ts_res_ns: int = 0  # resolution of log_ts (the collector truncates to it)
    mono_ns: int | None = None  # journald __MONOTONIC_TIMESTAMP / short-monotonic
    stream: str | None = None
    host: str | None = None
    unit: str | None = None
    container: str | None = None
    pid: int | None = None
    boot_id: str | None = None


NO_META = Meta()


@dataclass(frozen=True)
class Clock:
    """Year and zone for envelopes whose timestamps lack them (syslog, klog, Go log, journald short)."""

    year: int = field(default_factory=lambda: datetime.now().year)
    tz: str = "UTC"


@dataclass(frozen=True)
class Piece:
    """One decoded physical line: its text, its metadata, and whether more of it follows."""

    text: str
    meta: Meta
    partial: bool = False


Decoder = Callable[[str, Clock], Piece | None]

_MONTHS = {m: i for i, m in enumerate(calendar.month_abbr) if m}
_RFC3339 = r"(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d))"
_BSD_TIME = r"([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?"


def iso_ns(text: str) -> tuple[int, int]:
    """RFC 3339 time with up to 9 fractional digits → (ns since epoch, resolution in ns)."""
    m = re.fullmatch(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?(Z|[+-]\d\d:?\d\d)", text)
    if m is None:
        raise ValueError(f"not an RFC 3339 time: {text!r}")
    zone = "+00:00" if m[4] == "Z" else m[4]
    whole = datetime.fromisoformat(f"{m[1]}T{m[2]}{zone}")
    frac = m[3] or ""
    return int(whole.timestamp()) * 10**9 + int(frac.ljust(9, "0") or 0), 10 ** (9 - len(frac))


def _local_ns(clock: Clock, month: int, day: int, hms: tuple[str, str, str], frac: str | None,
              year: int | None = None) -> tuple[int, int]:
    when = datetime(year or clock.year, month, day, int(hms[0]), int(hms[1]), int(hms[2]),
                    tzinfo=ZoneInfo(clock.tz))
    frac = frac or ""
    return int(when.timestamp()) * 10**9 + int(frac.ljust(9, "0") or 0), 10 ** (9 - len(frac))


def _kubectl(line: str, clock: Clock) -> Piece | None:
    m = re.match(_RFC3339 + " ", line)
    if m is None:
        return None
    ts, res = iso_ns(m[1])
    return Piece(line[m.end():], Meta(log_ts_ns=ts, log_ts_res_ns=res))


def _cri(line: str, clock: Clock) -> Piece | None:
    m = re.match(_RFC3339 + r" (stdout|stderr) ([FP]) ?", line)
    if m is None:
        return None
    ts, res = iso_ns(m[1])
    return Piece(line[m.end():], Meta(log_ts_ns=ts, log_ts_res_ns=res, stream=m[2]), m[3] == "P")


def _json_object(line: str) -> dict[str, object] | None:
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _docker(line: str, clock: Clock) -> Piece | None:
    obj = _json_object(line)
    if obj is None or not isinstance(obj.get("log"), str) or not isinstance(obj.get("time"), str):
        return None
    text = str(obj["log"])
    try:
        ts, res = iso_ns(str(obj["time"]))
    except ValueError:
        ts, res = None, 0  # type: ignore[assignment]
    stream = obj.get("stream")
    meta = Meta(log_ts_ns=ts, log_ts_res_ns=res, stream=stream if isinstance(stream, str) else None)
    return Piece(text.removesuffix("\n"), meta, not text.endswith("\n"))


def _journald_json(line: str, clock: Clock) -> Piece | None:
    obj = _json_object(line)
    if obj is None or "MESSAGE" not in obj or "__REALTIME_TIMESTAMP" not in obj:
        return None
    message = obj["MESSAGE"]
    if isinstance(message, list):  # journald gives non-UTF-8 or control-bearing messages as bytes
        message = bytes(b for b in message if isinstance(b, int) and 0 <= b < 256).decode("utf-8", "replace")
    return Piece(str(message) if message is not None else "", Meta(
        log_ts_ns=_int(obj.get("__REALTIME_TIMESTAMP"), 1000), log_ts_res_ns=1000,
        mono_ns=_int(obj.get("__MONOTONIC_TIMESTAMP"), 1000), host=_str(obj.get("_HOSTNAME")),
        unit=_str(obj.get("_SYSTEMD_UNIT") or obj.get("SYSLOG_IDENTIFIER")),
        pid=_int(obj.get("_PID"), 1), boot_id=_str(obj.get("_BOOT_ID")),
        stream="stderr" if obj.get("_TRANSPORT") == "stdout" else None,
    ))


def _int(value: object, scale: int) -> int | None:
    try:
        return int(str(value)) * scale
    except ValueError:
        return None


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


_TAG = r"(?: (\S+) ([^\s:\[]+)(?:\[(\d+)\])?:)?"  # optional ` host tag[pid]:`


def _bsd(line: str, clock: Clock) -> Piece | None:
    """RFC 3164 syslog / journalctl -o short and short-precise: `Sep 01 18:36:54[.123] host tag[pid]: `."""
    m = re.match(r"(?:<\d{1,3}>)?" + _BSD_TIME + _TAG + " ", line)
    if m is None or m[1] not in _MONTHS:
        return None
    ts, res = _local_ns(clock, _MONTHS[m[1]], int(m[2]), (m[3], m[4], m[5]), m[6])
    return Piece(line[m.end():], Meta(log_ts_ns=ts, log_ts_res_ns=res, host=m[7], unit=m[8],
                                      pid=int(m[9]) if m[9] else None))


def _iso_syslog(line: str, clock: Clock) -> Piece | None:
    """RFC 5424 (`<PRI>1 TIME HOST APP PROCID MSGID SD MSG`) and journalctl -o short-iso."""
    m = re.match(r"<\d{1,3}>1 " + _RFC3339 + r" (\S+) (\S+) (\S+) \S+ (?:-|\[.*?\]) ?", line)
    if m is not None:
        ts, res = iso_ns(m[1])
        pid = int(m[4]) if m[4].isdigit() else None
        return Piece(line[m.end():], Meta(log_ts_ns=ts, log_ts_res_ns=res, host=m[2], unit=m[3], pid=pid))
    m = re.match(_RFC3339 + _TAG + " ", line)
    if m is None or m[2] is None:
        return None
    ts, res = iso_ns(m[1])
    return Piece(line[m.end():], Meta(log_ts_ns=ts, log_ts_res_ns=res, host=m[2], unit=m[3],
                                      pid=int(m[4]) if m[4] else None))


def _short_monotonic(line: str, clock: Clock) -> Piece | None:
    m = re.match(r"\[ *(\d+)\.(\d{6})\]" + _TAG + " ", line)
    if m is None:
        return None
    mono = int(m[1]) * 10**9 + int(m[2]) * 1000
    return Piece(line[m.end():], Meta(mono_ns=mono, host=m[3], unit=m[4], pid=int(m[5]) if m[5] else None))


def _golog(line: str, clock: Clock) -> Piece | None:
    m = re.match(r"(\d{4})/(\d\d)/(\d\d) (\d\d):(\d\d):(\d\d)(?:\.(\d{1,6}))? ", line)
    if m is None:
        return None
    ts, res = _local_ns(clock, int(m[2]), int(m[3]), (m[4], m[5], m[6]), m[7], year=int(m[1]))
    return Piece(line[m.end():], Meta(log_ts_ns=ts, log_ts_res_ns=res))


def _klog(line: str, clock: Clock) -> Piece | None:
    m = re.match(r"[IWEF](\d\d)(\d\d) (\d\d):(\d\d):(\d\d)\.(\d{6}) +(\d+) [^ \]]+\] ", line)
    if m is None:
        return None
    ts, res = _local_ns(clock, int(m[1]), int(m[2]), (m[3], m[4], m[5]), m[6])
    return Piece(line[m.end():], Meta(log_ts_ns=ts, log_ts_res_ns=res, pid=int(m[7])))


ENVELOPES: dict[str, Decoder] = {
    "cri": _cri,
    "kubectl": _kubectl,
    "docker": _docker,
    "journald-json": _journald_json,
    "syslog": _bsd,
    "syslog-iso": _iso_syslog,
    "journald-monotonic": _short_monotonic,
    "golog": _golog,
    "klog": _klog,
}
"""Envelope name → decoder, most specific first (CRI lines also look like kubectl's)."""

CONTINUED = {
    "cri": r"^[^ ]+ (?:stdout|stderr) P",
    "docker": r'"log"\s*:\s*"(?:(?:[^"\\]|\\.)*(?:[^"\\]|\\[^n]))?"',
    "journald-json": r'"MESSAGE"\s*:\s*\[',
}
"""Lines that a scan for runtime markers must keep whatever it finds in them: pieces that the
next line continues (CRI `P`, a docker entry whose text lacks its newline), and journald
messages given as bytes, where no marker can be searched for."""

DETECT_LINES = 200


def detect(sample: Iterable[str], clock: Clock = Clock()) -> str:
    """The envelope that decodes most of the sample's non-empty lines (at least half), or 'raw'."""
    lines = [line for line in sample if line.strip()][:DETECT_LINES]
    best, best_count = "raw", 0
    for name, decoder in ENVELOPES.items():
        count = sum(_safe(decoder, line, clock) is not None for line in lines)
        if count > best_count:
            best, best_count = name, count
    return best if lines and best_count * 2 >= len(lines) else "raw"


def _safe(decoder: Decoder, line: str, clock: Clock) -> Piece | None:
    try:
        return decoder(line, clock)
    except (ValueError, OverflowError):
        return None


def decoder_for(name: str) -> Decoder | None:
    """The decoder of a named envelope (None for 'raw'); UsageError for an unknown name."""
    if name == "raw":
        return None
    if name not in ENVELOPES:
        raise UsageError(f"unknown envelope {name!r}; choose one of raw, {', '.join(ENVELOPES)}")
    return ENVELOPES[name]


def unwrap(texts: Iterable[tuple[int, str]], name: str, clock: Clock) -> Iterator[tuple[int, str, Meta]]:
    """Decode (line number, text) pairs; partial pieces are joined onto the line they start.

    A line the envelope does not explain is passed through as it is, without metadata.
    """
    decoder = decoder_for(name)
    pending: tuple[int, str, Meta] | None = None
    for no, text in texts:
        piece = _safe(decoder, text, clock) if decoder else None
        if piece is None:
            piece = Piece(text, NO_META)
        if pending is not None:
            first_no, first_text, first_meta = pending
            piece = replace(piece, text=first_text + piece.text, meta=first_meta)
            no = first_no
            pending = None
        if piece.partial:
            pending = (no, piece.text, piece.meta)
            continue
        yield no, piece.text, piece.meta
    if pending is not None:
        yield pending


_POD_LOG = re.compile(r"/pods/(?P<ns>[^/_]+)_(?P<pod>[^/_]+)_[^/]+/(?P<container>[^/]+)/\d+\.log")
_CONTAINER_LOG = re.compile(r"/containers/(?P<pod>[^/_]+)_(?P<ns>[^/_]+)_(?P<container>.+)-[0-9a-f]{64}\.log")
_DOCKER_LOG = re.compile(r"/containers/(?P<container>[0-9a-f]{64})/[0-9a-f]{64}-json\.log")


def container_from_path(path: str) -> str | None:
    """The container a log file belongs to, from the paths kubelet and Docker write.

    ``/var/log/pods/<ns>_<pod>_<uid>/<container>/0.log`` and
    ``/var/log/containers/<pod>_<ns>_<container>-<id>.log`` give ``<ns>/<pod>/<container>``;
    ``/var/lib/docker/containers/<id>/<id>-json.log`` gives the container id.
    """
    for pattern in (_POD_LOG, _CONTAINER_LOG):
        m = pattern.search(path)
        if m:
            return f"{m['ns']}/{m['pod']}/{m['container']}"
    m = _DOCKER_LOG.search(path)
    return m["container"][:12] if m else None
