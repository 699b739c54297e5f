"""The grammars and what is derived from them: loader, transformers, templates, markers.

Adding a format means a grammar file (grammars/), a transformer (transformers.py) and a schema
entry (gclens.store.schemas).

Modules are imported by their full path; this package imports nothing, so a leaf module in it
stays a leaf. Users import gclens and its public modules at the package root (align, plot...).
"""

__all__: list[str] = []
