"""The offset search of ``gclens.align``: where a run's t = 0 lies on a perf capture's clock.

The exec anchor confines the search when perf saw the program start; otherwise an FFT
cross-correlation scores every candidate offset at once (Youden contrast of GC-mark samples inside
cycle windows against other samples), and the runner-up and margin say how much to trust it.
Split from ``align.py`` so that the public module reads as the pipeline (align, label, join)
and this one as the statistics.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa

from gclens.context.perf import PerfCapture
from gclens.pipeline.trace import Trace

__all__ = ["ALIAS_GUARD_NS", "EXEC_WINDOW_NS", "GOOD_MARGIN", "GRID_NS", "JOURNALD_WINDOW_NS", "MARK_WORK",
           "MIN_FIT_SAMPLES", "MIN_MARK_SAMPLES", "MIN_SCORE", "PROCESS_START_WINDOW_NS", "START_WINDOW_NS",
           "TRUNCATION_NS", "VERDICTS", "Prior", "align_run", "fit_verdict", "label_phases", "priors_for"]

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


def _empty(schema: pa.Schema) -> pl.DataFrame:
    frame = pl.from_arrow(schema.empty_table())
    assert isinstance(frame, pl.DataFrame)
    return frame


def _runs(gc: pl.DataFrame) -> list[tuple[str, int]]:
    return [(s, r) for s, r in gc.select("source", "run_id").unique(maintain_order=True).iter_rows()]
