"""A demonstration PKI (root, intermediate, signers, seal, TSA, OCSP, CRLs) — no legal value.

Everything it creates is labelled "DÉMONSTRATION — sans valeur" (certificate OU, file
names of the CA files, ``README.txt``). Keys are EC P-256 (fast to generate) except the
TSA key, which is RSA 2048 because pyHanko's timestamp responder is RSA-only.

Layout of the folder::

    README.txt                  what this is, the PKCS#12 passphrase
    pki.json                    manifest (subjects, serials, services URL, revocations)
    DEMO-racine.pem             root CA certificate (the trust anchor to install)
    DEMO-intermediaire.pem      intermediate CA certificate
    DEMO-chaine.pem             intermediate + root
    <id>.p12 / <id>.pem         one PKCS#12 (key + certificate + chain) per subject
    crl/racine.crl, crl/intermediaire.crl
    private/                    CA, TSA and OCSP responder keys and certificates
    DEMO-liste-de-confiance.xml a signed DEMONSTRATION trusted list (ETSI TS 119 612)
                                naming the intermediate CA a qualified service, so that
                                subjects created with ``qualification`` hold qualified
                                certificates (see :mod:`signers.demo_trusted_list`)
    horodatage-longue-duree/    a second, long-lived TSA (:func:`add_long_lived_tsa`)
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .model import DEFAULT_SERVICES_URL

DEMO_LABEL = "DÉMONSTRATION — sans valeur"
"""Organisational unit of every demonstration certificate."""

DEFAULT_PASSPHRASE = "demo-ctg"
"""Passphrase of every PKCS#12 file of the demonstration PKI (documented in README.txt)."""

QUALIFICATIONS = (None, "qualified", "qscd")
"""Values of :attr:`DemoSubject.qualification`."""
ROOT_FILE = "DEMO-racine.pem"
INTERMEDIATE_FILE = "DEMO-intermediaire.pem"
CHAIN_FILE = "DEMO-chaine.pem"
MANIFEST_FILE = "pki.json"
TRUSTED_LIST_FILE = "DEMO-liste-de-confiance.xml"
LONG_TSA_DIR = "horodatage-longue-duree"
"""Folder of the long-lived second TSA (:func:`add_long_lived_tsa`)."""

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True)
class DemoSubject:
    """A person (or an organisation seal) to receive a demonstration certificate."""

    id: str
    """Stable identifier, also the file name stem (e.g. ``maire-gignac``)."""
    name: str
    """Common name: the person's name (``Jean-François Soto``) or the seal's name."""
    organisation: str
    """Organisation (certificate O)."""
    title: str | None = None
    """Capacity (certificate title), e.g. ``Le Maire de Gignac``."""
    email: str | None = None
    """E-mail address (emailAddress and SAN rfc822Name)."""
    qualification: str | None = None
    """``None``: an ordinary certificate; ``qualified``: a qualified certificate (ETSI
    EN 319 412-5 QC statements: compliance and type, signature or seal); ``qscd``: a
    qualified certificate whose key is declared to be in a qualified signature creation
    device (QC statement QcSSCD). The demonstration trusted list makes them count."""

    def __post_init__(self) -> None:
        if self.qualification not in QUALIFICATIONS:
            raise ValueError(f"{self.id}: qualification must be one of "
                             f"{', '.join(map(str, QUALIFICATIONS))}")


