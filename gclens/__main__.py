"""`python -m gclens` runs the command line."""

from gclens.cli import run

run()
