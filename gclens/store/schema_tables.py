"""The Arrow schema of every table gclens writes, field by field: the data dictionary.

Split from ``schemas`` (which keeps the helpers that turn rows into tables and tables into their
Parquet form) so the per-table field lists read as one unit. Still defined once: import the names
from ``gclens.store.schemas``, which re-exports them.
"""

from __future__ import annotations

import pyarrow as pa

from gclens.store.schema_fields import (
    _GC_NUM,
    _LAYOUT,
    _LINE,
    _RUN,
    _SOURCE,
    _STORED_NOTE,
    _TS,
    BOOL,
    F64,
    I32,
    I64,
    STR,
    TS,
    _field,
    _ms,
    _schema,
)

__all__ = ["ALIGNMENT", "ALIGN_SCHEMAS", "ALL_SCHEMAS", "EVENTS", "GC", "GC_SCAN", "GC_SETTINGS", "PACER",
           "PERF_SAMPLES", "REJECTS", "RUNS", "SCAV", "SCHED", "SCHED_G", "SCHED_M", "SCHED_P", "SCHEMAS",
           "SETTINGS", "SOURCES", "TABLE_NAMES"]


GC = _schema("gc", "One row per completed GC cycle (gctrace=1 gc line).", [
    _SOURCE, _LINE, _RUN, _GC_NUM,
    _field("t_s", F64, "Cycle start, seconds since runtime start (the printed @Xs, truncated to ms)."),
    _TS, _LAYOUT,
    _field("gc_cpu_cum_pct", I32, "Printed %: GC CPU since process start, cumulative and truncated."),
    _field("leak_check", BOOL, "go1.26+: the cycle ran a goroutine-leak check."),
    _ms("clock_sweep_term_ms", "Wall clock of STW sweep termination (incl. stopping the world)"),
    _ms("clock_scan_ms", "go1.5 only: wall clock of the concurrent root scan phase"),
    _ms("clock_install_wb_ms", "go1.5 only: wall clock of the write-barrier install phase"),
    _ms("clock_mark_ms", "Wall clock of concurrent mark (not a pause)"),
    _ms("clock_mark_term_ms", "Wall clock of STW mark termination"),
    _ms("cpu_sweep_term_ms", "CPU of sweep termination (stwprocs x wall)"),
    _ms("cpu_scan_ms", "go1.5 only: CPU of the root scan phase"),
    _ms("cpu_install_wb_ms", "go1.5 only: CPU of the write-barrier install (always 0)"),
    _ms("cpu_assist_ms", "CPU of mutator assists"),
    _ms("cpu_background_ms", "CPU of dedicated and fractional mark workers"),
    _ms("cpu_idle_ms", "CPU of idle mark workers (not counted as GC cost by the runtime)"),
    _ms("cpu_mark_term_ms", "CPU of mark termination (stwprocs x wall)"),
    _field("heap_start_mib", I64, "Heap in use at cycle start (MB as printed: bytes>>20)."),
    _field("heap_end_mib", I64, "Heap in use at mark termination (bytes>>20)."),
    _field("heap_live_mib", I64, "Heap marked live by this cycle (bytes>>20)."),
    _field("heap_goal_mib", I64, "Heap goal of this cycle (bytes>>20)."),
    _field("stacks_mib", I64, "go1.18+: scannable goroutine stacks (bytes>>20); null before."),
    _field("globals_mib", I64, "go1.18+: scannable globals (bytes>>20); null before."),
    _field("procs", I32, "GOMAXPROCS at cycle start."),
    _field("forced", BOOL, "'(forced)': a STW cycle before go1.9, runtime.GC/FreeOSMemory from 1.9."),
    _field("stw_ms", F64, "Stop-the-world pause: sweep termination + mark termination wall clock."),
    _field("wall_ms", F64, "Sum of all clock phases: the cycle's wall time."),
])

