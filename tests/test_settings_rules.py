"""Every settings rule fires on a snapshot that breaks it and stays quiet on the real one.

The base snapshot is a real capture of a real Go process (sample_traces/perf); each case changes
the keys its rule reads, the way the setting would look on a misconfigured host.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from gclens import read_trace
from gclens.analysis.settings_rules import settings_findings
from gclens.context.settings import read_settings

ROOT = Path(__file__).parent.parent
SNAPSHOTS = sorted((ROOT / "sample_traces" / "perf").glob("*/snapshots.jsonl"))
PAUSES = ROOT / "sample_traces" / "go1.25" / "pauses-long.stderr"  # STW above 1 ms, 32 P
SCHED = ROOT / "sample_traces" / "go1.25" / "goroutines-sched.stderr"  # schedtrace: threads seen

Doc = dict[str, Any]


@pytest.fixture(scope="module")
def real() -> Doc:
    assert SNAPSHOTS, "sample_traces/perf holds real snapshots"
    doc: Doc = json.loads(SNAPSHOTS[0].read_text().splitlines()[0])
    return doc


def _settings(tmp_path: Path, *docs: Doc) -> pl.DataFrame:
    path = tmp_path / "snap.jsonl"
    path.write_text("".join(json.dumps(d) + "\n" for d in docs))
    return read_settings(path)


def _v2(doc: Doc, **files: str) -> Doc:
    doc["cgroup"] = {"version": "v2", "v1": {}, "v2": {"path": "/svc", "files": files}}
    return doc


def _v1_cpu(doc: Doc, **files: str) -> Doc:
    doc["cgroup"]["v1"]["cpu"] = {"path": "/svc", "files": files}
    return doc


def _set(section: str, values: dict[str, Any]) -> Callable[[Doc], Doc]:
    def change(doc: Doc) -> Doc:
        doc.setdefault(section, {}).update(values)
        return doc
    return change


CASES: list[tuple[str, Path, Callable[[Doc], Doc], str]] = [
    ("gomemlimit-headroom", PAUSES,
     lambda d: _v2(_set("env", {"GOMEMLIMIT": "1000MiB"})(d), **{"memory.max": str(1 << 30)}), "warning"),
    ("gomemlimit-headroom", PAUSES,
     lambda d: _v2(_set("env", {"GOMEMLIMIT": "2GiB"})(d), **{"memory.max": str(1 << 30)}), "error"),
    ("gomemlimit-headroom", PAUSES, lambda d: _v2(d, **{"memory.max": str(1 << 30)}), "info"),
    ("gomemlimit-headroom", PAUSES,
     lambda d: _v2(_set("env", {"GOMEMLIMIT": "600MiB"})(d), **{"memory.max": str(1 << 30),
                                                           "memory.high": str(512 << 20)}), "warning"),
    ("gomaxprocs-over-quota", PAUSES,
     lambda d: _v1_cpu(d, **{"cpu.cfs_quota_us": "50000", "cpu.cfs_period_us": "100000"}), "warning"),
    ("gomaxprocs-over-quota", PAUSES, lambda d: _v2(d, **{"cpu.max": "200000 100000"}), "warning"),
    ("thread-limits", SCHED, _set("sysctl", {"kernel.threads-max": "7"}), "error"),
    ("swap-with-swappiness", PAUSES,
     lambda d: _set("sysctl", {"vm.swappiness": "60"})(_set("meminfo", {"SwapTotal": 2 << 30})(d)), "warning"),
    ("overcommit-strict", PAUSES, _set("sysctl", {"vm.overcommit_memory": "2"}), "warning"),
    ("thp-settings", PAUSES,
     _set("thp", {"enabled": "[always] madvise never", "defrag": "[always] defer defer+madvise madvise never"}),
     "warning"),
    ("thp-settings", PAUSES, _set("thp", {"enabled": "[always] madvise never"}), "info"),
    ("somaxconn-low", PAUSES, _set("sysctl", {"net.core.somaxconn": "128"}), "warning"),
    ("sched-tunables-moved", PAUSES, _set("sysctl_errors", {"kernel.sched_latency_ns": "ENOENT"}), "info"),
]


@pytest.mark.parametrize(("rule", "trace_path", "change", "severity"), CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_rule_fires_on_the_broken_setting(tmp_path: Path, real: Doc, rule: str, trace_path: Path,
                                          change: Callable[[Doc], Doc], severity: str) -> None:
    trace = read_trace(trace_path)
    quiet = settings_findings(trace, _settings(tmp_path, real))
    assert rule not in quiet["rule"].to_list(), quiet.filter(pl.col("rule") == rule)["message"].to_list()
    broken = change(copy.deepcopy(real))
    found = settings_findings(trace, _settings(tmp_path, broken)).filter(pl.col("rule") == rule)
    assert found.height >= 1
    assert severity in found["severity"].to_list()
    assert all(found["message"].str.len_chars() > 40) and all(found["remediation"].str.len_chars() > 20)


def test_throttling_between_snapshots_points_at_the_long_pauses(tmp_path: Path, real: Doc) -> None:
    trace = read_trace(PAUSES)
    before = _v1_cpu(copy.deepcopy(real), **{"cpu.stat": "nr_periods 10\nnr_throttled 0\nthrottled_time 0"})
    same = copy.deepcopy(before)
    same["captured"] = {k: v + 10**9 for k, v in before["captured"].items()}
    quiet = settings_findings(trace, _settings(tmp_path, before, same))
    assert "throttled-during-pauses" not in quiet["rule"].to_list()
    after = copy.deepcopy(same)
    after["cgroup"]["v1"]["cpu"]["files"]["cpu.stat"] = "nr_periods 90\nnr_throttled 40\nthrottled_time 800000000"
    found = settings_findings(trace, _settings(tmp_path, before, after))
    row = found.filter(pl.col("rule") == "throttled-during-pauses").row(0, named=True)
    long = trace.gc.filter(pl.col("stw_ms") > 1.0)["gc_num"].to_list()
    assert row["severity"] == "error" and row["value"] == pytest.approx(800.0)
    assert row["evidence_gc"] == long and long


def test_check_exits_1_on_a_settings_error_and_lists_it(tmp_path: Path, real: Doc) -> None:
    broken = _v2(_set("env", {"GOMEMLIMIT": "2GiB"})(copy.deepcopy(real)), **{"memory.max": str(1 << 30)})
    snap = tmp_path / "snap.json"
    snap.write_text(json.dumps(broken))
    trace = ROOT / "sample_traces" / "go1.25" / "churn-full.stderr"
    base = [sys.executable, "-m", "gclens", "check", str(trace), "--max-stw-ms", "100", "--max-gc-cpu-pct", "100"]
    clean = subprocess.run(base, capture_output=True, text=True, timeout=120)
    assert clean.returncode == 0, clean.stdout
    run = subprocess.run([*base, "--snapshot", str(snap), "--format", "json"], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1, run.stderr
    rules = [f["rule"] for f in json.loads(run.stdout)["findings"]]
    assert "gomemlimit-headroom" in rules
