"""What a settings rule reads and yields, shared by ``settings_rules`` and ``guide_settings_rules``."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import polars as pl

from gclens.analysis.limits import Limits

Snapshot = dict[str, str]  # key -> value, errors left out as "!key" -> error


@dataclass(frozen=True)
class RunContext:
    """What a settings rule may look at for one run."""

    source: str | None
    run_id: int | None
    snapshots: list[tuple[str, Snapshot]]  # (snapshot_id, values), in capture order
    gc: pl.DataFrame  # the run's cycles, with snapshot_id when the as-of join placed them
    threads_max: int | None
    limits: Limits

    @property
    def latest(self) -> tuple[str, Snapshot]:
        return self.snapshots[-1]


Finding = tuple[str, str, float, float, str, list[int], str, str, str]
"""rule, severity, value, limit, unit, evidence cycles, message, remediation, reference."""
RuleFn = Callable[[RunContext], Iterator[Finding]]


@dataclass(frozen=True)
class SettingsRule:
    """A rule function and the finding ids it may yield: the catalogue of tuning-guide claims
    (``guide_claims``) is checked against these ids, so a rule cannot appear unannounced."""

    ids: tuple[str, ...]
    check: RuleFn

    def __call__(self, ctx: RunContext) -> Iterator[Finding]:
        return self.check(ctx)


def _rule(*ids: str) -> Callable[[RuleFn], SettingsRule]:
    def wrap(fn: RuleFn) -> SettingsRule:
        return SettingsRule(ids, fn)
    return wrap


def _int(value: str | None) -> int | None:
    return int(value) if value is not None and re.fullmatch(r"-?\d+", value) else None