PACER = _schema("pacer", "One row per gcpacertrace line, tied to its GC cycle.", [
    _SOURCE, _LINE, _RUN, _GC_NUM,
    _field("kind", STR, "assist_ratio | old_pacer | cpu_pacer | sweep_done."),
    _LAYOUT,
    _field("assist_ratio", F64, "Scan work per allocated byte asked of mutators."),
    _field("scan_heap_mib", I64, "assist_ratio: scannable heap (bytes>>20)."),
    _field("heap_start_mib", I64, "assist_ratio: heap in use at cycle start (bytes>>20)."),
    _field("heap_goal_mib", I64, "assist_ratio: heap goal (bytes>>20)."),
    _field("workers_dedicated", I32, "assist_ratio: dedicated mark workers."),
    _field("workers_fractional", F64,
           "assist_ratio: fractional workers (go1.5-1.9) or utilisation goal per P (1.10+)."),
    _field("heap_marked_prev_bytes", I64, "old_pacer H_m_prev: bytes marked by the previous cycle."),
    _field("trigger_ratio", F64, "old_pacer h_t: trigger ratio."),
    _field("trigger_bytes", I64,
           "old_pacer H_T: trigger heap size; cpu_pacer: heap in use when the cycle triggered."),
    _field("growth_actual_ratio", F64, "old_pacer h_a: actual heap growth ratio."),
    _field("heap_live_bytes", I64, "Heap in use at the end of mark (old_pacer H_a, cpu_pacer L)."),
    _field("growth_goal_ratio", F64, "old_pacer h_g: goal growth ratio."),
    _field("heap_goal_bytes", I64, "old_pacer H_g: goal heap size."),
    _field("util_actual", F64, "old_pacer u_a: actual mark CPU utilisation (fraction)."),
    _field("util_goal", F64, "old_pacer u_g: goal utilisation (fraction)."),
    _field("scan_work_bytes", I64, "old_pacer W_a: scan work done this cycle."),
    _field("goal_delta", F64, "old_pacer goalΔ = h_g - h_t."),
    _field("actual_delta", F64, "old_pacer actualΔ = h_a - h_t."),
    _field("util_actual_over_goal", F64, "old_pacer u_a/u_g."),
    _field("cpu_util_pct", I32, "cpu_pacer: mark CPU utilisation (assists included, idle excluded)."),
    _field("cpu_util_goal_pct", I32, "cpu_pacer: goal utilisation (25)."),
    _field("scan_heap_bytes", I64, "cpu_pacer: heap scan work done."),
    _field("scan_stack_bytes", I64, "cpu_pacer: stack scan work done."),
    _field("scan_globals_bytes", I64, "cpu_pacer: globals scan work done."),
    _field("scan_expected_bytes", I64, "cpu_pacer: expected scan work."),
    _field("goal_delta_bytes", I64,
           "cpu_pacer ∆goal: heap at end of mark minus goal (negative: under goal)."),
    _field("cons_mark", F64, "cpu_pacer: cons/mark estimate in effect for this cycle."),
    _field("controller_reset", BOOL, "cpu_pacer: the cons/mark controller was reset."),
    _field("heap_live_mib", I64, "sweep_done: heap in use when sweeping finished (bytes>>20)."),
    _field("allocated_mib", I64,
           "sweep_done: allocated during sweep (1.9+) or span bytes allocated (1.6-1.8)."),
    _field("swept_pages", I64, "sweep_done: pages swept this cycle."),
    _field("pages_per_byte", F64, "sweep_done: proportional sweep ratio (go1.7+)."),
])

_SCHED_COMMON = [
    _field("gomaxprocs", I32, "GOMAXPROCS."),
    _field("idleprocs", I32, "Idle Ps."),
    _field("threads", I32, "OS threads (Ms)."),
    _field("spinningthreads", I32, "Ms spinning for work."),
    _field("needspinning", I32, "go1.20+: a P wanted a spinning M and none was available (0/1)."),
    _field("idlethreads", I32, "Idle Ms."),
    _field("runqueue", I64, "Global run queue length."),
]

