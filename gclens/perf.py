"""``gclens.perf``, kept for users and notebooks: the code lives in ``gclens.context.perf``."""

# gclens-layout-shim: the code lives in gclens.context.perf; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.context.perf import *  # noqa: F403
from gclens.context.perf import __all__  # noqa: F401
