"""`gclens run` and `gclens follow` as a user drives them: real sample traces replayed at their
recorded pace (tests/replay_trace.py stands in for the Go program), tables compared with
`gclens parse` of the same bytes, signals, metrics scraped while it runs, rotation, a burst."""

from __future__ import annotations

import json
import os
import re
import signal
import statistics
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from envelope_variants import wrap
from live_helpers import REPLAY, Proc, assert_same_tables, parse_to, rss_bytes, synthetic_stream, wait_for

from conftest import ROOT, SAMPLES, run_in_process
from gclens.live._feed import Feed, tail

CHURN = SAMPLES / "go1.25" / "churn-full.stderr"  # gctrace + gcpacertrace + schedtrace + scavtrace
SPLICED = SAMPLES / "go1.25" / "spliced.stderr"  # torn runtime lines, rejoined and rejected


@pytest.fixture(autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    Proc.kill_leftovers()


def _iso(ns: int) -> str:
    seconds, frac = divmod(ns, 10**9)
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{frac:09d}Z"


def _gc_lines(path: Path) -> int:
    return sum(1 for line in path.read_bytes().splitlines() if line.startswith(b"gc "))


def test_run_passes_output_through_and_writes_the_tables_parse_gives(tmp_path: Path) -> None:
    proc = Proc("run", "--view", "text", "--every", "0.2", "--schedtrace", "1000", "-o", str(tmp_path / "live"),
                "--name", str(CHURN), "--", *REPLAY, str(CHURN), "--speed", "8", "--exit", "3")
    assert proc.finish() == 3  # the program's exit status
    out, err = proc.text()
    assert bytes(CHURN.read_bytes()) in bytes(proc.err)  # stderr passed through byte for byte
    assert "replay: done" in out  # and stdout
    assert "gclens: GODEBUG=gctrace=1,schedtrace=1000 (added gctrace=1,schedtrace=1000)" in err
    status = [line for line in out.splitlines() if line.startswith(f"gclens: {CHURN} run 0")]
    assert status and f"cycles={_gc_lines(CHURN)} " in status[-1]  # the last status line has every cycle
    started = json.loads((tmp_path / "live" / "live.json").read_text())
    assert started["exit_code"] == 3 and started["started"]["monotonic_ns"] > 0
    # the same tables as parse of the same bytes, ts anchored at the recorded start
    parse_to(CHURN, tmp_path / "parsed", "--start", _iso(started["started"]["realtime_ns"]))
    assert_same_tables(tmp_path / "live", tmp_path / "parsed")
    assert pq.read_table(tmp_path / "live" / "gc.parquet").column("ts").null_count == 0


def test_a_burst_is_slowed_down_never_dropped(tmp_path: Path) -> None:
    """The program writes 30 copies of a torn-line trace at once, faster than the parser reads."""
    proc = Proc("run", "--view", "none", "-o", str(tmp_path / "live"), "--name", "burst.stderr", "--",
                *REPLAY, str(SPLICED), "--burst", "--repeat", "30")
    assert proc.finish() == 0
    (tmp_path / "burst.stderr").write_bytes(SPLICED.read_bytes() * 30)
    started = json.loads((tmp_path / "live" / "live.json").read_text())["started"]["realtime_ns"]
    # parse names the source by the path as given: the same name as --name
    parse_to("burst.stderr", tmp_path / "parsed", "--start", _iso(started), cwd=tmp_path)
    assert_same_tables(tmp_path / "live", tmp_path / "parsed")
    sources = pq.read_table(tmp_path / "live" / "sources.parquet").to_pylist()
    assert sources[0]["lines_read"] == 30 * len(SPLICED.read_bytes().splitlines())  # not a line lost


def test_feed_makes_a_fast_writer_wait() -> None:
    feed, sizes = Feed("x", max_chunks=2), []
    chunks = [bytes([i % 251]) * 1000 for i in range(200)]

    def produce() -> None:
        for chunk in chunks:
            feed.put(chunk)
            sizes.append(feed._queue.qsize())
        feed.end()

    threading.Thread(target=produce, daemon=True).start()
    got = bytearray()
    buffer = bytearray(333)
    while n := feed.readinto(buffer):
        got += buffer[:n]
    assert bytes(got) == b"".join(chunks) and max(sizes) <= 2


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_is_forwarded_the_tables_written_and_metrics_were_served(signum: int, tmp_path: Path) -> None:
    proc = Proc("run", "--view", "text", "--every", "0.2", "--metrics-port", "0", "-o", str(tmp_path / "live"),
                "--", *REPLAY, str(CHURN), "--speed", "20", "--hold")
    port = int(wait_for(lambda: re.search(r"metrics on http://127\.0\.0\.1:(\d+)/metrics", proc.text()[1]),
                        what="the metrics address")[1])
    total = _gc_lines(CHURN)

    def scrape(accept: str = "text/plain") -> str:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/metrics", headers={"Accept": accept})
        with urllib.request.urlopen(request, timeout=5) as response:
            return str(response.read().decode())

    def cycles() -> float:
        m = re.search(r'^gclens_gc_cycles_total\{run_id="0",source="python\w*"\} (\S+)$', scrape(), re.M)
        return float(m[1]) if m else 0.0

    # a gc line is judged (splice guard) when the next one arrives: the last waits for the end
    wait_for(lambda: cycles() == total - 1, what="every cycle but the last counted")
    text = scrape("application/openmetrics-text; version=1.0.0")
    assert text.rstrip().endswith("# EOF")
    assert re.search(rf'^gclens_stw_seconds_count\{{.*\}} {total - 1}\.0$', text, re.M)
    assert re.search(r'^gclens_stw_seconds_bucket\{le="0\.001",.*\} \d', text, re.M)
    assert re.search(r'^gclens_gc_cpu_ratio\{.*window="10s"\} 0\.0\d+', text, re.M)
    assert re.search(r'^gclens_heap_live_bytes\{.*\} [1-9]', text, re.M)
    assert re.search(r'^gclens_sched_runqueue\{queue="global",.*\} \d', text, re.M)
    proc.popen.send_signal(signum)
    assert proc.finish() == 128 + signum  # the program's status: it took the forwarded signal
    out, _ = proc.text()
    assert f"replay: got signal {signum}" in out
    pid = json.loads((tmp_path / "live" / "live.json").read_text())["pid"]
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # not left running
    assert pq.read_table(tmp_path / "live" / "gc.parquet").num_rows == total


def test_follow_reads_a_growing_file_until_sigterm_and_writes_what_parse_writes(tmp_path: Path) -> None:
    log, lines = tmp_path / "app.log", CHURN.read_bytes().splitlines(keepends=True)
    half = len(lines) // 2
    log.write_bytes(b"".join(lines[:half]) + lines[half][:20])  # ends inside a line
    proc = Proc("follow", str(log), "--view", "text", "--every", "0.2", "-o", str(tmp_path / "live"),
                cwd=tmp_path)
    wait_for(lambda: "gclens: " + str(log) + " run 0" in proc.text()[0], what="a status line")
    with log.open("ab") as fh:
        fh.write(lines[half][20:] + b"".join(lines[half + 1:]))
    total = _gc_lines(CHURN)
    wait_for(lambda: f"cycles={total - 1} " in proc.text()[0], what="every cycle but the last (see above)")
    proc.popen.send_signal(signal.SIGTERM)
    assert proc.finish() == 0
    parse_to(log, tmp_path / "parsed")
    assert_same_tables(tmp_path / "live", tmp_path / "parsed")


@pytest.mark.parametrize("envelope", ["raw", "kubectl", "cri"])
def test_follow_stdin_ends_with_the_pipe_and_reads_the_envelopes_parse_reads(envelope: str, tmp_path: Path) -> None:
    """`kubectl logs -f pod | gclens follow -`: a torn-line trace, and a real run wrapped as
    kubectl --timestamps and CRI (containerd's files) write it."""
    log = tmp_path / "stdin.log"
    if envelope == "raw":
        log.write_bytes(SPLICED.read_bytes())
    else:
        truth = json.loads(CHURN.with_suffix(".truth.json").read_text())
        log.write_text(wrap(CHURN.read_text(), truth, envelope))
    with log.open("rb") as stdin:
        proc = Proc("follow", "-", "--view", "none", "-o", str(tmp_path / "live"), stdin=stdin)
        assert proc.finish() == 0
    assert pq.read_table(tmp_path / "live" / "sources.parquet")["envelope"].to_pylist() == [envelope]
    with log.open("rb") as stdin:
        parsed = subprocess.run([*REPLAY[:1], "-m", "gclens", "parse", "-", "-o", str(tmp_path / "parsed")],
                                stdin=stdin, capture_output=True, env=os.environ, cwd=ROOT)
    assert parsed.returncode == 0
    assert_same_tables(tmp_path / "live", tmp_path / "parsed")


def test_tail_follows_rename_and_copytruncate_without_losing_or_repeating_bytes(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    data = CHURN.read_bytes()
    one, late, two, three = data[:5000], data[5000:5300], data[5300:11000], data[11000:]
    feed, stop, notes = Feed(str(log)), threading.Event(), []
    log.write_bytes(one)  # ends inside a line: its rest comes late, into the renamed file
    follower = threading.Thread(target=tail, args=(str(log), feed, stop), kwargs={"note": notes.append,
                                                                                  "poll_s": 0.01})
    follower.start()
    wait_for(lambda: feed.bytes_in == len(one), what="the first part")
    with log.open("ab") as old:
        log.rename(tmp_path / "app.log.1")  # rotation by rename: the writer still holds the old file
        old.write(late)
    log.write_bytes(two)
    wait_for(lambda: feed.bytes_in == len(one + late + two), what="the renamed and the new file")
    (tmp_path / "app.log.2").write_bytes(log.read_bytes())  # copytruncate
    with log.open("r+b") as fh:
        fh.truncate(0)
    wait_for(lambda: any("truncated" in n for n in notes), what="the truncation seen")
    with log.open("ab") as fh:
        fh.write(three)
    wait_for(lambda: feed.bytes_in == len(data), what="the part after the truncation")
    stop.set()
    follower.join(10)
    feed.end()
    got = bytearray()
    buffer = bytearray(1 << 16)
    while n := feed.readinto(buffer):
        got += buffer[:n]
    assert bytes(got) == data
    assert any("rotated" in n for n in notes)


def test_memory_stays_flat_over_hours_of_trace() -> None:
    """150 000 cycles 0.1 s apart (over 4 h of the program's time, 70 MiB) through `follow -`, 5 000
    at a time: once warm, the follower's resident memory, read each time it has caught up (its
    status line counts every cycle fed), does not grow. Fed for at most 30 s."""
    proc = Proc("follow", "-", "--view", "text", "--every", "0.05", stdin=subprocess.PIPE)
    assert proc.popen.stdin is not None
    deadline, samples, fed_lines, cycles = time.monotonic() + 30, [], 0, 0
    for chunk in synthetic_stream(150_000, chunk_cycles=5000):
        proc.popen.stdin.write(chunk)
        proc.popen.stdin.flush()
        fed_lines, cycles = fed_lines + chunk.count(b"\n"), cycles + 5000
        wait_for(lambda n=cycles: f" cycles={n - 1} " in proc.text()[0][-2000:], what=f"{cycles} cycles parsed")
        if cycles > 50_000:
            samples.append(rss_bytes(proc.popen.pid))
        if time.monotonic() > deadline:
            break
    proc.popen.stdin.close()
    assert proc.finish() == 0
    assert len(samples) >= 12  # at least 60 000 cycles after warming up
    # Under load the follower reads larger batches and its memory settles later: the first third
    # of the samples is left out, and the trend of the rest (least squares) is what must be flat.
    # Keeping every gc row would raise it by ~1.7 MiB a sample (50 MiB over 150 000 cycles): at
    # least 12 MiB across the 8 or more samples taken.
    steady = samples[len(samples) // 3:]
    growth = statistics.linear_regression(range(len(steady)), steady).slope * (len(steady) - 1)
    assert growth < 10 << 20, [s >> 20 for s in samples]
    assert f"gclens: 1 source(s), {fed_lines:,} lines" in proc.text()[1]  # every line parsed


def test_a_program_that_cannot_start_or_no_program_is_one_line_and_the_shell_status() -> None:
    code, _, err = run_in_process("run", "--view", "none", "--", "/nonexistent/prog")
    assert code == 127 and err.endswith("\ngclens: error: /nonexistent/prog: command not found\n")
    code, _, err = run_in_process("run", "--view", "none")
    assert code == 2 and err == "gclens: error: no program to run: give it after --, e.g. gclens run -- ./svc\n"
    code, _, err = run_in_process("run", "--view", "none", "-o", "/nonexistent/dir/out", "--", "true")
    assert code == 2 and "does not exist" in err  # refused before the program starts


def test_check_judges_the_run_as_check_judges_its_stderr() -> None:
    pauses = SAMPLES / "go1.25" / "pauses-long.stderr"  # pauses over 1 ms: exit 1
    code, out, _ = run_in_process("run", "--check", "--view", "none", "--name", str(pauses), "--",
                                  *REPLAY, str(pauses), "--speed", "50", "--exit", "0")
    expected = run_in_process("check", str(pauses))
    assert (code, out.replace(f"replay: {pauses} at 50x\nreplay: done\n", "")) == expected[:2]
    assert code == 1 and "stw" in out


def test_the_program_dies_with_gclens_even_on_sigkill() -> None:
    proc = Proc("run", "--view", "text", "--every", "0.2", "--", *REPLAY, str(CHURN), "--speed", "20", "--hold")
    wait_for(lambda: "replay: done" in proc.text()[0], what="the program to have written everything")
    pid = proc.popen.pid
    child = int(Path(f"/proc/{pid}/task/{pid}/children").read_text().split()[0])
    proc.popen.kill()
    proc.finish()

    def gone() -> bool:
        try:
            return Path(f"/proc/{child}/status").read_text().split("State:")[1].split()[0] in ("Z", "X")
        except (FileNotFoundError, IndexError):
            return True

    wait_for(gone, what="the program to die with gclens")
