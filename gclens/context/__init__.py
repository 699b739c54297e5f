"""What else was true while the trace was taken: settings snapshots, perf samples, and
lining them up with the GC cycles (align).

Modules are imported by their full path; this package imports nothing, so a leaf module in it
stays a leaf. Users import gclens and its public modules at the package root (align, plot...).
"""

__all__: list[str] = []
