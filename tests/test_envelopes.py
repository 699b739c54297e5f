"""Collector envelopes around real sample runs: the same rows as the raw stderr, and a wall-clock
anchor that agrees with the program's own clock (its start time and the runtime's PauseEnd)."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from envelope_variants import BOOT_ID, MONO_AT_EPOCH_NS, VARIANTS, wrap

import gclens
from conftest import CORPUS, SAMPLES, run
from gclens.pipeline.parse import LineTaker

RUNS = ["go1.21/churn-full", "go1.25/churn-full", "go1.27/goroutines-detail"]
ENVELOPE_COLUMNS = ["source", "ts", "log_ts", "stream", "host", "unit", "container", "pid"]


def _sample(name: str) -> tuple[str, dict[str, Any]]:
    return (SAMPLES / f"{name}.stderr").read_text(), json.loads((SAMPLES / f"{name}.truth.json").read_text())


def _read(text: str, **kwargs: Any) -> gclens.Trace:
    return gclens.read_trace(io.BytesIO(text.encode()), year=2026, **kwargs)


@pytest.mark.parametrize("name", RUNS)
@pytest.mark.parametrize("envelope", sorted(VARIANTS))
def test_envelope_gives_the_raw_rows_and_a_true_anchor(name: str, envelope: str) -> None:
    raw, truth = _sample(name)
    plain = _read(raw)
    wrapped = _read(wrap(raw, truth, envelope))
    assert wrapped.sources["envelope"].to_list() == [envelope]
    for table in ("gc", "pacer", "sched", "sched_p", "sched_g", "scav", "events"):
        expected = plain.frame(table).drop(ENVELOPE_COLUMNS)
        if envelope == "cri":  # CRI's P pieces shift physical line numbers
            expected = expected.drop("line_no", *(["sched_line_no"] if "sched_line_no" in expected.columns else []))
            got = wrapped.frame(table).drop(ENVELOPE_COLUMNS).select(expected.columns)
        else:
            got = wrapped.frame(table).drop(ENVELOPE_COLUMNS)
        assert got.equals(expected), table
    assert wrapped.rejects.height == plain.rejects.height == 0
    src = wrapped.sources.row(0, named=True)
    assert src["lines_read"] == src["runtime_lines"] + src["other_lines"] + src["joined_lines"]
    runs = wrapped.runs.row(0, named=True)
    if envelope == "journald-monotonic":  # monotonic times only: no wall clock, but a monotonic anchor
        assert runs["start_ts"] is None and wrapped.gc["ts"].null_count() == wrapped.gc.height
        error_ms = (runs["mono_start_ns"] + MONO_AT_EPOCH_NS - truth["start_unix_ns"]) / 1e6
        assert -5 < error_ms < 1
        return
    start_ns = int(wrapped.runs.select(pl.col("start_ts").dt.epoch("ns")).item())
    offsets = wrapped.gc.select(pl.col("ts").dt.epoch("ns") - start_ns, (pl.col("t_s") * 1e9).round().cast(pl.Int64))
    assert offsets.to_series(0).equals(offsets.to_series(1), check_names=False)  # to the nanosecond
    error_ms = (start_ns - truth["start_unix_ns"]) / 1e6
    # late by the collector delay and the truncated @ (both push it up); runtime start precedes main()
    assert -5 < error_ms < 1
    assert runs["anchor"].startswith("median of") and runs["anchor_spread_ms"] < 1
    ts = wrapped.gc.select(pl.col("ts").dt.epoch("ns"), "gc_num", "wall_ms")
    assert ts["ts"].is_sorted()
    ends = {p["gc_num"]: p["pause_end_unix_ns"] for p in truth["pauses"]}
    worst = max(abs(t + w * 1e6 - ends[n]) for t, n, w in ts.iter_rows()) / 1e6
    assert worst < 2.0, f"cycle end off by {worst:.3f} ms"
    if envelope == "journald-json":
        assert runs["boot_id"] == BOOT_ID and runs["mono_start_ns"] is not None
        assert set(wrapped.gc["host"]) == {"node1"} and set(wrapped.gc["unit"]) == {"app.service"}


def test_start_flag_anchors_a_raw_trace(tmp_path: Path) -> None:
    trace = gclens.read_trace(SAMPLES / "go1.21/churn-full.stderr", start="2026-11-27T04:00:00.5Z")
    first = trace.gc.row(0, named=True)
    assert first["ts"] == datetime(2026, 11, 27, 4, 0, 0, 500_000, UTC) + timedelta(seconds=first["t_s"])
    assert trace.runs["anchor"].to_list() == ["given by the user (--start)"]
    out = tmp_path / "o"
    proc = run("parse", str(SAMPLES / "go1.21/churn-full.stderr"), "--start", "2026-11-27T04:00:00Z",
               "-o", str(out))
    assert proc.returncode == 0
    assert pl.read_parquet(out / "gc.parquet")["ts"].null_count() == 0
    bad = run("parse", str(SAMPLES / "go1.21/churn-full.stderr"), "--start", "yesterday")
    assert bad.returncode == 2 and "expected an RFC 3339 time" in bad.stderr


def test_no_envelope_no_anchor() -> None:
    trace = gclens.read_trace(SAMPLES / "go1.21/churn-full.stderr")
    assert trace.runs["start_ts"].to_list() == [None] and trace.gc["ts"].null_count() == trace.gc.height


def test_envelope_can_be_forced_and_unknown_names_are_usage_errors() -> None:
    raw, truth = _sample(RUNS[0])
    forced_raw = _read(wrap(raw, truth, "kubectl"), envelope="raw")
    assert forced_raw.gc.height == _read(raw).gc.height and forced_raw.gc["log_ts"].null_count() > 0
    with pytest.raises(gclens.UsageError, match="unknown envelope 'k8s'"):
        _read(raw, envelope="k8s")


@pytest.mark.parametrize("name,envelope,anchored", [
    ("005-go116-syslog-timestamp-prefix-44554.txt", "syslog", True),
    ("026-go162-stdlog-prefix-GCforced-pacer-16293.txt", "golog", True),
    ("012-cockroach-klog-stderr-32P-64907.txt", "raw", False),
])
def test_corpus_envelopes(name: str, envelope: str, anchored: bool) -> None:
    trace = gclens.read_trace(CORPUS / name, year=2021)
    assert trace.sources["envelope"].to_list() == [envelope]
    assert (trace.runs["start_ts"].null_count() == 0) is anchored


@pytest.mark.parametrize("line,envelope,text,fields", [
    ("I1127 04:51:05.123456    4242 main.go:42] gc 1 @0.012s 1%: x", "klog", "gc 1 @0.012s 1%: x",
     {"log_ts_ns": 1795755065123456000, "pid": 4242}),
    ("2026-11-27T04:51:05+0000 node1 app[4242]: GC forced", "syslog-iso", "GC forced",
     {"log_ts_ns": 1795755065000000000, "host": "node1", "unit": "app", "pid": 4242}),
    ("Nov 27 04:51:05 node1 app[4242]: GC forced", "syslog", "GC forced",
     {"log_ts_ns": 1795755065000000000, "log_ts_res_ns": 10**9, "host": "node1"}),
    ("<14>1 2026-11-27T04:51:05.5Z node1 app 4242 ID47 [exampleSDID@32473 iut=\"3\"] GC forced",
     "syslog-iso", "GC forced", {"log_ts_ns": 1795755065500000000, "log_ts_res_ns": 10**8, "pid": 4242}),
    ("2026-11-27T04:51:05.123456789+01:00 stderr F GC forced", "cri", "GC forced",
     {"log_ts_ns": 1795751465123456789, "log_ts_res_ns": 1, "stream": "stderr"}),
])
def test_decoders_read_each_documented_layout(line: str, envelope: str, text: str, fields: dict[str, Any]) -> None:
    from gclens.read.envelopes import ENVELOPES, Clock

    piece = ENVELOPES[envelope](line, Clock(year=2026))
    assert piece is not None and piece.text == text
    assert {k: getattr(piece.meta, k) for k in fields} == fields


def test_docker_split_lines_are_joined() -> None:
    line = "gc 1 @0.012s 1%: 0.022+0.16+0.058 ms clock, 0.044+0.070/0.046/0.021+0.11 ms cpu, " \
           "3->4->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P"
    pieces = [line[:30], line[30:70], line[70:] + "\n"]
    text = "".join(json.dumps({"log": p, "stream": "stderr", "time": f"2026-11-27T04:51:05.{i}Z"}) + "\n"
                   for i, p in enumerate(pieces, 1))
    trace = _read(text)
    assert trace.gc.height == 1 and trace.sources["joined_lines"].to_list() == [2]
    assert str(trace.gc["log_ts"][0]) == "2026-11-27 04:51:05.100000+00:00"


@pytest.mark.parametrize("path,container", [
    ("/var/log/pods/shop_checkout-7d9f_0a1b2c3d-4e5f/app/0.log", "shop/checkout-7d9f/app"),
    ("/var/log/containers/checkout-7d9f_shop_app-" + "ab" * 32 + ".log", "shop/checkout-7d9f/app"),
    ("/var/lib/docker/containers/" + "c0" * 32 + "/" + "c0" * 32 + "-json.log", "c0c0c0c0c0c0"),
    ("/srv/app.log", None),
])
def test_container_from_the_log_path(tmp_path: Path, path: str, container: str | None) -> None:
    from gclens.read.envelopes import container_from_path

    assert container_from_path(path) == container
    if container and path.startswith("/var/log/pods/"):
        log = tmp_path / path.lstrip("/")
        log.parent.mkdir(parents=True)
        raw, truth = _sample(RUNS[0])
        log.write_text(wrap(raw, truth, "cri"))
        assert set(gclens.read_trace(log).gc["container"]) == {container}


APP_LINES = ['{"level":"info","msg":"request served","path":"/api/v1/items/7","status":200}',
             "2026/11/27 04:51:05 worker 3: cache miss ratio 0.25 -> resizing", "GET /healthz 200 0.4ms"]


@pytest.mark.parametrize("envelope", sorted(VARIANTS))
def test_enveloped_logs_skip_application_output_and_give_the_reference_tables(
        envelope: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The fast engine reads only the lines that may hold runtime output (and the pieces a
    collector split), in enveloped logs too: with six application lines after every runtime
    line, its tables equal Lark's, which reads every line."""
    raw, truth = _sample("go1.21/churn-full")
    mixed = [line for runtime in raw.splitlines() for line in (runtime, *APP_LINES, *APP_LINES)]
    text = wrap("\n".join(mixed) + "\n", truth, envelope)
    taken = []
    take = LineTaker.take

    def counted(self: LineTaker, *args: Any) -> None:
        taken.append(args[0])
        take(self, *args)

    monkeypatch.setattr(LineTaker, "take", counted)
    fast = _read(text)
    monkeypatch.undo()
    lark = _read(text, engine="lark")
    assert len(taken) < 0.6 * len(mixed)  # application lines were counted, not decoded one by one
    assert fast.gc.height > 0
    for name in lark.tables:
        assert fast.tables[name].equals(lark.tables[name]), name
