"""Settings snapshots as one long table, and what changed between them.

Three inputs give the same ``settings`` table (one row per key per snapshot):

- gclens snapshot JSON: one object, or JSON Lines from ``gclens snapshot --every``;
- ``sysctl -a`` text, permission-denied noise included (``sysctl: permission denied on key 'x'``
  becomes a row with an error, not a lost line);
- a copied ``/proc/sys`` tree (a directory), or a directory of any of these.

Keys follow ``sysctl -a`` for sysctls (``vm.swappiness``; a dot inside a path component is
written ``/``), the file name for cgroup files (``memory.max``, ``cpu.max``), and flat-keyed
files are expanded one level (``cpu.stat.nr_throttled``, ``memory.events.oom_kill``,
``cpu.pressure.some.avg10``). Values are whitespace-normalised text: multi-value sysctls keep
their order (``net.ipv4.tcp_rmem`` = ``4096 131072 6291456``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pyarrow as pa

from gclens._errors import InputError
from gclens.context.snapshot import read_proc_sys
from gclens.store.schemas import SETTINGS

__all__ = ["COUNTER_PATTERN", "HEADER", "Row", "parse_bytes", "read_settings", "settings_changes", "settings_wide",
           "snapshot_rows", "sysctl_text_rows"]

Row = tuple[str, str, str | None, str | None]  # origin, key, value, error

COUNTER_PATTERN = re.compile(
    r"^(cpu\.stat\.|cpuacct\.usage|memory\.(current|peak|usage_in_bytes|max_usage_in_bytes|failcnt|events|stat"
    r"|swap\.current|oom_control\.under_oom|oom_control\.oom_kill)|pids\.(current|events)|.*\.pressure\."
    r"|pressure\.|meminfo\.|clock\.|process\.(threads|rss_bytes|hwm_bytes)|kernel\.random\.|fs\.(file-nr|inode-|dentry-)"
    r"|kernel\.ns_last_pid|fs\.quota\.|net\.netfilter\.nf_conntrack_count)")
"""Keys that move by themselves (usage, counters, pressure): left out of setting changes by default."""

_SYSCTL_LINE = re.compile(r"^-?(?P<key>[^\s=#;]+)\s*=\s*(?P<value>.*)$")
_SYSCTL_NOISE = re.compile(
    r"^sysctl: (?:(?P<denied>permission denied) on key '(?P<key1>[^']+)'"
    r"|cannot stat /proc/sys/(?P<path>\S+): (?P<stat>.+)"
    r"|reading key \"(?P<key3>[^\"]+)\"(?P<rest>.*))$")


@dataclass(frozen=True)
class _Meta:
    snapshot_id: str
    source: str
    captured_ns: int | None = None
    mono_ns: int | None = None
    boot_id: str | None = None
    host: str | None = None
    pid: int | None = None
    time_source: str | None = None


HEADER = "# gclens snapshot"
"""First line ``gclens snapshot --format sysctl`` writes above ``sysctl -a``-style text:
``# gclens snapshot <RFC 3339> boot_id=<id> monotonic_ns=<n> host=<name> pid=<pid>``."""
_HEADER = re.compile(r"^# gclens snapshot (?P<ts>\S+)(?P<rest>.*)$")
_NAME_TIME = re.compile(r"(?P<d>\d{4}-?\d{2}-?\d{2})[T_](?P<h>\d{2})[:-]?(?P<m>\d{2})[:-]?(?P<s>\d{2})"
                        r"(?P<f>\.\d+)?(?P<z>Z|[+-]\d{2}:?\d{2})")


