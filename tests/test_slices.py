"""Tokens cut from the digit runs (``_slices``) give the rows Lark gives, and only those.

The runs found over the bytes are checked against Python's regex on random texts; real runtime
lines with their digits widened (up to 25 digits, past int64 and every column) or with a
non-ASCII character go through ``parse_column``: every row served equals Lark's row for its
line, and a line whose number does not fit its column is left to the line-by-line path (which
rejects it), exactly as before the cut route.
"""

from __future__ import annotations

import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gclens import _plans
from gclens._classify import classify
from gclens._columnar import parse_column
from gclens._errors import LineError
from gclens._fastpath import FastEngine
from gclens._grammar import parse_line
from gclens._ranges import out_of_range
from gclens._schemas import polars_types
from gclens._slices import EXACT_DIGITS, digit_runs

ROOT = Path(__file__).parent.parent
_RUN = re.compile(rb"[0-9]+")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("0123456789 .:@-éab"), max_size=40), max_size=30),
       st.integers(1, 7))
def test_runs_offsets_and_values_are_those_of_the_regex(texts: list[str], step: int) -> None:
    runs = digit_runs(pl.Series(texts, dtype=pl.String), step=step)
    assert runs.shapes.to_list() == pl.Series(texts, dtype=pl.String).str.replace_all("[0-9]+", "0").to_list()
    values = runs.values(np.arange(len(runs.at)))
    for i, text in enumerate(texts):
        found = list(_RUN.finditer(text.encode()))
        base = 2 * runs.ptr[i] + 2 * i
        expected = [0, *[x for m in found for x in (m.start(), m.end())], len(text.encode())]
        assert runs.bounds[base:base + len(expected)].tolist() == expected
        assert bool(runs.wide[i]) == (not text.isascii() or any(len(m[0]) > EXACT_DIGITS for m in found))
        if not runs.wide[i]:
            assert values[runs.ptr[i]:runs.ptr[i + 1]].tolist() == [int(m[0]) for m in found]


def _reference(family: str, text: str) -> Any:
    try:
        return parse_line(family, text)
    except LineError as exc:
        return ("reject", exc.reason)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return a == b or (a != a and b != b)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b) and type(a) is type(b)


@pytest.mark.parametrize("run", ["go1.25/goroutines-detail", "go1.21/churn-full", "go1.27/pauses-long"])
def test_widened_digits_and_non_ascii_lines_give_the_reference_rows(run: str, monkeypatch: pytest.MonkeyPatch) -> None:
    lines = (ROOT / "sample_traces" / f"{run}.stderr").read_text().splitlines()
    hits = [(h.family, line[h.start:]) for line in lines if (h := classify(line))][:1500]
    rng = random.Random(run)
    texts = [text for _, text in hits]
    for i in range(0, len(texts), 3):  # every third line: digit runs of 1 to 25 digits, or an é
        if rng.random() < 0.2:
            texts[i] = texts[i].replace(" ", " é", 1) if " " in texts[i] else texts[i]
        else:
            texts[i] = re.sub("[0-9]+", lambda _: str(rng.randrange(1, 10)) + "7" * rng.randrange(25), texts[i])
    cut = []
    original = _plans.Plan.cut
    monkeypatch.setattr(_plans.Plan, "cut", lambda self, group, *a: cut.append(group.height) or
                        original(self, group, *a))
    parsed = parse_column(FastEngine(), pl.Series(texts, dtype=pl.String),
                          pl.Series("_seq", range(len(texts)), dtype=pl.Int64))
    served = 0
    for table, frame in parsed.frames:
        schema = polars_types(table)
        for row in frame.to_dicts():
            family, text = hits[row["_seq"]][0], texts[row["_seq"]]
            reference = _reference(family, text)
            assert isinstance(reference, tuple) and reference[0] == table, text
            assert out_of_range(*reference) is None, text
            assert all(_same(value, row[key]) for key, value in reference[1].items() if key in schema), text
            served += 1
    assert sum(cut) > len(texts) // 4  # many lines were cut, not matched
    assert served + len(parsed.leftover) == len(texts)
