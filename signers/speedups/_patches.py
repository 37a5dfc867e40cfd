"""Every function the speed-ups replace in pyHanko and asn1crypto, applied and removed here.

Eight functions of the dependencies are replaced (see :data:`PATCHES`). Each replacement
is a *dispatcher*: inside a speed-up :func:`~signers.speedups._attempt.attempt` it calls
the fast version (recording any unexpected exception), anywhere else the original, so
code that never asked for the speed-ups (another thread, another library) keeps
pyHanko's own behaviour even while they are applied.

Applying is all or nothing and loud on conflict, as pikepdf's ``_augments.py`` is: the
attribute must still be the dependency's own function (same module and qualified name,
same parameters as the version the speed-up was written for); if another library already
replaced it, or the dependency changed it, :class:`PatchConflict` says which and nothing
is applied. Removing restores the originals, and is loud if something replaced a
dispatcher meanwhile.
"""

from __future__ import annotations

import importlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._attempt import current, failed

__all__ = ["PATCHES", "PatchConflict", "applied", "apply_all", "remove_all", "unpatched"]


class PatchConflict(RuntimeError):
    """A function the speed-ups replace is not the one they were written for."""


@dataclass(frozen=True)
class Patch:
    """One function replaced in a dependency."""

    module: str
    """The dependency's module, e.g. ``pyhanko.pdf_utils.generic``."""
    path: str
    """Attribute path in the module: ``function`` or ``Class.method``."""
    parameters: tuple[str, ...]
    """The original's parameter names, as in the version the speed-up was written for."""
    fast: str
    """``module:factory`` of the speed-up: ``factory(original)`` returns the fast
    function."""
    passes: tuple[str, ...] = ()
    """``module:Class`` of exceptions the original raises by design too (not failures)."""

    @property
    def label(self) -> str:
        """Human name, e.g. ``pyhanko.pdf_utils.generic.read_hex_string_from_stream``."""
        return f"{self.module}.{self.path}"


_GENERIC = "pyhanko.pdf_utils.generic"
_PDF_ERRORS = ("pyhanko.pdf_utils.misc:PdfError",)

PATCHES: tuple[Patch, ...] = (
    Patch(_GENERIC, "read_hex_string_from_stream", ("stream",),
          "signers.speedups.skelscan:hex_reader", _PDF_ERRORS),
    Patch(_GENERIC, "_read_string_literal_bytes", ("stream",),
          "signers.speedups.fastread:literal_reader", _PDF_ERRORS),
    Patch(_GENERIC, "decode_pdfdocencoding", ("byte_array",),
          "signers.speedups.fastread:pdfdoc_decoder", ("builtins:UnicodeDecodeError",)),
    Patch(_GENERIC, "ArrayObject.read_from_stream",
          ("stream", "container_ref", "in_content_stream"),
          "signers.speedups.fastread:array_reader", _PDF_ERRORS),
    Patch("asn1crypto.x509", "NameTypeAndValue._ldap_string_prep", ("self", "string"),
          "signers.speedups.nameprep:cached_prep"),
    Patch("asn1crypto.x509", "Name.__eq__", ("self", "other"),
          "signers.speedups.nameprep:cached_name_eq"),
    Patch("pyhanko_certvalidator.revinfo.archival", "OCSPContainer.extract_single_response",
          ("self",), "signers.speedups.ocspcache:cached_single_response"),
    Patch("pyhanko.sign.validation.ades", "derive_validation_object_identifier", ("vo",),
          "signers.speedups.voident:cached_identifier"),
)
"""What the speed-ups replace (see ``docs/verification.md``)."""


@dataclass(frozen=True)
class _Applied:
    patch: Patch
    owner: Any
    name: str
    raw: Any
    """The attribute as it was (a function, or a ``staticmethod`` around one)."""
    installed: Any


_APPLIED: list[_Applied] = []
_LOCK = threading.Lock()


def applied() -> bool:
    """Whether the patches are in place."""
    return bool(_APPLIED)


