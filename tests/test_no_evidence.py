"""No evidence is not a pass: a source without gc lines gets exit code 4 from `check` (every
format), `summary` and `report`, with one line naming it; a log cut inside a runtime line is a finding with
its line number and text."""

from __future__ import annotations

import json
import random
from pathlib import Path
from xml.etree import ElementTree as ET

import polars as pl
import pytest

import gclens
from conftest import CORPUS, SAMPLES, run, run_in_process
from gclens.analysis import Limits, evaluate, verdict

CALM = SAMPLES / "go1.25" / "churn-full.stderr"
HEAVY = CORPUS / "058-go118plus-gotest-bench-interleaved-midline-1P-felixge.txt"


def _no_gc_inputs(tmp_path: Path) -> list[Path]:
    """An empty file, random bytes, and a real program's log without gctrace (its own lines)."""
    empty = tmp_path / "empty.log"
    empty.write_bytes(b"")
    noise = tmp_path / "noise.bin"
    noise.write_bytes(random.Random(17).randbytes(8192))
    app = tmp_path / "app.log"
    app.write_text("".join(line for line in CALM.read_text().splitlines(keepends=True) if " app: " in line))
    assert app.stat().st_size > 0
    return [empty, noise, app]


def _message(path: Path) -> str:
    return f"gclens: no gc lines in {path}: is GODEBUG=gctrace=1 set?\n"


@pytest.mark.parametrize("fmt", ["text", "json", "junit"])
def test_check_without_gc_lines_exits_4_with_one_line(tmp_path: Path, fmt: str) -> None:
    for path in _no_gc_inputs(tmp_path):
        code, out, err = run_in_process("check", str(path), "--format", fmt)
        assert code == 4 and err == _message(path), (path, err)
        if fmt == "json":
            doc = json.loads(out)
            assert doc["ok"] is False and doc["verdict"] == "no-evidence"
            assert [f["rule"] for f in doc["findings"] if f["severity"] == "error"] == ["no-gc-lines"]
        elif fmt == "junit":
            suite = ET.fromstring(out.split("?>", 1)[1])
            assert (suite.get("errors"), suite.get("failures")) == ("1", "0")
            error = suite.find("testcase/error")
            assert error is not None and error.get("type") == "no-gc-lines"
            assert error.get("message") == _message(path).removeprefix("gclens: ").strip()
        else:
            assert out.rstrip().endswith("gclens check: 1 source(s) without GC cycles: no evidence, not a pass")
        assert run_in_process("check", str(path), "--format", fmt, "--allow-empty")[0] == 0


def test_no_evidence_through_the_real_command_and_toml(tmp_path: Path) -> None:
    empty = _no_gc_inputs(tmp_path)[0]
    proc = run("check", str(empty))
    assert proc.returncode == 4 and proc.stderr == _message(empty)
    toml = tmp_path / "limits.toml"
    toml.write_text("[check]\nallow_empty = true\n")
    assert run_in_process("check", str(empty), "--config", str(toml))[0] == 0


def test_report_without_gc_lines_exits_4_and_still_writes(tmp_path: Path) -> None:
    empty = _no_gc_inputs(tmp_path)[0]
    html = tmp_path / "report.html"
    code, _, err = run_in_process("report", str(empty), "-o", str(html))
    assert code == 4 and err.endswith(_message(empty)) and "no gc lines in" in html.read_text()
    assert run_in_process("report", str(empty), "-o", str(html), "--allow-empty")[0] == 0
    assert run_in_process("report", str(CALM), "-o", str(html))[0] == 0


def test_summary_without_gc_lines_exits_4_but_is_no_gate(tmp_path: Path) -> None:
    """A summary of nothing must not pass in a pipeline; over limits it still exits 0 (``check`` gates)."""
    empty = _no_gc_inputs(tmp_path)[0]
    code, out, err = run_in_process("summary", str(empty))
    assert code == 4 and err.endswith(_message(empty)) and out
    assert run_in_process("summary", str(empty), "--allow-empty")[0] == 0
    assert run_in_process("summary", str(CALM), "--max-stw-ms", "0.001")[0] == 0
    assert run_in_process("check", str(CALM), "--max-stw-ms", "0.001")[0] == 1


def test_one_empty_source_among_good_ones(tmp_path: Path) -> None:
    """Exit 4 though the other source passes; a limit exceeded elsewhere still says 1."""
    empty = _no_gc_inputs(tmp_path)[0]
    code, out, err = run_in_process("check", str(CALM), str(empty))
    assert code == 4 and err == _message(empty) and "no-gc-lines" in out
    code, _, err = run_in_process("check", str(HEAVY), str(empty))
    assert code == 1 and err == _message(empty)
    findings = evaluate(gclens.read_trace([str(HEAVY), str(empty)]))
    assert verdict(findings) == "limit"
    allowed = evaluate(gclens.read_trace([str(CALM), str(empty)]), Limits(allow_empty=True))
    assert verdict(allowed) == "pass"
    assert allowed.filter(pl.col("rule") == "no-gc-lines")["severity"].to_list() == ["warning"]


CUTS = ["gc ", "scav ", "SCHED 100ms: gomaxprocs=2 idle"]


@pytest.mark.parametrize("cut", CUTS)
@pytest.mark.parametrize("engine", ["fast", "lark"])
def test_a_log_cut_inside_a_runtime_line_is_a_finding(tmp_path: Path, cut: str, engine: str) -> None:
    """A hung or killed process (go-trace-formats §9: go1.23/1.24 deadlocked under scavtrace) leaves
    its last runtime line without a newline; the finding names the source, line and text."""
    raw = CALM.read_bytes()
    log = tmp_path / "hung.log"
    log.write_bytes(raw + cut.encode())
    last = raw.count(b"\n") + 1
    trace = gclens.read_trace(log, engine=engine)
    assert trace.sources["unterminated_last_line"].to_list() == [True]
    found = evaluate(trace).filter(pl.col("rule") == "truncated-log")
    assert found.select("source", "evidence_line", "evidence_text", "severity").rows() == [
        (str(log), last, cut, "warning")]
    assert f"line {last}: {cut!r}" in found["message"][0]
    assert trace.gc.height == gclens.read_trace(CALM).gc.height  # nothing else lost


def test_a_cut_line_through_check_and_alone(tmp_path: Path) -> None:
    log = tmp_path / "hung.log"
    log.write_bytes(CALM.read_bytes() + b"gc ")
    code, out, _ = run_in_process("check", str(log))
    assert code == 0 and f"WARNING truncated-log: {log}: the log ends inside a runtime line" in out
    alone = tmp_path / "alone.log"
    alone.write_bytes(b"gc ")
    code, out, err = run_in_process("check", str(alone), "--format", "json")
    rules = {f["rule"]: f for f in json.loads(out)["findings"]}
    assert code == 4 and err == _message(alone)
    assert rules["truncated-log"]["evidence_line"] == 1 and rules["truncated-log"]["evidence_text"] == "gc "


def test_an_unterminated_application_line_is_no_finding(tmp_path: Path) -> None:
    log = tmp_path / "app-last.log"
    log.write_bytes(CALM.read_bytes() + b"12:00:00.000000 app: shutting down")
    trace = gclens.read_trace(log)
    assert trace.rejects.height == 0
    assert "truncated-log" not in evaluate(trace)["rule"].to_list()
