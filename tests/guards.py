"""A guard that turns a hang into a test failure."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Hang(BaseException):
    """Raised in the main thread when a guarded block runs too long. A BaseException,
    so that no ``except Exception`` of the code under test (a speed-up's fallback, a
    command's error handling) mistakes it for a failure it may recover from."""


@contextmanager
def no_hang(seconds: int = 120) -> Iterator[None]:
    """Fail the test when the block still runs after ``seconds``.

    Not a performance assertion: the guarded work takes a second or two, the bound is
    two orders of magnitude above it, and what it catches (a quadratic or cubic scan of
    hostile bytes) runs for hours. Without it such a bug stalls the whole suite instead
    of failing one test with its input (Hypothesis then prints the damage)."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s: unbounded work on this input")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