def apply_all() -> None:
    """Apply every patch, or none (:class:`PatchConflict` names the first conflict;
    ``ImportError`` if a module is gone)."""
    with _LOCK:
        if _APPLIED:
            return
        plan = [_planned(patch) for patch in PATCHES]
        for item in plan:
            setattr(item.owner, item.name, item.installed)
        _APPLIED.extend(plan)


def remove_all() -> None:
    """Put the original functions back (:class:`PatchConflict` if something replaced a
    dispatcher meanwhile: that one is left in place)."""
    with _LOCK:
        conflicts = []
        for item in reversed(_APPLIED):
            if item.owner.__dict__.get(item.name) is item.installed:
                setattr(item.owner, item.name, item.raw)
            else:
                conflicts.append(f"{item.patch.label} was replaced by someone else after "
                                 "the speed-ups; left as it is")
        _APPLIED.clear()
    if conflicts:
        raise PatchConflict("; ".join(conflicts))


def unpatched(owner: Any, name: str) -> Callable[..., Any]:
    """The original function behind ``owner.name``, whether the patches are applied or
    not (for the fast versions, which hand pyHanko's own function what they do not
    handle)."""
    raw = owner.__dict__[name] if name in getattr(owner, "__dict__", {}) \
        else getattr(owner, name)
    func = raw.__func__ if isinstance(raw, staticmethod) else raw
    return getattr(func, "__signers_original__", func)  # type: ignore[no-any-return]


def _planned(patch: Patch) -> _Applied:
    module = importlib.import_module(patch.module)
    *classes, name = patch.path.split(".")
    owner: Any = module
    for cls in classes:
        owner = getattr(owner, cls, None)
        if owner is None:
            raise PatchConflict(f"{patch.label}: {patch.module} has no {cls} any more")
    raw = owner.__dict__.get(name)
    if raw is None:
        raise PatchConflict(f"{patch.label} no longer exists")
    func = raw.__func__ if isinstance(raw, staticmethod) else raw
    if hasattr(func, "__signers_original__"):  # a dispatcher of ours left in place
        func = func.__signers_original__
        raw = staticmethod(func) if isinstance(raw, staticmethod) else func
    _check_pristine(patch, func)
    fast = _load(patch.fast)(func)
    passes = tuple(_load(p) for p in patch.passes)
    dispatch = _dispatcher(patch.label, func, fast, passes)
    installed = staticmethod(dispatch) if isinstance(raw, staticmethod) else dispatch
    return _Applied(patch, owner, name, raw, installed)


def _check_pristine(patch: Patch, func: Any) -> None:
    where = f"{getattr(func, '__module__', '?')}.{getattr(func, '__qualname__', '?')}"
    if getattr(func, "__module__", None) != patch.module or \
            getattr(func, "__qualname__", None) != patch.path:
        raise PatchConflict(f"{patch.label} is {where}, not the dependency's own function "
                            "(another library replaced it?)")
    try:
        parameters = tuple(inspect.signature(func).parameters)
    except (TypeError, ValueError) as exc:
        raise PatchConflict(f"{patch.label}: cannot read its parameters ({exc})") from exc
    if parameters != patch.parameters:
        raise PatchConflict(f"{patch.label} takes ({', '.join(parameters)}); the speed-up "
                            f"was written for ({', '.join(patch.parameters)})")


def _load(spec: str) -> Any:
    module, _, attribute = spec.partition(":")
    return getattr(importlib.import_module(module), attribute)


def _dispatcher(label: str, original: Callable[..., Any], fast: Callable[..., Any],
                passes: tuple[type[BaseException], ...]) -> Callable[..., Any]:
    def dispatch(*args: Any, **kwargs: Any) -> Any:
        if current() is None:
            return original(*args, **kwargs)
        try:
            return fast(*args, **kwargs)
        except passes:
            raise
        except Exception as exc:
            failed(label, exc)
            raise

    dispatch.__signers_original__ = original  # type: ignore[attr-defined]
    dispatch.__wrapped__ = original  # type: ignore[attr-defined]
    dispatch.__name__ = getattr(original, "__name__", "dispatch")
    dispatch.__doc__ = f"Speed-up dispatcher for {label} (see signers.speedups)."
    return dispatch
