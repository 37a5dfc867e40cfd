"""Who may sign a field: the one rule shared by signing and verification."""

from __future__ import annotations

import pytest

from signers.identity import CertIdentity, match_signer
from signers.model import ExpectedSigner

MAYOR = ExpectedSigner("maire-gignac", "Le Maire de Gignac", names=("Olivier Garcia",),
                       emails=("mairie@gignac.fr",))


def cert(name: str, email: str | None = None, fp: str = "ab" * 32) -> CertIdentity:
    return CertIdentity(f"CN={name}", "CN=CA", (name,), (email,) if email else (), fp)


@pytest.mark.parametrize("who, ok", [
    (cert("Olivier Garcia", "mairie@gignac.fr"), True),
    (cert("OLIVIER GARCIA"), True),                      # case and missing e-mail
    (cert("Olivier García", "MAIRIE@gignac.fr"), True),  # accents and e-mail case
    (cert("Paul Adjoint", "mairie@gignac.fr"), False),   # shared mailbox, other person
    (cert("Olivier Garcia", "o.garcia@ailleurs.fr"), False),  # right name, other e-mail
    (cert("Someone Else"), False),
])
def test_name_and_email_must_both_agree(who: CertIdentity, ok: bool) -> None:
    assert match_signer(who, MAYOR).matches is ok


def test_pinned_fingerprint_decides() -> None:
    pinned = ExpectedSigner("maire-gignac", "Le Maire de Gignac", names=("Olivier Garcia",),
                            fingerprints=("AB:" * 31 + "AB",))
    assert match_signer(cert("Anyone", fp="ab" * 32), pinned).matches
    assert not match_signer(cert("Olivier Garcia", fp="cd" * 32), pinned).matches


def test_empty_expectation_matches_nobody() -> None:
    assert not match_signer(cert("Olivier Garcia"), ExpectedSigner("f", "label")).matches
