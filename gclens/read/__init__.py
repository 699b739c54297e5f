"""Reading: bytes in, lines out (paths, globs, stdin, compression, collector envelopes, the prefilter).

Modules are imported by their full path; this package imports nothing, so a leaf module in it
stays a leaf. Users import gclens and its public modules at the package root (align, plot...).
"""

__all__: list[str] = []
