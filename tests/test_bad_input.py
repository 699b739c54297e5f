"""Bad input through the CLI: a clear one-line message, a defined exit code, no traceback and
never a half-written output directory."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import polars as pl
import pytest

import gclens
from conftest import SAMPLES, run
from gclens.store import output as _output

SAMPLE = SAMPLES / "go1.21" / "churn-full.stderr"
GC_LINE = ("gc 1 @0.012s 1%: 0.022+0.16+0.058 ms clock, 0.044+0.070/0.046/0.021+0.11 ms cpu, "
           "3->4->3 MB, 4 MB goal, 0 MB stacks, 0 MB globals, 2 P")


def test_empty_file_writes_empty_tables_and_says_so(tmp_path: Path) -> None:
    (tmp_path / "empty.log").write_bytes(b"")
    proc = run("parse", str(tmp_path / "empty.log"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 0
    assert "warning: the input is empty" in proc.stderr
    assert pl.read_parquet(tmp_path / "out" / "gc.parquet").height == 0
    assert pl.read_parquet(tmp_path / "out" / "sources.parquet")["lines_read"].to_list() == [0]


def test_binary_garbage_is_other_output(tmp_path: Path) -> None:
    rng = random.Random(7)
    (tmp_path / "junk.bin").write_bytes(bytes(rng.randrange(256) for _ in range(200_000)))
    proc = run("parse", str(tmp_path / "junk.bin"))
    assert proc.returncode == 0
    assert "no Go runtime trace lines found" in proc.stderr


def test_invalid_utf8_in_a_runtime_line_is_a_reject_with_its_column(tmp_path: Path) -> None:
    bad = GC_LINE.encode().replace(b"0.16", b"0.\xff6")
    (tmp_path / "bad.log").write_bytes(b"app: caf\xe9 ok\n" + bad + b"\n")
    trace = gclens.read_trace(tmp_path / "bad.log")
    reject = trace.rejects.row(0, named=True)
    assert reject["reason"] == f"invalid UTF-8 at column {GC_LINE.index('0.16') + 3}"
    assert reject["line_no"] == 2 and "\ufffd" in reject["text"]
    assert trace.sources.row(0, named=True)["other_lines"] == 1


def test_nul_bytes_in_a_runtime_line_are_rejected(tmp_path: Path) -> None:
    (tmp_path / "nul.log").write_bytes(GC_LINE.encode()[:20] + b"\x00" + GC_LINE.encode()[20:] + b"\n")
    reasons = gclens.read_trace(tmp_path / "nul.log").rejects["reason"].to_list()
    assert reasons == ["NUL byte at column 21"]


@pytest.mark.parametrize("cut", [10, 500, -20])
def test_truncated_gzip_exits_2_and_writes_nothing(tmp_path: Path, cut: int) -> None:
    data = gzip.compress(SAMPLE.read_bytes())
    (tmp_path / "cut.log.gz").write_bytes(data[:cut])
    proc = run("parse", str(tmp_path / "cut.log.gz"), "-o", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"gclens: error: {tmp_path / 'cut.log.gz'}: ")
    assert "truncated" in proc.stderr or "not a valid gzip" in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.log.gz"]


def test_ten_megabyte_lines_are_bounded(tmp_path: Path) -> None:
    big = tmp_path / "big.log"
    with big.open("wb") as fh:
        fh.write(b"x" * 10_000_000 + b"\n")
        fh.write(GC_LINE.encode() + b" " + b"y" * 10_000_000 + b"\n")
        fh.write(GC_LINE.encode() + b"\n")
    trace = gclens.read_trace(big)
    src = trace.sources.row(0, named=True)
    assert (src["lines_read"], src["other_lines"], src["runtime_lines"]) == (3, 1, 1)
    reject = trace.rejects.row(0, named=True)
    assert reject["line_no"] == 2
    size = len(GC_LINE) + 1 + 10_000_000
    assert reject["reason"] == f"line of {size} bytes exceeds the 1048576-byte limit; not parsed"
    assert len(reject["text"]) == 4096
    assert trace.gc["line_no"].to_list() == [3]


def test_unterminated_last_line_is_reported_as_such(tmp_path: Path) -> None:
    (tmp_path / "hung.log").write_bytes(GC_LINE.encode() + b"\ngc 2 @0.5")
    trace = gclens.read_trace(tmp_path / "hung.log")
    assert trace.gc.height == 1
    assert trace.rejects["reason"].to_list() == ["unterminated last line (expected seconds, found '0.5')"]
    assert trace.sources["unterminated_last_line"].to_list() == [True]


@pytest.mark.parametrize("args,message", [
    (["does-not-exist.log"], "does-not-exist.log: no such file"),
    (["nothing-*.log"], "nothing-*.log: no file matches this pattern"),
    (["."], ".: is a directory, not a log file"),
])
def test_unreadable_input_exits_2_with_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    proc = run("parse", *args, cwd=tmp_path)
    assert proc.returncode == 2
    assert proc.stderr == f"gclens: error: {message}\n"


def test_missing_output_parent_exits_2(tmp_path: Path) -> None:
    proc = run("parse", str(SAMPLE), "-o", str(tmp_path / "no" / "such" / "dir"))
    assert proc.returncode == 2
    assert "parent directory" in proc.stderr and "does not exist" in proc.stderr


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux /proc")
def test_unwritable_output_exits_2() -> None:
    proc = run("parse", str(SAMPLE), "-o", "/proc/gclens-out")  # not writable, even by root
    assert proc.returncode == 2
    assert proc.stderr.startswith("gclens: error: /proc/gclens-out: cannot write here (")


def test_failure_mid_write_leaves_nothing_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trace = gclens.read_trace(SAMPLE)
    real, written = _output._TableFiles.append, []

    def fail_on_third(self: _output._TableFiles, name: str, rows: list[dict[str, object]], **kw: bool) -> None:
        if len(written) == 2:
            raise OSError(28, "No space left on device")
        written.append(name)
        real(self, name, rows, **kw)

    monkeypatch.setattr(_output._TableFiles, "append", fail_on_third)
    expected = r"writing failed \(No space left on device\); nothing was written"
    with pytest.raises(gclens.OutputError, match=expected):
        _output.write_tables(trace, tmp_path / "out")
    assert list(tmp_path.iterdir()) == []
