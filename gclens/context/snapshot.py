"""Capture the kernel, cgroup and Go settings a Go process runs under, stamped on two clocks.

A snapshot is one JSON object: the capture time on CLOCK_REALTIME, CLOCK_MONOTONIC and
CLOCK_BOOTTIME (read back to back at the start and the end, with the boot id, so it can be placed
on the same timeline as a gctrace run or a ``perf record -k mono`` capture), all of ``/proc/sys``,
the process's cgroup limits and pressure (v2, v1 or the hybrid of both), transparent huge pages,
``/proc/PID/limits``, the ``GO*`` environment and the process start time.

Reading never fails on one file: a value that cannot be read is recorded with its errno name
(``EACCES``, ``EPERM``, ``EIO``, ``ENOENT``), because "no permission" and "absent" mean different
things on a modern kernel (the CFS tunables left sysctl in 5.13). Every path is taken relative to
``root`` so that tests can point it at a copied tree.
"""

from __future__ import annotations

import errno
import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from gclens._errors import InputError

__all__ = ["CGROUP_V1_FILES", "CGROUP_V2_FILES", "FORMAT", "MAX_VALUE_BYTES", "THP_FILES", "capture", "capture_every",
           "dumps", "proc_sys_key", "read_cgroup", "read_proc_sys", "sysctl_text"]

FORMAT = 1
"""Version of the snapshot JSON layout (the ``gclens_snapshot`` key)."""

CGROUP_V2_FILES = (
    "memory.max", "memory.high", "memory.low", "memory.min", "memory.current", "memory.peak",
    "memory.swap.max", "memory.swap.current", "memory.events", "memory.pressure",
    "cpu.max", "cpu.weight", "cpu.stat", "cpu.pressure", "cpuset.cpus.effective",
    "pids.max", "pids.current", "pids.events", "io.pressure",
)
CGROUP_V1_FILES = {
    "memory": ("memory.limit_in_bytes", "memory.soft_limit_in_bytes", "memory.usage_in_bytes",
               "memory.max_usage_in_bytes", "memory.memsw.limit_in_bytes", "memory.failcnt",
               "memory.oom_control", "memory.swappiness"),
    "cpu": ("cpu.cfs_quota_us", "cpu.cfs_period_us", "cpu.shares", "cpu.stat"),
    "cpuacct": ("cpuacct.usage",),
    "cpuset": ("cpuset.effective_cpus",),
    "pids": ("pids.max", "pids.current", "pids.events"),
}
THP_FILES = ("enabled", "defrag", "shmem_enabled", "use_zero_page", "hpage_pmd_size",
             "khugepaged/defrag", "khugepaged/max_ptes_none", "khugepaged/pages_to_scan",
             "khugepaged/scan_sleep_millisecs")
MAX_VALUE_BYTES = 64 * 1024
"""A /proc/sys file larger than this is recorded as truncated (none is, on 6.x kernels)."""


def capture(pid: int | None = None, *, root: str | os.PathLike[str] = "/") -> dict[str, Any]:
    """Take one snapshot of the host and, when ``pid`` is given, of that process."""
    base = Path(root)
    start = _clocks()
    snap: dict[str, Any] = {
        "gclens_snapshot": FORMAT,
        "captured": start,
        "boot_id": _read(base / "proc/sys/kernel/random/boot_id")[0],
        "hostname": socket.gethostname() if base == Path("/") else _read(base / "proc/sys/kernel/hostname")[0],
        "kernel": _read(base / "proc/sys/kernel/osrelease")[0],
        "cpu_count": os.cpu_count(),
        "pid": pid,
        "sysctl": {}, "sysctl_errors": {},
    }
    if pid is not None:
        _require_running(base, pid)
    snap["sysctl"], snap["sysctl_errors"] = read_proc_sys(base / "proc/sys")
    snap["meminfo"] = _meminfo(base)
    snap["pressure"] = _files(base / "proc/pressure", ("cpu", "memory", "io"))
    snap["thp"] = _files(base / "sys/kernel/mm/transparent_hugepage", THP_FILES)
    snap["debugfs_sched"] = _debugfs_sched(base)
    target = f"proc/{pid}" if pid is not None else "proc/self"
    snap["cgroup"] = read_cgroup(base, target)
    if pid is not None:
        snap["process"] = _process(base, pid)
        snap["limits"] = _limits(base / f"proc/{pid}/limits")
        snap["env"] = _go_env(base / f"proc/{pid}/environ")
    snap["captured_end"] = _clocks()
    return snap


