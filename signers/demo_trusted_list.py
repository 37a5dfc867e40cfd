"""A signed DEMONSTRATION trusted list (ETSI TS 119 612) for the demonstration PKI.

It names the demonstration intermediate CA as a *qualified* certificate service
(``CA/QC``, status granted, for signatures and seals), so that the certificates that CA
issues with qualified-certificate statements count as qualified when this list is given
to ``--trusted-list``. Every text of the list says it is a demonstration without legal
value; its territory is ``ZZ`` (the ISO 3166 code reserved for user use), no list of
lists points to it, and it is signed (XAdES, enveloped) by a "trusted list operator"
certificate issued by the demonstration root, so it is accepted only by a verifier that
trusts that root (``--trust DEMO-racine.pem``).
"""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from lxml import etree

__all__ = ["write_demo_trusted_list"]

TSL = "http://uri.etsi.org/02231/v2#"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
TRST = "http://uri.etsi.org/TrstSvc"
TLIST = f"{TRST}/TrustedList"
LABEL = "DÉMONSTRATION — sans valeur"
NOTICE = ("Liste de confiance de DÉMONSTRATION produite par ctgdocs pour tester la "
          "qualification des signatures. Elle n'a AUCUNE valeur juridique : aucune "
          "signature n'est qualifiée parce qu'elle figure ici.")


def write_demo_trusted_list(path: Path, ca: x509.Certificate,
                            operator: x509.Certificate, operator_key: ec.EllipticCurvePrivateKey,
                            now: dt.datetime) -> Path:
    """Write at ``path`` the list naming ``ca`` a qualified service, signed with
    ``operator_key`` (its certificate ``operator``, issued by the demonstration root)."""
    tree = _trusted_list(ca, now)
    signed = _sign(tree, operator_key, operator)
    path.write_bytes(etree.tostring(signed, xml_declaration=True, encoding="UTF-8"))
    return path


def _el(parent: etree._Element, tag: str, text: str | None = None,
        lang: str | None = None) -> etree._Element:
    node = etree.SubElement(parent, f"{{{TSL}}}{tag}")
    if text is not None:
        node.text = text
    if lang is not None:
        node.set(XML_LANG, lang)
    return node


def _names(parent: etree._Element, tag: str, name: str) -> None:
    _el(_el(parent, tag), "Name", name, "fr")


def _address(parent: etree._Element, tag: str) -> None:
    address = _el(parent, tag)
    postal = _el(_el(address, "PostalAddresses"), "PostalAddress", lang="fr")
    _el(postal, "StreetAddress", f"Adresse fictive ({LABEL})")
    _el(postal, "Locality", "Nulle part")
    _el(postal, "CountryName", "ZZ")
    _el(_el(address, "ElectronicAddress"), "URI", "mailto:demonstration@invalid", "fr")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _trusted_list(ca: x509.Certificate, now: dt.datetime) -> etree._Element:
    root = etree.Element(f"{{{TSL}}}TrustServiceStatusList", nsmap={"tsl": TSL},
                         TSLTag="http://uri.etsi.org/19612/TSLTag", Id="demo-tl")
    info = _el(root, "SchemeInformation")
    _el(info, "TSLVersionIdentifier", "5")
    _el(info, "TSLSequenceNumber", "1")
    _el(info, "TSLType", f"{TLIST}/TSLType/EUgeneric")
    _names(info, "SchemeOperatorName", f"Opérateur de {LABEL}")
    _address(info, "SchemeOperatorAddress")
    _names(info, "SchemeName", f"Liste de confiance de {LABEL}")
    _el(_el(info, "SchemeInformationURI"), "URI", "https://demonstration.invalid/", "fr")
    _el(info, "StatusDeterminationApproach", f"{TLIST}/StatusDetn/EUappropriate")
    _el(_el(info, "SchemeTypeCommunityRules"), "URI", f"{TLIST}/schemerules/EUcommon", "fr")
    _el(info, "SchemeTerritory", "ZZ")
    _el(_el(info, "PolicyOrLegalNotice"), "TSLLegalNotice", NOTICE, "fr")
    _el(info, "HistoricalInformationPeriod", "65535")
    _el(info, "ListIssueDateTime", _iso(now))
    _el(_el(info, "NextUpdate"), "dateTime", _iso(now + dt.timedelta(days=180)))
    provider = _el(_el(root, "TrustServiceProviderList"), "TrustServiceProvider")
    tsp = _el(provider, "TSPInformation")
    _names(tsp, "TSPName", f"CTG Démonstration ({LABEL})")
    _address(tsp, "TSPAddress")
    _el(_el(tsp, "TSPInformationURI"), "URI", "https://demonstration.invalid/", "fr")
    _service(_el(_el(provider, "TSPServices"), "TSPService"), ca, now)
    return root


def _service(parent: etree._Element, ca: x509.Certificate, now: dt.datetime) -> None:
    info = _el(parent, "ServiceInformation")
    _el(info, "ServiceTypeIdentifier", f"{TRST}/Svctype/CA/QC")
    _names(info, "ServiceName", f"CTG Démonstration — AC signature ({LABEL})")
    der = ca.public_bytes(serialization.Encoding.DER)
    _el(_el(_el(info, "ServiceDigitalIdentity"), "DigitalId"), "X509Certificate",
        base64.b64encode(der).decode("ascii"))
    _el(info, "ServiceStatus", f"{TLIST}/Svcstatus/granted")
    _el(info, "StatusStartingTime", _iso(ca.not_valid_before_utc))
    extensions = _el(info, "ServiceInformationExtensions")
    for use in ("ForeSignatures", "ForeSeals"):
        extension = _el(extensions, "Extension")
        extension.set("Critical", "false")
        _el(_el(extension, "AdditionalServiceInformation"), "URI",
            f"{TLIST}/SvcInfoExt/{use}", "en")


def _sign(tree: etree._Element, key: ec.EllipticCurvePrivateKey,
          cert: x509.Certificate) -> etree._Element:
    from signxml import SignatureMethod
    from signxml.xades import XAdESSigner

    signer = XAdESSigner(signature_algorithm=SignatureMethod.ECDSA_SHA256)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return signer.sign(tree, key=pem,  # type: ignore[no-any-return]
                       cert=[cert.public_bytes(serialization.Encoding.PEM).decode()])
