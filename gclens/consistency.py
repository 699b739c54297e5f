"""``gclens.consistency``, kept for users and notebooks: the code lives in ``gclens.analysis.consistency``."""

# gclens-layout-shim: the code lives in gclens.analysis.consistency; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.analysis.consistency import *  # noqa: F403
from gclens.analysis.consistency import __all__  # noqa: F401
