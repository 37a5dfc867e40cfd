"""What signatures are worth under eIDAS: qualification from ETSI TS 119 612 trusted lists.

:func:`load_trusted_lists` reads trusted lists from files and verifies each one's XML
signature before using it (pyHanko's parser): the EU list of lists (LOTL) against the
European Commission's signing certificates that pyHanko ships, a member state's list
against the certificates the LOTL names for its territory, and a private list (such as
the demonstration one of :mod:`signers.demo_pki`) against its own signing certificate
only when that certificate chains to one of the caller's trust anchors. A list that
cannot be verified is refused, never used.

:func:`assess_path` then says, for a signer's certification path at the signature's
time, whether the certificate is qualified (issued under a qualified CA service of a
list, and declared qualified by its QC statements or the list's qualifiers) and whether
its key is in a qualified signature creation device (QSCD): a *qualified* signature or
seal (QES), an *advanced one based on a qualified certificate*, or an *advanced* one
(eIDAS art. 3 and 26; ETSI TS 119 172-4 vocabulary).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from lxml import etree
from pyhanko.sign.validation.qualified.assess import QualificationAssessor
from pyhanko.sign.validation.qualified.eutl_parse import (
    trust_list_to_registry,
    validate_and_parse_lotl,
)
from pyhanko.sign.validation.qualified.q_status import QcPrivateKeyManagementType
from pyhanko.sign.validation.qualified.tsp import QcCertType, TSPRegistry
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.path import ValidationPath

from .exceptions import VerificationError

__all__ = ["Qualification", "QualificationStatus", "TrustedListError", "TrustedListInfo",
           "TrustedLists", "assess_document", "assess_path", "load_trusted_lists"]

TSL_NS = "http://uri.etsi.org/02231/v2#"
DS_NS = "http://www.w3.org/2000/09/xmldsig#"
LOTL_TYPE = "http://uri.etsi.org/TrstSvc/TrustedList/TSLType/EUlistofthelists"


class TrustedListError(VerificationError):
    """A trusted list cannot be read or its signature cannot be verified."""


class QualificationStatus(StrEnum):
    """eIDAS status of a valid signature or seal (ETSI TS 119 172-4 names)."""

    QES = "QESig"
    """Qualified electronic signature: qualified certificate for signatures, key in a
    qualified signature creation device."""
    ADES_QC = "AdESig-QC"
    """Advanced electronic signature based on a qualified certificate."""
    ADES = "AdESig"
    """Advanced electronic signature."""
    QESEAL = "QESeal"
    """Qualified electronic seal."""
    ADESEAL_QC = "AdESeal-QC"
    """Advanced electronic seal based on a qualified certificate."""
    ADESEAL = "AdESeal"
    """Advanced electronic seal."""
    NOT_ADES = "not AdES"
    """The signature is not valid: no eIDAS status."""
    NOT_ASSESSED = "not assessed"
    """No trusted list was given."""


@dataclass(frozen=True)
class Qualification:
    """The eIDAS qualification of one signature."""

    status: QualificationStatus
    """The resulting status."""
    qualified_certificate: bool = False
    """The certificate is qualified at the signature's time."""
    qscd: bool = False
    """The key is declared to be in a qualified signature creation device."""
    service: str | None = None
    """The trusted-list service under which the certificate was judged qualified."""
    at: dt.datetime | None = None
    """The time the lists were read as of (the signature's best signature time)."""


NOT_ASSESSED = Qualification(QualificationStatus.NOT_ASSESSED)
"""The qualification when no trusted list was given."""


@dataclass(frozen=True)
class TrustedListInfo:
    """One trusted list that was verified and used."""

    path: str
    """The file it was read from."""
    sha256: str
    """SHA-256 of the file (hex)."""
    territory: str | None
    """Its scheme territory (``EU`` for the list of lists, ``FR``…)."""
    list_of_lists: bool
    """It is a list of lists (it points to other lists)."""
    issued: dt.datetime | None
    """Its issue date."""
    next_update: dt.datetime | None
    """When its next issue is due."""
    signer: str
    """Subject of the certificate that signed it."""
    name: str
    """Its scheme operator's name."""


@dataclass(frozen=True)
class TrustedLists:
    """Verified trusted lists, ready to assess certificates."""

    lists: tuple[TrustedListInfo, ...]
    """The lists, in the order given."""
    registry: TSPRegistry = field(compare=False, repr=False)
    """pyHanko's registry of their qualified services."""


