"""The live KPIs as OpenMetrics/Prometheus metrics, served by the official ``prometheus_client``.

Every metric carries ``source`` and ``run_id`` (one process lifetime in one source), as every
table does. The registry is gclens's own (not the library's global one), so a notebook can run
several sessions; ``serve`` binds 127.0.0.1 unless told otherwise: the metrics describe a
process, not something to publish to the network by default.
"""

from __future__ import annotations

from typing import Any

import polars as pl
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from gclens.live._state import Finding, LiveKpis

__all__ = ["METRIC_NAMES", "STW_BUCKETS_S", "Metrics"]

STW_BUCKETS_S = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0)
"""Pause buckets around the 1 ms line (Go's pauses are tens of µs to tens of ms)."""
_RUN = ("source", "run_id")
_MIB = 1 << 20


class Metrics:
    """The metrics of one session; ``state.on_*`` callbacks feed them from the pipeline's thread."""

    def __init__(self, registry: CollectorRegistry | None = None, *, windows_s: tuple[float, float] = (10.0, 60.0),
                 ) -> None:
        self.registry = registry or CollectorRegistry()
        self.windows = tuple(f"{w:g}s" for w in windows_s)
        r = self.registry
        self.cycles = Counter("gclens_gc_cycles", "GC cycles completed (gc lines parsed).", _RUN, registry=r)
        self.forced = Counter("gclens_gc_forced_cycles", "Forced GC cycles (runtime.GC).", _RUN, registry=r)
        self.stw = Histogram("gclens_stw_seconds", "Stop-the-world pause per cycle (sweep + mark termination).",
                             _RUN, buckets=STW_BUCKETS_S, registry=r)
        self.gc_cpu = Gauge("gclens_gc_cpu_ratio", "GC CPU / CPU capacity over the window ending at the last "
                            "cycle (from the gc line's CPU fields).", (*_RUN, "window"), registry=r)
        self.heap_live = Gauge("gclens_heap_live_bytes", "Heap marked live by the last cycle.", _RUN, registry=r)
        self.heap_goal = Gauge("gclens_heap_goal_bytes", "Heap goal of the last cycle.", _RUN, registry=r)
        self.runtime_s = Gauge("gclens_runtime_seconds", "End of the last cycle, seconds since runtime start.",
                               _RUN, registry=r)
        self.gomaxprocs = Gauge("gclens_gomaxprocs", "GOMAXPROCS (last SCHED line).", _RUN, registry=r)
        self.threads = Gauge("gclens_sched_threads", "OS threads (last SCHED line).", _RUN, registry=r)
        self.runqueue = Gauge("gclens_sched_runqueue", "Runnable goroutines queued (last SCHED line): the global "
                              "queue, or the sum of the Ps' local queues.", (*_RUN, "queue"), registry=r)
        self.findings = Counter("gclens_findings", "Findings fired while watching, by rule.", ("rule",), registry=r)
        self.rejects = Counter("gclens_rejected_lines", "Runtime lines that could not be parsed.", ("source",),
                               registry=r)
        self.server: Any = None

    def on_cycles(self, key: tuple[str, int], rows: pl.DataFrame, kpis: LiveKpis) -> None:
        labels = (key[0], str(key[1]))
        self.cycles.labels(*labels).inc(rows.height)
        self.forced.labels(*labels).inc(int(rows["forced"].fill_null(False).sum()))
        for stw_ms in rows["stw_ms"].drop_nulls().to_list():
            self.stw.labels(*labels).observe(stw_ms / 1000)
        for window, ratio in zip(self.windows, (kpis.gc_cpu_short, kpis.gc_cpu_long), strict=True):
            if ratio is not None:
                self.gc_cpu.labels(*labels, window).set(ratio)
        if kpis.heap_live_mib is not None:
            self.heap_live.labels(*labels).set(kpis.heap_live_mib * _MIB)
        if kpis.heap_goal_mib is not None:
            self.heap_goal.labels(*labels).set(kpis.heap_goal_mib * _MIB)
        if kpis.t_s is not None:
            self.runtime_s.labels(*labels).set(kpis.t_s)

    def on_sched(self, key: tuple[str, int], last: dict[str, Any]) -> None:
        labels = (key[0], str(key[1]))
        for gauge, value in ((self.gomaxprocs, last["gomaxprocs"]), (self.threads, last["threads"])):
            if value is not None:
                gauge.labels(*labels).set(value)
        if last["runqueue"] is not None:
            self.runqueue.labels(*labels, "global").set(last["runqueue"])
        self.runqueue.labels(*labels, "local").set(last["local_runqueue_sum"])

    def on_finding(self, finding: Finding) -> None:
        self.findings.labels(finding.rule).inc()

    def on_rejects(self, source: str, count: int) -> None:
        self.rejects.labels(source).inc(count)

    def serve(self, port: int, addr: str = "127.0.0.1") -> int:
        """Serve /metrics on ``addr:port`` (0: any free port); return the port."""
        self.server, _ = start_http_server(port, addr=addr, registry=self.registry)
        return int(self.server.server_address[1])

    def close(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


METRIC_NAMES = ("gclens_gc_cycles_total", "gclens_gc_forced_cycles_total", "gclens_stw_seconds",
                "gclens_gc_cpu_ratio", "gclens_heap_live_bytes", "gclens_heap_goal_bytes", "gclens_runtime_seconds",
                "gclens_gomaxprocs", "gclens_sched_threads", "gclens_sched_runqueue", "gclens_findings_total",
                "gclens_rejected_lines_total")
