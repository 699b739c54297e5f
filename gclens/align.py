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
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from gclens._errors import InputError
from gclens._schemas import ALIGNMENT, GC_SETTINGS, PERF_SAMPLES, SETTINGS
from gclens._trace import Trace
from gclens.perf import PerfCapture

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

MARK_WORK = ("mark", "assist", "write_barrier")
"""Work that only runs while a cycle is marking: the evidence the offset search looks for."""

GRID_NS = 100_000
"""Resolution of the offset search (0.1 ms); the best bin is then refined at 10 µs."""
TRUNCATION_NS = 1_000_000
"""The printed @ is truncated to ms: a cycle window is padded by 1 ms at its end."""
EXEC_WINDOW_NS = 50_000_000
"""Search window after a perf exec event: measured 0.5–2.2 ms, widened for slow container starts."""
ALIAS_GUARD_NS = 10_000_000
MIN_MARK_SAMPLES = 20
"""Mark samples for a fit to be called good on its own (a leaf-only 100 Hz capture of a few cycles has fewer)."""
MIN_FIT_SAMPLES = 5
"""Fewer mark samples than this are not fitted at all: any offset puts five points somewhere."""
GOOD_MARGIN = 0.1
"""J margin over the best offset more than 10 ms away for a fit to be good: below it the GC period may alias."""
MIN_SCORE = 0.1
"""Below this J the mark samples fit the cycle windows no better than chance: the alignment failed."""
START_WINDOW_NS = 1_000_000_000
"""Half-width of the prior from a wall-clock program start (--start, envelope times): a person's or a
collector's clock, to the second."""

VERDICTS = ("good", "ambiguous", "failed")
"""Confidence in an alignment row: good (one clear offset), ambiguous (an offset, but a rival fits
almost as well or the evidence is thin: read with care), failed (no offset: the note says what to add)."""


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


def _empty(schema: pa.Schema) -> pl.DataFrame:
    frame = pl.from_arrow(schema.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _frame(table: pa.Table) -> pl.DataFrame:
    frame = pl.from_arrow(table)
    assert isinstance(frame, pl.DataFrame)
    return frame


def _arrow(frame: pl.DataFrame, name: str) -> pa.Table:
    from gclens._schemas import ALIGN_SCHEMAS

    schema = ALIGN_SCHEMAS[name]
    return frame.select(schema.names).to_arrow().cast(schema)


def _runs(gc: pl.DataFrame) -> list[tuple[str, int]]:
    return [(s, r) for s, r in gc.select("source", "run_id").unique(maintain_order=True).iter_rows()]


def label_gc_work(samples: pl.DataFrame) -> pl.DataFrame:
    """Add ``gc_work`` (the strongest GC signature on the stack) and ``is_gc_stack``."""
    joined = pl.col("stack").list.join("\n")
    label: Any = pl.lit(None, pl.String)
    for name, pattern in reversed(GC_WORK):
        label = pl.when(joined.str.contains(f"(?m)^{pattern}")).then(pl.lit(name)).otherwise(label)
    return samples.with_columns(label.alias("gc_work")).with_columns(
        pl.col("gc_work").is_not_null().alias("is_gc_stack"))


@dataclass(frozen=True)
class _Windows:
    """A run's cycles as int ns arrays (program time), sorted by start."""

    gc_num: np.ndarray
    start: np.ndarray
    mark_start: np.ndarray
    mark_end: np.ndarray
    end: np.ndarray

    @classmethod
    def of(cls, gc: pl.DataFrame, source: str, run_id: int) -> _Windows:
        run = gc.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)).sort("t_s")
        ms = [run[c].fill_null(0.0).to_numpy() * 1e6 for c in
              ("clock_sweep_term_ms", "clock_mark_ms", "clock_mark_term_ms")]
        start = np.round(run["t_s"].to_numpy() * 1e9).astype(np.int64)
        mark_start = start + ms[0].astype(np.int64)
        mark_end = mark_start + ms[1].astype(np.int64)
        return cls(run["gc_num"].to_numpy(), start, mark_start, mark_end, mark_end + ms[2].astype(np.int64))

    def inside(self, t: np.ndarray, pad: int = TRUNCATION_NS) -> np.ndarray:
        """Whether each program time lies in a cycle window [start, end + pad]."""
        i = np.searchsorted(self.start, t, side="right") - 1
        ok = i >= 0
        return ok & (t <= self.end[np.clip(i, 0, None)] + pad)

    def in_mark(self, t: np.ndarray) -> np.ndarray:
        i = np.searchsorted(self.mark_start, t, side="right") - 1
        ok = i >= 0
        return ok & (t <= self.mark_end[np.clip(i, 0, None)] + TRUNCATION_NS)


