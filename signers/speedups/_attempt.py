"""Where the speed-ups run and what went wrong in them: one attempt per document.

A document's verification or pre-signing check runs its speed-ups inside an
:func:`attempt`; everything they do is allowed only there (the patched parser functions
give pyHanko's own behaviour anywhere else). Any unexpected exception raised inside a
speed-up is recorded on the current attempt (:func:`failed`) before it goes on: pyHanko
often catches exceptions and turns them into an "invalid" verdict, so the caller cannot
rely on seeing them. The caller then runs the document again on pyHanko's plain path.
"""

from __future__ import annotations

import contextvars
import functools
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

__all__ = ["Attempt", "attempt", "current", "failed", "guarded", "plain"]

log = logging.getLogger("signers.speedups")

_F = TypeVar("_F", bound=Callable[..., Any])


@dataclass
class Attempt:
    """One document's run on the speed-ups' path."""

    what: str
    """What is being done, e.g. ``verification of convention.pdf``."""
    failures: list[str] = field(default_factory=list)
    """Each exception raised inside a speed-up: ``label: ExceptionType: message``."""

    @property
    def failed(self) -> bool:
        """Whether some speed-up raised: the result cannot be trusted."""
        return bool(self.failures)


_CURRENT: contextvars.ContextVar[Attempt | None] = contextvars.ContextVar(
    "signers_speedups_attempt", default=None)


def current() -> Attempt | None:
    """The attempt the calling code runs in (``None``: the plain path)."""
    return _CURRENT.get()


@contextmanager
def attempt(what: str) -> Iterator[Attempt]:
    """Run the block on the speed-ups' path, recording their failures. Tasks and
    coroutines started inside inherit it (a context variable)."""
    record = Attempt(what)
    token = _CURRENT.set(record)
    try:
        yield record
    finally:
        _CURRENT.reset(token)


@contextmanager
def plain() -> Iterator[None]:
    """Run the block on pyHanko's plain path, even inside an attempt."""
    token = _CURRENT.set(None)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def failed(label: str, exc: BaseException) -> None:
    """Record that the speed-up ``label`` raised ``exc`` (the caller re-raises it or
    falls back by itself)."""
    record = _CURRENT.get()
    text = f"{label}: {type(exc).__name__}: {exc}"
    log.debug("speed-up failed: %s", text, exc_info=exc)
    if record is not None:
        record.failures.append(text)


def guarded(label: str, passes: tuple[type[BaseException], ...] = ()) -> Callable[[_F], _F]:
    """Decorate a speed-up entry point: an exception it raises is recorded (unless it is
    one of ``passes``, raised by design as the code it replaces raises it) and goes on."""
    def decorate(fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return fn(*args, **kwargs)
            except passes:
                raise
            except Exception as exc:
                failed(label, exc)
                raise
        return wrapper  # type: ignore[return-value]
    return decorate