SCHED = _schema("sched", "One row per SCHED line (summary, or scheddetail header).", [
    _SOURCE, _LINE, _RUN,
    _field("t_s", F64, "Printed SCHED Nms / 1000: seconds since the first schedtrace call "
           "(within ms of runtime start)."),
    _TS, _LAYOUT,
    _field("detail", BOOL, "True for a scheddetail header (P/M/G lines follow)."),
    *_SCHED_COMMON,
    _field("local_runqueues", pa.list_(I64), "Per-P local run queue lengths (racy; may read ~4294967295)."),
    _field("schedticks", pa.list_(I64), "go1.25+: per-P schedtick counters."),
    _field("gcwaiting", BOOL, "Detail header: GC waiting to stop the world."),
    _field("nmidlelocked", I32, "Detail header: idle Ms locked to a goroutine."),
    _field("stopwait", I32, "Detail header: Ps still to stop."),
    _field("sysmonwait", BOOL, "Detail header: sysmon parked."),
])

_DUMP = [
    _SOURCE, _LINE, _RUN,
    _field("t_s", F64, "Time of the SCHED header of this dump (null for an orphan line)."),
    _field("sched_line_no", I64, "line_no of the SCHED header of this dump (null for an orphan line)."),
    _LAYOUT,
]

SCHED_P = _schema("sched_p", "scheddetail: one row per P per dump.", [
    *_DUMP,
    _field("p_id", I32, "P index."),
    _field("status", I32, "P status code."),
    _field("status_name", STR, "idle | running | syscall | gcstop | dead."),
    _field("schedtick", I64, "Scheduler calls on this P."),
    _field("syscalltick", I64, "System calls on this P."),
    _field("m_id", I64, "M owning this P (null: none)."),
    _field("runqsize", I64, "Local run queue length."),
    _field("gfreecnt", I64, "Cached free Gs."),
    _field("timerslen", I64, "go1.14+: timers in this P's heap."),
])

SCHED_M = _schema("sched_m", "scheddetail: one row per M per dump.", [
    *_DUMP,
    _field("m_id", I64, "M id."),
    _field("p_id", I32, "Attached P (null: none)."),
    _field("curg", I64, "Goroutine running on this M (null: none)."),
    _field("mallocing", I32, "Inside malloc."),
    _field("throwing", I32, "0 none, 1 user, 2 runtime."),
    _field("preemptoff", STR, "Why preemption is off (free text; empty when not)."),
    _field("locks", I32, "Lock count."),
    _field("dying", I32, "Panic-state level."),
    _field("helpgc", I32, "go1.5-1.11 only: GC helper flag."),
    _field("spinning", BOOL, "Spinning for work."),
    _field("blocked", BOOL, "Blocked on a note."),
    _field("lockedg", I64, "Goroutine locked to this M (null: none)."),
])

SCHED_G = _schema("sched_g", "scheddetail: one row per goroutine (dead ones included) per dump.", [
    *_DUMP,
    _field("goid", I64, "Goroutine id."),
    _field("status", I32, "Printed status code (may carry the 0x1000 scan bit)."),
    _field("status_base", I32, "Status without the scan bit."),
    _field("scanning", BOOL, "The 0x1000 scan bit was set."),
    _field("status_name", STR, "Name of status_base (idle, runnable, running, syscall, waiting, ...)."),
    _field("wait_reason", STR, "Wait reason as printed; meaningful only when status_base is waiting."),
    _field("m_id", I64, "M running this G (null: none)."),
    _field("lockedm", I64, "M this G is locked to (null: none)."),
])