def read_settings(paths: str | Path | Iterable[str | Path], *, captured_at: datetime | None = None) -> pl.DataFrame:
    """Read snapshots (JSON, JSON Lines, ``sysctl -a`` text, or a /proc/sys tree) into one table.

    A text or directory snapshot without a gclens header is timed by ``captured_at`` (the
    ``--snapshot-time`` option), else by an RFC 3339 time in its file name, else by its mtime,
    and ``time_source`` says which: an mtime changes when the file is copied.
    """
    items = [paths] if isinstance(paths, (str, Path)) else list(paths)
    columns: dict[str, list[Any]] = {name: [] for name in SETTINGS.names}
    for item in items:
        for meta, rows in _snapshots(Path(item), captured_at):
            for origin, key, value, error in rows:
                for name, cell in zip(SETTINGS.names, (
                        meta.snapshot_id, meta.source, meta.captured_ns, meta.mono_ns, meta.time_source, meta.boot_id,
                        meta.host, meta.pid, origin, key, value, error), strict=True):
                    columns[name].append(cell)
    table = pa.Table.from_pydict(columns, schema=SETTINGS)
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _snapshots(path: Path, captured_at: datetime | None = None) -> Iterator[tuple[_Meta, list[Row]]]:
    if path.is_dir() and not any((path / top).is_dir() for top in ("kernel", "vm", "fs", "net")):
        for child in sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")):
            yield from _snapshots(child, captured_at)  # a directory of snapshot files, e.g. a series
        return
    if path.is_dir():
        values, errors = read_proc_sys(path)
        yield _timed(path, captured_at), _sysctl_rows(values, errors)
        return
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if text.lstrip().startswith("{"):
        yield from _json_snapshots(path, text)
    else:
        first = text.split("\n", 1)[0]
        meta = _header_meta(path, first) if first.startswith(HEADER) else _timed(path, captured_at)
        yield meta, list(sysctl_text_rows(text, str(path)))


def _header_meta(path: Path, line: str) -> _Meta:
    """The capture time, boot and monotonic time of a text snapshot, from its gclens header line."""
    match = _HEADER.match(line.strip())
    fields = dict(item.partition("=")[::2] for item in (match["rest"].split() if match else []))
    try:
        stamp = datetime.fromisoformat(match["ts"].replace("Z", "+00:00")) if match else None
        mono = int(fields["monotonic_ns"]) if "monotonic_ns" in fields else None
        pid = int(fields["pid"]) if fields.get("pid", "host") != "host" else None
    except ValueError as exc:
        raise InputError(f"{path}:1: malformed gclens snapshot header ({exc}): {line[:120]!r}") from None
    if stamp is None or stamp.tzinfo is None:
        raise InputError(f"{path}:1: gclens snapshot header without an RFC 3339 time: {line[:120]!r}")
    return _stamped(path, stamp, "snapshot", mono=mono, boot_id=fields.get("boot_id"), host=fields.get("host"),
                    pid=pid)


def _timed(path: Path, captured_at: datetime | None) -> _Meta:
    """A snapshot with no time of its own: the option's, else its name's, else its mtime."""
    if captured_at is not None:
        return _stamped(path, captured_at, "option")
    if match := _NAME_TIME.search(path.name):
        zone = match["z"] if match["z"] == "Z" or ":" in match["z"] else f"{match['z'][:3]}:{match['z'][3:]}"
        day = match["d"].replace("-", "")
        text = f"{day[:4]}-{day[4:6]}-{day[6:]}T{match['h']}:{match['m']}:{match['s']}{match['f'] or ''}{zone}"
        try:
            return _stamped(path, datetime.fromisoformat(text.replace("Z", "+00:00")), "file name")
        except ValueError:
            pass
    try:
        return _stamped(path, datetime.fromtimestamp(path.stat().st_mtime, UTC), "mtime")
    except OSError:
        return _Meta(path.name, str(path))


def _stamped(path: Path, stamp: datetime, how: str, *, mono: int | None = None, boot_id: str | None = None,
             host: str | None = None, pid: int | None = None) -> _Meta:
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    ns = int(stamp.timestamp() * 1_000_000) * 1000
    ident = f"{path.name}@{stamp.astimezone(UTC).strftime('%Y-%m-%dT%H:%M:%S.%fZ')}"
    return _Meta(ident, str(path), ns, mono, boot_id, host, pid, how)


def _json_snapshots(path: Path, text: str) -> Iterator[tuple[_Meta, list[Row]]]:
    stripped = text.strip()
    try:
        docs = [json.loads(stripped)] if "\n" not in stripped else [
            json.loads(line) for line in stripped.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}:{exc.lineno}:{exc.colno}: not a gclens snapshot ({exc.msg})") from None
    for number, doc in enumerate(docs, 1):
        if not isinstance(doc, dict) or "gclens_snapshot" not in doc:
            raise InputError(f"{path}:{number}: not a gclens snapshot (no 'gclens_snapshot' key)")
        try:
            yield _meta(doc, path), _checked(snapshot_rows(doc))
        except (AttributeError, TypeError, ValueError, KeyError, OverflowError, OSError) as exc:
            raise InputError(f"{path}:{number}: malformed gclens snapshot ({type(exc).__name__}: {exc})") from None


