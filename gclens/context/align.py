"""Put GC cycles, perf samples and settings snapshots on one timeline.

A gctrace run counts time from the runtime's start (``runtimeInitTime``, an unexported
CLOCK_MONOTONIC reading); ``perf record -k mono`` stamps samples on CLOCK_MONOTONIC; a gclens
snapshot carries CLOCK_MONOTONIC and CLOCK_REALTIME read together. One unknown per run and perf
source, the offset θ (perf time of the run's t = 0), ties them together:

- **exec anchor**: perf saw the ``execve`` (``perf record -- ./svc``): θ lies 0.5–2.2 ms after it
  (measured, perf-sysctl-clocks §2.4), so the search is confined to [exec, exec + 50 ms];
- **offset search** (§2.5): the offset that best fits the samples whose stacks show GC mark work
  into the cycle windows, scored by a Youden contrast J = P(mark sample in a window) − P(other
  sample in one) and computed for every candidate at once by FFT cross-correlation. Periodic GC
  aliases at the GC period, so the runner-up peak more than 10 ms away and the margin are always
  reported.

Then every sample is labelled with the run's GC phase at that instant, and every cycle gets the
settings snapshot in effect (an as-of join on CLOCK_MONOTONIC).

This module is the pipeline (align, label, join) and the perf summaries; the offset search is
``gclens.context.align_offset`` and the settings join ``gclens.context.align_settings``. Every name is
importable from here.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import polars as pl
import pyarrow as pa

from gclens._errors import InputError
from gclens.context.align_offset import (
    ALIAS_GUARD_NS,
    EXEC_WINDOW_NS,
    GOOD_MARGIN,
    GRID_NS,
    JOURNALD_WINDOW_NS,
    MARK_WORK,
    MIN_FIT_SAMPLES,
    MIN_MARK_SAMPLES,
    MIN_SCORE,
    PROCESS_START_WINDOW_NS,
    START_WINDOW_NS,
    TRUNCATION_NS,
    VERDICTS,
    Prior,
    _empty,
    _failed,
    _rank,
    _runs,
    align_run,
    fit_verdict,
    label_phases,
    priors_for,
)
from gclens.context.align_settings import BOOT_TOLERANCE_NS, gc_settings
from gclens.context.perf import PerfCapture
from gclens.pipeline.trace import Trace
from gclens.store.schemas import ALIGNMENT, PERF_SAMPLES, SETTINGS

__all__ = ["ALIAS_GUARD_NS", "BOOT_TOLERANCE_NS", "EXEC_WINDOW_NS", "GC_WORK", "GOOD_MARGIN", "GRID_NS",
           "JOURNALD_WINDOW_NS", "MARK_WORK", "MIN_FIT_SAMPLES", "MIN_MARK_SAMPLES", "MIN_SCORE",
           "PROCESS_START_WINDOW_NS", "START_WINDOW_NS", "TRUNCATION_NS", "VERDICTS", "Aligned", "Prior", "align",
           "align_run", "fit_verdict", "folded_stacks", "gc_cpu_compare", "gc_settings", "is_events_only",
           "label_gc_work", "label_phases", "priors_for", "same_clock_row", "top_functions"]

GC_WORK: tuple[tuple[str, str], ...] = (
    ("stw", r"runtime\.(stopTheWorldWithSema|startTheWorldWithSema|gcMarkTermination|gcStart\.func)"),
    ("assist", r"runtime\.gcAssistAlloc"),
    ("write_barrier", r"runtime\.(wbBufFlush|gcWriteBarrier)"),
    ("mark", r"(?:runtime\.(gcBgMarkWorker|gcDrain|markroot|scanobject|greyobject|scanstack|scanblock|scanframeworker"
             r"|gcMarkDone|scanSpan|scanObject|tryDeferToSpanScan|gcFlushBgCredit|markBits|\(\*gcWork\)"
             r"|findObject|gcmarknewobject|spanSetScans|\(\*spanInlineMarkBits\))|internal/runtime/gc/scan\.)"),
    ("sweep", r"runtime\.(bgsweep|sweepone|deductSweepCredit|\(\*sweepLocked\)\.sweep|\(\*mspan\)\.sweep)"),
    ("scavenge", r"runtime\.(bgscavenge|\(\*pageAlloc\)\.scavenge|\(\*scavengerState\))"),
)
"""Stack signatures, strongest first. Matched as prefixes on every frame, because the function
that calls ``systemstack`` is missing from frame-pointer stacks (``gcBgMarkWorker`` is seen only
as ``gcBgMarkWorker.func2``). The leaves after ``findObject`` are for captures without ``-g``: a leaf
alone never shows ``gcBgMarkWorker``, and on the bundled -g captures every sample with these leaves
is mark work (go1.19: findObject; go1.26: the span scanner). Edit here when a Go release renames
GC internals."""


@dataclass(frozen=True)
class Aligned:
    """Everything ``gclens align`` writes besides the parse tables, as Polars frames."""

    perf_samples: pl.DataFrame
    alignment: pl.DataFrame
    settings: pl.DataFrame
    gc_settings: pl.DataFrame
    tables: dict[str, pa.Table] = field(default_factory=dict)

    @property
    def failed(self) -> pl.DataFrame:
        """Alignment rows that placed nothing, with the reason and what to add in ``note``."""
        return self.alignment.filter(pl.col("verdict") == "failed")


def align(trace: Trace, perf: Sequence[PerfCapture] = (), settings: pl.DataFrame | None = None) -> Aligned:
    """Align every run of ``trace`` with each perf capture, label samples, join settings.

    Every (run, capture) pair gets an ``alignment`` row, a failed one included: a capture that
    places nothing says why rather than vanishing. A capture without samples is an InputError.
    """
    settings = settings if settings is not None else _empty(SETTINGS)
    sample_frames, rows, events = [], [], []
    for capture in perf:
        if not capture.samples.num_rows:
            raise InputError(f"{capture.name}: no perf samples ({capture.lines_read:,} lines read): is it the "
                             "output of `perf script` on a perf.data with samples?")
        samples = label_gc_work(_frame(capture.samples))
        if is_events_only(samples):
            events.append((capture, samples))  # placed below, by a capture on the same clock
            continue
        found = [align_run(trace, run, samples, capture, settings) for run in _runs(trace.gc)]
        rows += [row for row in found if row is not None]
        placed = [r for r in found if r is not None and r["offset_ns"] is not None]
        sample_frames.append(label_phases(samples, trace.gc, placed))
    for capture, samples in events:
        borrowed = [same_clock_row(run, capture, rows) for run in _runs(trace.gc)]
        rows += borrowed
        sample_frames.append(label_phases(samples, trace.gc, [r for r in borrowed if r["offset_ns"] is not None]))
    alignment = pl.DataFrame(rows, schema=pl.from_arrow(ALIGNMENT.empty_table()).schema)  # type: ignore[union-attr]
    perf_samples = pl.concat(sample_frames) if sample_frames else _empty(PERF_SAMPLES)
    walls = {c.name: c.reference[0] - c.reference[1] for c in perf if c.reference and c.clock == "monotonic"}
    joined = gc_settings(trace, settings, alignment, boot_walls=walls)
    aligned = Aligned(perf_samples, alignment, settings, joined)
    tables = {"settings": settings, "gc_settings": joined, "perf_samples": perf_samples, "alignment": alignment}
    aligned.tables.update({name: _arrow(frame, name) for name, frame in tables.items()})
    return aligned


def is_events_only(samples: pl.DataFrame) -> bool:
    """A capture of tracepoints only (``perf record -a -e vmscan:mm_vmscan_lru_isolate``): no stack
    shows GC work and every event is ``subsystem:name`` (not a modifier: ``cycles:u``). Its pids are
    other processes and its execs are theirs, so no anchor of its own can place the run."""
    return bool(samples.height and not samples["is_gc_stack"].any()
                and samples["event"].str.contains(r"^[\w.-]+:(?:[\w.-]*_[\w.-]*|[\w.-]{5,})$").fill_null(False).all())


def same_clock_row(run: tuple[str, int], capture: PerfCapture, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Place an events-only capture with the offset of a capture that was aligned on the same clock
    (both recorded with -k mono): one clock, one offset. Failed when there is none."""
    base = {"source": run[0], "run_id": run[1], "perf_source": capture.name, "pid": None,
            "perf_clock": capture.clock, "mark_samples": 0, "cycles": None}
    donors = [r for r in rows if (r["source"], r["run_id"]) == run and r["offset_ns"] is not None
              and r["perf_clock"] == capture.clock == "monotonic"]
    if not donors:
        return {**base, **_failed(base, "an events-only capture (tracepoints, no GC stacks) has no anchor of its own",
                                  "to place it: record it with -k mono beside a -k mono -g capture of the program "
                                  "and give both with --perf")}
    donor = max(donors, key=_rank)
    return {**base, "offset_ns": donor["offset_ns"], "method": "same-clock", "score": None, "margin": None,
            "runner_up_offset_ns": None, "uncertainty_ms": donor["uncertainty_ms"], "mark_in_window_pct": None,
            "cycles": donor["cycles"], "verdict": donor["verdict"],
            "note": f"events only: placed with the offset of {donor['perf_source']} (both on CLOCK_MONOTONIC)"}




