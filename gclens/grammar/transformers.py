"""Transformers: turn each grammar's parse into one row (a table name and its columns).

One transformer per grammar file; a method per grammar rule, named after the rule. Parsing is
tree-less (LALR with the transformer applied during the parse), so each method receives the
already-transformed children: numbers as tokens, sub-rules as whatever their method returned.

A token is any ``str`` with a ``type`` (Lark's ``Token``, or the fast engine's own, see
``_fastpath``). The classes do not derive from Lark's ``Transformer``: ``_grammar`` mixes it in
when Lark parses, so the fast engine runs them without importing Lark.
"""

from __future__ import annotations

from typing import Any

from gclens.grammar.sched_transformer import SchedTransformer
from gclens.grammar.transformer_base import Legacy, Row, _has, _Marker, _values
from gclens.grammar.values import (
    Column,
    case,
    equals,
    matches,
    num,
    real,
    strip,
    text,
)

__all__ = ["EventsTransformer", "GctraceTransformer", "Legacy", "PacerTransformer", "Row", "ScavengerTransformer",
           "SchedTransformer"]

_OLD_FLOAT = r"[+-][0-9]\.[0-9]{6}e[+-][0-9]{3}"


def _old_float(tok: Any) -> Any:
    """Whether a FLOAT is in the go1.5-1.25 style `+2.500000e-001`."""
    return matches(tok, _OLD_FLOAT)


def _new_float(tok: Any) -> Any:
    """Whether a FLOAT is in the go1.26+ shortest style (NaN and the infinities tell nothing)."""
    return case((_old_float(tok), False), (matches(tok, r"[+-]?(?:NaN|Inf)"), False), default=True)


class GctraceTransformer:
    """gctrace.lark → rows of `gc` and `gc_scan`, or Legacy."""

    def start(self, c: list[Any]) -> Any:
        return c[0]

    def leak_check(self, c: list[Any]) -> _Marker:
        return _Marker("leak")

    def forced(self, c: list[Any]) -> _Marker:
        return _Marker("forced")

    def clock5(self, c: list[Any]) -> dict[str, float]:
        names = ["sweep_term", "scan", "install_wb", "mark", "mark_term"]
        return {f"clock_{n}_ms": real(v) for n, v in zip(names, c, strict=True)}

    def clock3(self, c: list[Any]) -> dict[str, float]:
        names = ["sweep_term", "mark", "mark_term"]
        return {f"clock_{n}_ms": real(v) for n, v in zip(names, c, strict=True)}

    def cpu7(self, c: list[Any]) -> dict[str, float]:
        names = ["sweep_term", "scan", "install_wb", "assist", "background", "idle", "mark_term"]
        return {f"cpu_{n}_ms": real(v) for n, v in zip(names, c, strict=True)}

    def cpu5(self, c: list[Any]) -> dict[str, float]:
        names = ["sweep_term", "assist", "background", "idle", "mark_term"]
        return {f"cpu_{n}_ms": real(v) for n, v in zip(names, c, strict=True)}

    def heap(self, c: list[Any]) -> dict[str, int]:
        return {"heap_start_mib": num(c[0]), "heap_end_mib": num(c[1]), "heap_live_mib": num(c[2])}

    def _body(self, layout: str, c: list[Any]) -> dict[str, Any]:
        v = _values(c)
        row: dict[str, Any] = {"layout": layout, **v[0], **v[1], **v[2], "heap_goal_mib": num(v[3])}
        if layout == "go1.18+":
            row["stacks_mib"], row["globals_mib"] = num(v[4]), num(v[5])
        row["procs"] = num(v[-1])
        row["forced"] = _has(c, "forced")
        return row

    def gc_go15(self, c: list[Any]) -> dict[str, Any]:
        return self._body("go1.5", c)

    def gc_go16(self, c: list[Any]) -> dict[str, Any]:
        return self._body("go1.6-1.17", c)

    def gc_go118(self, c: list[Any]) -> dict[str, Any]:
        return self._body("go1.18+", c)

    def gc_line(self, c: list[Any]) -> Row:
        number, secs, pct, body = _values(c)
        row = {"gc_num": num(number), "t_s": real(secs), "gc_cpu_cum_pct": num(pct),
               "leak_check": _has(c, "leak"), **body}
        row["stw_ms"] = row["clock_sweep_term_ms"] + row["clock_mark_term_ms"]
        row["wall_ms"] = sum(val for key, val in row.items() if key.startswith("clock_"))
        return "gc", row

    def scan_total(self, c: list[Any]) -> dict[str, Any]:
        return {"size_class": "total"}

    def scan_class(self, c: list[Any]) -> dict[str, Any]:
        size = c[0]
        return {"size_class": text(size), "object_size_bytes": None if size == "L" else num(strip(size, suffix="B"))}

    def scan_classic(self, c: list[Any]) -> dict[str, Any]:
        return {"layout": "classic", "objs": num(c[0])}

    def scan_greentea(self, c: list[Any]) -> dict[str, Any]:
        keys = ["objs_sparse", "objs_span_sparse", "objs_span_dense", "objs",
                "spans_sparse", "spans_dense", "spans"]
        return {"layout": "greentea", **{k: num(v) for k, v in zip(keys, c, strict=True)}}

    def scan_line(self, c: list[dict[str, Any]]) -> Row:
        return "gc_scan", {**c[0], **c[1]}

    def legacy_gc_line(self, c: list[Any]) -> Legacy:
        return Legacy("legacy gctrace line of go1.4 or older (gcN(P): ...); not parsed")