@dataclass(frozen=True)
class DemoPki:
    """A demonstration PKI on disk."""

    directory: Path
    """The folder holding it."""
    services_url: str
    """Base URL of the TSA / OCSP / CRL services (``ctg demo-services``)."""
    passphrase: str
    """Passphrase of every PKCS#12 file."""
    subjects: tuple[DemoSubject, ...]
    """Every subject with a certificate (persons, then the seal if any)."""
    seal_id: str | None = None
    """Id of the organisation seal subject, if one was created."""
    revoked: tuple[str, ...] = field(default=())
    """Ids of revoked subjects."""

    @property
    def root_cert(self) -> Path:
        """The root certificate (PEM), the trust anchor."""
        return self.directory / ROOT_FILE

    @property
    def chain(self) -> Path:
        """Intermediate + root certificates (PEM)."""
        return self.directory / CHAIN_FILE

    @property
    def tsa_url(self) -> str:
        """URL of the RFC 3161 timestamp service."""
        return f"{self.services_url}/tsa"

    @property
    def ocsp_url(self) -> str:
        """URL of the OCSP responder."""
        return f"{self.services_url}/ocsp"

    @property
    def trusted_list(self) -> Path:
        """The signed demonstration trusted list (ETSI TS 119 612) naming the
        intermediate CA as a qualified service: pass it to ``--trusted-list`` with the
        root as ``--trust``."""
        return self.directory / TRUSTED_LIST_FILE

    def pkcs12(self, subject_id: str) -> Path:
        """The PKCS#12 file of ``subject_id``."""
        return self.directory / f"{subject_id}.p12"

    def cert(self, subject_id: str) -> Path:
        """The certificate (PEM) of ``subject_id``."""
        return self.directory / f"{subject_id}.pem"

    def subject(self, subject_id: str) -> DemoSubject:
        """The subject with id ``subject_id`` (KeyError if unknown)."""
        for s in self.subjects:
            if s.id == subject_id:
                return s
        raise KeyError(subject_id)


# --------------------------------------------------------------------------- creation


def create_demo_pki(subjects: Iterable[DemoSubject], out_dir: str | os.PathLike[str], *,
                    organisation_seal: DemoSubject | None = None,
                    services_url: str = DEFAULT_SERVICES_URL,
                    passphrase: str = DEFAULT_PASSPHRASE,
                    now: dt.datetime | None = None) -> DemoPki:
    """Create a demonstration PKI for ``subjects`` (+ an organisation seal) in ``out_dir``.

    Certificates are valid from ``now - 1 day`` to ``now + 3 years``."""
    out = Path(out_dir)
    (out / "private").mkdir(parents=True, exist_ok=True)
    (out / "crl").mkdir(exist_ok=True)
    now = now or dt.datetime.now(dt.UTC)
    url = services_url.rstrip("/")
    people = tuple(subjects)
    everyone = people + ((organisation_seal,) if organisation_seal else ())
    _check_ids(everyone)
    ca = _make_cas(out, url, now)
    _make_service_certs(out, ca, url, now)
    records = {s.id: _make_subject(out, ca, s, url, now, passphrase,
                                   seal=s is organisation_seal) for s in everyone}
    pki = DemoPki(out, url, passphrase, everyone,
                  organisation_seal.id if organisation_seal else None)
    _write_manifest(pki, records, revoked={})
    write_crls(out, now=now)
    _make_trusted_list(out, ca, now)
    _write_readme(pki)
    return pki


def _make_trusted_list(out: Path, ca: _Ca, now: dt.datetime) -> Path:
    """``DEMO-liste-de-confiance.xml``, signed by a list operator certificate issued by
    the root."""
    from .demo_trusted_list import write_demo_trusted_list

    key = _ec_key()
    operator = (_builder(_name("CTG Démonstration — opérateur de la liste de confiance"),
                         ca.root.subject, key.public_key(), ca.root_key, now)
                .add_extension(x509.KeyUsage(
                    digital_signature=True, content_commitment=True, key_encipherment=False,
                    data_encipherment=False, key_agreement=False, key_cert_sign=False,
                    crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
                .sign(ca.root_key, hashes.SHA256()))
    return write_demo_trusted_list(out / TRUSTED_LIST_FILE, ca.cert, operator, key, now)


def _check_ids(subjects: Sequence[DemoSubject]) -> None:
    ids = [s.id for s in subjects]
    dupes = sorted({i for i in ids if ids.count(i) > 1})
    if dupes:
        raise ValueError(f"duplicate subject ids: {', '.join(dupes)}")


@dataclass(frozen=True)
class _Ca:
    root_key: PrivateKey
    root: x509.Certificate
    key: PrivateKey
    cert: x509.Certificate


def _ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, org: str = "ctgdocs", *, title: str | None = None,
          email: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
             x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
             x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, DEMO_LABEL)]
    if title:
        attrs.append(x509.NameAttribute(NameOID.TITLE, title))
    attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    return x509.Name(attrs)


