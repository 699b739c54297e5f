"""The `gclens` command's Arrow allocator: the system's malloc, not Arrow's bundled jemalloc.

Measured on this project's inputs (README, "Benchmarks"): jemalloc keeps freed pages for reuse, so a
2 GiB parse peaked 35-55 MiB higher with it (392-405 MiB against 347-358 MiB) at the same speed,
and a follower's resident memory crept up by 10-15 MiB over its first hours before levelling off,
where with malloc it stayed flat. Arrow reads ``ARROW_DEFAULT_MEMORY_POOL`` once, when it first
allocates, and ``pyarrow.set_memory_pool`` does not reach the Parquet writer's own buffers; so the
command sets the variable before anything imports pyarrow. A choice the user made is kept, the
library (a notebook's process) is left alone, and a program ``gclens run`` starts does not inherit
a variable gclens set for itself.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

__all__ = ["POOL_VARIABLE", "prefer_system_allocator", "without_our_allocator"]

POOL_VARIABLE = "ARROW_DEFAULT_MEMORY_POOL"
_ours: list[str] = []  # the value gclens set, if it set one


def prefer_system_allocator() -> None:
    """Arrow allocates with malloc in this process, unless the user chose a pool."""
    if POOL_VARIABLE not in os.environ:
        os.environ[POOL_VARIABLE] = "system"
        _ours.append("system")


def without_our_allocator(env: MutableMapping[str, str]) -> MutableMapping[str, str]:
    """``env`` (a copy of ours, for a child) without the variable gclens set for itself."""
    if _ours and env.get(POOL_VARIABLE) == _ours[-1]:
        del env[POOL_VARIABLE]
    return env
