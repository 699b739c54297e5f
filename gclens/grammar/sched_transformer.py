"""The transformer of sched.lark: SCHED summaries and scheddetail P, M and G lines into rows.

Split from ``transformers`` as the largest single grammar's transformer (a method per rule, and
the status names and id conventions that date a scheddetail line); ``transformers`` re-exports
``SchedTransformer``, and ``template_store`` digests this file with it.
"""

from __future__ import annotations

from typing import Any

from gclens.grammar.transformer_base import Legacy, Row
from gclens.grammar.values import (
    Column,
    any_of,
    case,
    equals,
    flag,
    int_list,
    lookup,
    nonzero,
    num,
    opt_id,
    text,
    thousandths,
)

__all__ = ["SchedTransformer"]

_P_STATUS = ["idle", "running", "syscall", "gcstop", "dead"]
_G_STATUS = ["idle", "runnable", "running", "syscall", "waiting", "moribund_unused", "dead",
             "enqueue_unused", "copystack", "preempted", "leaked", "deadextra"]


def _id_era(ids: tuple[Any, ...], before_nil: str, unknown: str) -> Any:
    """Era of a scheddetail line from how it prints a missing id: `nil` from go1.20, `-1` before."""
    return case((any_of([equals(i, "nil") for i in ids]), "go1.20+"),
                (any_of([equals(i, "-1") for i in ids]), before_nil), default=unknown)


def _tokens(children: list[Any]) -> list[Any]:
    return [c for c in children if isinstance(c, Column) or (isinstance(c, str) and hasattr(c, "type"))]


class SchedTransformer:
    """sched.lark → rows of `sched`, `sched_p`, `sched_m`, `sched_g`, or Legacy."""

    def start(self, c: list[Any]) -> Any:
        return c[0]

    def needspinning(self, c: list[Any]) -> dict[str, int]:
        return {"needspinning": num(c[0])}

    def sched_counts(self, c: list[Any]) -> dict[str, Any]:
        v = _tokens(c)
        extra = next((x for x in c if isinstance(x, dict)), {})
        keys = ["gomaxprocs", "idleprocs", "threads", "spinningthreads", "idlethreads", "runqueue"]
        return {**{k: num(x) for k, x in zip(keys, v, strict=True)}, **extra}

    def queues_go15(self, c: list[Any]) -> dict[str, Any]:
        return {"local_runqueues": int_list(c)}

    def schedticks(self, c: list[Any]) -> Any:
        return int_list(c)

    def queues_go125(self, c: list[Any]) -> dict[str, Any]:
        return {"local_runqueues": int_list(c[:-1]), "schedticks": c[-1], "go125": True}

    def detail_header(self, c: list[Any]) -> dict[str, Any]:
        return {"detail": True, "gcwaiting": flag(c[0]), "nmidlelocked": num(c[1]),
                "stopwait": num(c[2]), "sysmonwait": flag(c[3])}

    def sched_line(self, c: list[Any]) -> Row:
        ms, counts, tail = c
        row = {"t_s": thousandths(ms), "detail": False, **counts, **tail}
        modern = "needspinning" in row
        if row.pop("go125", False):
            row["layout"] = "go1.25+"
        elif row["detail"]:
            row["layout"] = "go1.20+" if modern else "go1.5-1.19"
        else:
            row["layout"] = "go1.20-1.24" if modern else "go1.5-1.19"
        return "sched", row

    def timerslen(self, c: list[Any]) -> Any:
        return num(c[0])

    def p_line(self, c: list[Any]) -> Row:
        pid, status, tick, sctick, m, runq, gfree, *timers = c
        layout = _id_era((m,), "go1.14-1.19", "go1.14+") if timers else "go1.5-1.13"
        return "sched_p", {
            "layout": layout, "p_id": num(pid), "status": num(status),
            "status_name": lookup(_P_STATUS, num(status)), "schedtick": num(tick),
            "syscalltick": num(sctick), "m_id": opt_id(m), "runqsize": num(runq),
            "gfreecnt": num(gfree), "timerslen": timers[0] if timers else None,
        }

    def helpgc(self, c: list[Any]) -> dict[str, int]:
        return {"helpgc": num(c[0])}

    def m_modern(self, c: list[Any]) -> dict[str, Any]:
        helpgc = next((x for x in c if isinstance(x, dict)), {})
        v = _tokens(c)
        preempt = text(v.pop(0)) if v[0].type == "PREEMPTOFF" else ""
        locks, dying, spinning, blocked, lockedg = v
        return {"preemptoff": preempt, "locks": num(locks), "dying": num(dying), **helpgc,
                "spinning": flag(spinning), "blocked": flag(blocked), "lockedg": opt_id(lockedg),
                "lockedg_raw": lockedg}

    def m_legacy(self, c: list[Any]) -> Legacy:
        return Legacy("legacy scheddetail M line of go1.4 or older (gcing=); not parsed")

    def m_line(self, c: list[Any]) -> Row | Legacy:
        mid, p, curg, mallocing, throwing, rest = c
        if isinstance(rest, Legacy):
            return rest
        ids = (p, curg, rest.pop("lockedg_raw"))
        layout = "go1.5-1.11" if "helpgc" in rest else _id_era(ids, "go1.12-1.19", "go1.12+")
        return "sched_m", {
            "layout": layout, "m_id": num(mid), "p_id": opt_id(p), "curg": opt_id(curg),
            "mallocing": num(mallocing), "throwing": num(throwing), **rest,
        }

    def g_line(self, c: list[Any]) -> Row:
        goid, status, *reason, m, lockedm = c
        code = num(status)
        base = code & ~0x1000
        return "sched_g", {
            "layout": _id_era((m, lockedm), "go1.5-1.19", "go1.5+"),
            "goid": num(goid), "status": code, "status_base": base,
            "scanning": nonzero(code & 0x1000), "status_name": lookup(_G_STATUS, base),
            "wait_reason": text(reason[0]) if reason else "", "m_id": opt_id(m),
            "lockedm": opt_id(lockedm),
        }
