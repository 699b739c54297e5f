"""The settings rules added for the tuning guide's claims, on real snapshots.

Sysctl rules read the real ``sysctl -a`` text of tests/data/sysctl/ (procps 4.0.2, kernel 6.18);
rules on the process's environment and limits read the real ``gclens snapshot`` JSON of a Go
process (sample_traces/perf). Each rule fires on the real capture where the real value breaks it,
or on that capture with the one key it reads changed, and stays quiet on the real one otherwise.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from gclens import read_trace
from gclens.analysis.settings_rules import settings_findings
from gclens.context.settings import read_settings

ROOT = Path(__file__).parent.parent
SYSCTL = ROOT / "tests" / "data" / "sysctl" / "01-sysctl-a-selected.decoded.txt"
CAPTURE = ROOT / "sample_traces" / "perf" / "go1.19-exec-mono"
SNAPSHOT = CAPTURE / "snapshots.jsonl"  # cpuset 0-1, nofile hard 20000, GODEBUG gctrace=1,gcpacertrace=1
PAUSES = ROOT / "sample_traces" / "go1.25" / "pauses-long.stderr"  # GOMAXPROCS 32, STW above 1 ms


@pytest.fixture(scope="module")
def real() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(SNAPSHOT.read_text().splitlines()[0])
    return doc


@pytest.fixture(scope="module")
def own_trace() -> Any:
    return read_trace(CAPTURE / "trace.stderr")  # the same process as the snapshot: GOMAXPROCS 2


def _found(trace: Any, path: Path, rule: str) -> pl.DataFrame:
    return settings_findings(trace, read_settings(path)).filter(pl.col("rule") == rule)


def _json(tmp_path: Path, doc: dict[str, Any]) -> Path:
    path = tmp_path / "snap.json"
    path.write_text(json.dumps(doc))
    return path


def test_pid_capacity_on_real_sysctl_text(tmp_path: Path, own_trace: Any) -> None:
    real = SYSCTL.read_text()
    assert "kernel.pid_max = 32768" in real
    assert _found(own_trace, SYSCTL, "pid-capacity").is_empty()  # no cgroup pid count in sysctl -a
    calm, full = tmp_path / "calm.txt", tmp_path / "full.txt"
    calm.write_text(real + "pids.current = 412\n")
    full.write_text(real + "pids.current = 30000\n")  # 92 % of pid_max, the smallest limit in the capture
    assert _found(own_trace, calm, "pid-capacity").is_empty()
    row = _found(own_trace, full, "pid-capacity").row(0, named=True)
    assert (row["severity"], row["value"], row["limit"]) == ("warning", 30000.0, 32768.0)
    assert "kernel.pid_max" in row["message"]


def test_gomaxprocs_over_cpus_on_real_cpuset(tmp_path: Path, own_trace: Any) -> None:
    assert _found(own_trace, SNAPSHOT, "gomaxprocs-over-cpus").is_empty()  # GOMAXPROCS 2 on cpuset 0-1
    row = _found(read_trace(PAUSES), SNAPSHOT, "gomaxprocs-over-cpus").row(0, named=True)
    assert (row["value"], row["limit"]) == (32.0, 2.0) and "0-1" in row["message"]


def test_nofile_limit_fires_on_the_real_20000(tmp_path: Path, real: dict[str, Any], own_trace: Any) -> None:
    row = _found(own_trace, SNAPSHOT, "nofile-limit").row(0, named=True)
    assert (row["severity"], row["value"], row["limit"]) == ("info", 20000.0, 65536.0)
    raised = copy.deepcopy(real)
    raised["limits"]["Max open files"] = {"soft": "1048576", "hard": "1048576"}
    assert _found(own_trace, _json(tmp_path, raised), "nofile-limit").is_empty()


@pytest.mark.parametrize(("setting", "rule", "severity"), [
    ("sigpipe=1", "godebug-sigpipe", "info"),
    ("gcstoptheworld=2", "godebug-gcstoptheworld", "warning"),
])
def test_godebug_rules(tmp_path: Path, real: dict[str, Any], own_trace: Any, setting: str, rule: str,
                       severity: str) -> None:
    assert real["env"]["GODEBUG"] == "gctrace=1,gcpacertrace=1"
    assert _found(own_trace, SNAPSHOT, rule).is_empty()
    changed = copy.deepcopy(real)
    changed["env"]["GODEBUG"] += f",{setting}"
    found = _found(own_trace, _json(tmp_path, changed), rule)
    assert found["severity"].to_list() == [severity]


def test_asyncpreemptoff_names_the_long_sweep_terminations(tmp_path: Path, real: dict[str, Any]) -> None:
    changed = copy.deepcopy(real)
    changed["env"]["GODEBUG"] = "asyncpreemptoff=1"
    trace = read_trace(PAUSES)
    assert _found(trace, SNAPSHOT, "godebug-asyncpreemptoff").is_empty()
    row = _found(trace, _json(tmp_path, changed), "godebug-asyncpreemptoff").row(0, named=True)
    long = [n for n, ms in zip(trace.gc["gc_num"], trace.gc["clock_sweep_term_ms"], strict=True) if ms > 1.0]
    assert row["severity"] == "warning" and row["evidence_gc"] == long and long


def test_thread_limits_counts_ulimit_u(tmp_path: Path, real: dict[str, Any]) -> None:
    trace = read_trace(ROOT / "sample_traces" / "go1.25" / "goroutines-sched.stderr")
    threads = int(trace.sched["threads"].max())  # type: ignore[arg-type]
    assert _found(trace, SNAPSHOT, "thread-limits").is_empty()  # the real ulimit -u is 96365
    tight = copy.deepcopy(real)
    tight["limits"]["Max processes"] = {"soft": str(threads + 1), "hard": "96365"}
    row = _found(trace, _json(tmp_path, tight), "thread-limits").row(0, named=True)
    assert row["limit"] == threads + 1 and "RLIMIT_NPROC" in row["message"]
