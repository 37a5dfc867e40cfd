"""The memoised RFC 4518 name preparation gives asn1crypto's own answers."""

from __future__ import annotations

import pytest
from asn1crypto import x509

from signers import speedups
from signers.speedups._patches import unpatched
from signers.speedups.nameprep import cached_prep


@pytest.mark.parametrize("value", ["Caf de l'Hérault", "  Jean-François   SOTO ",
                                   "ÉCOLE\u00a0publique", "Straße", "x"])
def test_cached_prep_equals_original(value: str) -> None:
    original = unpatched(x509.NameTypeAndValue, "_ldap_string_prep")
    cached = cached_prep(original)
    ntv = x509.Name.build({"common_name": value}).chosen[0][0]
    assert cached(ntv, value) == original(ntv, value)
    assert cached(ntv, value) == original(ntv, value)  # second call: from the cache


def test_names_still_compare_by_rfc_5280_after_install(speedups_switch: bool) -> None:
    with speedups.attempt("test"):
        _compare_names()
    _compare_names()


def _compare_names() -> None:
    a = x509.Name.build({"common_name": "Caf de l'Hérault", "organization_name": "Caf"})
    b = x509.Name.build({"common_name": "caf  de l'hérault", "organization_name": "CAF"})
    c = x509.Name.build({"common_name": "Caf du Gard", "organization_name": "Caf"})
    assert a == b and a != c