def load_trusted_lists(paths: Iterable[str | os.PathLike[str]], *,
                       trust_roots: Sequence[asn1_x509.Certificate] = (),
                       lotl_signers: Sequence[asn1_x509.Certificate] | None = None
                       ) -> TrustedLists:
    """Read and verify the trusted lists ``paths`` (lists of lists first, whatever the
    order given). Raises :class:`TrustedListError` naming the file that cannot be read or
    verified, and how to fix it."""
    docs = [_read(Path(p)) for p in paths]
    registry = TSPRegistry()
    pointers: dict[str, list[asn1_x509.Certificate]] = {}
    infos: dict[str, TrustedListInfo] = {}
    for doc in sorted(docs, key=lambda d: not d.list_of_lists):
        if doc.list_of_lists:
            infos[doc.path] = _load_lotl(doc, lotl_signers, pointers)
        else:
            infos[doc.path] = _load_tl(doc, pointers, trust_roots, registry)
    return TrustedLists(tuple(infos[d.path] for d in docs), registry)


@dataclass(frozen=True)
class _Doc:
    path: str
    text: str
    sha256: str
    territory: str | None
    list_of_lists: bool
    issued: dt.datetime | None
    next_update: dt.datetime | None
    name: str
    signer: asn1_x509.Certificate | None


def _read(path: Path) -> _Doc:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TrustedListError(f"{path}: cannot read the trusted list "
                               f"({exc.strerror})") from exc
    parser = etree.XMLParser(no_network=True, resolve_entities=False, load_dtd=False)
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise TrustedListError(f"{path}: not XML ({exc})") from exc
    if root.tag != f"{{{TSL_NS}}}TrustServiceStatusList":
        raise TrustedListError(f"{path}: not an ETSI TS 119 612 trusted list (root element "
                               f"{etree.QName(root).localname})")

    def text(xpath: str) -> str | None:
        found = root.findtext(xpath, namespaces={"t": TSL_NS, "ds": DS_NS})
        return found.strip() if found else None

    cert_b64 = text("ds:Signature/ds:KeyInfo/ds:X509Data/ds:X509Certificate")
    signer = asn1_x509.Certificate.load(_b64(cert_b64)) if cert_b64 else None
    return _Doc(str(path), data.decode("utf-8"), hashlib.sha256(data).hexdigest(),
                text("t:SchemeInformation/t:SchemeTerritory"),
                text("t:SchemeInformation/t:TSLType") == LOTL_TYPE,
                _date(text("t:SchemeInformation/t:ListIssueDateTime")),
                _date(text("t:SchemeInformation/t:NextUpdate/t:dateTime")),
                text("t:SchemeInformation/t:SchemeOperatorName/t:Name") or "", signer)


def _b64(text: str) -> bytes:
    import base64

    return base64.b64decode("".join(text.split()))


def _date(text: str | None) -> dt.datetime | None:
    if not text:
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _info(doc: _Doc) -> TrustedListInfo:
    signer = str(doc.signer.subject.human_friendly) if doc.signer is not None else ""
    return TrustedListInfo(doc.path, doc.sha256, doc.territory, doc.list_of_lists,
                           doc.issued, doc.next_update, signer, doc.name)


def _load_lotl(doc: _Doc, signers: Sequence[asn1_x509.Certificate] | None,
               pointers: dict[str, list[asn1_x509.Certificate]]) -> TrustedListInfo:
    try:
        parsed = validate_and_parse_lotl(doc.text, list(signers) if signers else None)
    except Exception as exc:  # noqa: BLE001 - signature and parse errors alike
        raise TrustedListError(
            f"{doc.path}: the list of lists cannot be verified ({exc}); download the "
            "current one from the European Commission (a newer one than pyHanko knows "
            "the signers of needs a newer pyHanko)") from exc
    for ref in parsed.references:
        pointers.setdefault(ref.territory, []).extend(ref.tlso_certs)
    return _info(doc)


def _load_tl(doc: _Doc, pointers: dict[str, list[asn1_x509.Certificate]],
             trust_roots: Sequence[asn1_x509.Certificate],
             registry: TSPRegistry) -> TrustedListInfo:
    candidates = pointers.get(doc.territory or "", [])
    if not candidates:
        candidates = _private_signer(doc, trust_roots)
    try:
        trust_list_to_registry(doc.text, candidates, registry)
    except Exception as exc:  # noqa: BLE001
        raise TrustedListError(f"{doc.path}: the trusted list's signature does not verify "
                               f"({exc}); use the list as published, unmodified") from exc
    return _info(doc)