def _require_running(base: Path, pid: int) -> None:
    """A pid that is gone, or exited and not yet reaped (a zombie has no settings left), is an error."""
    stat, _ = _read(base / f"proc/{pid}/stat")
    if stat is None:
        raise InputError(f"no process with pid {pid} (nothing under {base / 'proc' / str(pid)})")
    if stat[stat.rindex(")") + 2:].startswith(("Z", "X")):
        raise InputError(f"process {pid} has exited (it is a zombie waiting for its parent)")


def capture_every(pid: int | None, seconds: float, *, root: str | os.PathLike[str] = "/",
                  count: int | None = None) -> Iterator[dict[str, Any]]:
    """Snapshots every ``seconds`` until the process exits (or ``count`` were taken)."""
    taken = 0
    while count is None or taken < count:
        began = time.monotonic()
        try:
            yield capture(pid, root=root)
        except InputError:
            if taken:  # the process exited between two captures: the series is complete
                return
            raise
        taken += 1
        time.sleep(max(0.0, seconds - (time.monotonic() - began)))


def dumps(snapshot: dict[str, Any]) -> str:
    """One snapshot as one JSON line (the format of ``--every`` files)."""
    return json.dumps(snapshot, sort_keys=True, separators=(",", ":")) + "\n"


def sysctl_text(snapshot: dict[str, Any]) -> str:
    """The snapshot's sysctls as ``sysctl -a`` text under a header that keeps its clocks and boot, so
    that a text snapshot can be placed on a run's timeline like the JSON one."""
    from datetime import UTC, datetime

    clocks = snapshot["captured"]
    stamp = datetime.fromtimestamp(clocks["realtime_ns"] / 1e9, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    pid = snapshot.get("pid")
    head = (f"# gclens snapshot {stamp} boot_id={snapshot.get('boot_id')} monotonic_ns={clocks['monotonic_ns']} "
            f"host={snapshot.get('hostname')} pid={pid if pid is not None else 'host'}")
    lines = [head]
    for key, value in sorted(snapshot.get("sysctl", {}).items()):
        lines += [f"{key} = {part}" for part in (value.split("\n") or [""])]
    lines += [f"sysctl: permission denied on key '{key}'" for key, error in
              sorted(snapshot.get("sysctl_errors", {}).items()) if error in ("EACCES", "EPERM")]
    return "\n".join(lines) + "\n"


def _clocks() -> dict[str, Any]:
    """The three clocks read back to back; their differences convert between timelines."""
    return {
        "realtime_ns": time.clock_gettime_ns(time.CLOCK_REALTIME),
        "monotonic_ns": time.clock_gettime_ns(time.CLOCK_MONOTONIC),
        "boottime_ns": time.clock_gettime_ns(time.CLOCK_BOOTTIME),
    }


def _read(path: Path) -> tuple[str | None, str | None]:
    """(value, None) or (None, errno name): one file, never raising."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_VALUE_BYTES + 1)
    except OSError as exc:
        return None, errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    if len(data) > MAX_VALUE_BYTES:
        return None, "ETOOBIG"
    return data.decode("utf-8", "replace").rstrip("\n"), None


def read_proc_sys(top: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Every readable file under /proc/sys as ``sysctl -a`` keys, and the errors of the rest."""
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for path in _walk(top):
        key = proc_sys_key(path.relative_to(top))
        try:
            mode = path.stat().st_mode
        except OSError as exc:
            errors[key] = errno.errorcode.get(exc.errno or 0, "OSError")
            continue
        if not mode & 0o444:
            continue  # write-only triggers (vm.drop_caches, vm.compact_memory): nothing to read
        value, error = _read(path)
        if error is not None:
            errors[key] = error
        elif value is not None:
            values[key] = value
    return values, errors


def proc_sys_key(relative: Path) -> str:
    """``net/ipv4/conf/eth9.100/forwarding`` -> ``net.ipv4.conf.eth9/100.forwarding`` (procps rule)."""
    return ".".join(part.replace(".", "/") for part in relative.parts)


def _walk(top: Path) -> Iterator[Path]:
    try:
        entries = sorted(os.scandir(top), key=lambda e: e.name)
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from _walk(Path(entry.path))
        elif entry.is_file(follow_symlinks=False):
            yield Path(entry.path)


def _files(directory: Path, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in names:
        value, error = _read(directory / name)
        out[name] = value if error is None else {"error": error}
    return out


def _meminfo(base: Path) -> dict[str, int]:
    text, _ = _read(base / "proc/meminfo")
    out: dict[str, int] = {}
    for line in (text or "").splitlines():
        name, _, rest = line.partition(":")
        parts = rest.split()
        if parts and parts[0].isdigit():
            out[name] = int(parts[0]) * (1024 if parts[1:] == ["kB"] else 1)
    return out


def _debugfs_sched(base: Path) -> dict[str, Any]:
    """The CFS tunables that left /proc/sys in 5.13; 'absent' and 'EPERM' are kept apart."""
    top = base / "sys/kernel/debug/sched"
    try:
        names = sorted(e.name for e in os.scandir(top) if e.is_file())
    except OSError as exc:
        return {"error": errno.errorcode.get(exc.errno or 0, "OSError")}
    return _files(top, tuple(names))


def read_cgroup(base: Path, target: str) -> dict[str, Any]:
    """The target's cgroup files for v2, v1 or both (hybrid), with where each was found."""
    membership, error = _read(base / target / "cgroup")
    if error is not None:
        return {"error": error}
    mounts = _cgroup_mounts(base)
    v1: dict[str, Any] = {}
    v2: dict[str, Any] = {}
    for line in (membership or "").splitlines():
        hierarchy, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        rel = path.lstrip("/")
        if hierarchy == "0" and controllers == "" and "cgroup2" in mounts:
            directory = base / mounts["cgroup2"].lstrip("/") / rel
            v2 = {"path": path, "dir": str(directory), "files": _present(directory, CGROUP_V2_FILES)}
        for controller in controllers.split(","):
            if controller in CGROUP_V1_FILES and controller in mounts:
                directory = base / mounts[controller].lstrip("/") / rel
                v1[controller] = {"path": path, "files": _present(directory, CGROUP_V1_FILES[controller])}
    version = "hybrid" if v1 and v2.get("files") else "v1" if v1 else "v2" if v2 else "none"
    return {"version": version, "v2": v2, "v1": v1}


def _present(directory: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """Files that exist in the cgroup directory (an empty v2 hierarchy has no controller files)."""
    found = _files(directory, names)
    return {k: v for k, v in found.items() if not (isinstance(v, dict) and v.get("error") == "ENOENT")}


def _cgroup_mounts(base: Path) -> dict[str, str]:
    """Controller (or 'cgroup2') -> mount point, from /proc/self/mountinfo."""
    text, _ = _read(base / "proc/self/mountinfo")
    mounts: dict[str, str] = {}
    for line in (text or "").splitlines():
        fields, _, tail = line.partition(" - ")
        parts, tail_parts = fields.split(), tail.split()
        if len(parts) < 5 or len(tail_parts) < 3:
            continue
        fstype, options = tail_parts[0], tail_parts[2].split(",")
        if fstype == "cgroup2":
            mounts.setdefault("cgroup2", parts[4])
        elif fstype == "cgroup":
            for option in options:
                mounts.setdefault(option, parts[4])
    return mounts


def _process(base: Path, pid: int) -> dict[str, Any]:
    """Start time (CLOCK_BOOTTIME at fork, 10 ms ticks: a lower bound of the runtime start)."""
    stat, error = _read(base / f"proc/{pid}/stat")
    if stat is None:
        return {"error": error}
    comm = stat[stat.index("(") + 1:stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2:].split()
    ticks = os.sysconf("SC_CLK_TCK")
    status, _ = _read(base / f"proc/{pid}/status")
    info = dict(line.split(":", 1) for line in (status or "").splitlines() if ":" in line)
    namespaces = {}
    for ns in ("net", "ipc", "pid", "mnt", "time"):
        try:
            namespaces[ns] = os.readlink(base / f"proc/{pid}/ns/{ns}")
        except OSError as exc:
            namespaces[ns] = errno.errorcode.get(exc.errno or 0, "OSError")
    return {
        "comm": comm,
        "start_boottime_ns": int(fields[19]) * 1_000_000_000 // ticks,
        "threads": int(fields[17]),
        "rss_bytes": _kib(info.get("VmRSS")),
        "hwm_bytes": _kib(info.get("VmHWM")),
        "namespaces": namespaces,
    }


def _kib(value: str | None) -> int | None:
    parts = (value or "").split()
    return int(parts[0]) * 1024 if parts and parts[0].isdigit() else None


def _limits(path: Path) -> dict[str, Any]:
    """/proc/PID/limits: 'Max open files  1024  1048576  files' -> soft/hard/units."""
    text, error = _read(path)
    if text is None:
        return {"error": error}
    out: dict[str, Any] = {}
    for line in text.splitlines()[1:]:
        name, rest = line[:26].strip(), line[26:].split()
        if name and len(rest) >= 2:
            out[name] = {"soft": rest[0], "hard": rest[1], "units": rest[2] if len(rest) > 2 else ""}
    return out


def _go_env(path: Path) -> dict[str, Any]:
    """GO* variables only: the rest of an environment may hold secrets."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        return {"error": errno.errorcode.get(exc.errno or 0, "OSError")}
    env = {}
    for item in raw.split(b"\0"):
        name, sep, value = item.decode("utf-8", "replace").partition("=")
        if sep and name.startswith("GO"):
            env[name] = value
    return env
