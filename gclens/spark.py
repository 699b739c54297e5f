"""``gclens.spark``, kept for users and notebooks: the code lives in ``gclens.store.spark``."""

# gclens-layout-shim: the code lives in gclens.store.spark; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.store.spark import *  # noqa: F403
from gclens.store.spark import __all__  # noqa: F401
