"""Every concrete claim of the tuning guide gclens grew from, judged, and how gclens checks it.

One entry per claim of shared/tuning-guide.md (a guide row may hold several claims): the guide's
value or formula, our verdict in the guide page's own words (``guide_says`` quotes it), why,
the source, and what checks it: a settings rule (``settings_rules``), a trace rule or analysis,
or nothing, with the reason. Where the guide is wrong the entry carries the correction and the
rule checks the correction, never the guide's value. ``gclens rules`` prints this catalogue;
tests hold it to the guide page and to the rules in both directions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal

import polars as pl

__all__ = ["CLAIMS", "KINDS", "VERDICTS", "Claim", "rules", "rules_catalogue"]

Kind = Literal["settings rule", "trace rule", "analysis", "trace column", "correction only", "not checkable"]
KINDS: tuple[str, ...] = ("settings rule", "trace rule", "analysis", "trace column", "correction only",
                          "not checkable")
VERDICTS = ("holds", "wrong", "inconsistent", "outdated", "unverified", "speculative", "no source", "opinion",
            "caveat", "fair", "not judged", "not in the guide")
"""``not judged``: the guide page states the claim without a verdict (``guide_says`` is empty)."""

KERNEL_VM = "https://docs.kernel.org/admin-guide/sysctl/vm.html"
KERNEL_KERNEL = "https://docs.kernel.org/admin-guide/sysctl/kernel.html"
RUNTIME_ENV = "https://pkg.go.dev/runtime#hdr-Environment_Variables"
GC_GUIDE = "https://go.dev/doc/gc-guide"
FORMATS = "shared/go-trace-formats.md; https://pkg.go.dev/runtime#hdr-Environment_Variables (gctrace)"


@dataclass(frozen=True)
class Claim:
    """One claim of the guide and gclens's answer to it."""

    section: str  # the guide's section number, or "gclens" for a rule the guide does not name
    row: str  # the guide's row: §1 table setting, §2 bullet title, §3-5 section title
    claim: str  # the guide's value, formula or statement, in our words
    guide_says: str  # our verdict as the guide page words it (a quote of it; empty when not judged)
    verdict: str  # one of VERDICTS
    why: str
    source: str
    kind: Kind
    implemented_by: str | None  # rule id, dotted function path, or table.column
    how: str
    correction: str | None = None


_OVERCOMMIT = "vm.overcommit_memory"
_THREADS = "kernel.threads-max, ulimit -u, kernel.pid_max"
_GOMAXPROCS = "GOMAXPROCS"
_GOMEMLIMIT = "GOMEMLIMIT"
_GCTRACE = "gctrace reading"
_GOGC = "The adaptive GOGC heuristic (chapter 2.2)"
_PRESSURE = "Observing page-cache pressure beside GC (chapter 4.4)"

