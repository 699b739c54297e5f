"""The JSON Lines export of ``gclens/context/perf_export.py`` (and hand-written ones with ``[ip, sym, dso]``
frames), one object per line, into the same rows as the text form.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from gclens.context.perf_rows import _I64, ExecEvent, _Columns, _Head, _Meta, _Symbols

__all__: list[str] = []


class _Bad(Exception):
    """A JSON line that is valid JSON but not a valid export record."""


class _JsonParser:
    """One JSON object per line: the export header, samples, and exec task records."""

    def __init__(self, columns: _Columns, meta: _Meta, reject: Callable[[int, str, str], None],
                 symbols: _Symbols) -> None:
        self.columns, self.meta, self.reject, self.symbols = columns, meta, reject, symbols

    def line(self, no: int, text: str) -> None:
        stripped = text.strip()
        if not stripped or stripped.startswith("#"):
            return
        try:
            obj = json.loads(stripped)
        except ValueError as exc:
            self.reject(no, text, f"invalid JSON ({getattr(exc, 'msg', exc)})")
            return
        try:
            self._record(obj)
        except _Bad as exc:
            self.reject(no, text, str(exc))

    def _record(self, obj: Any) -> None:
        if not isinstance(obj, dict):
            raise _Bad("JSON value is not an object")
        if "gclens_perf_export" in obj:
            self._header(obj)
        elif obj.get("task") == "exec":
            self._exec(obj)
        elif "time_ns" in obj:
            self._sample(obj)
        else:
            raise _Bad("JSON object is neither a sample, an exec record nor the export header")

    def _header(self, obj: dict[str, Any]) -> None:
        self.meta.header_seen = True
        self.meta.header_read = obj.get("header_read") is not False
        self.meta.clockid = _opt_int(obj, "clockid")
        ref = obj.get("reference")
        if isinstance(ref, list) and len(ref) == 2 and all(_is_int(v) for v in ref):
            self.meta.reference = (ref[0], ref[1])

    def _exec(self, obj: dict[str, Any]) -> None:
        self.meta.task_events += 1
        pid, tid, time_ns = _req_int(obj, "pid"), _req_int(obj, "tid"), _req_int(obj, "time_ns")
        comm = self._str(obj.get("comm")) or ""
        self.meta.thread(pid, tid)
        if time_ns:
            self.meta.exec_events.append(ExecEvent(pid, tid, comm, time_ns))

    def _sample(self, obj: dict[str, Any]) -> None:
        cpu = _opt_int(obj, "cpu")
        if cpu is not None and not 0 <= cpu < 1 << 31:
            cpu = None  # 4294967295 (-1 as u32): cpu not sampled
        head = _Head(_req_int(obj, "time_ns"), _opt_int(obj, "pid"), _opt_int(obj, "tid"), cpu,
                     self._str(obj.get("comm")), self._str(obj.get("ev", obj.get("event"))), _opt_int(obj, "period"))
        frames = [self._frame(f) for f in obj.get("stack") or ()]
        if frames:
            stack = tuple(f[0] for f in frames)
            dso = next((f[1] for f in frames if f[1] is not None), None)
            self.columns.add(head, stack, stack[0], dso)
            return
        sym = obj.get("sym")
        name = self.symbols.sym(self._str(sym) or "") if sym is not None else None
        self.columns.add(head, (name,) if name else (), name, self._str(obj.get("dso")))

    def _frame(self, frame: Any) -> tuple[str, str | None]:
        """``[sym, dso]`` (this module's export) or ``[ip, sym, dso]`` (a common hand-written export)."""
        if not isinstance(frame, list) or len(frame) not in (2, 3):
            raise _Bad("stack frame is not [sym, dso] or [ip, sym, dso]")
        sym, dso = frame[-2], frame[-1]
        return self.symbols.sym(self._str(sym) or ""), self._str(dso)

    def _str(self, value: Any) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            raise _Bad(f"expected a string, got {value!r}")
        if not value.isascii():
            try:
                value.encode("utf-8")
            except UnicodeEncodeError:
                raise _Bad("string is not valid Unicode (lone surrogate)") from None
        return self.symbols.string(value)

    def close(self) -> None:
        """Every JSON line is complete in itself."""


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and -_I64 <= value < _I64


def _opt_int(obj: dict[str, Any], key: str) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if not _is_int(value):
        raise _Bad(f"{key} is not a 64-bit integer: {value!r}")
    return int(value)


def _req_int(obj: dict[str, Any], key: str) -> int:
    value = _opt_int(obj, key)
    if value is None:
        raise _Bad(f"{key} is missing")
    return value