def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _arrow(frame: pl.DataFrame, name: str) -> pa.Table:
    from gclens.store.schemas import ALIGN_SCHEMAS

    schema = ALIGN_SCHEMAS[name]
    return frame.select(schema.names).to_arrow().cast(schema)




def label_gc_work(samples: pl.DataFrame) -> pl.DataFrame:
    """Add ``gc_work`` (the strongest GC signature on the stack) and ``is_gc_stack``."""
    joined = pl.col("stack").list.join("\n")
    label: Any = pl.lit(None, pl.String)
    for name, pattern in reversed(GC_WORK):
        label = pl.when(joined.str.contains(f"(?m)^{pattern}")).then(pl.lit(name)).otherwise(label)
    return samples.with_columns(label.alias("gc_work")).with_columns(
        pl.col("gc_work").is_not_null().alias("is_gc_stack"))


def top_functions(perf_samples: pl.DataFrame, *, by: str = "gc_phase", n: int = 10) -> pl.DataFrame:
    """The leaf functions with the most samples in each group (GC phase by default), with shares."""
    counted = (perf_samples.filter(pl.col(by).is_not_null()).group_by(by, "sym").agg(
        pl.len().alias("samples"), pl.col("period").sum().alias("period")))
    counted = counted.with_columns((pl.col("samples") / pl.col("samples").sum().over(by) * 100).alias("share_pct"))
    ranked = counted.sort([by, "samples", "sym"], descending=[False, True, False])
    return ranked.group_by(by, maintain_order=True).head(n)


