"""Who a certificate names, and whether that is the signatory expected in a field."""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass

from asn1crypto import x509

from .model import ExpectedSigner

__all__ = ["CertIdentity", "SignerMatch", "identity_of", "match_signer"]


@dataclass(frozen=True)
class CertIdentity:
    """The identifying facts of a certificate."""

    subject: str
    """Subject, human-readable."""
    issuer: str
    """Issuer, human-readable."""
    names: tuple[str, ...]
    """Holder names: common name and "given name surname" when present."""
    emails: tuple[str, ...]
    """E-mail addresses from the subject and the subjectAltName extension."""
    fingerprint: str
    """SHA-256 of the DER certificate, lowercase hex."""


@dataclass(frozen=True)
class SignerMatch:
    """The outcome of comparing a certificate with an expected signer."""

    matches: bool
    """The certificate belongs to the expected signer."""
    detail: str
    """What matched, or what contradicted the expectation."""


def identity_of(cert: x509.Certificate) -> CertIdentity:
    """Read the identity facts of ``cert``."""
    subj = cert.subject.native
    names = [subj.get("common_name")]
    if subj.get("given_name") and subj.get("surname"):
        names.append(f"{subj['given_name']} {subj['surname']}")
    emails = [subj.get("email_address")]
    for general_name in cert.subject_alt_name_value or ():
        if general_name.name == "rfc822_name":
            emails.append(general_name.native)
    return CertIdentity(
        subject=cert.subject.human_friendly, issuer=cert.issuer.human_friendly,
        names=tuple(str(n) for n in names if n), emails=tuple(str(e) for e in emails if e),
        fingerprint=hashlib.sha256(cert.dump()).hexdigest())


def match_signer(who: CertIdentity, expected: ExpectedSigner) -> SignerMatch:
    """Compare a certificate with the signer expected in a field.

    A pinned fingerprint, when given, must match and suffices. Otherwise every kind of
    identity the expectation gives must agree: the certificate holder's name must be one
    of the expected names (a shared mailbox such as ``mairie@…`` must not let a deputy
    sign for the mayor), and an e-mail in the certificate must be one of the expected
    e-mails. With neither names nor e-mails expected, nothing matches."""
    pins = {_fp(f) for f in expected.fingerprints}
    if pins:
        if who.fingerprint in pins:
            return SignerMatch(True, "pinned fingerprint")
        return SignerMatch(False, f"certificate fingerprint {who.fingerprint[:16]}… is not "
                                  f"the one pinned for {expected.label}")
    emails = {e.casefold() for e in expected.emails}
    cert_emails = {e.casefold() for e in who.emails}
    if emails and cert_emails and not emails & cert_emails:
        return SignerMatch(False, f"certificate e-mail {', '.join(sorted(cert_emails))} is "
                                  f"not {', '.join(sorted(emails))} ({expected.label})")
    names = {_norm(n) for n in expected.names}
    hit = [n for n in who.names if _norm(n) in names]
    if names and not hit:
        return SignerMatch(False, f"certificate holder {', '.join(who.names) or who.subject!r}"
                                  f" is not {', '.join(expected.names)}")
    if hit:
        return SignerMatch(True, f"name {hit[0]}" + (" and e-mail" if emails & cert_emails
                                                      else ""))
    if emails & cert_emails:
        return SignerMatch(True, f"e-mail {sorted(emails & cert_emails)[0]}")
    return SignerMatch(False, f"nothing identifies the certificate holder as "
                              f"{expected.label}: no expected name, e-mail or fingerprint")


def _fp(value: str) -> str:
    return value.replace(":", "").replace(" ", "").lower()


def _norm(name: str) -> str:
    decomposed = unicodedata.normalize("NFKD", name)
    plain = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(plain.replace("-", " ").casefold().split())
