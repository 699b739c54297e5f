"""Property tests over the whole pipeline (Hypothesis, bounded budget): real runtime lines,
mutated the ways real logs damage them, and random bytes.

Invariants: no exception escapes; every line is accounted for exactly once (runtime, rejected,
other or joined); the same input gives the same output; a line damaged by letters spliced into
it never becomes a row with numbers that differ from the undamaged line's.
"""

from __future__ import annotations

import io
import json
from functools import cache

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gclens
from conftest import SAMPLES
from gclens.read.classify import classify

BUDGET = settings(max_examples=120, deadline=None, derandomize=True,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@cache
def _real_lines() -> list[str]:
    runs = json.loads((SAMPLES / "manifest.json").read_text())["runs"]
    out: list[str] = []
    for r in runs:
        if r.get("expect_splices") or r["status"] != "ok":
            continue
        for line in (SAMPLES / r["file"]).read_text().splitlines()[:60]:
            hit = classify(line)
            if hit is not None and hit.start == 0:
                out.append(line)
    return sorted(set(out))


real_line = st.sampled_from(_real_lines())
letters = st.text(alphabet="abcdefghijklmnopqrstuvwxyz<>{}[]:=_ ", min_size=1, max_size=12)


@st.composite
def damaged(draw: st.DrawFn) -> str:
    line = draw(real_line)
    i = draw(st.integers(0, len(line)))
    how = draw(st.sampled_from(["truncate", "drop", "splice", "cr", "nul", "lf", "swap"]))
    if how == "truncate":
        return line[:i]
    if how == "drop":
        return line[:i] + line[i + 1:]
    if how == "splice":
        return line[:i] + draw(letters) + line[i:]
    if how == "swap":
        parts = line.split(" ")
        j, k = draw(st.integers(0, len(parts) - 1)), draw(st.integers(0, len(parts) - 1))
        parts[j], parts[k] = parts[k], parts[j]
        return " ".join(parts)
    return line[:i] + {"cr": "\r", "nul": "\x00", "lf": "\n"}[how] + line[i:]


def _read(data: bytes) -> gclens.Trace:
    return gclens.read_trace(io.BytesIO(data))


def _accounted(trace: gclens.Trace) -> bool:
    s = trace.sources.row(0, named=True)
    return bool(s["lines_read"] == s["runtime_lines"] + s["rejected_lines"] + s["other_lines"] + s["joined_lines"])


@BUDGET
@given(st.lists(st.one_of(real_line, damaged()), min_size=1, max_size=30))
def test_every_line_is_accounted_for_and_output_is_deterministic(lines: list[str]) -> None:
    data = ("\n".join(lines) + "\n").encode()
    first, second = _read(data), _read(data)
    assert _accounted(first)
    assert first.row_counts() == second.row_counts()
    for name in ("gc", "pacer", "sched", "rejects"):
        assert first.frame(name).equals(second.frame(name))
    assert first.rejects["reason"].str.len_chars().min() or first.rejects.height == 0


@BUDGET
@given(st.binary(max_size=4000))
@example(b"\xff\xfe gc 1 @0.0\x00s\n\x1f\x8b")
@example(b'{"log":"gc 1 @' + b"[" * 3000 + b'"}\n')
def test_random_bytes_never_raise(data: bytes) -> None:
    """Only gclens's own errors may come out (a gzip/zstd magic with a broken stream is one)."""
    try:
        trace = _read(data)
    except gclens.InputError as exc:
        assert "compressed" in str(exc) or "gzip" in str(exc)
        return
    assert _accounted(trace)


@BUDGET
@given(real_line, st.data())
def test_letters_spliced_into_a_line_never_change_its_numbers(line: str, data: st.DataObject) -> None:
    i = data.draw(st.integers(0, len(line)))
    spliced = line[:i] + data.draw(letters) + line[i:]
    table, original = gclens.parse_runtime_line(line)
    try:
        got_table, got = gclens.parse_runtime_line(spliced)
    except gclens.LineError:
        return  # rejected: fine
    if got_table != table:
        return  # the splice made another kind of line (e.g. a prefix before a marker): not this row
    numbers = {k: v for k, v in original.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert {k: got.get(k) for k in numbers} == numbers, spliced


@st.composite
def enveloped(draw: st.DrawFn) -> str:
    """A real runtime line in a collector envelope whose timestamp or JSON may be broken."""
    line = draw(real_line)
    stamp = draw(st.sampled_from(["2026-11-27T04:51:05.123456789Z", "2026-13-45T99:99:99Z",
                                  "2026-11-27T04:51:05.Z", "not-a-time", ""]))
    kind = draw(st.sampled_from(["kubectl", "cri", "docker", "journald"]))
    if kind == "kubectl":
        return f"{stamp} {line}"
    if kind == "cri":
        return f"{stamp} stderr {draw(st.sampled_from(['F', 'P', 'X']))} {line}"
    body = json.dumps({"log": line + "\n", "stream": "stderr", "time": stamp} if kind == "docker" else
                      {"MESSAGE": line, "__REALTIME_TIMESTAMP": stamp})
    cut = draw(st.integers(0, len(body)))
    return body if draw(st.booleans()) else body[:cut]


@BUDGET
@given(st.lists(enveloped(), min_size=1, max_size=20))
def test_broken_envelopes_never_raise_and_lose_nothing(lines: list[str]) -> None:
    trace = _read(("\n".join(lines) + "\n").encode())
    assert _accounted(trace)
