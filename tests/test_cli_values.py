"""Every option value is checked before any input is read: out of range or malformed, from a flag
or from [check] in a TOML file, it is exit 2 with one line on stderr, never a traceback.

The commands run in this process through ``gclens.cli.main`` (``run_in_process``): an exception
escaping it fails the test, as a traceback would.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import SAMPLES, run_in_process
from gclens import _validate

SAMPLE = str(SAMPLES / "go1.25" / "churn-full.stderr")


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False


def _is_int(text: str) -> bool:
    try:
        int(text.strip(), 10)
        return True
    except ValueError:
        return False


def _invalid(check: _validate.Check, text: str) -> bool:
    try:
        check(text)
    except ValueError:
        return True
    return False


def _numbers(*, below: float | None = None, above: float | None = None) -> st.SearchStrategy[str]:
    """Texts that are not a finite number, or a number outside [below, above]."""
    garbage = st.one_of(st.sampled_from(["", "nan", "inf", "-inf", "1e999", "one", "1,5", "0x10", "5ms", "1e"]),
                        st.text(max_size=12).filter(lambda t: not _is_number(t)))
    numbers = []
    if below is not None:
        numbers.append(st.floats(max_value=below, exclude_max=True, allow_nan=False, allow_infinity=False))
    if above is not None:
        numbers.append(st.floats(min_value=above, exclude_min=True, allow_nan=False, allow_infinity=False))
    return st.one_of(garbage, *[n.map(repr) for n in numbers])


def _integers(*, below: int, above: int | None = None) -> st.SearchStrategy[str]:
    """Texts that are not a whole number, or one outside [below, above]."""
    garbage = st.one_of(st.sampled_from(["", "1.5", "2.0", "1e3", "ten", "nan"]),
                        st.text(max_size=12).filter(lambda t: not _is_int(t)))
    ints = [st.integers(max_value=below - 1)]
    if above is not None:
        ints.append(st.integers(min_value=above + 1))
    return st.one_of(garbage, *[i.map(str) for i in ints])


NON_NEGATIVE = _numbers(below=0.0)
PERCENT = _numbers(below=0.0, above=100.0)
SECONDS = _numbers(below=0.001, above=_validate.MAX_WINDOW_S)
CPUS = _numbers(below=0.001)
TARGET = st.one_of(_numbers(below=0.0, above=100.0), st.sampled_from(["0", "100", "0.0", "100.0"]))
ZONES = st.one_of(st.sampled_from(["Mars/Phobos", "", "UTC+2", "../etc/passwd", "Europe/", "/etc/localtime"]),
                  st.text(max_size=20).filter(lambda t: _invalid(_validate.time_zone, t)))
TIMES = st.one_of(st.sampled_from(["garbage", "2026-13-45T00:00:00Z", "2026-02-30", "12:00", "99999-01-01",
                                   "2026-01-01T25:00:00Z", "yesterday", ""]),
                  st.text(max_size=30).filter(lambda t: _invalid(_validate.rfc3339, t)))
GOGC = st.one_of(st.sampled_from(["-5", "0", "50,-1", "1.5", "", ",", "on", "100,abc", "1e400"]),
                 st.text(max_size=15).filter(lambda t: _invalid(_validate.gogc_list, t)))
SIZES = st.one_of(st.sampled_from(["garbage", "-1GiB", "0", "0MiB", "12XB", "1e999", "nan", "512MiB,lots"]),
                  st.text(min_size=1, max_size=15).filter(lambda t: _invalid(_validate.size_list, t)))
LABELS = st.one_of(st.sampled_from(["nolabel", "=x", "1a=b", "a b=c", "-=x"]),
                   st.text(max_size=12).filter(lambda t: _invalid(_validate.label, t)))
COLUMNS = st.one_of(st.sampled_from(["", ",", "host;date", "1st", "host,da te"]),
                    st.text(max_size=12).filter(lambda t: _invalid(_validate.column_list, t)))

INPUT = {"--year": _integers(below=_validate.YEARS[0], above=_validate.YEARS[1]), "--tz": ZONES,
         "--start": TIMES, "--max-input-bytes": _integers(below=1)}
LIMITS = {"--max-stw-ms": NON_NEGATIVE, "--max-gc-cpu-pct": PERCENT, "--window-s": SECONDS, "--cpu-quota": CPUS}


def _cases() -> list[tuple[list[str], str, st.SearchStrategy[str]]]:
    """(command and its required arguments, flag, bad values) for every option that takes a value."""
    cases: list[tuple[list[str], str, st.SearchStrategy[str]]] = []
    for command in (["parse", SAMPLE], ["check", SAMPLE], ["summary", SAMPLE], ["whatif", SAMPLE],
                    ["report", SAMPLE, "-o", "/nonexistent/r.html"], ["align", SAMPLE, "-o", "/nonexistent/a"]):
        cases += [(command, flag, values) for flag, values in INPUT.items()]
    for command in (["check", SAMPLE], ["summary", SAMPLE], ["report", SAMPLE, "-o", "/nonexistent/r.html"]):
        cases += [(command, flag, values) for flag, values in LIMITS.items()]
        cases.append((command, "--format" if command[0] == "check" else "--perf-clock", st.just("yaml")))
    cases += [
        (["parse", SAMPLE, "--dataset", "/nonexistent/ds"], "--jobs", _integers(below=1, above=256)),
        (["parse", SAMPLE, "--dataset", "/nonexistent/ds"], "--label", LABELS),
        (["parse", SAMPLE, "--dataset", "/nonexistent/ds"], "--partition-by", COLUMNS),
        (["parse", SAMPLE], "--format", st.sampled_from(["xml", "parquet2", ""])),
        (["parse", SAMPLE], "--engine", st.sampled_from(["slow", ""])),
        (["parse", SAMPLE], "--envelope", st.sampled_from(["json", "none", ""])),
        (["diff", SAMPLE, SAMPLE], "--max-regression-pct", NON_NEGATIVE),
        (["diff", SAMPLE, SAMPLE], "--format", st.just("junit")),
        (["whatif", SAMPLE], "--gogc", GOGC),
        (["whatif", SAMPLE], "--memlimit", SIZES),
        (["whatif", SAMPLE], "--target-gc-cpu-pct", TARGET),
        (["snapshot", "-o", "/nonexistent/s.json"], "--pid", _integers(below=1)),
        (["snapshot", "-o", "/nonexistent/s.json"], "--every", SECONDS),
        (["snapshot", "-o", "/nonexistent/s.json", "--every", "1"], "--count", _integers(below=1)),
    ]
    return cases


CASES = _cases()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_every_bad_option_value_is_exit_2_and_one_line(data: st.DataObject) -> None:
    command, flag, values = data.draw(st.sampled_from(CASES), label="option")
    value = data.draw(values, label="value")
    code, out, err = run_in_process(*command, f"{flag}={value}")
    assert code == 2, (command, flag, value, out, err)
    assert err.startswith("gclens: error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    assert out == ""


LIMIT_KEYS = {
    "max_stw_ms": ["-1", "-0.5", "nan", '"1ms"', "true", "[1]"],
    "max_gc_cpu_pct": ["-1", "101", "inf", '"5"', "false", "{ a = 1 }"],
    "window_s": ["0", "-60", "0.0001", "1e12", '"60s"', "true"],
    "short_window_s": ["0", "-1", "nan"],
    "cpu_quota": ["0", "-2", '"2"', "0.0001"],
    "max_live_growth_mib_per_min": ["-1", '"x"'],
    "max_runqueue_per_p": ["-0.1", "true"],
    "max_thread_growth": ["-3"],
    "max_forced_cycles": ["-1", "nan"],
    "max_goal_overshoots": ["-1"],
    "exclude_forced": ["1", '"yes"', "0"],
    "allow_empty": ["1", '"true"'],
    "min_live_trend_span_s": ["-1", '"60"'],
    "min_live_trend_cycles": ["2", "1.5", "-1", '"20"', "true"],
}


@pytest.mark.parametrize("key,value", [(k, v) for k, vs in LIMIT_KEYS.items() for v in vs])
def test_every_bad_limit_in_toml_is_exit_2_naming_the_key(tmp_path: Path, key: str, value: str) -> None:
    """The same checks as the flags (Limits validates itself), for every key of [check]."""
    toml = tmp_path / "limits.toml"
    toml.write_text(f"[check]\n{key} = {value}\n")
    code, out, err = run_in_process("check", SAMPLE, "--config", str(toml))
    assert code == 2 and out == "", (key, value, out)
    assert err.startswith(f"gclens: error: {toml}: [check] {key} = ") and err.count("\n") == 1, err


@pytest.mark.parametrize("text,expected", [
    ("[check]\ninclude_forced = true\n", "include_forced was removed: forced cycles count by default"),
    ("[check]\nmax_stw = 5\n", "unknown keys in [check]: max_stw"),
    ("check = 5\n", "[check] must be a table of limits"),
    ("[check\n", "cannot read limits"),
])
def test_toml_that_is_not_limits(tmp_path: Path, text: str, expected: str) -> None:
    toml = tmp_path / "limits.toml"
    toml.write_text(text)
    code, _, err = run_in_process("check", SAMPLE, "--config", str(toml))
    assert code == 2 and expected in err and err.count("\n") == 1


@pytest.mark.parametrize("args", [["check", SAMPLE, "--include-forced"], ["summary", SAMPLE, "--include-forced"],
                                  ["diff", SAMPLE, SAMPLE, "--include-forced"]])
def test_include_forced_is_gone_and_says_what_replaced_it(args: list[str]) -> None:
    code, _, err = run_in_process(*args)
    assert code == 2 and err == ("gclens: error: --include-forced was removed: forced cycles count by default, "
                                 "as in the runtime's own GCCPUFraction; --exclude-forced counts background "
                                 "cycles only\n")


def test_good_values_at_the_edges_are_accepted(tmp_path: Path) -> None:
    """The ranges are not narrower than they say: their edges work."""
    code, out, _ = run_in_process("check", SAMPLE, "--max-stw-ms", "0", "--max-gc-cpu-pct", "100", "--window-s",
                                  "0.001", "--cpu-quota", "0.001", "--tz", "Europe/Paris", "--year", "1678",
                                  "--start", "2026-11-27", "--max-input-bytes", "1", "--format", "json")
    assert code == 1 and json.loads(out)["verdict"] == "limit"  # every pause is over 0 ms
    toml = tmp_path / "limits.toml"
    toml.write_text("[check]\nmax_stw_ms = 100\nwindow_s = 31536000\nexclude_forced = true\n"
                    "min_live_trend_cycles = 3\ncpu_quota = 4\n")
    assert run_in_process("check", SAMPLE, "--config", str(toml))[0] == 0
    assert run_in_process("whatif", str(SAMPLES / "go1.21/whatif-gogc100.stderr"), "--gogc", "1,off",
                          "--memlimit", "0.5GiB", "--target-gc-cpu-pct", "99.9")[0] == 0
