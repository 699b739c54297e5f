"""Where gclens finds its grammar files and keeps its caches; no heavy imports, so the block
scanner and the marker reader can use it without loading Lark."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["grammar_dir", "user_cache_dir"]


def grammar_dir() -> Path:
    """Where the `.lark` files are: inside the installed package, else the source checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "grammars", here.parent / "grammars"):
        if (candidate / "gctrace.lark").is_file():
            return candidate
    raise FileNotFoundError(f"gclens grammars not found next to {here}")


def user_cache_dir() -> Path | None:
    """``$XDG_CACHE_HOME/gclens`` (else ``~/.cache/gclens``), mode 0700 and the user's own, since
    what is cached there (parser tables, scan automata) is loaded as is; None when unusable."""
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gclens"
    try:
        base.mkdir(mode=0o700, parents=True, exist_ok=True)
        if not os.access(base, os.W_OK) or base.stat().st_uid != os.getuid():
            return None
    except OSError:
        return None
    return base