@dataclass(frozen=True)
class Prior:
    """Where the offset must lie, from evidence other than the samples' fit, and a best guess."""

    lo: int
    hi: int
    method: str
    note: str
    point: int | None = None  # usable alone when there are too few mark samples to fit
    uncertainty_ms: float | None = None


def align_run(trace: Trace, run: tuple[str, int], samples: pl.DataFrame, capture: PerfCapture,
              settings: pl.DataFrame | None = None) -> dict[str, Any] | None:
    """The best offset of one run against one perf capture, over the pids the capture holds.

    None only when the run has no cycles; otherwise a row whose ``verdict`` says how far to trust
    it, a failed one (``offset_ns`` null) naming in ``note`` what was missing and what to add.
    """
    windows = _Windows.of(trace.gc, *run)
    if not len(windows.start):
        return None
    best: dict[str, Any] | None = None
    for pid in _candidate_pids(samples, capture):
        mine = samples.filter(pl.col("pid") == pid) if pid is not None else samples
        priors = priors_for(trace, run, capture, pid, settings, mine)
        found = _align_pid(windows, mine, capture, pid, priors)
        if best is None or _rank(found) > _rank(best):
            best = found
    if best is None:
        why = "no sample in the capture" if not samples.height else "no process in the capture shows GC mark work"
        best = _failed({"pid": None, "perf_clock": capture.clock, "mark_samples": 0, "cycles": len(windows.start)},
                       why, _advice(trace, run, samples, capture, None, settings))
    elif best["verdict"] == "failed":
        mine = samples.filter(pl.col("pid") == best["pid"]) if best["pid"] is not None else samples
        best = {**best, "note": f"{best['note']}; {_advice(trace, run, mine, capture, best['pid'], settings)}"}
    return {"source": run[0], "run_id": run[1], "perf_source": capture.name, **best}


def _rank(row: dict[str, Any]) -> tuple[int, float]:
    return (2 - VERDICTS.index(row["verdict"]), row["score"] if row["score"] is not None else -1.0)


def _failed(base: dict[str, Any], why: str, advice: str = "") -> dict[str, Any]:
    return {**base, "offset_ns": None, "method": None, "score": None, "margin": None, "runner_up_offset_ns": None,
            "uncertainty_ms": None, "mark_in_window_pct": None, "verdict": "failed",
            "note": f"{why}; {advice}" if advice else why}


def _advice(trace: Trace, run: tuple[str, int], samples: pl.DataFrame, capture: PerfCapture, pid: int | None,
            settings: pl.DataFrame | None) -> str:
    """What would let the run be placed. Too few mark samples need more evidence (call chains, more
    samples) or an anchor that places t = 0 alone (the exec); a fit that aliases needs its search
    narrowed (the process start, the program start)."""
    marks = int(samples["gc_work"].is_in(MARK_WORK).sum()) if samples.height else 0
    wants = []
    if samples.height and samples["stack"].list.len().max() <= 1:  # type: ignore[operator]
        wants.append("record with -g (a leaf frame alone seldom shows GC mark work)")
    if marks < MIN_FIT_SAMPLES:
        wants.append("sample longer or at a higher -F")
    if not any(e.pid == pid for e in capture.exec_events):
        wants.append("start the program under perf (perf record -k mono -g -- ./prog; perf script "
                     "--show-task-events) so that its exec anchors t=0")
    if marks >= MIN_FIT_SAMPLES:
        if _process_start_mono(settings, pid) is None and capture.clock == "monotonic":
            wants.append(f"add a snapshot with the process start (gclens snapshot --pid "
                         f"{pid if pid is not None else 'PID'})")
        if _run_start_ns(trace, run) is None:
            wants.append("give --start (the program's start time, RFC 3339)")
        elif capture.reference is None:
            wants.append("use perf script --header (its reference time ties perf's clock to the wall clock)")
    return "to place it: " + "; or ".join(wants) if wants else "the samples do not fit the cycles at any offset"