def _builder(subject: x509.Name, issuer: x509.Name, public_key: object,
             issuer_key: PrivateKey, now: dt.datetime, years: int = 3,
             until: dt.datetime | None = None) -> x509.CertificateBuilder:
    ski = x509.SubjectKeyIdentifier.from_public_key(public_key)  # type: ignore[arg-type]
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(
        issuer_key.public_key())  # type: ignore[arg-type]
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer)
            .public_key(public_key)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(until or now + dt.timedelta(days=365 * years + 1))
            .add_extension(ski, critical=False)
            .add_extension(aki, critical=False))


def _ca_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=False,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=True, crl_sign=True, encipher_only=False,
                         decipher_only=False)


def _signer_usage() -> x509.KeyUsage:
    return x509.KeyUsage(digital_signature=True, content_commitment=True,
                         key_encipherment=False, data_encipherment=False, key_agreement=False,
                         key_cert_sign=False, crl_sign=False, encipher_only=False,
                         decipher_only=False)


def _crl_dp(url: str, which: str) -> x509.CRLDistributionPoints:
    dp = x509.DistributionPoint([x509.UniformResourceIdentifier(f"{url}/crl/{which}.crl")],
                                None, None, None)
    return x509.CRLDistributionPoints([dp])


def _aia(url: str) -> x509.AuthorityInformationAccess:
    return x509.AuthorityInformationAccess([x509.AccessDescription(
        x509.AuthorityInformationAccessOID.OCSP,
        x509.UniformResourceIdentifier(f"{url}/ocsp"))])


def _make_cas(out: Path, url: str, now: dt.datetime) -> _Ca:
    root_key, int_key = _ec_key(), _ec_key()
    root_name = _name("CTG Démonstration — AC racine")
    int_name = _name("CTG Démonstration — AC signature")
    root = (_builder(root_name, root_name, root_key.public_key(), root_key, now, years=10)
            .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
            .add_extension(_ca_usage(), critical=True)
            .sign(root_key, hashes.SHA256()))
    inter = (_builder(int_name, root_name, int_key.public_key(), root_key, now, years=5)
             .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
             .add_extension(_ca_usage(), critical=True)
             .add_extension(_crl_dp(url, "racine"), critical=False)
             .sign(root_key, hashes.SHA256()))
    _write_pem(out / ROOT_FILE, root)
    _write_pem(out / INTERMEDIATE_FILE, inter)
    (out / CHAIN_FILE).write_bytes(_pem(inter) + _pem(root))
    _write_key(out / "private" / "racine.key.pem", root_key)
    _write_key(out / "private" / "intermediaire.key.pem", int_key)
    return _Ca(root_key, root, int_key, inter)


def _make_service_certs(out: Path, ca: _Ca, url: str, now: dt.datetime) -> None:
    tsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    tsa = (_builder(_name("CTG Démonstration — horodatage"), ca.cert.subject,
                    tsa_key.public_key(), ca.key, now)
           .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                          critical=True)
           .add_extension(_signer_usage(), critical=True)
           .add_extension(_aia(url), critical=False)
           .add_extension(_crl_dp(url, "intermediaire"), critical=False)
           .sign(ca.key, hashes.SHA256()))
    ocsp_key = _ec_key()
    ocsp = (_builder(_name("CTG Démonstration — OCSP"), ca.cert.subject,
                     ocsp_key.public_key(), ca.key, now)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]),
                           critical=True)
            .add_extension(x509.OCSPNoCheck(), critical=False)
            .add_extension(_signer_usage(), critical=True)
            .sign(ca.key, hashes.SHA256()))
    for stem, key, cert in (("tsa", tsa_key, tsa), ("ocsp", ocsp_key, ocsp)):
        _write_key(out / "private" / f"{stem}.key.pem", key)
        _write_pem(out / "private" / f"{stem}.pem", cert)


