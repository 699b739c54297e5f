"""Coverage-guided fuzzing of the line parsers and envelope decoders (atheris, not run in CI).

Every input is fed to `read_trace` (envelope detection, classification, the grammars, rejoining,
run assembly) and each of its lines to `parse_runtime_line`; anything but a gclens error is a
crash. The seed corpus in `fuzz/corpus/` holds real lines from the sample traces.

    pip install atheris
    python fuzz/fuzz_parse.py fuzz/corpus -max_total_time=300 -rss_limit_mb=2048

A crash is written as `crash-<hash>`: add it to tests/test_fuzz_regressions.py.
"""

from __future__ import annotations

import contextlib
import io
import sys

import atheris
import lark  # noqa: F401  # the libraries first, uninstrumented: atheris rewrites what it instruments,
import numpy  # noqa: F401  # and an instrumented polars misbehaves (a None where a Series is)
import polars  # noqa: F401
import pyarrow  # noqa: F401

with atheris.instrument_imports():  # gclens imports lazily: name every module to instrument it
    import gclens
    import gclens.grammar.loader
    import gclens.grammar.recognize
    import gclens.grammar.sched_transformer
    import gclens.grammar.transformer_base
    import gclens.grammar.transformers
    import gclens.pipeline.anchor
    import gclens.pipeline.parse
    import gclens.pipeline.reader
    import gclens.pipeline.runs
    import gclens.pipeline.sequence
    import gclens.pipeline.torn
    import gclens.read.classify
    import gclens.read.envelopes
    import gclens.read.sources
    from gclens import GclensError


def test_one_input(data: bytes) -> None:
    with contextlib.suppress(GclensError):
        gclens.read_trace(io.BytesIO(data))
    for line in data.decode("utf-8", "replace").splitlines()[:20]:
        with contextlib.suppress(GclensError):
            gclens.parse_runtime_line(line)


if __name__ == "__main__":
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()
