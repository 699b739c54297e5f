"""``gclens.render``, kept for users and notebooks: the code lives in ``gclens.present.render``."""

# gclens-layout-shim: the code lives in gclens.present.render; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.present.render import *  # noqa: F403
from gclens.present.render import __all__  # noqa: F401
