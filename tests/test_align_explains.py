"""A line-up that explains itself (issue #21, part 3), on the real captures of sample_traces/perf.

A capture recorded without ``-g`` is made from a real ``-g`` capture by keeping each sample's leaf
frame only (what ``perf script`` prints for such a recording) and cutting it after a few cycles;
``sysctl -a`` text snapshots are the real JSON snapshots' sysctls written as text, timed by a gclens
header, by the file's mtime, or by ``--snapshot-time``.
"""

from __future__ import annotations

import gzip
import json
import os
import re
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from gclens import read_trace
from gclens.cli import EXIT_NOT_ALIGNED, main
from gclens.context.align import align
from gclens.context.perf import read_perf
from gclens.context.settings import read_settings, settings_changes, sysctl_text_rows
from gclens.context.snapshot import sysctl_text

PERF = Path(__file__).parent.parent / "sample_traces" / "perf"
CAPTURES = {c["dir"]: c for c in json.loads((PERF / "manifest.json").read_text())["captures"]}
ATTACH = "go1.26-attach-mono"  # perf attached 0.5 s after the start: no exec event to anchor t = 0
SERIES = "go1.19-exec-mono"  # 4 JSON snapshots taken around the run, perf with --header


def leaf_only(src: Path, until_ns: int, every: int = 1) -> str:
    """perf script text of a ``-g`` capture as a capture without ``-g`` prints it: each sample on one
    line with its leaf frame, samples after ``until_ns`` dropped, one sample in ``every`` kept."""
    out: list[str] = []
    head: str | None = None
    frames: list[str] = []
    kept = 0

    def flush() -> None:
        nonlocal kept
        if head is not None and int(re.search(r"(\d+)\.(\d{9}):", head)[1] + re.search(  # type: ignore[index]
                r"(\d+)\.(\d{9}):", head)[2]) <= until_ns:  # type: ignore[index]
            if kept % every == 0:
                out.append(f"{head.rstrip()} {frames[0] if frames else '0 [unknown] ([unknown])'}")
            kept += 1

    with gzip.open(src, "rt") as fh:
        text = fh.read()
    for line in text.splitlines():
        if line.startswith("\t"):
            frames.append(line.strip())
        elif line.rstrip().endswith(":") and not line.startswith("#"):
            flush()
            head, frames = line, []
        elif line.strip():
            flush()
            head = None
            out.append(line)
    flush()
    return "\n".join(out) + "\n"


def few_cycles(tmp: Path, every: int) -> tuple[Path, Path, int]:
    """The attach capture cut to its first 16 cycles (the first 4 of them sampled), leaf frames only."""
    capture = CAPTURES[ATTACH]
    theta = int(capture["theta_mono_ns"])
    lines = (PERF / ATTACH / "trace.stderr").read_text().splitlines(keepends=True)
    gc = [i for i, line in enumerate(lines) if line.startswith("gc ")]
    trace = tmp / "trace.log"
    trace.write_text("".join(lines[:gc[16]]))
    perf = tmp / f"leaf-every{every}.txt"
    perf.write_text(leaf_only(PERF / ATTACH / "perf.txt.gz", theta + 1_035_000_000, every))
    return trace, perf, theta


def test_the_leaf_only_capture_has_no_call_chains_and_few_cycles(tmp_path: Path) -> None:
    trace, perf, _ = few_cycles(tmp_path, 3)
    samples = read_perf(perf).samples
    assert max(len(s) for s in samples.column("stack").to_pylist()) == 1
    assert 20 <= samples.num_rows <= 60 and read_trace(trace).gc.height == 16
    assert not read_perf(perf).exec_events


def test_leaf_only_few_cycles_align_near_the_truth_and_say_how_sure(tmp_path: Path) -> None:
    """Before: '34 read, 0 placed', no alignment row, exit 0. The leaf signatures (findObject, the
    go1.26 span scanner) find the mark work, and the first sample bounds t = 0 from above."""
    trace, perf, theta = few_cycles(tmp_path, 3)
    result = align(read_trace(trace), [read_perf(perf)])
    row = result.alignment.row(0, named=True)
    assert abs(row["offset_ns"] - theta) <= 1_000_000
    assert row["verdict"] == "ambiguous" and "mark samples (< 20)" in row["note"]
    assert "first-sample" in row["method"]
    assert result.perf_samples["gc_phase"].null_count() == 0