def priors_for(trace: Trace, run: tuple[str, int], capture: PerfCapture, pid: int | None,
               settings: pl.DataFrame | None, samples: pl.DataFrame | None = None) -> list[Prior]:
    """Every independent bound on the offset, strongest first: the exec event, journald times, the
    program's wall-clock start, the process start, the process's first sample."""
    priors = []
    exec_ns = next((e.time_ns for e in capture.exec_events if e.pid == pid), None)
    if exec_ns is not None:  # measured: the runtime starts 0.5-2.2 ms after execve
        priors.append(Prior(exec_ns, exec_ns + EXEC_WINDOW_NS, "exec-anchor",
                            f"exec event at {exec_ns} ns", exec_ns + 1_000_000, 1.5))
    if capture.clock == "monotonic":  # the next two are on CLOCK_MONOTONIC; perf's own clock is off by ms
        runs = trace.runs.filter((pl.col("source") == run[0]) & (pl.col("run_id") == run[1]))
        mono = runs["mono_start_ns"][0] if runs.height else None
        if mono is not None:  # journald receipt times: late by the collector's delay, a few ms
            priors.append(Prior(mono - JOURNALD_WINDOW_NS, mono + JOURNALD_WINDOW_NS, "journald-anchor",
                                f"journald monotonic times put t=0 at {mono} ns", int(mono),
                                JOURNALD_WINDOW_NS / 1e6))
    start_ns = _run_start_ns(trace, run)
    if start_ns is not None and capture.reference is not None:  # wall clock -> perf clock by perf's reference
        point = capture.reference[1] + start_ns - capture.reference[0]
        priors.append(Prior(point - START_WINDOW_NS, point + START_WINDOW_NS, "program-start",  # a bound, no point:
                            f"the run's wall-clock start via perf's reference time puts t=0 near {point} ns"))
    start = _process_start_mono(settings, pid) if capture.clock == "monotonic" else None
    if start is not None:  # fork time, 10 ms ticks: the runtime starts later, by ms to seconds
        priors.append(Prior(start - 10_000_000, start + PROCESS_START_WINDOW_NS, "process-start",
                            f"snapshot of pid {pid}: forked at {start} ns"))
    if samples is not None and samples.height and pid is not None:  # the runtime starts before it is sampled
        first = int(samples["time_ns"].min())  # type: ignore[arg-type]
        priors.append(Prior(-(1 << 62), first + EXEC_WINDOW_NS, "first-sample",
                            f"pid {pid} first sampled at {first} ns"))
    return priors


JOURNALD_WINDOW_NS = 20_000_000
PROCESS_START_WINDOW_NS = 10_000_000_000


def _run_start_ns(trace: Trace, run: tuple[str, int]) -> int | None:
    """The run's t = 0 on the wall clock (``--start`` or envelope times), ns since the epoch."""
    runs = trace.runs.filter((pl.col("source") == run[0]) & (pl.col("run_id") == run[1]))
    start = runs["start_ts"][0] if runs.height else None
    return None if start is None else int(start.timestamp() * 1_000_000) * 1000


def _process_start_mono(settings: pl.DataFrame | None, pid: int | None) -> int | None:
    """The process's fork time on CLOCK_MONOTONIC, from a snapshot of it (BOOTTIME minus suspend time)."""
    if settings is None or pid is None or settings.is_empty():
        return None
    mine = settings.filter((pl.col("pid") == pid) & pl.col("key").is_in(
        ["process.start_boottime_ns", "clock.boottime_minus_monotonic_ns"]))
    values = dict(mine.select("key", "value").iter_rows())
    start, lag = values.get("process.start_boottime_ns"), values.get("clock.boottime_minus_monotonic_ns")
    if start is None or lag is None:
        return None
    return int(start) - int(lag)


