"""Tables and findings for people: text/JSON/JUnit, figures, the HTML report.

Modules are imported by their full path; this package imports nothing, so a leaf module in it
stays a leaf. Users import gclens and its public modules at the package root (align, plot...).
"""

__all__: list[str] = []
