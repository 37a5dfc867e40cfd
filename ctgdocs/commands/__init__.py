"""Subcommands of ``ctg``: each module exposes ``register(subparsers)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import build as _build
from . import pki as _pki
from . import sign as _sign

COMMANDS: list[Callable[[Any], None]] = [
    _build.register,
    _pki.register,
    _sign.register,
]
