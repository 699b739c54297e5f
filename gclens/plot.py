"""``gclens.plot``, kept for users and notebooks: the code lives in ``gclens.present.plot``."""

# gclens-layout-shim: the code lives in gclens.present.plot; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.present.plot import *  # noqa: F403
from gclens.present.plot import __all__  # noqa: F401
