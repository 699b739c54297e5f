"""``gclens.report``, kept for users and notebooks: the code lives in ``gclens.present.report``."""

# gclens-layout-shim: the code lives in gclens.present.report; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.present.report import *  # noqa: F403
from gclens.present.report import __all__  # noqa: F401
