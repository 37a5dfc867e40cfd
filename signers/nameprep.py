"""Memoise asn1crypto's RFC 4518 string preparation of certificate names.

Path building and name matching compare the same issuer and subject names again and
again, each time on freshly parsed objects, so asn1crypto re-runs the (pure, costly)
stringprep algorithm for every comparison. The result depends only on the string, so a
cache keyed by the string gives identical answers."""

from __future__ import annotations

import functools
from typing import Any

_CACHE_SIZE = 4096


def install_name_prep_cache() -> None:
    """Wrap ``NameTypeAndValue._ldap_string_prep`` with a cache (once)."""
    from asn1crypto import x509

    original = x509.NameTypeAndValue._ldap_string_prep
    if getattr(original, "_signers_cached", False):
        return

    @functools.lru_cache(maxsize=_CACHE_SIZE)
    def prep(string: str) -> str:
        return str(original(None, string))

    def cached(self: Any, string: Any) -> Any:
        if not isinstance(string, str):
            return original(self, string)
        return prep(string)

    cached._signers_cached = True  # type: ignore[attr-defined]
    cached.__wrapped__ = original  # type: ignore[attr-defined]
    x509.NameTypeAndValue._ldap_string_prep = cached  # type: ignore[method-assign]
