"""Rejoining torn lines asks, for many splits, whether the joined text parses: without Lark.

`Prefix(family, text).accepts(r, tail)` runs Lark's own tables (contextual lexer, LALR parse
table) from the state kept after the prefix's tokens, without building a row. Its answer for
every split must be exactly whether `parse_line` of the joined text succeeds, for real runtime
lines of every family torn anywhere and with whole lines (application or runtime output, or
text made of the grammar's own characters) inserted.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gclens._errors import LineError
from gclens.grammar.loader import parse_line
from gclens.grammar.recognize import Prefix
from gclens.grammar.transformers import Legacy, Row
from gclens.read.classify import classify

SAMPLES = Path(__file__).parent.parent / "sample_traces"
INSERTED = ['{"level":"info","msg":"request served","path":"/api/v1"}', "app: request 17 took 3 ms",
            "pacer: sweep done at heap size 4MB; allocated 0MB during sweep; swept 1082 pages at 0.0013 pages/byte",
            "gc 7 @0.101s 2%: 0.012+1.2+0.003 ms clock, 0.1+0.2/0.3/0.4+0.5 ms cpu, 4->4->1 MB, 5 MB goal, 8 P",
            "", "1 2 3", "M3: p=-1 curg=nil"]


@cache
def runtime_lines() -> list[tuple[str, str]]:
    """(family, line) for one line of each family and length class in the samples, go1.19 to go1.27."""
    seen: dict[tuple[str, str, bool, int], str] = {}
    for path in sorted(SAMPLES.glob("go*/*.stderr")):
        for text in path.read_text(errors="replace").splitlines():
            hit = classify(text)
            if hit is not None and hit.family != "events":
                line = text[hit.start:]
                seen.setdefault((hit.family, line[:1], "(" in line, len(line) // 60), line)
    return [(key[0], text) for key, text in sorted(seen.items())]


def lark(family: str, text: str) -> Row | Legacy | None:
    try:
        return parse_line(family, text)
    except LineError:
        return None


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_split_parses_as_lark_parses_the_joined_text(data: st.DataObject) -> None:
    family, line = data.draw(st.sampled_from(runtime_lines()))
    cut = data.draw(st.integers(0, len(line)))
    inserted = data.draw(st.sampled_from(INSERTED) | st.text("0123456789 .:=[]-abcmsMBP", max_size=12))
    prefix, tail = line[:cut] + inserted, line[cut:]
    shared = Prefix(family, prefix)
    for r in range(len(prefix), -1, -1):
        assert shared.accepts(r, tail) == (lark(family, prefix[:r] + tail) is not None), (prefix[:r], tail)


def test_sample_lines_cover_every_family_and_the_look_ahead_terminals() -> None:
    """The lines include scheddetail G and M lines, whose terminals may look to the line's end."""
    lines = runtime_lines()
    assert {family for family, _ in lines} == {"gctrace", "pacer", "sched", "scavenger"}
    assert any(line.startswith("G") and "(" in line for _, line in lines)  # WAIT_REASON
    assert any(line.startswith("M") and "preemptoff=" in line for _, line in lines)  # PREEMPTOFF
