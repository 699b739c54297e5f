"""Findings from settings snapshots read beside the trace: the kernel, cgroup and Go knobs that
make GC pauses long or GC CPU high, each with its evidence and what to change.

Every rule reads the snapshots in effect for a run (from the ``gc_settings`` as-of join, or every
snapshot when no cycle could be placed on the snapshots' clock) and returns finding rows in the
same shape as ``evaluate`` (``FINDINGS_SCHEMA``), so ``check`` and ``report`` show them together.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import polars as pl

from gclens.analysis._common import RUN
from gclens.analysis._finding import FINDINGS_SCHEMA
from gclens.analysis._finding import finding as _finding
from gclens.analysis._settings_base import Finding, RunContext, SettingsRule, Snapshot, _int, _rule
from gclens.analysis.guide_settings_rules import GUIDE_RULES
from gclens.analysis.limits import Limits
from gclens.context.settings import parse_bytes
from gclens.pipeline.trace import Trace

__all__ = ["KERNEL_DOCS", "RULES", "cpu_quota", "memory_limit", "rule_ids", "settings_findings"]

KERNEL_DOCS = "https://docs.kernel.org/admin-guide/cgroup-v2.html"
_TOO_CLOSE = 0.9


def settings_findings(trace: Trace, settings: pl.DataFrame, gc_settings: pl.DataFrame | None = None,
                      limits: Limits | None = None) -> pl.DataFrame:
    """Every settings rule for every run of ``trace`` against the snapshots in ``settings``."""
    limits = limits or Limits()
    rows: list[dict[str, Any]] = []
    for context in _contexts(trace, settings, gc_settings, limits):
        for rule in RULES:
            for item in rule(context):
                rule_id, severity, value, limit, unit, evidence, message, remediation, ref = item
                t = context.gc.filter(pl.col("gc_num").is_in(evidence))["t_s"] if evidence else None
                span = (t.min(), t.max()) if t is not None and len(t) else (None, None)
                rows.append(_finding(rule_id, severity, {"source": context.source, "run_id": context.run_id},
                                     value, limit, unit, span, evidence, message, remediation, ref))  # type: ignore[arg-type]
    return pl.DataFrame(rows, schema=FINDINGS_SCHEMA)


def _contexts(trace: Trace, settings: pl.DataFrame, gc_settings: pl.DataFrame | None,
              limits: Limits) -> Iterator[RunContext]:
    snaps = _snapshots(settings)
    if not snaps:
        return
    joined = gc_settings if gc_settings is not None else pl.DataFrame()
    runs = trace.gc.select(RUN).unique(maintain_order=True).iter_rows() if trace.gc.height else [(None, None)]
    for source, run_id in runs:
        gc = trace.gc.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
        placed = joined.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)) if joined.height else joined
        ids = [i for i in placed["snapshot_id"].unique(maintain_order=True).to_list() if i] if placed.height else []
        if ids:
            gc = gc.join(placed.select("gc_num", "snapshot_id"), on="gc_num", how="left")
            order = [i for i, _ in snaps]
            positions = [order.index(i) for i in ids if i in order]
            chosen = snaps[min(positions):max(positions) + 2]  # and the capture after: it closes the last interval
        else:
            gc = gc.with_columns(pl.lit(None, pl.String).alias("snapshot_id"))
            chosen = snaps
        sched = trace.sched.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
        threads = sched["threads"].max() if sched.height else None
        yield RunContext(source, run_id, chosen, gc, int(threads) if threads is not None else None,  # type: ignore[arg-type]
                         limits)


def _snapshots(settings: pl.DataFrame) -> list[tuple[str, Snapshot]]:
    ordered = settings.filter(pl.col("value").is_not_null())
    out: dict[str, Snapshot] = {}
    for snapshot_id, key, value in ordered.select("snapshot_id", "key", "value").iter_rows():
        out.setdefault(snapshot_id, {})[key] = value
    errors = settings.filter(pl.col("error").is_not_null())
    for snapshot_id, key, error in errors.select("snapshot_id", "key", "error").iter_rows():
        out.setdefault(snapshot_id, {})[f"!{key}"] = error
    return list(out.items())


def memory_limit(values: Snapshot) -> tuple[int | None, str]:
    """The cgroup hard memory limit in bytes (None when unlimited) and the file it came from."""
    if "memory.max" in values:
        return parse_bytes(values["memory.max"]), "memory.max"
    return parse_bytes(values.get("memory.limit_in_bytes")), "memory.limit_in_bytes"


def cpu_quota(values: Snapshot) -> tuple[float | None, str]:
    """CPUs granted by the CFS quota (None when unlimited): cpu.max or cpu.cfs_quota_us/period."""
    if "cpu.max" in values:
        quota, _, period = values["cpu.max"].partition(" ")
        if quota != "max" and _int(quota) and _int(period):
            return int(quota) / int(period), f"cpu.max = {values['cpu.max']}"
        return None, "cpu.max"
    quota_us, period_us = _int(values.get("cpu.cfs_quota_us")), _int(values.get("cpu.cfs_period_us"))
    if quota_us and quota_us > 0 and period_us:
        return quota_us / period_us, f"cpu.cfs_quota_us = {quota_us}, cpu.cfs_period_us = {period_us}"
    return None, "cpu.cfs_quota_us"


@_rule("gomemlimit-headroom")
def _gomemlimit(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    limit, where = memory_limit(values)
    gomemlimit = parse_bytes(values.get("GOMEMLIMIT"))
    high = parse_bytes(values.get("memory.high"))
    remedy = ("Set GOMEMLIMIT to about 90 % of the container limit minus non-heap memory (goroutine "
              "stacks, cgo, mapped files), and keep memory.high above it.")
    ref = "https://go.dev/doc/gc-guide#Suggested_uses"
    if limit is None or gomemlimit is None:
        if limit is not None and "GOMEMLIMIT" not in values and "env.error" not in values and _has_env(values):
            yield ("gomemlimit-headroom", "info", limit / 2**20, limit / 2**20, "MiB", [],
                   f"{where} is {limit / 2**20:.0f} MiB but GOMEMLIMIT is not set ({snapshot_id}): the GC "
                   "does not know about the container limit and the kernel will OOM-kill first", remedy, ref)
        return
    share = gomemlimit / limit
    if share > _TOO_CLOSE:
        severity = "error" if share >= 1 else "warning"
        yield ("gomemlimit-headroom", severity, share * 100, _TOO_CLOSE * 100, "%", [],
               f"GOMEMLIMIT {gomemlimit / 2**20:.0f} MiB is {share * 100:.0f} % of {where} "
               f"{limit / 2**20:.0f} MiB ({snapshot_id}): no headroom for non-heap memory", remedy, ref)
    if high is not None and gomemlimit > high:
        yield ("gomemlimit-headroom", "warning", gomemlimit / 2**20, high / 2**20, "MiB", [],
               f"GOMEMLIMIT {gomemlimit / 2**20:.0f} MiB is above memory.high {high / 2**20:.0f} MiB: "
               "the kernel throttles and reclaims before the GC reacts", remedy, KERNEL_DOCS)


def _has_env(values: Snapshot) -> bool:
    return any(k.startswith("process.") for k in values)


@_rule("gomaxprocs-over-quota")
def _gomaxprocs(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    quota, where = cpu_quota(values)
    procs = ctx.gc["procs"].max() if ctx.gc.height else None
    if quota is None or procs is None:
        return
    allowed = max(1, math.ceil(quota))
    if int(procs) > allowed:  # type: ignore[arg-type]
        yield ("gomaxprocs-over-quota", "warning", float(procs), float(allowed), "P", [],  # type: ignore[arg-type]
               f"GOMAXPROCS {procs!s} (from the trace) exceeds the CPU quota of {quota:.2f} CPUs ({where}, "
               f"{snapshot_id}): GC workers and goroutines get throttled mid-period, stretching pauses",
               "Set GOMAXPROCS to the quota rounded up (Go 1.25+ does so itself unless GOMAXPROCS is set or "
               "the main module's go version is older; earlier Go: go.uber.org/automaxprocs).",
               "https://go.dev/doc/go1.25#runtime")


@_rule("throttled-during-pauses")
def _throttling(ctx: RunContext) -> Iterator[Finding]:
    over = ctx.gc.filter(pl.col("stw_ms") > ctx.limits.max_stw_ms)
    for (before_id, before), (after_id, after) in zip(ctx.snapshots, ctx.snapshots[1:], strict=False):
        throttled = _throttled_ms(after) - _throttled_ms(before)
        periods = (_int(after.get("cpu.stat.nr_throttled")) or 0) - (_int(before.get("cpu.stat.nr_throttled")) or 0)
        if throttled <= 0 and periods <= 0:
            continue
        placed = ctx.gc["snapshot_id"].null_count() < ctx.gc.height  # else no clock: every cycle may be between
        between = over.filter(pl.col("snapshot_id") == before_id) if placed else over
        if between.height:
            yield ("throttled-during-pauses", "error", throttled, 0.0, "ms", between["gc_num"].to_list(),
                   f"the cgroup was throttled {periods} times ({throttled:.0f} ms) between {before_id} and "
                   f"{after_id}, while {between.height} cycles paused longer than {ctx.limits.max_stw_ms:g} ms",
                   "Raise cpu.max (quota) or lower GOMAXPROCS to the quota: a throttled STW phase waits for "
                   "the next CFS period (golang/go#19378).", "https://github.com/golang/go/issues/19378")


def _throttled_ms(values: Snapshot) -> float:
    if "cpu.stat.throttled_usec" in values:
        return (_int(values["cpu.stat.throttled_usec"]) or 0) / 1e3
    return (_int(values.get("cpu.stat.throttled_time")) or 0) / 1e6  # cgroup v1 reports ns


@_rule("thread-limits")
def _threads(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    threads = ctx.threads_max or _int(values.get("process.threads"))
    limits = {k: _int(values.get(k)) for k in ("kernel.threads-max", "kernel.pid_max", "pids.max")}
    limits["ulimit -u (RLIMIT_NPROC, per user)"] = _int(values.get("limits.max_processes.soft"))
    limits["Go's default SetMaxThreads"] = 10000
    known = {k: v for k, v in limits.items() if v and v > 0}
    if threads is None or not known:
        return
    name, limit = min(known.items(), key=lambda kv: kv[1])
    if threads >= 0.8 * limit:
        yield ("thread-limits", "error", float(threads), float(limit), "threads", [],
               f"{threads} OS threads seen, {threads / limit * 100:.0f} % of {name} = {limit} ({snapshot_id}): "
               "one more blocking syscall can kill the process ('failed to create new OS thread')",
               "Find what blocks threads (syscalls, cgo); raise pids.max / kernel.threads-max only after that.",
               "https://pkg.go.dev/runtime/debug#SetMaxThreads")


@_rule("swap-with-swappiness")
def _swappiness(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    swap = _int(values.get("meminfo.SwapTotal")) or 0
    swappiness = _int(values.get("memory.swappiness")) if "memory.swappiness" in values else None
    swappiness = swappiness if swappiness is not None else _int(values.get("vm.swappiness"))
    if swap > 0 and swappiness is not None and swappiness > 10 and values.get("memory.swap.max") != "0":
        yield ("swap-with-swappiness", "warning", float(swappiness), 10.0, "", [],
               f"swap is on ({swap / 2**20:.0f} MiB) with swappiness {swappiness} ({snapshot_id}): GC marking "
               "touches the whole live heap every cycle, so swapped-out heap pages are faulted back in",
               "Set memory.swap.max=0 for the service's cgroup or vm.swappiness to 0-10.", KERNEL_DOCS)


@_rule("overcommit-strict")
def _overcommit(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    if values.get("vm.overcommit_memory") == "2":
        yield ("overcommit-strict", "warning", 2.0, 1.0, "", [],
               f"vm.overcommit_memory = 2 (strict accounting, {snapshot_id}): Go reserves address space "
               "up front and large processes fail fork/exec with ENOMEM (golang/go#12233)",
               "Use vm.overcommit_memory = 0 (heuristic) or 1, or raise vm.overcommit_ratio with care.",
               "https://github.com/golang/go/issues/12233")


@_rule("thp-settings")
def _thp(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    enabled, defrag = values.get("thp.enabled"), values.get("thp.defrag")
    if enabled == "always" and defrag == "always":
        yield ("thp-settings", "warning", 1.0, 0.0, "", [],
               f"transparent huge pages enabled=always with defrag=always ({snapshot_id}): page faults "
               "stall in direct compaction, which looks like GC or allocation latency",
               "Use defrag=madvise (or defer+madvise); keep enabled=madvise unless measured otherwise.",
               "https://go.dev/doc/gc-guide#Linux_transparent_huge_pages")
    ptes = _int(values.get("thp.khugepaged.max_ptes_none"))
    if enabled == "always" and ptes is not None and ptes >= 511:
        yield ("thp-settings", "info", float(ptes), 0.0, "pages", [],
               f"THP enabled=always with khugepaged max_ptes_none={ptes} ({snapshot_id}): khugepaged can "
               "collapse sparse heap into huge pages and RSS grows past what the GC returned",
               "Set max_ptes_none=0, or GODEBUG=disablethp=1 (Go 1.21.6+) for this service.",
               "https://go.dev/doc/gc-guide#Linux_transparent_huge_pages")


@_rule("somaxconn-low")
def _somaxconn(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    backlog = _int(values.get("net.core.somaxconn"))
    if backlog is not None and backlog < 1024:
        yield ("somaxconn-low", "warning", float(backlog), 1024.0, "connections", [],
               f"net.core.somaxconn = {backlog} ({snapshot_id}): Go's net package uses it as every listener's "
               "backlog, so bursts of connections (e.g. during a long pause) are dropped. Per network namespace: "
               "a host snapshot does not describe a pod",
               "Raise net.core.somaxconn (4096 is the default since Linux 5.4).",
               "https://pkg.go.dev/net#Listen")


_SCHED_KEYS = ("kernel.sched_latency_ns", "kernel.sched_min_granularity_ns", "kernel.sched_wakeup_granularity_ns")


@_rule("sched-tunables-moved")
def _sched_tunables(ctx: RunContext) -> Iterator[Finding]:
    snapshot_id, values = ctx.latest
    named = [k for k in _SCHED_KEYS if k in values or f"!{k}" in values]
    if named:
        state = "absent" if all(f"!{k}" in values for k in named) else "present"
        yield ("sched-tunables-moved", "info", float(len(named)), 0.0, "keys", [],
               f"{', '.join(named)} {state} in {snapshot_id}: since Linux 5.13 these are not sysctls (debugfs "
               "/sys/kernel/debug/sched/), and since 6.6 (EEVDF) latency_ns and wakeup_granularity_ns are gone "
               "and min_granularity_ns is base_slice_ns: tuning guides that set them no longer apply",
               "Tune CPU contention with cpu.max / cpu.weight and GOMAXPROCS instead.",
               "https://docs.kernel.org/scheduler/sched-eevdf.html")


RULES: tuple[SettingsRule, ...] = (_gomemlimit, _gomaxprocs, _throttling, _threads, _swappiness, _overcommit,
                                   _thp, _somaxconn, _sched_tunables, *GUIDE_RULES)
"""Each rule reads one run's snapshots and yields findings; add a function here (and its claim to
``guide_claims.CLAIMS``) to add a rule."""


def rule_ids() -> tuple[str, ...]:
    """Every finding id a settings rule can yield, in rule order."""
    return tuple(i for rule in RULES for i in rule.ids)
