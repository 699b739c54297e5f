"""The streaming core: lines to rows to tables (parse, runs, anchors, frames, stream), and the
leaf types every stage shares (``trace.Trace``; ``records.Record``).

Modules are imported by their full path; this package imports nothing, so a leaf module in it
stays a leaf. Users import gclens and its public modules at the package root (align, plot...).
"""

__all__: list[str] = []
