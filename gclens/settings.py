"""``gclens.settings``, kept for users and notebooks: the code lives in ``gclens.context.settings``."""

# gclens-layout-shim: the code lives in gclens.context.settings; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.context.settings import *  # noqa: F403
from gclens.context.settings import __all__  # noqa: F401
