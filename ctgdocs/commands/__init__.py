"""Subcommands of ``ctg``: each module exposes ``register(subparsers)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import archive as _archive
from . import build as _build
from . import circuit as _circuit
from . import demo as _demo
from . import pki as _pki
from . import sign as _sign
from . import verify as _verify

COMMANDS: list[Callable[[Any], None]] = [
    _archive.register,
    _build.register,
    _circuit.register,
    _demo.register,
    _pki.register,
    _sign.register,
    _verify.register,
]
