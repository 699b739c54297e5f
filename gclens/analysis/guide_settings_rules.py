"""Settings rules for the tuning guide's checkable claims that the first rules did not cover.

Each rule checks one claim of the tuning guide (shared/tuning-guide.md), with our verdict: where
the guide is right its value is checked, where it is wrong the rule checks the correction (see
``guide_claims.CLAIMS``, which names the rule of every claim).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import polars as pl

from gclens.analysis._settings_base import Finding, RunContext, SettingsRule, Snapshot, _int, _rule

__all__ = ["GUIDE_RULES", "cpuset_size", "godebug"]

RUNTIME_DOCS = "https://pkg.go.dev/runtime#hdr-Environment_Variables"
PID_SHARE = 0.8
"""Share of the PID limit in use at which ``pid-capacity`` warns, as ``thread-limits`` does for threads."""
NOFILE_MIN = 65536
"""The tuning guide's LimitNOFILE floor (§2, GOMEMLIMIT bullet)."""


def godebug(values: Snapshot) -> dict[str, str]:
    """The GODEBUG settings of a snapshot's environment, ``{"gctrace": "1", ...}`` (later wins, as in
    the runtime)."""
    pairs = (item.partition("=") for item in values.get("GODEBUG", "").split(",") if item.strip())
    return {key.strip(): value.strip() for key, _, value in pairs}


def cpuset_size(text: str | None) -> int | None:
    """CPUs in a cpuset list such as ``0-3,8,10-11`` (None when absent or unreadable)."""
    if not text or not re.fullmatch(r"\d+(?:-\d+)?(?:,\d+(?:-\d+)?)*", text.strip()):
        return None
    count = 0
    for part in text.strip().split(","):
        lo, _, hi = part.partition("-")
        count += int(hi or lo) - int(lo) + 1
    return count


@_rule("gomaxprocs-over-cpus")
def _gomaxprocs_cpus(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    cpuset = values.get("cpuset.cpus.effective") or values.get("cpuset.effective_cpus")
    cpus, where = cpuset_size(cpuset), f"the cpuset {cpuset}"
    if cpus is None:
        cpus, where = _int(values.get("host.cpu_count")), "the host's CPU count"
    procs = ctx.gc["procs"].max() if ctx.gc.height else None
    if cpus is None or procs is None or int(procs) <= cpus:  # type: ignore[arg-type]
        return
    yield ("gomaxprocs-over-cpus", "warning", float(procs), float(cpus), "P", [],  # type: ignore[arg-type]
           f"GOMAXPROCS {procs!s} (from the trace) exceeds {where} = {cpus} CPUs ({snapshot_id}): the runtime "
           "sizes GC workers (25 % of P) and stop-the-world waits on threads the kernel cannot run at once",
           "Leave GOMAXPROCS unset (the runtime reads the CPU affinity mask at start) or set it to the CPUs the "
           "process may use (nproc; one NUMA node's CPUs when pinned with numactl).",
           "https://pkg.go.dev/runtime#GOMAXPROCS")


@_rule("pid-capacity")
def _pid_capacity(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    used = _int(values.get("pids.current"))
    limits = {k: _int(values.get(k)) for k in ("pids.max", "kernel.pid_max", "kernel.threads-max")}
    known = {k: v for k, v in limits.items() if v and v > 0}
    if used is None or not known:
        return
    name, limit = min(known.items(), key=lambda kv: kv[1])
    if used >= PID_SHARE * limit:
        yield ("pid-capacity", "warning", float(used), float(limit), "pids", [],
               f"the cgroup uses {used} PIDs (threads, cgo and exec children included), {used / limit * 100:.0f} % "
               f"of {name} = {limit} ({snapshot_id}): the next clone fails with EAGAIN and Go dies with "
               "'failed to create new OS thread'",
               "Find what holds threads or children; then raise pids.max or kernel.pid_max (the guide suggests "
               "65536 for high-concurrency services, 131072 in containers: its opinion, not a rule).",
               "https://docs.kernel.org/admin-guide/sysctl/kernel.html#pid-max")


@_rule("nofile-limit")
def _nofile(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    hard = values.get("limits.max_open_files.hard")
    number = _int(hard)
    if hard is None or hard == "unlimited" or number is None or number >= NOFILE_MIN:
        return
    yield ("nofile-limit", "info", float(number), float(NOFILE_MIN), "files", [],
           f"the hard open-files limit is {number} ({snapshot_id}), below the tuning guide's LimitNOFILE >= "
           f"{NOFILE_MIN}. Go 1.19+ raises the soft limit to the hard one at start (syscall/rlimit.go), so the "
           "hard limit is the process's real ceiling for sockets and files",
           "Raise LimitNOFILE= in the systemd unit (or the container's nofile ulimit); the soft limit follows.",
           "https://go.dev/issue/46279")


@_rule("godebug-sigpipe")
def _sigpipe(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    if "sigpipe" in godebug(values):
        yield ("godebug-sigpipe", "info", 1.0, 0.0, "", [],
               f"GODEBUG sets sigpipe={godebug(values)['sigpipe']} ({snapshot_id}): there is no such GODEBUG "
               "setting (the tuning guide recommends it); the runtime ignores it. A write to a closed socket "
               "returns EPIPE in Go; only writes to stdout/stderr die of SIGPIPE",
               "Drop sigpipe from GODEBUG; to survive a closed stdout, use signal.Ignore(syscall.SIGPIPE).",
               "https://pkg.go.dev/os/signal#hdr-SIGPIPE")


@_rule("godebug-gcstoptheworld")
def _stop_the_world(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    level = godebug(values).get("gcstoptheworld", "0")
    if level not in ("", "0"):
        sweep = " and sweeping stops it too" if level == "2" else ""
        yield ("godebug-gcstoptheworld", "warning", float(_int(level) or 1), 0.0, "", ctx.gc["gc_num"].to_list(),
               f"GODEBUG gcstoptheworld={level} ({snapshot_id}): every cycle stops the world for all of its "
               f"marking{sweep}; the tuning guide's '2 pauses 2 ms before each GC' is wrong. Every pause in this "
               "trace is that debug setting's, not the service's",
               "Remove gcstoptheworld from GODEBUG outside debugging sessions.", RUNTIME_DOCS)


@_rule("godebug-asyncpreemptoff")
def _asyncpreemptoff(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    if godebug(values).get("asyncpreemptoff") != "1":
        return
    limit = ctx.limits.max_stw_ms
    long = ctx.gc.filter(pl.col("clock_sweep_term_ms") > limit) if "clock_sweep_term_ms" in ctx.gc.columns \
        else ctx.gc.clear()
    worst = long["clock_sweep_term_ms"].max() if long.height else 0.0
    yield ("godebug-asyncpreemptoff", "warning" if long.height else "info", float(worst), limit, "ms",  # type: ignore[arg-type]
           long["gc_num"].to_list(),
           f"GODEBUG asyncpreemptoff=1 ({snapshot_id}): a goroutine in a loop without calls cannot be stopped, so "
           f"stop-the-world waits for it; {long.height} sweep-termination pauses here exceed {limit:g} ms. The "
           "tuning guide's recipe (with GOTRACEBACK=crash) holds for debugging, not for production",
           "Remove asyncpreemptoff from GODEBUG once the latency spike is found.", RUNTIME_DOCS)


GUIDE_RULES: tuple[SettingsRule, ...] = (_gomaxprocs_cpus, _pid_capacity, _nofile, _sigpipe, _stop_the_world,
                                         _asyncpreemptoff)
"""The rules of this module, in the order ``settings_rules.RULES`` runs them."""