class PacerTransformer:
    """pacer.lark → rows of `pacer`."""

    def start(self, c: list[Row]) -> Row:
        return c[0]

    def assist_ratio(self, c: list[Any]) -> Row:
        ratio, scan, start, goal, dedicated, fractional = c
        layout = case((_new_float(ratio), "go1.26+"), (_old_float(fractional), "go1.10-1.25"),
                      default="go1.5-1.9")
        return "pacer", {
            "kind": "assist_ratio", "layout": layout, "assist_ratio": real(ratio),
            "scan_heap_mib": num(scan), "heap_start_mib": num(start), "heap_goal_mib": num(goal),
            "workers_dedicated": num(dedicated), "workers_fractional": real(fractional),
        }

    def old_pacer(self, c: list[Any]) -> Row:
        keys = [("heap_marked_prev_bytes", num), ("trigger_ratio", real), ("trigger_bytes", num),
                ("growth_actual_ratio", real), ("heap_live_bytes", num),
                ("growth_goal_ratio", real), ("heap_goal_bytes", num), ("util_actual", real),
                ("util_goal", real), ("scan_work_bytes", num), ("goal_delta", real),
                ("actual_delta", real), ("util_actual_over_goal", real)]
        row: dict[str, Any] = {"kind": "old_pacer", "layout": "go1.5-1.17"}
        row.update({k: conv(v) for (k, conv), v in zip(keys, c, strict=True)})
        return "pacer", row

    def controller_reset(self, c: list[Any]) -> _Marker:
        return _Marker("reset")

    def cpu_pacer(self, c: list[Any]) -> Row:
        v = _values(c)
        keys = ["cpu_util_pct", "cpu_util_goal_pct", "scan_heap_bytes", "scan_stack_bytes",
                "scan_globals_bytes", "scan_expected_bytes", "trigger_bytes", "heap_live_bytes",
                "goal_delta_bytes"]
        row: dict[str, Any] = {"kind": "cpu_pacer", **{k: num(x) for k, x in zip(keys, v[:-1], strict=True)}}
        row["cons_mark"] = real(v[-1])
        row["controller_reset"] = _has(c, "reset")
        row["layout"] = case((_new_float(v[-1]), "go1.26+"), default="go1.18-1.25")
        return "pacer", row

    def alloc_kind(self, c: list[Any]) -> str:
        return str(c[0].type)

    def sweep_rate(self, c: list[Any]) -> Any:
        return c[0]

    def sweep_done(self, c: list[Any]) -> Row:
        heap, alloc, kind, pages, *rate = c
        if kind == "ALLOC_OF_SPANS":
            layout = "go1.7-1.8" if rate else "go1.6"
        else:
            layout = case((_new_float(rate[0]) if rate else False, "go1.26+"), default="go1.9-1.25")
        return "pacer", {
            "kind": "sweep_done", "layout": layout, "heap_live_mib": num(heap),
            "allocated_mib": num(alloc), "swept_pages": num(pages),
            "pages_per_byte": real(rate[0]) if rate else None,
        }


