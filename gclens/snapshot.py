"""``gclens.snapshot``, kept for users and notebooks: the code lives in ``gclens.context.snapshot``."""

# gclens-layout-shim: the code lives in gclens.context.snapshot; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.context.snapshot import *  # noqa: F403
from gclens.context.snapshot import __all__  # noqa: F401