def _checked(rows: list[Row]) -> list[Row]:
    """Every cell text or null, every key text: a hand-edited snapshot fails here, with its line."""
    for origin, key, value, error in rows:
        if not (isinstance(key, str) and isinstance(value, (str, type(None))) and isinstance(error, (str, type(None)))):
            raise ValueError(f"{origin} {key!r}: values must be strings")
    return rows


def _of(value: Any, kind: type | tuple[type, ...], name: str) -> Any:
    if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
        raise ValueError(f"{name} must be {getattr(kind, '__name__', kind)}, not {type(value).__name__}")
    return value


def _meta(doc: dict[str, Any], path: Path) -> _Meta:
    clocks = _of(doc.get("captured"), dict, "captured") or {}
    real = _of(clocks.get("realtime_ns"), int, "captured.realtime_ns")
    _of(clocks.get("monotonic_ns"), int, "captured.monotonic_ns")
    _of(doc.get("pid"), int, "pid")
    _of(doc.get("hostname"), str, "hostname")
    _of(doc.get("boot_id"), str, "boot_id")
    stamp = datetime.fromtimestamp(real / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if real else "?"
    pid = doc.get("pid")
    ident = f"{doc.get('hostname', '?')}:{pid if pid is not None else 'host'}@{stamp}"
    return _Meta(ident, str(path), real, clocks.get("monotonic_ns"), doc.get("boot_id"), doc.get("hostname"), pid,
                 "snapshot" if real else None)


def snapshot_rows(doc: dict[str, Any]) -> list[Row]:
    """Flatten one snapshot object into (origin, key, value, error) rows."""
    rows = _sysctl_rows(doc.get("sysctl", {}), doc.get("sysctl_errors", {}))
    clocks = doc.get("captured") or {}
    if clocks.get("boottime_ns") is not None and clocks.get("monotonic_ns") is not None:  # time spent suspended
        rows.append(("host", "clock.boottime_minus_monotonic_ns",
                     str(clocks["boottime_ns"] - clocks["monotonic_ns"]), None))
    rows += [("host", "host.kernel", doc.get("kernel"), None),
             ("host", "host.cpu_count", _str(doc.get("cpu_count")), None)]
    rows += [("host", f"meminfo.{k}", str(v), None) for k, v in sorted(doc.get("meminfo", {}).items())]
    for name, raw in sorted(doc.get("pressure", {}).items()):
        rows += _expand("host", f"pressure.{name}", raw)
    thp = sorted(doc.get("thp", {}).items())
    rows += [("thp", f"thp.{k.replace('/', '.')}", *_value(v, selected=True)) for k, v in thp]
    rows += _debugfs_rows(doc.get("debugfs_sched", {}))
    rows += _cgroup_rows(doc.get("cgroup", {}))
    rows += _process_rows(doc.get("process"))
    for name, entry in sorted((doc.get("limits") or {}).items()):
        if isinstance(entry, dict) and "soft" in entry:
            slug = re.sub(r"\W+", "_", name.lower()).strip("_")
            rows += [("limits", f"limits.{slug}.soft", entry["soft"], None),
                     ("limits", f"limits.{slug}.hard", entry["hard"], None)]
    env = doc.get("env") or {}
    rows += [("env", k, v, None) for k, v in sorted(env.items()) if k != "error"]
    return rows


def _str(value: object) -> str | None:
    return None if value is None else str(value)


def _value(raw: Any, *, selected: bool = False) -> tuple[str | None, str | None]:
    """A captured value or its error; ``always [madvise] never`` -> ``madvise`` when asked."""
    if isinstance(raw, dict):
        return None, str(raw.get("error"))
    if raw is None:
        return None, "absent"
    text = " ".join(str(raw).split())
    match = re.search(r"\[([^\]]+)\]", text) if selected else None
    return (match.group(1) if match else text), None


def _sysctl_rows(values: dict[str, str], errors: dict[str, str]) -> list[Row]:
    rows: list[Row] = [("sysctl", k, " ".join(v.split()), None) for k, v in values.items()]
    rows += [("sysctl", k, None, e) for k, e in errors.items()]
    return rows


def _debugfs_rows(entry: dict[str, Any]) -> list[Row]:
    if "error" in entry and not isinstance(entry["error"], dict):
        return [("debugfs", "debugfs.sched", None, str(entry["error"]))]
    return [("debugfs", f"debugfs.sched.{k}", *_value(v)) for k, v in sorted(entry.items())]


def _cgroup_rows(cgroup: dict[str, Any]) -> list[Row]:
    if "error" in cgroup:
        return [("cgroup", "cgroup", None, str(cgroup["error"]))]
    rows: list[Row] = [("cgroup", "cgroup.version", cgroup.get("version"), None)]
    v2 = cgroup.get("v2") or {}
    if v2:
        rows.append(("cgroup_v2", "cgroup.v2.path", v2.get("path"), None))
        for name, raw in sorted(v2.get("files", {}).items()):
            rows += _expand("cgroup_v2", name, raw)
    for controller, entry in sorted((cgroup.get("v1") or {}).items()):
        rows.append(("cgroup_v1", f"cgroup.v1.{controller}.path", entry.get("path"), None))
        for name, raw in sorted(entry.get("files", {}).items()):
            rows += _expand("cgroup_v1", name, raw)
    return rows


_FLAT_KEYED = (".stat", ".events", ".oom_control", ".pressure", "pressure.cpu", "pressure.memory", "pressure.io")


def _expand(origin: str, key: str, raw: Any) -> list[Row]:
    """Flat-keyed (``nr_throttled 3``) and PSI (``some avg10=0.1 total=5``) files, one row per value."""
    if isinstance(raw, dict) or raw is None or not key.endswith(_FLAT_KEYED):
        return [(origin, key, *_value(raw))]
    text = str(raw)
    if "=" in text:
        rows: list[Row] = []
        for line in text.splitlines():
            kind, *pairs = line.split()
            rows += [(origin, f"{key}.{kind}.{p.partition('=')[0]}", p.partition("=")[2], None) for p in pairs]
        return rows
    lines = [line.split(None, 1) for line in text.splitlines() if line.strip()]
    if all(len(parts) == 2 and not parts[0][0].isdigit() for parts in lines):
        return [(origin, f"{key}.{name}", value.strip(), None) for name, value in lines]
    return [(origin, key, *_value(raw))]


def _process_rows(process: dict[str, Any] | None) -> list[Row]:
    if not process:
        return []
    if "error" in process:
        return [("process", "process", None, str(process["error"]))]
    rows: list[Row] = [("process", f"process.{k}", _str(v), None)
                       for k, v in sorted(process.items()) if k != "namespaces"]
    rows += [("process", f"process.ns.{k}", v, None) for k, v in sorted(process.get("namespaces", {}).items())]
    return rows


def sysctl_text_rows(text: str, source: str = "<sysctl>") -> Iterator[Row]:
    """``sysctl -a`` output (stdout and stderr mixed) or a sysctl.conf file as rows.

    Any other line is an InputError naming the line: a wrong file is reported, not half-read.
    procps prints a multi-line value as one ``key = line`` per line: consecutive lines of one key
    are one value, its lines joined by a space as a /proc/sys read of the same file gives it.
    """
    pending: list[list[Any]] = []
    previous: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith(("#", ";")):
            continue  # comments, as in sysctl.conf files
        if match := _SYSCTL_LINE.match(line):
            value = " ".join(match["value"].split())
            if match["key"] == previous and pending[-1][2] is not None:  # the next line of one multi-line value
                pending[-1][2] = f"{pending[-1][2]} {value}".strip()
            else:
                pending.append(["sysctl", match["key"], value, None])
            previous = match["key"]
            continue
        previous = None
        if noise := _SYSCTL_NOISE.match(line):
            pending.append(["sysctl", *_noise(noise)])
        else:  # procps repeats the key on every line of a multi-line value, so nothing else is valid
            raise InputError(f"{source}:{number}: not sysctl -a output: {line[:120]!r}")
    for row in pending:
        yield row[0], row[1], row[2], row[3]


def _noise(match: re.Match[str]) -> tuple[str, None, str]:
    if match["denied"]:
        return match["key1"], None, "EACCES"
    if match["path"]:
        key = ".".join(part.replace(".", "/") for part in match["path"].split("/"))
        return key, None, "ENOENT" if "No such file" in match["stat"] else match["stat"]
    return match["key3"], None, match["rest"].strip(" :") or "read error"


def settings_changes(settings: pl.DataFrame, *, include_counters: bool = False) -> pl.DataFrame:
    """What changed between consecutive snapshots of the same host and process, and when.

    One row per changed key: ``before``/``after`` values (or errors, or ``absent`` for a key one
    capture lacks, e.g. GOMEMLIMIT set by a restart), the two snapshots, and the interval the
    change happened in (``after_mono_ns`` .. ``changed_by_mono_ns``). Usage counters and pressure
    move all the time and are left out unless ``include_counters``.
    """
    frame = settings if include_counters else settings.filter(~pl.col("key").str.contains(COUNTER_PATTERN.pattern))
    shown = pl.coalesce(pl.col("value"), pl.lit("error: ") + pl.col("error"), pl.lit("absent"))
    snaps = frame.select("snapshot_id", "captured_mono_ns", "captured_ts", "host", "pid").unique(
        maintain_order=True).with_row_index("seq")
    keys = frame.select("host", "pid", "key", "origin").unique(["host", "pid", "key"], maintain_order=True)
    grid = snaps.join(keys, on=["host", "pid"], how="inner", nulls_equal=True)  # a key missing from a capture
    values = frame.select("snapshot_id", "key", "value", "error")
    frame = grid.join(values, on=["snapshot_id", "key"], how="left")
    group = [pl.col("host"), pl.col("pid"), pl.col("key")]
    frame = frame.sort("seq").with_columns(shown.alias("after"))
    frame = frame.with_columns(
        pl.col("after").shift(1).over(group).alias("before"),
        pl.col("snapshot_id").shift(1).over(group).alias("snapshot_before"),
        pl.col("captured_mono_ns").shift(1).over(group).alias("after_mono_ns"),
        pl.col("seq").shift(1).over(group).alias("seq_before"),
    )
    changed = frame.filter(pl.col("seq_before").is_not_null() & pl.col("before").ne_missing(pl.col("after")))
    return changed.select(
        "host", "pid", "origin", "key", "before", "after", "snapshot_before",
        pl.col("snapshot_id").alias("snapshot_after"), "after_mono_ns",
        pl.col("captured_mono_ns").alias("changed_by_mono_ns"), pl.col("captured_ts").alias("changed_by_ts"),
    )


def settings_wide(settings: pl.DataFrame, keys: Iterable[str]) -> pl.DataFrame:
    """One row per snapshot, one column per key: the shape a plot or a join wants."""
    wanted = list(keys)
    long = settings.filter(pl.col("key").is_in(wanted)).select("snapshot_id", "key", "value")
    base = settings.select("snapshot_id", "captured_ts", "captured_mono_ns", "boot_id", "host", "pid").unique(
        maintain_order=True)
    if long.is_empty():
        return base.with_columns([pl.lit(None, pl.String).alias(k) for k in wanted])
    wide = long.pivot(on="key", index="snapshot_id", values="value", aggregate_function="first")
    missing = [pl.lit(None, pl.String).alias(k) for k in wanted if k not in wide.columns]
    return base.join(wide.with_columns(missing), on="snapshot_id", how="left").select(*base.columns, *wanted)


def parse_bytes(value: str | None) -> int | None:
    """cgroup/Go size text -> bytes; 'max', '-1' and v1's 'unlimited' sentinel -> None."""
    if value is None:
        return None
    text = value.strip()
    if text in ("max", "-1", "", "off") or text == "9223372036854771712":
        return None
    units = {"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40}
    match = re.fullmatch(r"(\d+)\s*(B|KiB|MiB|GiB|TiB)?", text)
    if not match:
        return None
    number = int(match[1])
    return number * units[match[2] or "B"] if number < (1 << 62) else None
