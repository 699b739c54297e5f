"""The runtime-line markers come from the grammar files, and find every line the grammars accept.

Lines are generated from the grammars themselves (``test_engines._sentences``: every rule
expanded at random, every terminal drawn from its regex), so a new layout in a `.lark` file is
found by the classifier, the block scanner (both of its routes) and the column parser's family
test without a marker being written anywhere else.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_engines import _sentences
from test_prefilter import _lines

from gclens.grammar import markers as _markers
from gclens.grammar.loader import FAMILIES
from gclens.pipeline.columnar import _FAMILY_REGEX
from gclens.read.classify import CANDIDATES, classify
from gclens.read.scan import matching_lines
from gclens.read.sources import _matching

APP = ["2026/12/05 07:45:21.304404 applog: request done worker=1 seq=0 path=/api/users/936 dur_us=47",
       'time=2026-12-05T07:45:23.948Z level=INFO msg="request done" worker=0 seq=0 path=/api/items/704',
       '{"time":"2026-12-05T07:45:26.56811136Z","level":"INFO","msg":"applog starting","pid":22840}',
       "[INFO] 07:46:21 worker=3 seq=0 path=/api/search/18 dur_us=34 msg=request_done"]


@pytest.mark.parametrize("family", sorted(FAMILIES))
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_every_generated_line_is_found(family: str, data: st.DataObject) -> None:
    lines = data.draw(st.lists(_sentences(family), min_size=1, max_size=8))
    lines = [ln for ln in lines if "\n" not in ln and ln.strip() == ln]
    for line in lines:
        hit = classify(line)
        assert hit is not None and (hit.family, hit.start) == (family, 0), line
        if family != "events":  # events go line by line; the others' family is read from the marker
            assert (m := re.match(_FAMILY_REGEX, line)) is not None and m.lastgroup == family, line
    text = "".join(f"{APP[i % 4]}\n{line}\n" for i, line in enumerate(lines)).encode()
    newlines, block = _lines(text)
    for marked in (matching_lines(text, newlines, CANDIDATES), _matching(block, CANDIDATES)):
        assert marked is not None
        assert np.flatnonzero(marked).tolist() == list(range(1, 2 * len(lines), 2))


def test_markers_are_derived_from_the_grammars_not_written_down() -> None:
    """Each start alternative of each grammar gives a marker (less those another one covers), in
    a syntax every engine that searches for them accepts."""
    markers = _markers.markers()
    assert {m.family for m in markers} == set(FAMILIES)
    by_rule = {m.rule: m.regex for m in markers}
    assert by_rule["gc_line"] == "gc [0-9]+ @"  # "gc " INT " @": up to the literal after the number
    assert by_rule["sched_line"] == "SCHED [0-9]+ms: "
    assert by_rule["gc_forced"] == "GC forced$"  # the rule ends there: the whole line
    assert by_rule["fatal_error"] == "fatal error: "  # the free text after it adds nothing
    for m in markers:
        re.compile(m.regex)
        assert "\\ " not in m.regex  # Rust's regex refuses an escaped space