class ScavengerTransformer:
    """scavenger.lark → rows of `scav` (both the old scvg and the scavtrace lines)."""

    def start(self, c: list[Row]) -> Row:
        return c[0]

    @staticmethod
    def _tag(tag: Any) -> dict[str, Any]:
        """`scvgN` (go1.5-1.12, N = -1 when forced) or go1.13's `scvg` / `forced scvg`."""
        if isinstance(tag, Column):  # digits vary, so the tag has a pass number
            digits = strip(strip(tag, prefix="forced "), prefix="scvg")
            return {"layout": "go1.5-1.12", "scvg_pass": num(digits), "forced": equals(digits, "-1")}
        digits = tag.removeprefix("forced ").removeprefix("scvg")
        if digits:
            return {"layout": "go1.5-1.12", "scvg_pass": int(digits), "forced": digits == "-1"}
        return {"layout": "go1.13", "scvg_pass": None, "forced": tag.startswith("forced ")}

    def scvg_released(self, c: list[Any]) -> Row:
        return "scav", {"kind": "scvg_released", **self._tag(c[0]), "released_mib": num(c[1])}

    def scvg_stats(self, c: list[Any]) -> Row:
        keys = ["inuse_mib", "idle_mib", "sys_mib", "released_total_mib", "consumed_mib"]
        return "scav", {"kind": "scvg_stats", **self._tag(c[0]),
                        **{k: num(v) for k, v in zip(keys, c[1:], strict=True)}}

    def scav_go114(self, c: list[Any]) -> dict[str, Any]:
        return {"layout": "go1.14,go1.19-1.20", "work_kib": num(c[0]), "released_kib": num(c[1]),
                "util_pct": num(c[2])}

    def scav_go115(self, c: list[Any]) -> dict[str, Any]:
        return {"layout": "go1.15-1.18", "gen": num(c[0]), "work_kib": num(c[1]),
                "released_kib": num(c[2]), "util_pct": num(c[3])}

    def scav_go121(self, c: list[Any]) -> dict[str, Any]:
        return {"layout": "go1.21+", "work_bg_kib": num(c[0]), "work_eager_kib": num(c[1]),
                "released_kib": num(c[2]), "util_pct": num(c[3])}

    def scav_forced(self, c: list[Any]) -> _Marker:
        return _Marker("forced")

    def scav_reset(self, c: list[Any]) -> _Marker:
        return _Marker("reset")

    def scav_line(self, c: list[Any]) -> Row:
        return "scav", {"kind": "scav", **c[0], "forced": _has(c, "forced"),
                        "controller_reset": _has(c, "reset")}


_FATAL_CATEGORIES = [
    ("out of memory", "out_of_memory"), ("thread exhaustion", "thread_exhaustion"),
    ("newosproc", "thread_create_failed"), ("stack overflow", "stack_overflow"),
    ("deadlock", "deadlock"), ("concurrent map", "concurrent_map_access"),
]


def _category(message: str) -> str | None:
    """Classify a fatal error by the runtime's fixed wording (runtime/panic.go throw sites)."""
    return next((cat for key, cat in _FATAL_CATEGORIES if key in message), None)


class EventsTransformer:
    """events.lark → rows of `events`."""

    def start(self, c: list[Row]) -> Row:
        return c[0]

    def gc_forced(self, c: list[Any]) -> Row:
        return "events", {"kind": "gc_forced", "category": "periodic_gc", "message": "GC forced"}

    def fatal_error(self, c: list[Any]) -> Row:
        return "events", {"kind": "fatal_error", "category": _category(c[0]), "message": str(c[0])}

    def thread_create_failed(self, c: list[Any]) -> dict[str, Any]:
        return {"category": "thread_create_failed", "count": int(c[1]), "errno": int(c[2])}

    def thread_limit(self, c: list[Any]) -> dict[str, Any]:
        return {"category": "thread_exhaustion", "count": int(c[1])}

    def stack_limit(self, c: list[Any]) -> dict[str, Any]:
        return {"category": "stack_overflow", "size_bytes": int(c[1])}

    def alloc_failed(self, c: list[Any]) -> dict[str, Any]:
        return {"category": "out_of_memory", "size_bytes": int(c[1])}

    def runtime_message(self, c: list[Any]) -> Row:
        detail = c[0] if isinstance(c[0], dict) else {"category": _category(c[0])}
        return "events", {"kind": "runtime_message", "message": "", **detail}

    def panic_line(self, c: list[Any]) -> Row:
        return "events", {"kind": "panic", "category": "panic", "message": str(c[0])}

    def goroutine_header(self, c: list[Any]) -> Row:
        return "events", {"kind": "goroutine", "count": int(c[0]), "message": str(c[1])}

    def signal_line(self, c: list[Any]) -> Row:
        return "events", {"kind": "signal", "category": str(c[0]), "message": str(c[1])}
