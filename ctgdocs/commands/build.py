"""``ctg check``, ``ctg build`` and ``ctg check-templates``."""

from __future__ import annotations

import argparse
from typing import Any


def register(sub: Any) -> None:
    """Add the generation subcommands to ``sub``."""
    p = sub.add_parser("check", help="validate convention data (no output written)")
    p.add_argument("data", help="convention YAML file")
    p.set_defaults(run=_not_yet)


def _not_yet(args: argparse.Namespace) -> int:
    raise NotImplementedError
