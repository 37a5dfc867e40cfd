"""One ETSI TS 119 102-2 validation report for every signature and document timestamp of
a PDF: pyHanko's report generator for each signature, the same generated schema classes
for each document timestamp, merged into a single ``ValidationReport`` whose validation
objects (certificates, OCSP responses, CRLs, timestamps) are listed once."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

from lxml import etree
from pyhanko.generated.etsi import ts_11910202, xades
from pyhanko.generated.w3c import xmldsig_core
from pyhanko.sign.validation import EmbeddedPdfSignature
from pyhanko.sign.validation.ades import (
    AdESBasicValidationResult,
    derive_validation_object_identifier,
)
from pyhanko.sign.validation.report.tools import NAMESPACES
from pyhanko_certvalidator.ltv.poe import ValidationObject, ValidationObjectType
from xsdata.formats.dataclass.serializers import XmlSerializer
from xsdata.models.datatype import XmlDateTime

__all__ = ["VR_NAMESPACE", "merge_reports"]

VR_NAMESPACE = NAMESPACES["vr"]
"""Namespace of ETSI TS 119 102-2 v1.2.1 reports."""
_VR = f"{{{VR_NAMESPACE}}}"
_DIGEST_URI = {"sha256": "http://www.w3.org/2001/04/xmlenc#sha256",
               "sha384": "http://www.w3.org/2001/04/xmldsig-more#sha384",
               "sha512": "http://www.w3.org/2001/04/xmlenc#sha512"}
_INDICATION = {"PASSED": "total-passed", "FAILED": "total-failed",
               "INDETERMINATE": "indeterminate"}


def merge_reports(signatures: Sequence[str],
                  stamps: Sequence[tuple[EmbeddedPdfSignature, Any]]) -> str:
    """The report (XML text) of ``signatures`` (each one's report by pyHanko's
    :func:`~pyhanko.sign.validation.report.tools.generate_report`) then ``stamps`` (each
    document timestamp with its ``(ArchiveTimestampCheck, AdESBasicValidationResult)``)."""
    parts = [etree.fromstring(xml.encode("utf-8")) for xml in signatures]
    parts += [etree.fromstring(_stamp_report(emb, check, result).encode("utf-8"))
              for emb, (check, result) in stamps]
    root = etree.Element(f"{_VR}ValidationReport", nsmap=NAMESPACES)
    objects: dict[str, etree._Element] = {}
    for part in parts:
        root.extend(part.findall(f"{_VR}SignatureValidationReport"))
        for obj in part.iterfind(f"{_VR}SignatureValidationObjects/{_VR}ValidationObject"):
            objects.setdefault(obj.get("id", ""), obj)
    if objects:
        listing = etree.SubElement(root, f"{_VR}SignatureValidationObjects")
        listing.extend(objects.values())
    etree.indent(root, space="  ")
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode("utf-8")


def _stamp_report(emb: EmbeddedPdfSignature, check: Any,
                  result: AdESBasicValidationResult) -> str:
    """A ``ValidationReport`` for one document timestamp, built as pyHanko builds those
    of signatures (pyHanko's generator reads attributes a timestamp does not have)."""
    signer_info = emb.signer_info
    md = signer_info["digest_algorithm"]["algorithm"].native
    signed_attrs_digest = hashlib.new(md, signer_info["signed_attrs"].dump()).digest()
    tsa_cert = ValidationObject(ValidationObjectType.CERTIFICATE, emb.signer_cert)
    report = ts_11910202.SignatureValidationReportType(
        signature_identifier=ts_11910202.SignatureIdentifierType(
            signature_value=xmldsig_core.SignatureValue(signer_info["signature"].native),
            digest_alg_and_value=_digest(md, signed_attrs_digest),
            hash_only=False, doc_hash_only=False),
        validation_time_info=ts_11910202.ValidationTimeInfoType(
            validation_time=XmlDateTime.from_datetime(check.checked_at),
            best_signature_time=ts_11910202.POEType(
                poetime=XmlDateTime.from_datetime(check.info.time),
                type_of_proof="urn:etsi:019102:poetype:validation")),
        signers_document=ts_11910202.SignersDocumentType(
            digest_alg_and_value=_digest(emb.external_md_algorithm, emb.compute_digest())),
        signature_attributes=ts_11910202.SignatureAttributesType(
            signing_time=(ts_11910202.SASigningTimeType(
                signed=True, time=XmlDateTime.from_datetime(check.info.time)),),
            sub_filter=(ts_11910202.SASubFilterType(
                signed=True, sub_filter_element=str(emb.sig_object["/SubFilter"])[1:]),),
            byte_range=(tuple(int(x) for x in emb.sig_object["/ByteRange"]),)),
        signer_information=ts_11910202.SignerInformationType(
            signer_certificate=ts_11910202.VOReferenceType(
                voreference=(str(derive_validation_object_identifier(tsa_cert)),))),
        signature_validation_process=ts_11910202.SignatureValidationProcessType(
            signature_validation_process_id="urn:etsi:019102:validationprocess:Basic"),
        signature_validation_status=ts_11910202.ValidationStatusType(
            main_indication=f"urn:etsi:019102:mainindication:{_INDICATION[check.indication]}",
            sub_indication=(f"urn:etsi:019102:subindication:{check.subindication}",)))
    objects = [*result.validation_objects, tsa_cert]
    whole = ts_11910202.ValidationReport(
        signature_validation_report=(report,),
        signature_validation_objects=ts_11910202.ValidationObjectListType(
            tuple(_validation_object(vo) for vo in objects)))
    return XmlSerializer().render(whole, ns_map=NAMESPACES)  # type: ignore[no-any-return]


def _digest(algorithm: str, value: bytes) -> xades.DigestAlgAndValueType:
    return xades.DigestAlgAndValueType(
        digest_method=xmldsig_core.DigestMethod(_DIGEST_URI[algorithm]),
        digest_value=xmldsig_core.DigestValue(value))


def _validation_object(vo: ValidationObject) -> ts_11910202.ValidationObjectType:
    from pyhanko.sign.validation.ades import derive_validation_object_binary_data

    data = derive_validation_object_binary_data(vo)
    return ts_11910202.ValidationObjectType(
        id=derive_validation_object_identifier(vo), object_type=vo.object_type.urn(),
        validation_object_representation=(
            ts_11910202.ValidationObjectRepresentationType(base64=data) if data else None))
