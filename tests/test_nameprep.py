"""The memoised RFC 4518 name preparation gives asn1crypto's own answers."""

from __future__ import annotations

import pytest
from asn1crypto import x509
from hypothesis import given, settings
from hypothesis import strategies as st

from signers import speedups
from signers.speedups._patches import unpatched
from signers.speedups.nameprep import cached_name_eq, cached_prep


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


_VALUES = ["Caf de l'Hérault", "caf  de l'hérault", "CAF DE L'HÉRAULT", "Gignac", "gignac ",
           "Straße", "STRASSE", "x"]
_TYPES = ["common_name", "organization_name", "organizational_unit_name", "locality_name",
          "title"]


def _rdn(pairs: list[tuple[str, str]]) -> x509.RelativeDistinguishedName:
    return x509.RelativeDistinguishedName([
        x509.NameTypeAndValue({"type": kind, "value": x509.DirectoryString(
            name="utf8_string", value=value)}) for kind, value in pairs])


_PAIRS = st.tuples(st.sampled_from(_TYPES), st.sampled_from(_VALUES))
_NAMES = st.lists(st.lists(_PAIRS, min_size=1, max_size=3), min_size=1, max_size=4)


@st.composite
def _name_pairs(draw: st.DrawFn) -> tuple[list[list[tuple[str, str]]],
                                           list[list[tuple[str, str]]]]:
    """A name and a near copy: one small change (or none), where comparisons go wrong."""
    left = draw(_NAMES)
    right = [list(rdn) for rdn in left]
    i = draw(st.integers(0, len(right) - 1))
    j = draw(st.integers(0, len(right[i]) - 1))
    change = draw(st.sampled_from(["none", "value", "type", "duplicate", "drop", "reverse",
                                   "swap-rdns", "add-rdn", "other"]))
    if change == "value":
        right[i][j] = (right[i][j][0], draw(st.sampled_from(_VALUES)))
    elif change == "type":
        right[i][j] = (draw(st.sampled_from(_TYPES)), right[i][j][1])
    elif change == "duplicate":
        right[i].append(right[i][j])
    elif change == "drop" and len(right[i]) > 1:
        del right[i][j]
    elif change == "reverse":
        right[i].reverse()
    elif change == "swap-rdns":
        right.reverse()
    elif change == "add-rdn":
        right.insert(i, draw(st.lists(_PAIRS, min_size=1, max_size=3)))
    elif change == "other":
        right = draw(_NAMES)
    return left, right


@given(_name_pairs())
@settings(max_examples=400, deadline=None)
def test_cached_name_equality_equals_original(
        pair: tuple[list[list[tuple[str, str]]], list[list[tuple[str, str]]]]) -> None:
    """A name against a near copy (multi-valued RDNs, repeated types, a value changed,
    RDNs reordered, case and spaces that RFC 4518 folds): the keyed comparison answers
    exactly as asn1crypto's, both ways round."""
    original = unpatched(x509.Name, "__eq__")
    fast = cached_name_eq(original)
    left, right = pair
    a = x509.Name(name="", value=x509.RDNSequence([_rdn(r) for r in left]))
    b = x509.Name(name="", value=x509.RDNSequence([_rdn(r) for r in right]))
    a, b = x509.Name.load(a.dump()), x509.Name.load(b.dump())
    assert fast(a, b) == original(a, b)
    assert fast(b, a) == original(b, a)
    assert fast(a, "not a name") is False