def folded_stacks(perf_samples: pl.DataFrame, *, phase: str | None = None) -> list[str]:
    """``root;...;leaf count`` lines (sample counts, not period) for flame-graph tools."""
    chosen = perf_samples if phase is None else perf_samples.filter(pl.col("gc_phase") == phase)
    folded = chosen.select(pl.col("stack").list.reverse().list.join(";").alias("stack")).group_by("stack").len()
    return [f"{stack} {count}" for stack, count in folded.sort("stack").iter_rows()]


def gc_cpu_compare(perf_samples: pl.DataFrame, gc: pl.DataFrame) -> pl.DataFrame:
    """GC CPU seen by perf beside GC CPU from the gctrace CPU fields, per run, over the cycles perf covered.

    perf counts the sampled period of GC-work stacks (mark, assists, write barriers, STW; not
    sweeping, which the runtime does not count either) over the cycles' wall time × GOMAXPROCS.
    Idle mark workers are in perf's figure but not in gctrace's (the runtime treats them as free),
    so ``gctrace_with_idle_pct`` adds them back: that is the figure perf should match.
    """
    covered = perf_samples.filter(pl.col("gc_num").is_not_null())
    if covered.is_empty():
        return pl.DataFrame(schema={"source": pl.String, "run_id": pl.Int32, "cycles": pl.UInt32,
                                    "perf_gc_cpu_pct": pl.Float64, "gctrace_gc_cpu_pct": pl.Float64,
                                    "gctrace_with_idle_pct": pl.Float64})
    work = pl.col("gc_work").is_in([*MARK_WORK, "stw"])
    perf_ms = covered.group_by("source", "run_id", "gc_num").agg(
        (pl.col("period").filter(work).sum() / 1e6).alias("perf_gc_cpu_ms"))
    cpu = (pl.col("cpu_sweep_term_ms").fill_null(0) + pl.col("cpu_assist_ms").fill_null(0)
           + pl.col("cpu_background_ms").fill_null(0) + pl.col("cpu_mark_term_ms").fill_null(0))
    joined = gc.select("source", "run_id", "gc_num", "wall_ms", "procs", cpu.alias("gctrace_gc_cpu_ms"),
                       pl.col("cpu_idle_ms").fill_null(0).alias("idle_ms")).join(
        perf_ms, on=["source", "run_id", "gc_num"], how="inner")
    capacity = (pl.col("wall_ms") * pl.col("procs")).sum()
    return joined.group_by("source", "run_id", maintain_order=True).agg(
        pl.len().alias("cycles"),
        (pl.col("perf_gc_cpu_ms").sum() / capacity * 100).alias("perf_gc_cpu_pct"),
        (pl.col("gctrace_gc_cpu_ms").sum() / capacity * 100).alias("gctrace_gc_cpu_pct"),
        ((pl.col("gctrace_gc_cpu_ms") + pl.col("idle_ms")).sum() / capacity * 100).alias("gctrace_with_idle_pct"))