SCAV = _schema("scav", "Scavenger lines: scvg (gctrace, go1.5-1.13) and scav (scavtrace, go1.14+).", [
    _SOURCE, _LINE, _RUN,
    _field("gc_num", I64, "Last GC cycle printed before this line."),
    _field("kind", STR, "scvg_released | scvg_stats | scav."),
    _LAYOUT,
    _field("scvg_pass", I32, "scvg: sysmon pass counter (-1 for debug.FreeOSMemory; null in go1.13)."),
    _field("forced", BOOL, "Forced by debug.FreeOSMemory."),
    _field("released_mib", I64, "scvg_released: released in this pass (bytes>>20)."),
    _field("inuse_mib", I64, "scvg_stats: heap in use (bytes>>20)."),
    _field("idle_mib", I64, "scvg_stats: heap idle (bytes>>20)."),
    _field("sys_mib", I64, "scvg_stats: heap obtained from the OS (bytes>>20)."),
    _field("released_total_mib", I64, "scvg_stats: total returned to the OS (bytes>>20)."),
    _field("consumed_mib", I64, "scvg_stats: sys - released (bytes>>20)."),
    _field("gen", I64, "scav go1.15-1.18: scavenger generation."),
    _field("work_kib", I64, "scav go1.14-1.20: released since the previous line (bytes>>10)."),
    _field("work_bg_kib", I64, "scav go1.21+: released by the background scavenger (bytes>>10)."),
    _field("work_eager_kib", I64, "scav go1.21+: released eagerly (allocation path, limit, forced)."),
    _field("released_kib", I64, "scav: heap currently released to the OS ('total' / 'now', bytes>>10)."),
    _field("util_pct", I32, "scav: heap in use over heap retained."),
    _field("controller_reset", BOOL, "scav go1.18+: the scavenger's rate controller was reset."),
])

GC_SCAN = _schema("gc_scan", "gctrace=2 scan statistics (go1.25+), per cycle and size class.", [
    _SOURCE, _LINE, _RUN, _GC_NUM,
    _field("layout", STR, "classic | greentea."),
    _field("size_class", STR, "'total', 'L' (large objects) or the object size, e.g. '16B'."),
    _field("object_size_bytes", I64, "Object size of the class (null for total and L)."),
    _field("objs", I64, "Objects scanned."),
    _field("objs_sparse", I64, "Green Tea: objects scanned one at a time."),
    _field("objs_span_sparse", I64, "Green Tea: objects scanned by sparse span scans."),
    _field("objs_span_dense", I64, "Green Tea: objects scanned by dense span scans."),
    _field("spans", I64, "Green Tea: spans scanned."),
    _field("spans_sparse", I64, "Green Tea: spans scanned sparsely."),
    _field("spans_dense", I64, "Green Tea: spans scanned densely."),
])

EVENTS = _schema("events", "Runtime messages worth a row: GC forced, fatal errors, panics, signals.", [
    _SOURCE, _LINE, _RUN,
    _field("gc_num", I64, "Last GC cycle printed before this line."),
    _field("kind", STR, "gc_forced | fatal_error | runtime_message | panic | goroutine | signal."),
    _field("category", STR, "What happened, when known: out_of_memory, thread_exhaustion, "
           "thread_create_failed, stack_overflow, deadlock, concurrent_map_access, periodic_gc, ..."),
    _field("message", STR, "The message text after its prefix."),
    _field("count", I64, "Number in the message: threads (have N / N-thread limit), goroutine id."),
    _field("size_bytes", I64, "Bytes in the message: allocation size or stack limit."),
    _field("errno", I64, "errno of a failed thread creation."),
])

RUNS = _schema("runs", "One row per process lifetime found in a source.", [
    _SOURCE, _RUN,
    _field("first_line", I64, "First line_no of the run."),
    _field("last_line", I64, "Last line_no of the run."),
    _field("cut_reason", STR, "Why a new run started here (start of source, gc numbers restart, ...)."),
    _field("anchor", STR, "How ts was obtained for this run (null: no wall-clock anchor)."),
    _field("start_ts", TS, "Wall-clock time of t_s = 0 (null without anchor)." + _STORED_NOTE),
    _field("anchor_lines", I64, "Envelope times the anchor was estimated from."),
    _field("anchor_spread_ms", F64, "Median absolute deviation of those estimates, ms."),
    _field("mono_start_ns", I64, "CLOCK_MONOTONIC of t_s = 0, from journald monotonic times."),
    _field("boot_id", STR, "journald boot id (mono_start_ns is on this boot's clock)."),
    _field("gc_first", I64, "First gc_num seen."),
    _field("gc_last", I64, "Last gc_num seen."),
    _field("gc_lines", I64, "gc lines parsed."),
    _field("t_last_s", F64, "Latest runtime time seen (gc start or SCHED), seconds."),
    _field("gomaxprocs_seen", pa.list_(I32), "Distinct GOMAXPROCS values seen, in order."),
    _field("layouts_seen", pa.list_(STR), "Distinct line layouts seen (family:layout)."),
])

