"""Subcommands of ``ctg``: each module exposes ``register(subparsers)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import build as _build

COMMANDS: list[Callable[[Any], None]] = [
    _build.register,
]
