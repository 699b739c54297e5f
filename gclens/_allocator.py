"""The `gclens` command's allocators: Arrow on the system's malloc, Polars' jemalloc returning
freed pages within 0.2 s.

Measured on this project's inputs (README, "Benchmarks"): Arrow's bundled jemalloc and Polars'
own one keep freed pages for reuse (Polars' for 0.5 s, then 1 s more), so a 2 GiB parse peaked
at 392-405 MiB, and a follower's resident memory crept up by 10-15 MiB over its first hours
before levelling off. With Arrow on malloc the 2 GiB parse peaks 35-55 MiB lower at the same
speed and a follower stays flat; Polars' decay at 200 ms takes another 28 MiB off the
runtime-only log's peak at the same speed (0 ms costs a third more wall time in system calls),
which pays for larger batches (``BATCH_LINES``). Both libraries read their variable once, when
they load (so ``pyarrow.set_memory_pool``, which does not reach the Parquet writer's buffers,
would not do): the command sets them before anything imports either. A value the user set is
kept, the library (a notebook's process) is left alone, and a program ``gclens run`` starts gets
the variables as the user had them, not as gclens set them or Polars rewrote them.
"""

from __future__ import annotations

import os

__all__ = ["CHOICES", "child_environment", "prefer_lean_allocators"]

CHOICES = {
    "ARROW_DEFAULT_MEMORY_POOL": "system",
    # Polars' jemalloc (symbols _rjem_*); Polars puts its own defaults (500 ms, 1000 ms) before
    # what it finds here, and the last setting wins.
    "_RJEM_MALLOC_CONF": "dirty_decay_ms:200,muzzy_decay_ms:0",
}
_users: dict[str, str | None] = {}  # each variable as the user's environment had it (the command only)


def prefer_lean_allocators() -> None:
    """Set each variable of CHOICES the user has not set: before pyarrow or polars is imported."""
    for name, value in CHOICES.items():
        _users[name] = os.environ.get(name)
        os.environ.setdefault(name, value)


def child_environment() -> dict[str, str]:
    """This process's environment as a program it starts should get it: the allocator variables
    as the user had them (not as gclens set them, nor as Polars rewrote its own when it loaded)."""
    env = dict(os.environ)
    for name, user in _users.items():
        if user is None:
            env.pop(name, None)
        else:
            env[name] = user
    return env