CLAIMS: tuple[Claim, ...] = (
    Claim("1", _OVERCOMMIT, "1 (always allow), to avoid ENOMEM for big heaps",
          "holds as a risk note: mode 2 (strict) can refuse Go's large reservations", "holds",
          "Go reserves address space up front; strict accounting counts it and refuses fork/exec or growth",
          "https://docs.kernel.org/mm/overcommit-accounting.html; https://github.com/golang/go/issues/12233",
          "settings rule", "overcommit-strict",
          "warns on vm.overcommit_memory = 2; 0 (the kernel's heuristic default) is as good as 1, so 0 passes"),
    Claim("1", _OVERCOMMIT, "the runtime reads this setting (runtime.sysctl)", "is wrong: no such function", "wrong",
          "the Linux runtime maps memory with mmap and never reads vm.overcommit_memory",
          "https://github.com/golang/go/blob/master/src/runtime/mem_linux.go", "correction only", None,
          "nothing to check: the correction is that the runtime ignores the setting; the kernel applies it",
          "The Go runtime has no runtime.sysctl on Linux and does not read overcommit settings."),
    Claim("1", "vm.swappiness", "1 for Go services; 0 when memory is ample; 10 for mixed Java/Go hosts",
          "holds as a risk when swap is enabled", "holds",
          "marking touches the whole live heap every cycle, so swapped-out heap pages fault back in during GC",
          f"{KERNEL_VM}#swappiness", "settings rule", "swap-with-swappiness",
          "warns when swap is on (SwapTotal > 0 and memory.swap.max not 0) and swappiness (the cgroup's, else "
          "vm.swappiness) exceeds 10, the guide's highest value"),
    Claim("1", "vm.swappiness", "P99 latency +37 % at swappiness 60 vs 1", "the +37 % is unverified", "unverified",
          "the guide gives no data; a GC trace has no request latency to measure it with", f"{KERNEL_VM}#swappiness",
          "not checkable", None, "a latency figure needs request latencies, which no snapshot or trace holds",
          "Not repeated: no measurement supports the +37 %."),
    Claim("1", "vm.dirty_ratio", "30, so that madvise(DONTNEED) does not block on write-back",
          "wrong mechanism: anonymous heap pages are never dirty page cache", "wrong",
          "the heap is anonymous memory; MADV_DONTNEED drops it without write-back, so dirty_ratio cannot stall "
          "the scavenger or the GC", f"{KERNEL_VM}#dirty-ratio; https://man7.org/linux/man-pages/man2/madvise.2.html",
          "correction only", None,
          "a snapshot carries vm.dirty_ratio, but no value of it is evidence about GC: gclens has no rule on it",
          "vm.dirty_ratio governs file write-back only; it has no effect on Go heap release (no evidence)."),
    Claim("1", "kernel.sched_latency_ns / sched_min_granularity_ns",
          "defaults 6 ms / 0.75 ms; keep goroutines under 6 ms of CPU; high GOMAXPROCS means context switches",
          "outdated: left sysctl for debugfs in Linux 5.13; EEVDF (6.6) replaced them with base_slice_ns",
          "outdated", "the keys are absent from /proc/sys on 5.13+ and gone or renamed under EEVDF (6.6+)",
          "https://docs.kernel.org/scheduler/sched-eevdf.html", "settings rule", "sched-tunables-moved",
          "notes any of the keys present or reported absent in a snapshot: the advice no longer applies",
          "Tune CPU contention with cpu.max / cpu.weight and GOMAXPROCS, not the old CFS sysctls."),
    Claim("1", _THREADS, "check them on 'failed to create new OS thread'; raise threads-max (e.g. 65535)",
          "holds", "holds", "every M is an OS thread and each counts against every one of these limits",
          f"{KERNEL_KERNEL}#threads-max; https://pkg.go.dev/runtime/debug#SetMaxThreads", "settings rule",
          "thread-limits",
          "errors when the threads seen (schedtrace, else the snapshot) reach 80 % of the smallest of threads-max, "
          "pid_max, pids.max, ulimit -u (RLIMIT_NPROC, counted per user: a lower bound) and SetMaxThreads' 10000"),
    Claim("1", _THREADS, "Go 1.19+ creates threads with clone3", "is wrong (the runtime calls clone)", "wrong",
          "newosproc calls clone(cloneFlags, ...); a seccomp filter on clone3 does not affect Go's threads",
          "https://github.com/golang/go/blob/master/src/runtime/os_linux.go", "correction only", None,
          "nothing in a snapshot or trace shows the syscall used",
          "The runtime creates threads with clone, not clone3."),
    Claim("1", "kernel.pid_max matrix", "65536 for high concurrency; 131072 in containers; 16384 on small edge devices",
          "holds as a capacity check (used PIDs vs pid_max)", "holds",
          "threads, cgo threads and exec children all take PIDs from the same space",
          f"{KERNEL_KERNEL}#pid-max; https://docs.kernel.org/admin-guide/cgroup-v2.html#pid", "settings rule",
          "pid-capacity", "warns when the cgroup's pids.current reaches 80 % of min(pids.max, pid_max, threads-max)"),
    Claim("1", "kernel.pid_max matrix", "the matrix values themselves (and 32768 as a frequent default)",
          "the matrix values are the guide's opinion", "opinion",
          "the right limit depends on the workload's threads and children, not on the host class",
          f"{KERNEL_KERNEL}#pid-max", "not checkable", None,
          "gclens checks use against the limit (pid-capacity), not the limit against a table"),
    Claim("1", "net.core.somaxconn", "at least the application's listen backlog, e.g. both 4096; symptoms: ss -lnt "
          "Recv-Q at the limit, rising 'listen overflows' in netstat -s", "holds (per network namespace)", "holds",
          "Go passes somaxconn itself as every listener's backlog, so a small value truncates the accept queue; "
          "the value is per network namespace", "https://docs.kernel.org/admin-guide/sysctl/net.html#somaxconn; "
          "https://github.com/golang/go/blob/master/src/net/sock_linux.go", "settings rule", "somaxconn-low",
          "warns below 1024 (4096 is the kernel default since 5.4, so the guide's example is the default); the "
          "listen-overflow counters are not in a snapshot"),
    Claim("1", "net.core.somaxconn", "a truncated accept queue leads to more GC; JVM backlog advice",
          "its chain to \"more GC\" is speculative", "speculative",
          "no mechanism ties the accept queue to GC work, and JVM settings have no Go counterpart",
          "https://pkg.go.dev/net#Listen", "not checkable", None, "no trace or snapshot links the two",
          "Not repeated: a full accept queue delays requests; it does not cause GC."),
    Claim("1", "net.ipv4.tcp_fin_timeout + GODEBUG=sigpipe=1", "tune tcp_fin_timeout and set GODEBUG=sigpipe=1",
          "wrong: there is no sigpipe GODEBUG setting", "wrong",
          "the runtime ignores unknown GODEBUG keys; SIGPIPE handling is described in os/signal",
          "https://go.dev/doc/godebug; https://pkg.go.dev/os/signal#hdr-SIGPIPE", "settings rule", "godebug-sigpipe",
          "notes GODEBUG containing sigpipe in a snapshot's environment: the setting does nothing",
          "No GODEBUG sigpipe exists; a socket write to a closed peer returns EPIPE in Go."),
    Claim("2", _GOMAXPROCS, "containers: cfs_quota_us / cfs_period_us (at least 1)", "the quota rule holds", "holds",
          "more Ps than the quota lets the cgroup run out of CPU mid-period, stretching STW and mark phases",
          "https://go.dev/doc/go1.25#runtime; https://github.com/golang/go/issues/73193", "settings rule",
          "gomaxprocs-over-quota",
          "warns when the trace's GOMAXPROCS exceeds the quota rounded up (cpu.max on v2, cfs_quota_us/"
          "cfs_period_us on v1); Go 1.25+ applies the limit itself, so this catches older Go and hand-set values"),
    Claim("2", _GOMAXPROCS, "the quota rule, seen from its cost", "the quota rule holds", "holds",
          "a throttled cgroup makes a stop-the-world phase wait for the next CFS period",
          "https://github.com/golang/go/issues/19378", "settings rule", "throttled-during-pauses",
          "errors when cpu.stat counts throttling between two snapshots while cycles paused over the STW limit"),
    Claim("2", _GOMAXPROCS, "the sample code rounds: its comment says round up, its code truncates",
          "its comment says \"round up\" while the code truncates (inconsistent)", "inconsistent",
          "truncating 1.5 CPUs gives 1 P and wastes half a CPU; the sample reads cgroup v1 files only",
          "https://github.com/golang/go/issues/76835 (Go rounds up)", "settings rule", "gomaxprocs-over-quota",
          "the rule rounds the quota up (at least 1), as the Go runtime does, and reads cgroup v2 and v1",
          "Round the quota up, and read cpu.max on cgroup v2 as well as the v1 files."),
    Claim("2", _GOMAXPROCS, "one NUMA node: nproc; a cloud VM with 4 vCPU: 4; or derive it from cpuset.cpus", "",
          "not judged", "the runtime's default is the CPUs in its affinity mask; more Ps than CPUs only multiplexes",
          "https://pkg.go.dev/runtime#GOMAXPROCS", "settings rule", "gomaxprocs-over-cpus",
          "warns when the trace's GOMAXPROCS exceeds the CPUs of the snapshot's cpuset (else the host's CPU count)"),
    Claim("2", _GOMAXPROCS, "two NUMA nodes: the cores of one node, with numactl --cpunodebind/--membind", "",
          "not judged", "binding keeps the heap and its markers on one node; it is a placement choice",
          "https://man7.org/linux/man-pages/man8/numactl.8.html", "not checkable", None,
          "a snapshot holds no NUMA topology or memory policy of the process"),
    Claim("2", _GOMAXPROCS, "GC-heavy batch jobs: cores x 0.75, to leave room for GC workers",
          "the 0.75 factor has no source", "no source",
          "the GC already takes 25 % of GOMAXPROCS for background marking; shrinking P does not make room",
          f"{GC_GUIDE}#Understanding_costs", "correction only", None,
          "gclens does not apply the factor; the gc-cpu finding measures what the GC really takes",
          "Not applied: measure the GC's CPU share (gclens check) instead of reserving cores for it."),
    Claim("2", _GOMEMLIMIT, "set GOMEMLIMIT below the container limit",
          "a limit below the container's memory limit, with headroom for non-heap memory, holds", "holds",
          "the GC then works harder before the kernel OOM-kills; non-heap memory needs room",
          f"{GC_GUIDE}#Memory_limit", "settings rule", "gomemlimit-headroom",
          "errors when GOMEMLIMIT >= memory.max, warns above 90 % of it or above memory.high, notes it unset "
          "under a memory limit"),
    Claim("2", _GOMEMLIMIT,
          "0.8 x memory.high (2.5), 0.9 x memory.max with GOGC=30 (4.2), <= 0.75 x LimitMEMLOCK (4.1)",
          "the three factors are inconsistent with each other", "inconsistent",
          "three chapters, three factors against three different limits", f"{GC_GUIDE}#Memory_limit",
          "settings rule", "gomemlimit-headroom",
          "one rule: at most 90 % of the hard limit and not above memory.high",
          "One bound: GOMEMLIMIT at most 90 % of memory.max minus non-heap memory, and below memory.high."),
    Claim("2", _GOMEMLIMIT, "GOMEMLIMIT <= 0.75 x the unit's LimitMEMLOCK",
          "the LimitMEMLOCK coupling is wrong (the runtime does not mlock its heap and ignores that limit)", "wrong",
          "RLIMIT_MEMLOCK caps locked pages; the Go heap is never locked",
          "https://www.freedesktop.org/software/systemd/man/latest/systemd.exec.html#LimitMEMLOCK=",
          "correction only", None,
          "the snapshot has limits.max_locked_memory, but gclens never compares it with GOMEMLIMIT",
          "GOMEMLIMIT has nothing to do with LimitMEMLOCK."),
    Claim("2", _GOMEMLIMIT, "LimitNOFILE >= 65536", "", "not judged",
          "Go 1.19+ raises the soft open-files limit to the hard one at start, so the hard limit is the ceiling",
          "https://go.dev/issue/46279", "settings rule", "nofile-limit",
          "notes a hard open-files limit below 65536 in the snapshot's /proc/PID/limits"),
    Claim("2", _GCTRACE, "STW above 1 ms needs attention", "the thresholds are the mission's (1 ms, 5 %)", "holds",
          "the sum of the two STW phases is the pause; 1 ms is the default limit of gclens check", FORMATS,
          "trace rule", "stw-pause", "errors when a cycle's STW (sweep termination + mark termination) exceeds "
          "--max-stw-ms (default 1)"),
    Claim("2", _GCTRACE, "a sustained GC CPU above 5 % means GC pressure",
          "the thresholds are the mission's (1 ms, 5 %)", "holds",
          "the share of CPU capacity the GC used over a window", FORMATS, "trace rule", "gc-cpu",
          "errors when the worst --window-s window of GC CPU exceeds --max-gc-cpu-pct (default 5)"),
    Claim("2", _GCTRACE, "0.017+0.12+0.007 ms clock is STW + concurrent mark + STW sweep",
          "the third part is mark termination, not sweep", "wrong",
          "the phases are sweep termination (STW), concurrent mark and scan, mark termination (STW)", FORMATS,
          "trace column", "gc.clock_mark_term_ms", "gclens names the third part clock_mark_term_ms and counts it in "
          "stw_ms", "The third clock part is mark termination; sweeping is concurrent and not in the line."),
    Claim("2", _GCTRACE, "the 0% field is this cycle's GC CPU share",
          "the % is cumulative since program start, not per cycle", "wrong",
          "the runtime prints the GC's share of CPU since the program started", FORMATS, "analysis",
          "gclens.analysis.gccpu.gc_cpu_per_cycle",
          "per-cycle and windowed shares are computed from the cycle's CPU times; cumulative-pct-mismatch flags a "
          "log whose % does not add up", "The % is cumulative since start; per-cycle shares come from the CPU times."),
    Claim("2", "gcstoptheworld=2", "pauses 2 ms before each GC",
          "Wrong: 1 makes every GC stop the world, 2 also makes sweeping stop the world", "wrong",
          "the runtime's documentation of GODEBUG gcstoptheworld", RUNTIME_ENV, "settings rule",
          "godebug-gcstoptheworld", "warns when a snapshot's GODEBUG sets gcstoptheworld, naming every cycle",
          "gcstoptheworld=1 makes marking stop the world; 2 also makes sweeping stop it. No 2 ms delay."),
    Claim("2", "GOTRACEBACK=crash with GODEBUG=asyncpreemptoff=1", "use both to chase latency spikes",
          "holds as a debugging recipe", "holds",
          "with async preemption off a loop without calls delays stop-the-world (long sweep-termination pauses)",
          RUNTIME_ENV, "settings rule", "godebug-asyncpreemptoff",
          "warns when asyncpreemptoff=1 is set in a snapshot and sweep-termination pauses exceed the STW limit, "
          "notes it otherwise"),
    Claim("3", _GOGC, "base = 80 + 20 ln(1 + rt_p95/50); penalty = max(0, 40 (g - 0.05)); "
          "GOGC = trunc(min(200, max(30, base - penalty))), set every second; its table: P95 above 150 ms, raise GOGC",
          "", "not judged",
          "a heuristic without a cost model; gclens computes it as written and shows the what-if prediction beside it",
          "shared/tuning-guide.md §3", "analysis", "gclens.analysis.guide_gogc.guide_gogc",
          "gclens whatif --rt-p95-ms MS prints the guide's GOGC and the model's GC CPU and peak heap for it"),
    Claim("3", _GOGC, "RT 50 ms adds +20, RT 200 ms adds +32", "The first is wrong", "wrong",
          "20 ln(2) = 13.9 and 20 ln(5) = 32.2", "shared/tuning-guide.md §3", "analysis",
          "gclens.analysis.guide_gogc.CAVEATS", "stated beside the heuristic's value in whatif",
          "RT 50 ms adds +13.9, not +20."),
    Claim("3", _GOGC, "penalise heap growth above 0.05 (text: %/s; code comment: 5 %/s; table: 0.08 %/s)",
          "The unit of g is inconsistent", "inconsistent",
          "read in %/s, 5 %/s would give GOGC 30 from any growth at all", "shared/tuning-guide.md §3", "analysis",
          "gclens.analysis.guide_gogc.live_growth_per_s", "g is the live heap's trend as a fraction per second",
          "g is a fraction per second (0.05 = 5 %/s), as the code comment reads it."),
    Claim("3", _GOGC, "the result ranges over [30, 200]",
          "with no heap growth the result lies in [80, 200]", "caveat",
          "base is 80 at rt 0 and reaches 200 only near rt 20 s; 30 needs the penalty", "shared/tuning-guide.md §3",
          "analysis", "gclens.analysis.guide_gogc.CAVEATS", "stated beside the heuristic's value in whatif"),
    Claim("3", _GOGC, "feed HeapAlloc growth per second to SetGCPercent every second",
          "needs a window and a definition", "caveat",
          "HeapAlloc saw-tooths with every cycle; the live heap after each cycle has a trend",
          "shared/tuning-guide.md §3", "analysis", "gclens.analysis.guide_gogc.live_growth_per_s",
          "the growth is heap_stats' live-heap trend over the run"),
    Claim("3", _GOGC, "rt_p95 from per-second response-time percentiles", "rt_p95 must come from the user", "caveat",
          "a GC trace has no request latency; pause percentiles are no substitute", "shared/tuning-guide.md §3",
          "not checkable", None, "the user gives it: gclens whatif --rt-p95-ms"),
    Claim("3", _GOGC, "the heuristic picks GOGC by itself", "It has no model of cost", "caveat",
          "it cannot say what GC CPU or peak heap its value leads to", f"{GC_GUIDE}#GOGC", "analysis",
          "gclens.analysis.whatif.predict", "whatif predicts both for the heuristic's value"),
    Claim("4", _PRESSURE, "count the vmscan LRU-isolate tracepoint per second and compare the 5 s before each GC "
          "start with a threshold", "a fair correlation to show on the timeline", "fair",
          "reclaim isolates LRU batches; the tracepoint is vmscan:mm_vmscan_lru_isolate (the guide writes vm:)",
          "https://github.com/torvalds/linux/blob/master/include/trace/events/vmscan.h", "trace rule",
          "page-cache-pressure-before-gc",
          "perf record -a -k mono -e vmscan:mm_vmscan_lru_isolate beside the -k mono -g capture; events per second "
          "on the GC timeline (plot.page_cache_pressure); the finding lists the cycles after the threshold"),
    Claim("4", _PRESSURE, "800 events per second", "the 800/s threshold has no source", "no source",
          "one event is one batch of 1 to 512 pages on kernel 6.18 (measured), so 800/s is no fixed amount",
          "sample_traces/perf/vmscan (real capture)", "trace rule", "page-cache-pressure-before-gc",
          "kept as the default and labelled 'no source'; pressure_findings(per_s=...) takes a host's own value"),
    Claim("5", "The guide's pre-release checklist (chapter 5)",
          "gate every deployment in CI on checks with thresholds; keep the raw data behind each report",
          "gclens's check (exit codes, JSON/JUnit) and its findings with evidence are that gate for GC", "holds",
          "a finding names its threshold, evidence and source", "shared/tuning-guide.md §5", "analysis",
          "gclens.analysis.evaluate", "gclens check exits 1 on an error finding, 4 without GC cycles"),
    Claim("gclens", "transparent huge pages", "enabled=always with defrag=always stalls page faults", "",
          "not in the guide", "direct compaction on a fault looks like GC or allocation latency",
          f"{GC_GUIDE}#Linux_transparent_huge_pages", "settings rule", "thp-settings",
          "warns on enabled=always with defrag=always, notes khugepaged max_ptes_none=511 with enabled=always"),
)
"""The catalogue, in the guide's order; gclens's own rules last."""


def rules_catalogue(section: str | None = None) -> pl.DataFrame:
    """The catalogue as a frame, one row per claim; ``section`` ("1".."5" or "gclens") keeps one."""
    frame = pl.DataFrame([asdict(c) for c in CLAIMS], schema={name: pl.String for name in Claim.__annotations__})
    return frame.filter(pl.col("section") == section) if section is not None else frame


rules = rules_catalogue
"""``gclens.rules()``: the same, by its short name."""