def _private_signer(doc: _Doc, trust_roots: Sequence[asn1_x509.Certificate]
                    ) -> list[asn1_x509.Certificate]:
    """A list no list of lists points to is accepted only when its signer's certificate
    chains to one of the trust anchors (a private or demonstration list)."""
    hint = (f"{doc.path}: no list of lists given points to this list ({doc.territory}); "
            "give the EU list of lists with it (--trusted-list eu-lotl.xml), or trust the "
            "root of its signer (--trust) if it is a private list")
    if doc.signer is None or not trust_roots:
        raise TrustedListError(hint)
    vc = ValidationContext(trust_roots=list(trust_roots), allow_fetching=False,
                           revocation_mode="soft-fail")
    try:
        asyncio.run(CertificateValidator(doc.signer, validation_context=vc)
                    .async_validate_usage(set()))
    except Exception as exc:  # noqa: BLE001
        raise TrustedListError(f"{hint} (its signer does not chain to them: {exc})") from exc
    return [doc.signer]


# -- assessment --------------------------------------------------------------------------

def assess_path(path: ValidationPath | None, lists: TrustedLists,
                moment: dt.datetime | None, *, passed: bool = True,
                seal: bool | None = None) -> Qualification:
    """The qualification of the signature whose signer's certification path is ``path``
    (as validated), with the lists as of ``moment``. ``seal`` says whether an
    unqualified certificate signs for an organisation (default: a person); a qualified
    one says it itself."""
    if not passed or path is None:
        return Qualification(QualificationStatus.NOT_ADES, at=moment)
    result = QualificationAssessor(lists.registry).check_entity_cert_qualified(path, moment)
    status = result.status
    is_seal = status.qc_type is QcCertType.QC_ESEAL if status.qualified else bool(seal)
    qscd = status.qualified and status.qc_key_security is not QcPrivateKeyManagementType.UNKNOWN
    service = result.service_definition.base_info.service_name \
        if result.service_definition is not None and status.qualified else None
    if status.qualified and status.qc_type is not QcCertType.QC_WEB:
        code = ((QualificationStatus.QESEAL if qscd else QualificationStatus.ADESEAL_QC)
                if is_seal else
                (QualificationStatus.QES if qscd else QualificationStatus.ADES_QC))
    else:
        code = QualificationStatus.ADESEAL if is_seal else QualificationStatus.ADES
    return Qualification(code, bool(status.qualified), qscd, service, moment)


def assess_document(pdf: str | os.PathLike[str], lists: TrustedLists, *,
                    trust_roots: Sequence[asn1_x509.Certificate],
                    seals: Iterable[str] = ()) -> dict[str, Qualification]:
    """Field name → qualification of every signature of ``pdf`` (what ``ctg verify
    --trusted-list`` prints). Each signer's path is built offline from the certificates
    the document carries (in any signature or its DSS) and ``trust_roots``, and
    assessed as of the signature's timestamp (else its claimed time); ``seals`` names
    the fields signed for an organisation."""
    return asyncio.run(_assess_document(pdf, lists, trust_roots, frozenset(seals)))


async def _assess_document(pdf: str | os.PathLike[str], lists: TrustedLists,
                           trust_roots: Sequence[asn1_x509.Certificate],
                           seals: frozenset[str]) -> dict[str, Qualification]:
    import io

    from pyhanko.pdf_utils.reader import PdfFileReader

    from .ltv import document_certificates
    from .tokens import signature_timestamp, timestamp_info

    reader = PdfFileReader(io.BytesIO(Path(pdf).read_bytes()), strict=False)
    pool = document_certificates(reader)
    out: dict[str, Qualification] = {}
    for emb in reader.embedded_regular_signatures:
        token = signature_timestamp(emb)
        moment = timestamp_info(token).time if token is not None \
            else emb.self_reported_timestamp
        path = await _path(emb.signer_cert, pool, trust_roots, moment)
        out[str(emb.field_name)] = assess_path(path, lists, moment,
                                               seal=str(emb.field_name) in seals)
    return out


async def _path(cert: asn1_x509.Certificate, others: list[asn1_x509.Certificate],
                trust_roots: Sequence[asn1_x509.Certificate],
                moment: dt.datetime | None) -> ValidationPath | None:
    vc = ValidationContext(trust_roots=list(trust_roots), other_certs=others,
                           allow_fetching=False, revocation_mode="soft-fail", moment=moment)
    try:
        return await CertificateValidator(cert, validation_context=vc).async_validate_usage(
            set())  # type: ignore[no-any-return]
    except Exception:  # noqa: BLE001 - no valid path: no qualification
        return None


