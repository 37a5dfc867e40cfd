"""Allow ``python -m ctgdocs``."""

from .cli import run

run()