def _candidate_pids(samples: pl.DataFrame, capture: PerfCapture) -> list[int | None]:
    """Processes that may be the run: those with mark samples, most first; else the exec'd one; else
    the only process sampled."""
    if not samples.height:
        return []
    if samples["pid"].null_count() == samples.height:
        return [None]
    marks = samples.filter(pl.col("gc_work").is_in(MARK_WORK)).group_by("pid").len()
    pids: list[int | None] = list(marks.sort("len", "pid", descending=[True, False])["pid"].to_list())
    seen = set(samples["pid"].to_list())
    execs: list[int | None] = [e.pid for e in capture.exec_events if e.pid in seen]
    if pids or execs:
        return pids[:5] or execs[:1]
    only = samples["pid"].drop_nulls().unique().to_list()
    return only if len(only) == 1 else []


def _search_range(windows: _Windows, times: np.ndarray, priors: list[Prior]) -> tuple[int, int, list[Prior]]:
    """The priors' intersection (the strongest alone if they disagree), else every overlapping offset."""
    lo, hi = int(times.min()) - int(windows.end[-1]) - TRUNCATION_NS, int(times.max())
    used: list[Prior] = []
    for prior in priors:  # strongest first; one that narrows nothing is not named
        if max(lo, prior.lo) <= min(hi, prior.hi) and (prior.lo > lo or prior.hi < hi):
            lo, hi = max(lo, prior.lo), min(hi, prior.hi)
            used.append(prior)
    return lo, hi, used


def _align_pid(windows: _Windows, samples: pl.DataFrame, capture: PerfCapture, pid: int | None,
               priors: list[Prior]) -> dict[str, Any]:
    times = samples["time_ns"].to_numpy().astype(np.int64)
    is_mark = np.isin(samples["gc_work"].to_numpy(), MARK_WORK)
    other = samples["gc_work"].is_null().to_numpy()
    mark_t, other_t = times[is_mark], times[other]
    base = {"pid": pid, "perf_clock": capture.clock, "mark_samples": int(is_mark.sum()),
            "cycles": len(windows.start)}
    anchor = next((p for p in priors if p.point is not None), None)
    if len(mark_t) < MIN_FIT_SAMPLES or not len(other_t):
        why = f"{len(mark_t)} of pid {pid}'s {len(times)} samples show GC mark work, too few to fit"
        if anchor is None or anchor.point is None:
            return _failed(base, why)
        verdict = "good" if anchor.method == "exec-anchor" else "ambiguous"
        return {**base, "offset_ns": anchor.point, "method": anchor.method, "score": None, "margin": None,
                "runner_up_offset_ns": None, "uncertainty_ms": anchor.uncertainty_ms,
                "mark_in_window_pct": _mark_pct(windows, mark_t, anchor.point), "verdict": verdict,
                "note": f"{anchor.note}; {why}, so the anchor alone places it (±{anchor.uncertainty_ms:g} ms)"}
    lo, hi, used = _search_range(windows, times, priors)
    scores = _scores(windows, mark_t, other_t, lo, hi)
    best = int(np.argmax(scores))
    offset = _refine(windows, mark_t, other_t, lo + best * GRID_NS)
    score = _score_at(windows, mark_t, other_t, offset)
    guard = ALIAS_GUARD_NS // GRID_NS
    far = scores.copy()
    far[max(0, best - guard):best + guard + 1] = -np.inf
    second = int(np.argmax(far)) if np.isfinite(far).any() else None
    runner = float(far[second]) if second is not None else None
    margin = None if runner is None else score - runner
    method = "+".join([p.method for p in used] + ["xcorr"])
    searched = "; ".join(p.note for p in used) or "every offset overlapping the capture"
    row = {**base, "offset_ns": offset, "method": method, "score": score, "margin": margin,
           "runner_up_offset_ns": None if second is None else lo + second * GRID_NS,
           "uncertainty_ms": TRUNCATION_NS / 1e6,  # windows start at a truncated @; the fit is finer
           "mark_in_window_pct": _mark_pct(windows, mark_t, offset)}
    note = f"searched [{lo}, {hi}] ns ({searched}); {len(mark_t)} mark samples"
    verdict, why = fit_verdict(score, margin, len(mark_t), bool(used and used[0].method == "exec-anchor"))
    if verdict == "failed":
        return _failed(base, f"{note}; {why}")
    return {**row, "verdict": verdict, "note": f"{note}; {why}" if why else note}


