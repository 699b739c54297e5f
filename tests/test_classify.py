"""The classifier's knowledge of runtime lines, held to every real line in the samples and corpus."""

from __future__ import annotations

from pathlib import Path

import pytest

from gclens._errors import LineError
from gclens.pipeline.parse import parse_runtime_line
from gclens.read.classify import classify, could_end, is_fragment, torn_head

ROOT = Path(__file__).parent.parent
FILES = sorted((ROOT / "sample_traces").glob("go1.*/*.stderr")) + sorted((ROOT / "tests" / "corpus").glob("*.txt"))


def _runtime_lines() -> list[tuple[str, str]]:
    """(family, line) for every real line that parses as runtime output (not events)."""
    found = []
    for path in FILES:
        for line in path.read_text(errors="replace").splitlines():
            hit = classify(line)
            if hit is None or hit.family == "events" or hit.start:
                continue
            try:
                parse_runtime_line(line)
            except LineError:
                continue
            found.append((hit.family, line))
    return found


def test_every_real_runtime_line_ends_as_its_family_ends() -> None:
    """The rest of a torn line is looked for only among lines that end as the family's lines end:
    a real line that does not would make its torn rest unfindable."""
    lines = _runtime_lines()
    assert {family for family, _ in lines} == {"gctrace", "pacer", "sched", "scavenger"}
    missed = [line for family, line in lines if not could_end(family, line)]
    assert not missed, missed[:5]


@pytest.mark.parametrize(("text", "family"), [
    ("gc 2026/11/27 03:27:41.337545 app: x", "gctrace"), ("gc {\"msg\":\"x\"}", "gctrace"),
    ("SCHED 1002026/11/27 03:27:41 x", "sched"), ("  P2026/11/27 x", "sched"),
    ("scav time=2026-11-27 level=INFO", "scavenger"), ("gcc -O2 main.c", None), ("app: gc 5", None),
])
def test_a_runtime_line_head_is_told_from_other_lines(text: str, family: str | None) -> None:
    hit = torn_head(text)
    assert (hit.family if hit else None) == family


def test_the_last_pieces_of_a_gc_line_alone_are_a_fragment() -> None:
    assert is_fragment(" P") and is_fragment(" P (forced)") and is_fragment(" (forced)")
    assert not is_fragment(" Pending") and not is_fragment("P")
