"""Memoise asn1crypto's RFC 4518 string preparation of certificate names.

Path building and name matching compare the same issuer and subject names again and
again, each time on freshly parsed objects, so asn1crypto re-runs the (pure, costly)
stringprep algorithm for every comparison. The result depends only on the string, so a
cache keyed by the string gives identical answers."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

__all__ = ["cached_prep"]

_CACHE_SIZE = 4096


def cached_prep(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The fast replacement of ``NameTypeAndValue._ldap_string_prep``: ``original``
    through a cache for string arguments."""

    @functools.lru_cache(maxsize=_CACHE_SIZE)
    def prep(string: str) -> str:
        return str(original(None, string))

    def cached(self: Any, string: Any) -> Any:
        if not isinstance(string, str):
            return original(self, string)
        return prep(string)

    return cached