REJECTS = _schema("rejects", "Runtime-looking lines that did not parse, with the reason.", [
    _SOURCE, _LINE,
    _field("family", STR,
           "Best guess of the line family (gctrace, pacer, sched, scavenger, events, fragment)."),
    _field("reason", STR, "Why the line was rejected."),
    _field("column", I32, "1-based column where parsing stopped (null when not applicable)."),
    _field("text", STR, "The line as read (invalid UTF-8 replaced by U+FFFD)."),
])

SOURCES = _schema("sources", "Accounting per input: lines read = runtime + rejected + other + joined.", [
    _SOURCE,
    _field("lines_read", I64, "Lines read (a final line without newline counts)."),
    _field("runtime_lines", I64, "Lines parsed into a runtime table."),
    _field("rejected_lines", I64, "Lines in the rejects table."),
    _field("other_lines", I64, "Lines that are not runtime output (application logs, blank)."),
    _field("joined_lines", I64, "Lines joined onto the line before them (CRI `P`, Docker split lines)."),
    _field("spliced_lines", I64, "Runtime lines found after other text on the same line."),
    _field("rejoined_lines", I64, "Runtime lines rebuilt from two lines that other output tore apart."),
    _field("bytes_read", I64, "Bytes read after decompression."),
    _field("compression", STR, "none | gzip | zstd."),
    _field("envelope", STR, "Collector envelope decoded (raw, kubectl, cri, docker, journald-json, ...)."),
    _field("unterminated_last_line", BOOL, "The input ended without a final newline (e.g. a hung process)."),
    _field("error", STR, "Why the input could not be read (unreadable, corrupt, vanished): it was skipped "
           "and no other row comes from it. Null when it was read."),
])

_SNAPSHOT = _field("snapshot_id", STR, "Capture the row belongs to: host, pid and capture time, unique per capture.")
_MONO = "CLOCK_MONOTONIC of the host (boot_id), ns"

SETTINGS = _schema("settings", "Long table of captured settings: one row per key per snapshot.", [
    _SNAPSHOT,
    _field("snapshot_source", STR, "File the snapshot was read from."),
    _field("captured_ts", TS, "Wall-clock time of the capture (null for sysctl -a text without one)."
           + _STORED_NOTE + " captured_mono_ns is exact."),
    _field("captured_mono_ns", I64, f"Capture time, {_MONO} (null when unknown)."),
    _field("time_source", STR, "Where the capture time came from: snapshot (gclens JSON or its sysctl header), "
           "option (--snapshot-time), file name, mtime (last resort: copies change it), or null (unknown)."),
    _field("boot_id", STR, "Boot the monotonic time belongs to (/proc/sys/kernel/random/boot_id)."),
    _field("host", STR, "Host name at capture."),
    _field("pid", I64, "Target process of the capture (null for a host-only capture)."),
    _field("origin", STR, "Where the key comes from: sysctl, cgroup, thp, limits, env, process, host."),
    _field("key", STR, "sysctl-style key (vm.swappiness), cgroup file (memory.max), or origin-specific name."),
    _field("value", STR, "The value as read, whitespace-normalised; null when reading failed."),
    _field("error", STR, "Why the value could not be read (EACCES, EIO, absent), else null."),
])

GC_SETTINGS = _schema("gc_settings", "Each GC cycle with the settings snapshot in effect at its start.", [
    _SOURCE, _RUN, _GC_NUM,
    _field("t_s", F64, "Cycle start, seconds since runtime start."),
    _field("mono_ns", I64, f"Cycle start on {_MONO}; null when the run has no monotonic anchor."),
    _field("time_basis", STR, "How mono_ns was obtained (perf alignment, journald, wall clock via snapshot)."),
    _SNAPSHOT,
    _field("snapshot_age_s", F64, "Seconds from the capture to the cycle start (>= 0)."),
])

