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


def cached_name_eq(original: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    """The fast replacement of ``Name.__eq__``: RFC 5280 comparison through a key
    computed once per distinct encoding.

    asn1crypto compares two names RDN by RDN, preparing every value again at each
    comparison; long-term validation compares the same few names thousands of times
    (each OCSP response and CRL against each certificate, at each step of the time
    slide). The key holds exactly what that comparison looks at — per RDN, its length
    and its prepared value by attribute type, in RDN order — so two names are equal
    exactly when their keys are. It is computed from the DER encoding of the RDN
    sequence (``dump()`` reflects any change made to the object; an explicitly tagged
    name, as in a GeneralName, is keyed by its sequence alone) with asn1crypto's own
    preparation, so a value it cannot prepare raises here as it raises there."""
    from asn1crypto import x509

    @functools.lru_cache(maxsize=_CACHE_SIZE)
    def key(der: bytes) -> tuple[tuple[int, tuple[tuple[str, Any], ...]], ...]:
        sequence = x509.RDNSequence.load(der)
        return tuple((len(rdn), tuple(sorted(rdn._get_values(rdn).items(),
                                             key=lambda item: item[0])))
                     for rdn in sequence)

    def equal(self: Any, other: Any) -> Any:
        if not isinstance(other, x509.Name):
            return False
        return key(self.chosen.dump()) == key(other.chosen.dump())

    del original  # the dispatcher calls it outside a speed-up attempt
    return equal
