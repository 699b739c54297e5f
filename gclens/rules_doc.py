"""``gclens.rules_doc``, kept for users and notebooks: the code lives in ``gclens.present.rules_doc``."""

# gclens-layout-shim: the code lives in gclens.present.rules_doc; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.present.rules_doc import *  # noqa: F403
from gclens.present.rules_doc import __all__  # noqa: F401