def test_leaf_only_alignment_that_cannot_be_made_says_why_and_exits_5(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    trace, perf, _ = few_cycles(tmp_path, 12)
    code = main(["align", str(trace), "--perf", str(perf), "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == EXIT_NOT_ALIGNED == 5
    failed = next(line for line in err.splitlines() if "cannot align" in line)
    assert "too few to fit" in failed and "record with -g" in failed and "exec anchors t=0" in failed
    assert "0 placed" in err
    alignment = pl.read_parquet(tmp_path / "out" / "alignment.parquet")
    assert alignment["verdict"].to_list() == ["failed"] and alignment["offset_ns"].null_count() == 1


def test_the_same_capture_with_its_exec_aligns(tmp_path: Path) -> None:
    """With too few mark samples to fit, the exec event alone places t = 0 (measured 0.5-2.2 ms)."""
    capture = CAPTURES["go1.26-exec-mono"]
    theta = int(capture["theta_mono_ns"])
    perf = tmp_path / "leaf.txt"
    perf.write_text(leaf_only(PERF / capture["dir"] / "perf.txt.gz", theta + 60_000_000, 40))
    row = align(read_trace(PERF / capture["dir"] / "trace.stderr"), [read_perf(perf)]).alignment.row(0, named=True)
    assert row["method"] == "exec-anchor" and row["verdict"] == "good"
    assert abs(row["offset_ns"] - theta) <= 2_500_000


@pytest.mark.parametrize("perf", ["/dev/null", "empty"])
def test_an_empty_perf_file_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], perf: str) -> None:
    if perf == "empty":
        perf = str(tmp_path / "perf.txt")
        Path(perf).write_text("# ========\n# captured on    : Fri Nov 27 03:07:09 2026\n")
    code = main(["align", str(PERF / ATTACH / "trace.stderr"), "--perf", perf, "-o", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("gclens: error:") and "no perf samples" in err and perf in err


# --- snapshots: sysctl -a text series, boots, multi-line values ---------------------------------

@cache
def _series_docs() -> tuple[dict[str, Any], ...]:
    return tuple(json.loads(line) for line in (PERF / SERIES / "snapshots.jsonl").read_text().splitlines())


def _plain(doc: dict[str, Any]) -> str:
    return sysctl_text(doc).split("\n", 1)[1]  # as `sysctl -a` prints it: no header


@cache
def _json_aligned() -> tuple[pl.DataFrame, pl.DataFrame]:
    result = align(read_trace(PERF / SERIES / "trace.stderr"), [read_perf(PERF / SERIES / "perf.txt.gz")],
                   read_settings(PERF / SERIES / "snapshots.jsonl"))
    return result.gc_settings, result.settings


def _order(gc: pl.DataFrame, settings: pl.DataFrame) -> list[int | None]:
    """Which snapshot of the series (by capture time) each cycle got."""
    taken = settings.unique("snapshot_id").sort("captured_ts")["snapshot_id"].to_list()
    return [None if s is None else taken.index(s) for s in gc["snapshot_id"].to_list()]


@pytest.mark.parametrize("timing", ["header", "mtime", "file name"])
def test_a_sysctl_a_series_taken_around_a_run_is_matched_to_its_cycles(tmp_path: Path, timing: str) -> None:
    """Before: sysctl -a text had no capture time, '0 of 59 cycles' matched."""
    directory = tmp_path / "snaps"
    directory.mkdir()
    for number, doc in enumerate(_series_docs()):
        real = doc["captured"]["realtime_ns"]
        stamp = np.datetime_as_string(np.datetime64(real, "ns"), unit="us").replace(":", "")
        name = f"sysctl-{stamp}Z.txt" if timing == "file name" else f"sysctl-{number}.txt"
        path = directory / name
        path.write_text(sysctl_text(doc) if timing == "header" else _plain(doc))
        os.utime(path, ns=(real, real if timing == "mtime" else real + 86_400 * 10**9 * (number + 1)))
    settings = read_settings(directory)
    assert settings["time_source"].unique().to_list() == [{"header": "snapshot"}.get(timing, timing)]
    result = align(read_trace(PERF / SERIES / "trace.stderr"), [read_perf(PERF / SERIES / "perf.txt.gz")], settings)
    json_gc, json_settings = _json_aligned()
    ours, truth = _order(result.gc_settings, settings), _order(json_gc, json_settings)
    assert sum(o is not None for o in ours) >= 0.85 * len(ours)  # the first cycles ran before the first capture
    assert ours == truth  # the same snapshot in effect as the JSON series gives, cycle by cycle
    ages = result.gc_settings["snapshot_age_s"].to_numpy() - json_gc["snapshot_age_s"].to_numpy()
    assert np.nanmax(np.abs(ages)) < (1e-9 if timing == "header" else 2e-3)  # mtime: wall clock via perf's reference


def test_mtime_timing_is_said_and_snapshot_time_overrides_it(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    doc = _series_docs()[0]
    path = tmp_path / "sysctl.txt"
    path.write_text(_plain(doc))
    out = str(tmp_path / "out")
    assert main(["align", str(PERF / SERIES / "trace.stderr"), "--snapshot", str(path), "-o", out]) == 0
    assert "1 snapshot(s) timed by the file's mtime" in capsys.readouterr().err
    when = "2026-11-27T06:56:20Z"
    assert main(["align", "--snapshot", str(path), "--snapshot-time", when, str(PERF / SERIES / "trace.stderr"),
                 "--perf", str(PERF / SERIES / "perf.txt.gz"), "-o", out]) == 0
    assert "1 snapshot(s) timed by --snapshot-time" in capsys.readouterr().err
    gc = pl.read_parquet(Path(out) / "gc_settings.parquet")
    assert gc["snapshot_id"].null_count() == 0  # taken before the run: in effect for every cycle


def test_a_directory_with_two_boots_never_pairs_a_cycle_with_the_other_boots_clocks(tmp_path: Path) -> None:
    """The same captures again from another boot, a day later, whose CLOCK_MONOTONIC readings happen
    to fall on the run's: an as-of join on monotonic time alone would pick them."""
    directory = tmp_path / "snaps"
    directory.mkdir()
    lines = (PERF / SERIES / "snapshots.jsonl").read_text().splitlines()
    (directory / "this-boot.jsonl").write_text("\n".join(lines) + "\n")
    other = []
    for doc in _series_docs():
        doc = json.loads(json.dumps(doc))
        doc["boot_id"] = "00000000-0000-4000-8000-000000000000"
        for clocks in (doc["captured"], doc["captured_end"]):
            clocks["realtime_ns"] += 86_400 * 10**9
            clocks["monotonic_ns"] += 1_000_000  # just after each real capture, on the other boot's clock
        other.append(json.dumps(doc))
    (directory / "other-boot.jsonl").write_text("\n".join(other) + "\n")
    settings = read_settings(directory)
    assert settings["boot_id"].n_unique() == 2
    trace, perf = read_trace(PERF / SERIES / "trace.stderr"), read_perf(PERF / SERIES / "perf.txt.gz")
    result = align(trace, [perf], settings)
    own = settings.filter(pl.col("boot_id") == _series_docs()[0]["boot_id"])["snapshot_id"].unique()
    matched = result.gc_settings["snapshot_id"].drop_nulls()
    assert matched.len() and matched.is_in(own.implode()).all()
    assert result.gc_settings["snapshot_id"].to_list() == _json_aligned()[0]["snapshot_id"].to_list()
    assert "4 snapshot(s) of another boot left out" in result.gc_settings["time_basis"][0]
    # perf without --header: nothing ties the run to a boot, so nothing is joined rather than a guess
    blind = type(perf)(**{**perf.__dict__, "reference": None})
    unsure = align(trace, [blind], settings).gc_settings
    assert unsure["snapshot_id"].null_count() == unsure.height
    assert "nothing ties the run to one" in unsure["time_basis"][0]


MULTI = """kernel.core_modes = full
kernel.core_modes = compact
kernel.core_modes = filtered
kernel.core_modes = none
kernel.core_modes = raw
vm.swappiness = 60
"""


def test_a_multi_line_value_is_one_value(tmp_path: Path) -> None:
    rows = list(sysctl_text_rows(MULTI))
    assert rows == [("sysctl", "kernel.core_modes", "full compact filtered none raw", None),
                    ("sysctl", "vm.swappiness", "60", None)]
    for n in (1, 2):
        (tmp_path / f"s{n}.txt").write_text(MULTI)
        os.utime(tmp_path / f"s{n}.txt", (1_795_762_583 + n, 1_795_762_583 + n))
    assert settings_changes(read_settings(sorted(tmp_path.glob("s*.txt")))).is_empty()  # before: 5 fake changes
    tree = tmp_path / "proc_sys" / "kernel"
    tree.mkdir(parents=True)
    (tree / "core_modes").write_text("full\ncompact\nfiltered\nnone\nraw\n")
    from_tree = read_settings(tmp_path / "proc_sys").filter(pl.col("key") == "kernel.core_modes")["value"]
    assert from_tree.to_list() == ["full compact filtered none raw"]  # a /proc/sys read gives the same value


def test_a_gclens_sysctl_snapshot_keeps_its_clocks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "snap.txt"
    assert main(["snapshot", "--format", "sysctl", "-o", str(path)]) == 0
    header = path.read_text().splitlines()[0]
    assert re.fullmatch(r"# gclens snapshot \S+Z boot_id=\S+ monotonic_ns=\d+ host=\S+ pid=host", header)
    row = read_settings(path).row(0, named=True)
    assert row["time_source"] == "snapshot" and row["captured_mono_ns"] and row["boot_id"]


@pytest.mark.parametrize("order", ["snapshot-first", "file-first"])
def test_summary_shows_what_perf_and_snapshots_added(order: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Before: summary --perf P --snapshot S printed plain summary; --snapshot S FILE swallowed FILE."""
    directory = PERF / "go1.19-cgroup-change"
    trace, snaps, perf = str(directory / "trace.stderr"), str(directory / "snapshots.jsonl"), str(
        directory / "perf.txt.gz")
    args = (["summary", "--snapshot", snaps, trace, "--perf", perf] if order == "snapshot-first"
            else ["summary", trace, "--perf", perf, "--snapshot", snaps])
    assert main(args) == 0
    out = capsys.readouterr().out
    assert main(["summary", trace]) == 0
    plain = capsys.readouterr().out
    added = out[len(plain):]
    assert out.startswith(plain.split("  ERROR")[0]) and "what --perf/--snapshot added" in added
    assert re.search(r"perf \S+ pid \d+: good: t=0 at", added)
    assert re.search(r"perf samples by GC phase: .*mark [\d,]+ \(\d+\.\d %, GC work \d+ %\)", added)
    assert "settings in effect: GOMAXPROCS=2" in added
    assert "changed during the run: cpu.cfs_quota_us -1 -> 50000" in added
    assert "settings WARNING gomaxprocs-over-quota" in added


def test_check_text_shows_the_added_sections_and_json_stays_clean(capsys: pytest.CaptureFixture[str]) -> None:
    directory = PERF / "go1.19-cgroup-change"
    trace = str(directory / "trace.stderr")
    main(["check", "--perf", str(directory / "perf.txt.gz"), trace, "--snapshot", str(directory / "snapshots.jsonl")])
    assert "what --perf/--snapshot added" in capsys.readouterr().out
    main(["check", trace, "--perf", str(directory / "perf.txt.gz"), "--format", "json"])
    captured = capsys.readouterr()
    json.loads(captured.out)
    assert "perf samples by GC phase" in captured.err


def test_a_tiny_margin_is_ambiguous_and_printed_as_a_warning(tmp_path: Path) -> None:
    """Before: a fit with margin 0.019 printed like any other. The verdict rule, then the real output."""
    from gclens.context.align import fit_verdict
    from gclens.present.render import alignment_text

    assert fit_verdict(0.62, 0.019, 400, anchored=False)[0] == "ambiguous"
    assert "margin 0.019 < 0.1" in fit_verdict(0.62, 0.019, 400, anchored=False)[1]
    assert fit_verdict(0.62, 0.019, 400, anchored=True) == ("good", "")  # the exec window admits no alias
    assert fit_verdict(0.05, 0.5, 400, anchored=False)[0] == "failed"
    trace, perf, _ = few_cycles(tmp_path, 3)
    text = alignment_text(align(read_trace(trace), [read_perf(perf)]))
    assert ": ambiguous: t=0 at" in text and "\n  warning: ambiguous alignment: only 15 mark samples" in text