def fit_verdict(score: float, margin: float | None, mark_samples: int, anchored: bool) -> tuple[str, str]:
    """good / ambiguous / failed for an offset search, and why when it is not good.

    The margin is what aliasing threatens (GC is periodic: a shift by one period fits nearly as
    well), the mark-sample count is how much the score can be trusted; an exec anchor confines the
    search to 50 ms after the exec, which no alias survives, so it needs no margin.
    """
    if score < MIN_SCORE:
        return "failed", f"the best offset scores J {score:.3f}: mark samples fit the cycles no better than chance"
    reasons = []
    if margin is not None and margin < GOOD_MARGIN and not anchored:
        reasons.append(f"margin {margin:.3f} < {GOOD_MARGIN}: another offset over 10 ms away fits almost as well "
                       "(GC aliasing at its period)")
    if mark_samples < MIN_MARK_SAMPLES:
        reasons.append(f"only {mark_samples} mark samples (< {MIN_MARK_SAMPLES})")
    return ("ambiguous", "; ".join(reasons)) if reasons else ("good", "")


def _mark_pct(windows: _Windows, mark_t: np.ndarray, offset: int) -> float | None:
    if not len(mark_t):
        return None
    return float(windows.in_mark(mark_t - offset).mean() * 100)


def _scores(windows: _Windows, mark_t: np.ndarray, other_t: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """J for every offset lo + k·GRID_NS in [lo, hi], by FFT cross-correlation of binned samples."""
    n_off = (hi - lo) // GRID_NS + 1
    n_prog = int((windows.end[-1] + TRUNCATION_NS) // GRID_NS) + 2
    mask = np.zeros(n_prog)
    for s, e in zip(windows.start // GRID_NS, (windows.end + TRUNCATION_NS) // GRID_NS, strict=True):
        mask[int(s):int(e) + 1] = 1.0
    size = 1 << int(np.ceil(np.log2(n_off + n_prog)))
    spectrum = np.conj(np.fft.rfft(mask, size))

    def share(t: np.ndarray) -> np.ndarray:
        bins = (t - lo) // GRID_NS
        bins = bins[(bins >= 0) & (bins < n_off + n_prog)]
        hist = np.bincount(bins.astype(np.int64), minlength=n_off + n_prog).astype(float)
        corr = np.fft.irfft(np.fft.rfft(hist, size) * spectrum, size)[:n_off]
        return corr / max(len(t), 1)

    scores: np.ndarray = share(mark_t) - share(other_t)
    return scores


def _score_at(windows: _Windows, mark_t: np.ndarray, other_t: np.ndarray, offset: int) -> float:
    return float(windows.inside(mark_t - offset).mean() - windows.inside(other_t - offset).mean())


def _refine(windows: _Windows, mark_t: np.ndarray, other_t: np.ndarray, coarse: int) -> int:
    """The middle of the best plateau of J within ±2 grid steps, at 10 µs."""
    candidates = np.arange(coarse - 2 * GRID_NS, coarse + 2 * GRID_NS + 1, 10_000)
    values = np.array([_score_at(windows, mark_t, other_t, int(c)) for c in candidates])
    top = np.flatnonzero(values >= values.max() - 1e-12)
    return int(candidates[top[len(top) // 2]])


def label_phases(samples: pl.DataFrame, gc: pl.DataFrame, alignment: list[dict[str, Any]]) -> pl.DataFrame:
    """Give each sample of an aligned pid its run, program time, cycle and GC phase."""
    n = samples.height
    source = np.full(n, None, dtype=object)
    run_id = np.full(n, None, dtype=object)
    t_s = np.full(n, np.nan)
    gc_num = np.full(n, None, dtype=object)
    phase = np.full(n, None, dtype=object)
    times = samples["time_ns"].to_numpy().astype(np.int64)
    pids = samples["pid"].to_numpy()
    for row in alignment:
        windows = _Windows.of(gc, row["source"], row["run_id"])
        mine = np.ones(n, dtype=bool) if row["pid"] is None else pids == row["pid"]
        prog = times[mine] - row["offset_ns"]
        idx = np.flatnonzero(mine)
        source[idx], run_id[idx], t_s[idx] = row["source"], row["run_id"], prog / 1e9
        cycle, labels = _phase_of(windows, prog)
        gc_num[idx], phase[idx] = cycle, labels
    return samples.with_columns(
        pl.Series("source", source.tolist(), dtype=pl.String), pl.Series("run_id", run_id.tolist(), dtype=pl.Int32),
        pl.Series("t_s", t_s, dtype=pl.Float64).fill_nan(None),
        pl.Series("gc_num", gc_num.tolist(), dtype=pl.Int64), pl.Series("gc_phase", phase.tolist(), dtype=pl.String))


def _phase_of(windows: _Windows, prog: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cycle and phase at each program time: sweep_term, mark, mark_term, or none."""
    i = np.clip(np.searchsorted(windows.start, prog, side="right") - 1, 0, None)
    started = prog >= windows.start[i]
    phase = np.where(~started | (prog >= windows.end[i]), "none",
                     np.where(prog < windows.mark_start[i], "sweep_term",
                              np.where(prog < windows.mark_end[i], "mark", "mark_term")))
    cycle = windows.gc_num[i].astype(object)
    cycle[phase == "none"] = None
    return cycle, phase.astype(object)


BOOT_TOLERANCE_NS = 30_000_000_000
"""Two readings of (CLOCK_REALTIME - CLOCK_MONOTONIC) within this belong to one boot: NTP slews it by
ms a day, a reboot moves it by the boot's whole uptime."""


def gc_settings(trace: Trace, settings: pl.DataFrame, alignment: pl.DataFrame,
                boot_walls: dict[str, int] | None = None) -> pl.DataFrame:
    """Each cycle with the snapshot in effect at its start (as-of join on CLOCK_MONOTONIC), within one boot.

    CLOCK_MONOTONIC restarts at every boot, so a snapshot is only joined to a run of its own boot:
    the run's boot is known from journald's boot id, or from the wall-clock time of its monotonic
    zero (perf's reference time, the run's wall-clock start) matched to the snapshots' clock pairs.
    Snapshots with a wall-clock time only (``sysctl -a`` text) are put on the boot's monotonic clock
    through that same zero. ``boot_walls`` maps a perf source to its (realtime - monotonic).
    """
    snaps = _snapshot_clocks(settings)
    frames = []
    for source, run_id in _runs(trace.gc):
        mono_start, basis, pid, boot_wall, boot_id = _time_basis(trace, snaps, alignment, source, run_id,
                                                                 boot_walls or {})
        mine, why = _same_boot(snaps, boot_wall, boot_id)
        if why:
            basis = f"{basis}; {why}" if basis else why
        cycles = trace.gc.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)).select(
            "source", "run_id", "gc_num", "t_s")
        cycles = cycles.with_columns(
            (pl.lit(mono_start, pl.Int64) + (pl.col("t_s") * 1e9).round().cast(pl.Int64)).alias("mono_ns"),
            pl.lit(basis, pl.String).alias("time_basis"))
        if pid is not None:
            mine = mine.filter(pl.col("pid").is_null() | (pl.col("pid") == pid))
        frames.append(_asof(cycles, mine))
    if not frames:
        return _empty(GC_SETTINGS)
    return pl.concat(frames).select(GC_SETTINGS.names)


def _snapshot_clocks(settings: pl.DataFrame) -> pl.DataFrame:
    """One row per snapshot: its clocks, and the wall-clock time of its boot's monotonic zero."""
    wall = pl.col("captured_ts").dt.epoch("us") * 1000
    return (settings.select("snapshot_id", "captured_mono_ns", "captured_ts", "boot_id", "host", "pid")
            .unique("snapshot_id", maintain_order=True)
            .with_columns(wall.alias("wall_ns"), (wall - pl.col("captured_mono_ns")).alias("boot_wall_ns")))


def _same_boot(snaps: pl.DataFrame, boot_wall: int | None, boot_id: str | None) -> tuple[pl.DataFrame, str]:
    """The snapshots of the run's boot, each with a monotonic capture time; why others were left out."""
    boots = snaps.drop_nulls("boot_id")["boot_id"].unique().to_list()
    if boot_id is None and boot_wall is not None:
        near = snaps.filter((pl.col("boot_wall_ns") - boot_wall).abs() < BOOT_TOLERANCE_NS).drop_nulls("boot_id")
        boot_id = near["boot_id"][0] if near.height else None
    if boot_id is None and len(boots) > 1:
        return snaps.clear(), (f"snapshots from {len(boots)} boots and nothing ties the run to one "
                               "(record perf with --header, or give --start): none joined")
    chosen = boot_id if boot_id is not None else (boots[0] if boots else None)
    # journald writes the boot id without dashes, /proc/sys/kernel/random/boot_id with them
    same = pl.col("boot_id").str.replace_all("-", "").str.to_lowercase()
    own = same == chosen.replace("-", "").lower() if chosen is not None else pl.lit(False)
    if boot_wall is not None:
        later = snaps.filter(pl.col("boot_wall_ns") > boot_wall + BOOT_TOLERANCE_NS)["boot_wall_ns"].min()
        after = pl.col("wall_ns") >= boot_wall
        if later is not None:
            after = after & (pl.col("wall_ns") < later)
        own = own | (pl.col("boot_id").is_null() & after)  # wall-clock only: taken during this boot
        mono = pl.coalesce(pl.col("captured_mono_ns"), pl.col("wall_ns") - boot_wall)
    else:
        own = own | pl.col("boot_id").is_null()
        mono = pl.col("captured_mono_ns")
    mine = snaps.filter(own).with_columns(mono.alias("captured_mono_ns")).drop_nulls("captured_mono_ns")
    left = snaps.height - snaps.filter(own).height
    why = f"{left} snapshot(s) of another boot left out" if left and len(boots) > 1 else ""
    return mine.sort("captured_mono_ns"), why


def _asof(cycles: pl.DataFrame, snaps: pl.DataFrame) -> pl.DataFrame:
    if cycles["mono_ns"].null_count() == cycles.height or snaps.is_empty():
        return cycles.with_columns(pl.lit(None, pl.String).alias("snapshot_id"),
                                   pl.lit(None, pl.Float64).alias("snapshot_age_s"))
    ordered = cycles.with_row_index("_order").sort("mono_ns", nulls_last=True)
    joined = ordered.join_asof(snaps.select("snapshot_id", "captured_mono_ns"), left_on="mono_ns",
                               right_on="captured_mono_ns", strategy="backward")
    age = (pl.col("mono_ns") - pl.col("captured_mono_ns")) / 1e9
    return joined.with_columns(age.alias("snapshot_age_s")).sort("_order").drop("_order", "captured_mono_ns")


def _time_basis(trace: Trace, snaps: pl.DataFrame, alignment: pl.DataFrame, source: str, run_id: int,
                boot_walls: dict[str, int]) -> tuple[int | None, str | None, int | None, int | None, str | None]:
    """CLOCK_MONOTONIC of the run's t = 0, how it was found, the run's pid when known, and what is
    known of its boot: the wall-clock time of the boot's monotonic zero, and its boot id."""
    mono = alignment.filter((pl.col("source") == source) & (pl.col("run_id") == run_id)
                            & (pl.col("perf_clock") == "monotonic") & pl.col("offset_ns").is_not_null())
    if mono.height:
        row = mono.sort("score", descending=True, nulls_last=True).row(0, named=True)
        return (int(row["offset_ns"]), f"perf -k mono ({row['method']}, {row['verdict']})", row["pid"],
                boot_walls.get(row["perf_source"]), None)
    runs = trace.runs.filter((pl.col("source") == source) & (pl.col("run_id") == run_id))
    run = runs.row(0, named=True) if runs.height else {}
    start_ns = _run_start_ns(trace, (source, run_id))
    if run.get("mono_start_ns") is not None:
        wall = None if start_ns is None else start_ns - int(run["mono_start_ns"])
        return int(run["mono_start_ns"]), "journald monotonic", None, wall, run.get("boot_id")
    if start_ns is not None:  # the boot that began last before the run started
        boots = snaps.drop_nulls("boot_wall_ns").filter(pl.col("boot_wall_ns") <= start_ns)
        if boots.height:
            row = boots.sort("boot_wall_ns").row(-1, named=True)
            return (start_ns - int(row["boot_wall_ns"]), f"wall clock ({run['anchor']}) via snapshot clock pair",
                    None, int(row["boot_wall_ns"]), row["boot_id"])
    return None, None, None, None, None


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