def _make_subject(out: Path, ca: _Ca, s: DemoSubject, url: str, now: dt.datetime,
                  passphrase: str, *, seal: bool = False) -> dict[str, str]:
    key = _ec_key()
    b = (_builder(_name(s.name, s.organisation, title=s.title, email=s.email),
                  ca.cert.subject, key.public_key(), ca.key, now)
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(_signer_usage(), critical=True)
         .add_extension(_aia(url), critical=False)
         .add_extension(_crl_dp(url, "intermediaire"), critical=False))
    if s.email:
        b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(s.email)]),
                            critical=False)
    if s.qualification:
        b = b.add_extension(_qc_statements(seal, s.qualification == "qscd"), critical=False)
    cert = b.sign(ca.key, hashes.SHA256())
    _write_pem(out / f"{s.id}.pem", cert)
    write_pkcs12(out / f"{s.id}.p12", key, cert, [ca.cert, ca.root], passphrase,
                 friendly_name=s.id)
    return {"serial": format(cert.serial_number, "x"),
            "sha256": cert.fingerprint(hashes.SHA256()).hex()}


def _qc_statements(seal: bool, qscd: bool) -> x509.UnrecognizedExtension:
    """ETSI EN 319 412-5 QC statements: EU qualified certificate, for signatures or
    seals, and (``qscd``) key in a qualified signature creation device."""
    from pyhanko.sign.ades.qualified_asn1 import QcCertificateType, QcStatement, QcStatements

    statements = [QcStatement({"statement_id": "qc_compliance"}),
                  QcStatement({"statement_id": "qc_type", "statement_info":
                               QcCertificateType(["qct_eseal" if seal else "qct_esign"])})]
    if qscd:
        statements.append(QcStatement({"statement_id": "qc_sscd"}))
    return x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.5.5.7.1.3"),
                                      QcStatements(statements).dump())


def add_long_lived_tsa(pki: DemoPki, *, years: int = 4,
                       now: dt.datetime | None = None) -> Path:
    """A second timestamping authority of the same PKI, valid ``years`` years (at most as
    long as the intermediate CA that issues it; the first one expires with the other
    certificates after 3 years), to renew archive timestamps.

    Its certificate is registered in ``pki.json`` (as a service, not a subject) so that
    the PKI's OCSP responder answers for it. Returns a folder that ``ctg demo-services``
    (or :func:`signers.services.running_services`) serves like a PKI folder: its TSA signs
    with the new certificate."""
    now = now or dt.datetime.now(dt.UTC)
    folder = pki.directory / LONG_TSA_DIR
    (folder / "private").mkdir(parents=True, exist_ok=True)
    ca_key = load_key(pki.directory / "private" / "intermediaire.key.pem")
    ca = load_cert(pki.directory / INTERMEDIATE_FILE)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    until = min(now + dt.timedelta(days=365 * years + 1), ca.not_valid_after_utc)
    cert = (_builder(_name("CTG Démonstration — horodatage longue durée"), ca.subject,
                     key.public_key(), ca_key, now, until=until)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]),
                           critical=True)
            .add_extension(_signer_usage(), critical=True)
            .add_extension(_aia(pki.services_url), critical=False)
            .add_extension(_crl_dp(pki.services_url, "intermediaire"), critical=False)
            .sign(ca_key, hashes.SHA256()))
    _write_key(folder / "private" / "tsa.key.pem", key)
    _write_pem(folder / "private" / "tsa.pem", cert)
    _write_pem(pki.directory / f"{LONG_TSA_DIR}.pem", cert)
    data = read_manifest(pki.directory)
    data["subjects"] = [s for s in data["subjects"] if s["id"] != LONG_TSA_DIR] + [{
        "id": LONG_TSA_DIR, "name": "CTG Démonstration — horodatage longue durée",
        "organisation": "ctgdocs", "title": None, "email": None, "qualification": None,
        "service": True, "serial": format(cert.serial_number, "x"),
        "sha256": cert.fingerprint(hashes.SHA256()).hex()}]
    _save_manifest(pki.directory, data)
    for name in (ROOT_FILE, INTERMEDIATE_FILE, MANIFEST_FILE, "private/ocsp.pem",
                 "private/ocsp.key.pem"):
        (folder / name).write_bytes((pki.directory / name).read_bytes())
    (folder / "private" / "ocsp.key.pem").chmod(0o600)
    return folder