PERF_SAMPLES = _schema("perf_samples", "perf samples of the traced process, labelled with the GC phase.", [
    _field("perf_source", STR, "perf script output the sample came from."),
    _field("sample_no", I64, "0-based sample index in the perf source."),
    _field("time_ns", I64, "Sample time on perf's clock (CLOCK_MONOTONIC when recorded with -k mono), ns."),
    _field("pid", I64, "Process id (null when perf script did not print it)."),
    _field("tid", I64, "Thread id."),
    _field("cpu", I32, "CPU (null unless recorded system-wide or with -C)."),
    _field("comm", STR, "Thread name (the Go binary's name for every Go thread)."),
    _field("event", STR, "Sampled event, e.g. cpu-clock."),
    _field("period", I64, "Sample period (ns for cpu-clock; events otherwise)."),
    _field("sym", STR, "Leaf function, without offset; [unknown] when unresolved."),
    _field("dso", STR, "Leaf object file."),
    _field("stack", pa.list_(STR), "Call chain, leaf first, offsets and .abi0 suffixes stripped."),
    _field("gc_work", STR, "GC work the stack shows: mark, assist, write_barrier, sweep, scavenge, stw, or null."),
    _field("is_gc_stack", BOOL, "The stack is GC work (mark, assist, write barrier, sweep, scavenge, stw)."),
    _SOURCE, _RUN,
    _field("t_s", F64, "Sample time in the run's program time (seconds since runtime start)."),
    _GC_NUM,
    _field("gc_phase", STR, "Run's GC phase at the sample: sweep_term, mark, mark_term or none."),
])

ALIGNMENT = _schema("alignment", "How each run's program time was placed on each perf source's clock.", [
    _SOURCE, _RUN,
    _field("perf_source", STR, "perf script output aligned to the run."),
    _field("pid", I64, "Process of the perf source matched to the run."),
    _field("offset_ns", I64, "perf time of the run's t_s = 0: perf time = offset_ns + t_s * 1e9."),
    _field("method", STR, "The anchors and search used, joined by +: exec-anchor, journald-anchor, program-start, "
           "process-start, first-sample, xcorr; same-clock for an events-only capture placed by another capture "
           "on CLOCK_MONOTONIC (null when failed)."),
    _field("perf_clock", STR, "perf's clock: monotonic (-k mono) or perf_local (default sched_clock)."),
    _field("score", F64, "Youden score J at the offset: P(mark sample in a mark window) - P(other sample in one)."),
    _field("margin", F64, "J minus the best J more than 10 ms away (aliasing at the GC period)."),
    _field("runner_up_offset_ns", I64, "Offset of that best competing peak."),
    _field("mark_samples", I64, "Samples with a mark signature used in the score."),
    _field("cycles", I64, "GC cycles used in the score."),
    _field("mark_in_window_pct", F64, "Share of mark-signature samples inside a mark window after alignment."),
    _field("uncertainty_ms", F64, "Half-width of the interval the offset is known to lie in."),
    _field("verdict", STR, "Confidence: good (one clear offset); ambiguous (a rival offset over 10 ms away "
           "fits almost as well, margin < 0.1, or under 20 mark samples: read with care); failed (offset_ns null, "
           "samples left unplaced: note says why and what to add)."),
    _field("note", STR, "How the offset was found, in words; for a failed row, why and what to add."),
])

ALIGN_SCHEMAS: dict[str, pa.Schema] = {
    "settings": SETTINGS, "gc_settings": GC_SETTINGS, "perf_samples": PERF_SAMPLES, "alignment": ALIGNMENT,
}
"""Tables written by `gclens align` next to the parse tables."""

SCHEMAS: dict[str, pa.Schema] = {
    "gc": GC, "pacer": PACER, "sched": SCHED, "sched_p": SCHED_P, "sched_m": SCHED_M,
    "sched_g": SCHED_G, "scav": SCAV, "gc_scan": GC_SCAN, "events": EVENTS, "runs": RUNS,
    "rejects": REJECTS, "sources": SOURCES,
}
"""Every table, in the order they are written and summarised."""

TABLE_NAMES: tuple[str, ...] = tuple(SCHEMAS)

ALL_SCHEMAS: dict[str, pa.Schema] = {**SCHEMAS, **ALIGN_SCHEMAS}
"""Every table gclens can write: the data dictionary of ``gclens schema``."""
