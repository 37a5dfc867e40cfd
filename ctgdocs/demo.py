"""The whole story on one convention: build, demo PKI, local services, seal, 16 signatures
in circuit order, strict verification, archive and offline verification of the bundle.
Used by ``ctg demo`` and ``make demo``."""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .build import BuildOptions, build_package
from .load import load_convention
from .model import Convention, Signatory, SignatoryRole
from .signatories import SEAL_FIELD

if TYPE_CHECKING:
    from signers.demo_pki import DemoPki, DemoSubject
    from signers.model import ExpectedSigner
    from signers.report import DocumentReport

SIGNED_NAME = "convention-signee.pdf"
"""File name of the signed package, next to convention-package.pdf."""
LTA_NAME = "convention-signee-lta.pdf"
"""A copy of the bundle's PAdES B-LTA file, next to the signed package."""


@dataclass(frozen=True)
class DemoResult:
    """What the demonstration produced."""

    package: Path
    """The unsigned package (revision 0 + fields)."""
    signed: Path
    """The sealed and signed package."""
    archived: Path
    """The signed package made verifiable offline (PAdES B-LTA): a copy of the bundle's,
    next to the signed package."""
    bundle: Path
    """The evidence bundle (``ctg archive``), verified offline."""
    bundle_valid: bool
    """The offline verification of the bundle found nothing wrong."""
    pki: Path
    """The demonstration PKI folder."""
    trust_anchor: Path
    """The demonstration root certificate to trust when verifying."""
    signatures: int
    """Signatures applied, the seal included."""
    seconds_per_signature: float
    """Mean wall time of one signature."""
    valid: bool
    """The verification found every signature valid."""
    complete: bool
    """Every expected signatory has signed."""
    report: str
    """The verification report as a human table."""


def demo_subjects(conv: Convention) -> tuple[list[DemoSubject], DemoSubject]:
    """The signatories of ``conv`` as demonstration certificate subjects, plus the Caf's
    organisation seal (subject id = its field name)."""
    from signers.demo_pki import DemoSubject

    people = [DemoSubject(s.id, s.person.full_name, s.organisation, s.capacity,
                          s.person.email, _demo_qualification(i, s))
              for i, s in enumerate(conv.signatories)]
    seal = DemoSubject(SEAL_FIELD, conv.caf.short_name, conv.caf.name,
                       "Cachet électronique de l'organisme", qualification="qscd")
    return people, seal


def _demo_qualification(index: int, signatory: Signatory) -> str | None:
    """Which demonstration certificates are qualified, so that the demonstration trusted
    list gives each eIDAS status: the Caf's people and a third of the mayors hold
    qualified certificates on a QSCD, the EPCI president and another third qualified
    certificates only, the other mayors ordinary ones."""
    if signatory.role in (SignatoryRole.CAF_DIRECTOR, SignatoryRole.CAF_PRESIDENT):
        return "qscd"
    if signatory.role is not SignatoryRole.MAYOR:
        return "qualified"
    return ("qscd", "qualified", None)[index % 3]


def signing_reason(conv: Convention, signatory: Signatory) -> str | None:
    """The /Reason of a demonstration signature: the deliberation authorising it."""
    delib = None
    if signatory.role is SignatoryRole.MAYOR:
        delib = next(c.deliberation for c in conv.communes
                     if signatory.id == f"maire-{c.slug}")
    elif signatory.role is SignatoryRole.EPCI_PRESIDENT:
        delib = conv.epci.deliberation
    elif signatory.role is SignatoryRole.CAF_PRESIDENT:
        delib = conv.caf.board_deliberation
    if delib is None:
        return None
    from .render import french_date

    return f"Délibération du {delib.body} n° {delib.number} du {french_date(delib.date)}"


def circuit_order(conv: Convention) -> list[Signatory]:
    """Signing order of the circuit: the mayors, then the EPCI president, the partners,
    the Caf board president and finally the Caf director."""
    rank = {SignatoryRole.MAYOR: 0, SignatoryRole.EPCI_PRESIDENT: 1,
            SignatoryRole.PARTNER: 2, SignatoryRole.CAF_PRESIDENT: 3,
            SignatoryRole.CAF_DIRECTOR: 4}
    return sorted(conv.signatories, key=lambda s: rank[s.role])


