"""The block scanner skips application lines without changing a single row or count.

``engine="lark"`` reads every line one by one; ``engine="fast"`` lets the block scanner pass
over plain application output. Both must give identical tables on inputs built to break the
scanner: lines cut at block boundaries, CRLF, NUL bytes, invalid UTF-8, over-long lines, torn
runtime lines whose tail has no marker, and an unterminated last line.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gclens import read_trace
from gclens.read.classify import CANDIDATES, ROUGH, TINY_TAIL_BYTES, classify, is_fragment
from gclens.read.sources import MAX_LINE_BYTES

ROOT = Path(__file__).parent.parent
REAL = (ROOT / "sample_traces" / "go1.25" / "churn-full.stderr").read_bytes().splitlines(keepends=True)
APP = [b'{"level":"info","msg":"served","path":"/api/%d"}\n' % i for i in range(50)]


def _same(data: bytes) -> None:
    fast = read_trace(io.BytesIO(data), engine="fast")
    lark = read_trace(io.BytesIO(data), engine="lark")
    for name in lark.tables:
        assert fast.tables[name].equals(lark.tables[name]), name


@pytest.fixture(params=[64, 1000, 1 << 20], ids=["block64", "block1000", "block1M"])
def block(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int:
    monkeypatch.setattr("gclens.read.sources.BLOCK_BYTES", request.param)
    return int(request.param)


def _mixed(every: int = 7) -> list[bytes]:
    out: list[bytes] = []
    for i, line in enumerate(REAL):
        out += APP[i % 50: i % 50 + every % 5]
        out.append(line)
    return out


def test_mixed_log(block: int) -> None:
    _same(b"".join(_mixed()))


def test_crlf_nul_and_invalid_utf8(block: int) -> None:
    lines = _mixed()
    lines[40] = lines[40].replace(b"\n", b"\r\n")
    lines[41] = b"app \x00 nul\n"
    lines[42] = b"app \xff\xfe broken\n"
    lines[43] = REAL[5].replace(b"MB goal", b"MB\xffgoal")
    lines[44] = REAL[6].replace(b" @", b" @\x00")
    _same(b"".join(lines))


def test_application_lines_that_the_first_scan_step_cannot_tell_apart(block: int) -> None:
    """``: status=`` and ``: p=`` lead the scanner to scheddetail lines; application lines holding
    them (or a detail marker after other text) must still come out as application output."""
    detail = (ROOT / "sample_traces" / "go1.25" / "goroutines-detail.stderr").read_bytes().splitlines(keepends=True)
    lookalikes = [b"request done: status=200 path=/x\n", b"config: p=0.5 q=1\n", b"  X1: status=3\n",
                  b"app said P0: status=1 schedtick=2\n"]
    data = b"".join(lookalikes[i % 4] + line for i, line in enumerate(_mixed()[:200] + detail[:300]))
    _same(data)
    assert read_trace(io.BytesIO(data)).sources["other_lines"][0] >= 500


def test_torn_runtime_line_whose_tail_has_no_marker(block: int) -> None:
    gc = next(line for line in REAL if line.startswith(b"gc "))
    head, tail = gc[:-10], gc[-10:]  # the tail, "bals, 2 P", holds no runtime marker
    data = b"".join(APP[:20]) + head + b"APP OUTPUT\n" + tail + b"".join(APP[20:40])
    _same(data)
    assert read_trace(io.BytesIO(data)).sources["rejoined_lines"][0] == 1


def test_over_long_lines_with_and_without_a_marker(block: int) -> None:
    long_app = b"x" * (MAX_LINE_BYTES + 10) + b"\n"
    long_gc = REAL[3].rstrip(b"\n") + b" " + b"y" * (MAX_LINE_BYTES + 5) + b"\n"
    _same(b"".join(APP[:5]) + long_app + b"".join(REAL[:10]) + long_gc + b"".join(APP[5:9]))


@pytest.mark.parametrize("last", [b"app without newline", REAL[8].rstrip(b"\n")], ids=["app", "gc"])
def test_unterminated_last_line(block: int, last: bytes) -> None:
    data = b"".join(_mixed()[:300]) + last
    _same(data)
    assert read_trace(io.BytesIO(data)).sources["unterminated_last_line"][0]


@pytest.mark.parametrize("data", [b"", b"\n\n\n", b"app\n" * 100, b"\r\n" * 5], ids=["empty", "blank", "app", "crlf"])
def test_degenerate_inputs(block: int, data: bytes) -> None:
    _same(data)


_CANDIDATES = re.compile("|".join(CANDIDATES))
_ROUGH = re.compile(ROUGH)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.sampled_from([line.decode() for line in REAL]).map(lambda s: s[: len(s) // 2]),
                 st.text(alphabet="gcSCHEDpacerscavPMG0123456789 :@=%()-[]tsu.\t", max_size=60)))
@example(" P")  # found by CI: a tiny tail, a fragment with no marker
def test_candidates_are_a_superset_of_the_classifier(text: str) -> None:
    """Tiny tails (' P', ' (forced)') carry no marker: the scanner keeps them by their length and
    leading space (``_sources._tiny``), tested with the torn lines."""
    tiny = text.startswith(" ") and 2 <= len(text.encode()) <= TINY_TAIL_BYTES
    if classify(text) is not None or (is_fragment(text) and not tiny):
        assert _CANDIDATES.search(text)
    if _CANDIDATES.search(text):
        assert _ROUGH.search(text)  # the scanner's first step finds every candidate


def _lines(region: bytes) -> tuple[np.ndarray, pa.LargeBinaryArray]:
    newlines = np.flatnonzero(np.frombuffer(region, np.uint8) == 10)
    offsets = np.concatenate([[0], newlines + 1, [len(region)] if region[-1:] != b"\n" else []]).astype(np.int64)
    return newlines, pa.LargeBinaryArray.from_buffers(pa.large_binary(), len(offsets) - 1,
                                                      [None, pa.py_buffer(offsets), pa.py_buffer(region)])


@pytest.mark.parametrize("envelope", [None, "cri", "docker", "journald-json"])
def test_the_automaton_marks_what_line_by_line_matching_marks(envelope: str | None) -> None:
    """The two routes of the block scanner (one automaton over a block's bytes where hits are few,
    Polars line by line where they are many) mark the very same lines of every sample run, bare
    and in each envelope whose continued lines the scanner must keep as well."""
    from envelope_variants import wrap

    from gclens.read.envelopes import CONTINUED
    from gclens.read.scan import matching_lines
    from gclens.read.sources import _matching

    patterns = CANDIDATES if envelope not in CONTINUED else (*CANDIDATES, CONTINUED[envelope])
    marked = 0
    for path in sorted((ROOT / "sample_traces").glob("go1.2[5-7]/*.stderr")):
        text = path.read_text()
        if envelope is not None:
            text = wrap(text, json.loads(path.with_suffix(".truth.json").read_text()), envelope)
        region = text.encode() + b"app line \xff without its newline"
        newlines, lines = _lines(region)
        automaton = matching_lines(region, newlines, patterns)
        assert automaton is not None
        assert automaton.tolist() == _matching(lines, patterns).tolist(), path
        marked += int(automaton.sum())
    assert marked > 10_000
