"""``gclens.align``, kept for users and notebooks: the code lives in ``gclens.context.align``."""

# gclens-layout-shim: the code lives in gclens.context.align; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.context.align import *  # noqa: F403
from gclens.context.align import __all__  # noqa: F401
