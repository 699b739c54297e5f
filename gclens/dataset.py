"""``gclens.dataset``, kept for users and notebooks: the code lives in ``gclens.store.dataset``."""

# gclens-layout-shim: the code lives in gclens.store.dataset; this module re-exports its public names, as that
# module's __all__ lists them (one list, kept there).

from gclens.store.dataset import *  # noqa: F403
from gclens.store.dataset import __all__  # noqa: F401