def issue_certificate(pki: DemoPki, subject: DemoSubject, *, valid_from: dt.datetime,
                      valid_until: dt.datetime, non_repudiation: bool = True) -> Path:
    """Issue an extra certificate from the demonstration CA (e.g. an expired one, or one
    without nonRepudiation, for tests) and write ``<id>.p12``; it is not added to the
    manifest, so the OCSP responder answers "unauthorized" for it."""
    ca_key = load_key(pki.directory / "private" / "intermediaire.key.pem")
    ca_cert = load_cert(pki.directory / INTERMEDIATE_FILE)
    key = _ec_key()
    usage = _signer_usage() if non_repudiation else x509.KeyUsage(
        digital_signature=True, content_commitment=False, key_encipherment=True,
        data_encipherment=False, key_agreement=False, key_cert_sign=False, crl_sign=False,
        encipher_only=False, decipher_only=False)
    b = (x509.CertificateBuilder()
         .subject_name(_name(subject.name, subject.organisation, title=subject.title,
                             email=subject.email))
         .issuer_name(ca_cert.subject).public_key(key.public_key())
         .serial_number(x509.random_serial_number())
         .not_valid_before(valid_from).not_valid_after(valid_until)
         .add_extension(usage, critical=True))
    if subject.email:
        b = b.add_extension(x509.SubjectAlternativeName([x509.RFC822Name(subject.email)]),
                            critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    path = pki.directory / f"{subject.id}.p12"
    write_pkcs12(path, key, cert, [ca_cert, load_cert(pki.directory / ROOT_FILE)],
                 pki.passphrase, friendly_name=subject.id)
    return path


def write_pkcs12(path: Path, key: PrivateKey, cert: x509.Certificate,
                 chain: Sequence[x509.Certificate], passphrase: str, *,
                 friendly_name: str = "signer") -> None:
    """Write ``key`` + ``cert`` + ``chain`` as a PKCS#12 file protected by ``passphrase``."""
    blob = pkcs12.serialize_key_and_certificates(
        friendly_name.encode(), key, cert, list(chain),
        serialization.BestAvailableEncryption(passphrase.encode()))
    path.write_bytes(blob)


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write_pem(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(_pem(cert))


def _write_key(path: Path, key: PrivateKey) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    path.chmod(0o600)


# --------------------------------------------------------------------------- manifest


def _write_manifest(pki: DemoPki, records: dict[str, dict[str, str]],
                    revoked: dict[str, str]) -> None:
    data = {
        "label": DEMO_LABEL,
        "services_url": pki.services_url,
        "passphrase": pki.passphrase,
        "seal_id": pki.seal_id,
        "subjects": [{"id": s.id, "name": s.name, "organisation": s.organisation,
                      "title": s.title, "email": s.email,
                      "qualification": s.qualification, **records[s.id]}
                     for s in pki.subjects],
        "revoked": revoked,
    }
    _save_manifest(pki.directory, data)


def _save_manifest(directory: Path, data: dict) -> None:  # type: ignore[type-arg]
    tmp = directory / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    os.replace(tmp, directory / MANIFEST_FILE)


def read_manifest(pki_dir: str | os.PathLike[str]) -> dict:  # type: ignore[type-arg]
    """The raw ``pki.json`` of a demonstration PKI."""
    path = Path(pki_dir) / MANIFEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{path}: not a demonstration PKI folder (create one with ctg demo-pki)"
        ) from None


def load_demo_pki(pki_dir: str | os.PathLike[str]) -> DemoPki:
    """Open an existing demonstration PKI folder."""
    data = read_manifest(pki_dir)
    subjects = tuple(DemoSubject(s["id"], s["name"], s["organisation"], s.get("title"),
                                 s.get("email"), s.get("qualification"))
                     for s in data["subjects"] if not s.get("service"))
    by_serial = {s["serial"]: s["id"] for s in data["subjects"]}
    revoked = tuple(by_serial.get(serial, serial) for serial in data["revoked"])
    return DemoPki(Path(pki_dir), data["services_url"], data["passphrase"], subjects,
                   data.get("seal_id"), revoked)


def revoke(pki: DemoPki | str | os.PathLike[str], subject_id: str, *,
           when: dt.datetime | None = None) -> DemoPki:
    """Revoke the certificate of ``subject_id``: the CRL is rewritten and the OCSP
    responder (which reads ``pki.json`` at every request) answers "revoked"."""
    directory = pki.directory if isinstance(pki, DemoPki) else Path(pki)
    data = read_manifest(directory)
    serials = {s["id"]: s["serial"] for s in data["subjects"]}
    if subject_id not in serials:
        raise KeyError(f"{subject_id}: no such subject in {directory / MANIFEST_FILE}")
    when = when or dt.datetime.now(dt.UTC)
    data["revoked"][serials[subject_id]] = when.isoformat()
    _save_manifest(directory, data)
    write_crls(directory)
    return load_demo_pki(directory)


# --------------------------------------------------------------------------- CRLs


def load_key(path: Path) -> PrivateKey:
    """Load an unencrypted PEM private key of the PKI."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey)
    return key


def load_cert(path: Path) -> x509.Certificate:
    """Load a PEM certificate."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def revoked_serials(pki_dir: Path) -> dict[int, dt.datetime]:
    """Serial number → revocation time of every revoked certificate."""
    data = read_manifest(pki_dir)
    return {int(s, 16): dt.datetime.fromisoformat(t) for s, t in data["revoked"].items()}


def make_crl(pki_dir: Path, which: str, *, now: dt.datetime | None = None) -> bytes:
    """A fresh DER CRL for ``which`` ("racine" or "intermediaire"), valid 7 days."""
    now = now or dt.datetime.now(dt.UTC)
    if which == "racine":
        issuer, key, entries = load_cert(pki_dir / ROOT_FILE), "racine", {}
    else:
        issuer, key = load_cert(pki_dir / INTERMEDIATE_FILE), "intermediaire"
        entries = revoked_serials(pki_dir)
    b = (x509.CertificateRevocationListBuilder().issuer_name(issuer.subject)
         .last_update(now - dt.timedelta(minutes=5))
         .next_update(now + dt.timedelta(days=7))
         .add_extension(x509.CRLNumber(int(now.timestamp())), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
             issuer.public_key()), critical=False))  # type: ignore[arg-type]
    for serial, when in entries.items():
        b = b.add_revoked_certificate(x509.RevokedCertificateBuilder().serial_number(serial)
                                      .revocation_date(when).build())
    crl = b.sign(load_key(pki_dir / "private" / f"{key}.key.pem"), hashes.SHA256())
    return crl.public_bytes(serialization.Encoding.DER)


