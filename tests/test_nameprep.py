"""The memoised RFC 4518 name preparation gives asn1crypto's own answers."""

from __future__ import annotations

import pytest
from asn1crypto import x509

from signers.nameprep import install_name_prep_cache


@pytest.mark.parametrize("value", ["Caf de l'Hérault", "  Jean-François   SOTO ",
                                   "ÉCOLE\u00a0publique", "Straße", "x"])
def test_cached_prep_equals_original(value: str) -> None:
    install_name_prep_cache()
    cached = x509.NameTypeAndValue._ldap_string_prep
    original = cached.__wrapped__  # type: ignore[attr-defined]
    ntv = x509.Name.build({"common_name": value}).chosen[0][0]
    assert cached(ntv, value) == original(ntv, value)
    assert cached(ntv, value) == original(ntv, value)  # second call: from the cache


def test_names_still_compare_by_rfc_5280_after_install() -> None:
    install_name_prep_cache()
    a = x509.Name.build({"common_name": "Caf de l'Hérault", "organization_name": "Caf"})
    b = x509.Name.build({"common_name": "caf  de l'hérault", "organization_name": "CAF"})
    c = x509.Name.build({"common_name": "Caf du Gard", "organization_name": "Caf"})
    assert a == b and a != c