def run_demo(data: Path, output_root: Path = Path("output"),
             say: Callable[[str], None] = print) -> DemoResult:
    """Run the whole story on ``data``; ``say`` receives one line per step."""
    from signers import speedups
    from signers.demo_pki import create_demo_pki
    from signers.services import listening_socket, running_services

    from .archive import demo as archive
    from .archive import layout as archive_layout
    from .signatories import expected_signers, seal_expected

    speedups.enable()  # as ctg sign and ctg verify (unless SIGNERS_SPEEDUPS=off)

    conv = load_convention(data)
    build = build_package(data, BuildOptions(output_root=output_root, seal_field=True))
    say(f"1. package built: {build.package} ({build.pages} pages, "
        f"{build.signatories} signature fields)")
    folder = build.package.parent
    sock = listening_socket()  # bound before the certificates name its port
    port = sock.getsockname()[1]
    pki_dir = folder / "demo-pki"
    shutil.rmtree(pki_dir, ignore_errors=True)
    people, seal = demo_subjects(conv)
    pki = create_demo_pki(people, pki_dir, organisation_seal=seal,
                          services_url=f"http://127.0.0.1:{port}")
    say(f"2. demonstration PKI (unfit for real signatures): {pki_dir}")
    signed = folder / SIGNED_NAME
    expected = {e.field: e for e in [*expected_signers(conv), seal_expected(conv)]}
    with running_services(pki_dir, sock=sock) as services:
        say(f"3. timestamp, OCSP and CRL services on {services.url}")
        times = _sign_all(conv, build.package, signed, pki, services.tsa_url, expected, say)
        report = _verify(signed, list(expected.values()), pki.root_cert)
        say(f"5. verification: {'valid' if report.valid else 'NOT VALID'}, "
            f"{len(report.signed)} of {len(expected)} expected signatures (seal included)")
        from .circuit.demo import run_circuit_demo  # the same 16 signatures, collected

        circuit = run_circuit_demo(data, build.package, pki, services.tsa_url, folder, say)
        # the circuit's document, with its journal (found beside it)
        bundle = archive.archive_signed(circuit.document, data, pki, services.tsa_url,
                                        folder / archive.BUNDLE_NAME, say)
    say("12. services stopped")
    check = archive.verify_archived(bundle.path, pki, say)
    archived = folder / LTA_NAME
    shutil.copyfile(bundle.path / archive_layout.PDF, archived)
    from signers.report import render_table

    return DemoResult(build.package, signed, archived, bundle.path,
                      check.valid, pki_dir, pki.root_cert, len(times),
                      sum(times) / len(times), report.valid, report.complete, render_table(report))


def _sign_all(conv: Convention, package: Path, signed: Path, pki: DemoPki, tsa: str,
              expected: dict[str, ExpectedSigner], say: Callable[[str], None]) -> list[float]:
    from signers.credentials import Pkcs12Credentials
    from signers.sign import seal_package, sign_field

    from .wording import SEAL_REASON, STAMP_WORDING

    times = []
    started = time.perf_counter()
    seal_package(package, signed, Pkcs12Credentials(pki.pkcs12(SEAL_FIELD), pki.passphrase),
                 field=SEAL_FIELD, expected=expected[SEAL_FIELD], tsa_url=tsa,
                 reason=SEAL_REASON, wording=STAMP_WORDING)
    times.append(time.perf_counter() - started)
    say(f"4. package sealed (certified) by {conv.caf.short_name}")
    for n, signatory in enumerate(circuit_order(conv), 1):
        started = time.perf_counter()
        sign_field(signed, signed, signatory.id,
                   Pkcs12Credentials(pki.pkcs12(signatory.id), pki.passphrase),
                   expected=expected[signatory.id], tsa_url=tsa, wording=STAMP_WORDING,
                   reason=signing_reason(conv, signatory))
        times.append(time.perf_counter() - started)
        say(f"   {n:2d}/{len(conv.signatories)} signed by {signatory.person.formal_name}, "
            f"{signatory.capacity} ({times[-1]:.2f} s)")
    return times


def _verify(signed: Path, expected: list[ExpectedSigner], root: Path) -> DocumentReport:
    from signers.verify import verify_document

    return verify_document(signed, expected=expected, trust_roots=[root])
