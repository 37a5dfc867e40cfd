"""Remember which ``SingleResponse`` an OCSP container designates.

Long-term validation asks each OCSP response of the document, for each certificate of
each path at each step of the time slide, whether it is about that certificate and when
it was issued (``OCSPContainer.extract_single_response``): with n signatures, n² times,
each walking ``response_bytes → response → tbs_response_data → responses[i]`` again.
asn1crypto already keeps each parsed child, so the walk always ends on the same object;
this remembers its end, per response object (weakly: nothing is kept alive), and hands
back exactly what pyHanko's method would."""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

__all__ = ["cached_single_response"]


def cached_single_response(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """The fast replacement of ``OCSPContainer.extract_single_response``."""
    found: weakref.WeakKeyDictionary[Any, dict[int, Any]] = weakref.WeakKeyDictionary()

    def extract(self: Any) -> Any:
        response = self.ocsp_response_data
        try:
            by_index = found.setdefault(response, {})
        except TypeError:  # not weakly referenceable: pyHanko's own walk
            return original(self)
        if self.index not in by_index:
            by_index[self.index] = original(self)
        return by_index[self.index]

    return extract
