"""Remember the identifier pyHanko derives for each validation object.

Each AdES validation step collects the validation objects it used (certificates, CRLs,
OCSP responses, timestamps) into a ``ValidationObjectSet``, deriving each one's
identifier from a digest of its DER encoding — every object of the document's DSS, at
every step, for every signature: n² digests of the same objects with n signatures. The
identifier depends only on the object's type and encoding; this remembers it per object
(weakly: nothing is kept alive), computed by pyHanko's own function."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["cached_identifier"]


def cached_identifier(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The fast replacement of ``ades.derive_validation_object_identifier``."""
    known: weakref.WeakKeyDictionary[Any, dict[Any, Any]] = weakref.WeakKeyDictionary()

    def derive(vo: Any) -> Any:
        try:
            by_type = known.setdefault(vo.value, {})
        except TypeError:  # not weakly referenceable: computed each time
            return original(vo)
        if vo.object_type not in by_type:
            by_type[vo.object_type] = original(vo)
        return by_type[vo.object_type]

    return derive
