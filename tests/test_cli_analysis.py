"""`gclens check`, `summary` and `diff` end to end: exit codes, JSON and JUnit XML."""

from __future__ import annotations

import json
from pathlib import Path
from xml.etree import ElementTree as ET

from independent import cycles

from conftest import CORPUS, SAMPLES, run

HEAVY = CORPUS / "058-go118plus-gotest-bench-interleaved-midline-1P-felixge.txt"
CALM = SAMPLES / "go1.25" / "churn-full.stderr"


def test_check_passes_a_calm_run() -> None:
    proc = run("check", str(CALM))
    assert proc.returncode == 0, proc.stdout
    lines = proc.stdout.strip().splitlines()
    assert lines[-1] == "gclens check: all limits met"
    cs = cycles(CALM)
    overshoots = sum(c.heap[1] > c.goal for c in cs)
    capacity = sum((c.end_s - (cs[i - 1].end_s if i else 0.0)) * 1000 * c.procs for i, c in enumerate(cs))
    forced_cpu = sum(c.gc_cpu for c in cs if c.forced)
    expected = [f"INFO    forced-gc: {CALM} run 0: {sum(c.forced for c in cs)} forced cycles "
                f"(runtime.GC / debug.FreeOSMemory): {100 * forced_cpu / capacity:.2g} % of CPU capacity, "
                f"{100 * forced_cpu / sum(c.gc_cpu for c in cs):.2g} % of GC CPU; counted in GC CPU and pauses, "
                "as the runtime counts them"]
    if overshoots:
        expected.append(f"INFO    goal-overshoot: {CALM} run 0: the heap overshot its goal in "
                        f"{overshoots} cycles (by up to "
                        f"{max(c.heap[1] - c.goal for c in cs)} MiB)")
    assert sorted(lines[:-1]) == sorted(expected)


def test_check_fails_on_long_pauses_and_gc_cpu_with_evidence() -> None:
    proc = run("check", str(HEAVY))
    assert proc.returncode == 1
    over = [c.num for c in cycles(HEAVY) if c.stw > 1.0]
    assert f"ERROR   stw-pause: {HEAVY} run 0: stop-the-world pause of 3.1 ms" in proc.stdout
    assert f"(gc {', '.join(map(str, over))})" in proc.stdout
    assert "ERROR   gc-cpu:" in proc.stdout
    assert proc.stdout.rstrip().endswith("gclens check: 2 limit(s) exceeded")


def test_check_limits_from_flags_and_toml(tmp_path: Path) -> None:
    assert run("check", str(HEAVY), "--max-stw-ms", "5", "--max-gc-cpu-pct", "50").returncode == 0
    toml = tmp_path / "limits.toml"
    toml.write_text("[check]\nmax_stw_ms = 5\nmax_gc_cpu_pct = 50\n")
    assert run("check", str(HEAVY), "--config", str(toml)).returncode == 0
    assert run("check", str(HEAVY), "--config", str(toml), "--max-stw-ms", "1").returncode == 1
    toml.write_text("[check]\nmax_stw = 5\n")
    bad = run("check", str(HEAVY), "--config", str(toml))
    assert bad.returncode == 2 and "unknown keys in [check]: max_stw" in bad.stderr


def test_check_json_is_machine_readable() -> None:
    proc = run("check", str(HEAVY), str(CALM), "--format", "json")
    doc = json.loads(proc.stdout)
    assert doc["ok"] is False and proc.returncode == 1
    errors = {f["rule"] for f in doc["findings"] if f["severity"] == "error"}
    assert errors == {"stw-pause", "gc-cpu"}
    assert {r["source"] for r in doc["runs"]} == {str(HEAVY), str(CALM)}


def test_check_junit_has_a_failure_per_error_finding() -> None:
    proc = run("check", str(HEAVY), str(CALM), "--format", "junit")
    suite = ET.fromstring(proc.stdout.split("?>", 1)[1])
    cases = suite.findall("testcase")
    failed = [c.get("name") for c in cases if c.find("failure") is not None]
    assert sorted(failed) == sorted([f"stw-pause [{HEAVY} run 0]", f"gc-cpu [{HEAVY} run 0]"])
    assert suite.get("failures") == "2" and suite.get("tests") == str(len(cases)) == "14"


def test_check_bad_input_exits_2() -> None:
    proc = run("check", "missing.log")
    assert proc.returncode == 2 and proc.stderr == "gclens: error: missing.log: no such file\n"


def test_summary_shows_kpis_and_findings_per_run() -> None:
    proc = run("summary", str(HEAVY), str(CALM))
    assert proc.returncode == 0
    blocks = proc.stdout.split("\n\n")
    assert blocks[0].startswith(f"== {HEAVY} run 0") and "ERROR   stw-pause" in blocks[0]
    assert blocks[1].startswith(f"== {CALM} run 0")
    assert "INFO    forced-gc: 4 forced cycles (runtime.GC / debug.FreeOSMemory)" in blocks[1]
    assert "ERROR" not in blocks[1]
    assert "STW pause max (ms)                 3.102" in blocks[0]


def test_diff_flags_a_regression_and_not_a_copy() -> None:
    same = run("diff", str(CALM), str(CALM), "--format", "json")
    assert same.returncode == 0 and json.loads(same.stdout)["regression"] is False
    worse = run("diff", str(CALM), str(HEAVY), "--format", "json")
    assert worse.returncode == 1
    kpis = {k["kpi"]: k for k in json.loads(worse.stdout)["kpis"]}
    assert kpis["stw_max_ms"]["regression"] and kpis["gc_cpu_pct"]["regression"]
    assert kpis["stw_max_ms"]["after"] == max(c.stw for c in cycles(HEAVY))
    text = run("diff", str(CALM), str(HEAVY))
    assert "REGRESSION" in text.stdout and text.returncode == 1