def write_crls(pki_dir: Path, *, now: dt.datetime | None = None) -> None:
    """Write ``crl/racine.crl`` and ``crl/intermediaire.crl``."""
    for which in ("racine", "intermediaire"):
        (pki_dir / "crl" / f"{which}.crl").write_bytes(make_crl(pki_dir, which, now=now))


# --------------------------------------------------------------------------- README


def _write_readme(pki: DemoPki) -> None:
    lines = [
        f"PKI DE {DEMO_LABEL.upper()}",
        "",
        "Ces certificats servent uniquement à démontrer et tester ctgdocs.",
        "Ils n'ont AUCUNE valeur juridique : une signature faite avec eux ne vaut rien.",
        "",
        f"Phrase de passe de tous les fichiers PKCS#12 (*.p12) : {pki.passphrase}",
        f"Ancre de confiance (à installer dans le vérificateur) : {ROOT_FILE}",
        f"Services (horodatage, OCSP, CRL) : {pki.services_url}  — ctg demo-services "
        f"{pki.directory}",
        f"  horodatage RFC 3161 : {pki.tsa_url}",
        f"  OCSP               : {pki.ocsp_url}",
        f"  CRL                : {pki.services_url}/crl/intermediaire.crl",
        "",
        "Certificats :",
    ]
    for s in pki.subjects:
        extra = f" — {s.title}" if s.title else ""
        lines.append(f"  {s.id}.p12  {s.name} ({s.organisation}){extra}")
    (pki.directory / "README.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
