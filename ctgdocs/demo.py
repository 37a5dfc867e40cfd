"""The whole story on one convention, as it happens for real: build the package, a
demonstration PKI and its services; a signing circuit collects the seal and the 16
signatures, each signatory with their own key (the 13 mayors at the same time); strict
verification of the result and of the circuit's journal; the archive bundle, verified
offline once the services are stopped. Used by ``ctg demo`` and ``make demo``."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .build import BuildOptions, build_package
from .load import load_convention
from .model import Convention, Signatory, SignatoryRole
from .signatories import SEAL_FIELD

if TYPE_CHECKING:
    from signers.demo_pki import DemoSubject

LTA_NAME = "convention-signee-lta.pdf"
"""A copy of the bundle's PAdES B-LTA file, next to the package."""


@dataclass(frozen=True)
class DemoResult:
    """What the demonstration produced."""

    package: Path
    """The unsigned package (revision 0 + fields)."""
    signed: Path
    """The document the circuit collected: sealed and signed by everyone (exported with
    its journal and expected signers)."""
    circuit: str
    """The circuit's id (in the demonstration's store)."""
    store: Path
    """The circuit's store."""
    archived: Path
    """The signed document made verifiable offline (PAdES B-LTA): a copy of the bundle's,
    next to the package."""
    bundle: Path
    """The evidence bundle (``ctg archive``), verified offline."""
    bundle_valid: bool
    """The offline verification of the bundle found nothing wrong."""
    pki: Path
    """The demonstration PKI folder."""
    trust_anchor: Path
    """The demonstration root certificate to trust when verifying."""
    signatures: int
    """Signatures collected, the seal included."""
    mayors_seconds: float
    """Wall time of the 13 mayors' simultaneous signatures."""
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


def circuit_order(conv: Convention) -> list[Signatory]:
    """The signatories in the order of the circuit's default stages (the mayors, the EPCI
    president, the partners, the Caf board president, the Caf director): the order in
    which tests and benchmarks sign a package directly."""
    from .circuit.stages import default_stages

    people = {s.id: s for s in conv.signatories}
    return [people[sid] for stage in default_stages(conv, seal=False) for sid in stage]


def run_demo(data: Path, output_root: Path = Path("output"),
             say: Callable[[str], None] = print) -> DemoResult:
    """Run the whole story on ``data``; ``say`` receives one line per step."""
    from signers import speedups
    from signers.demo_pki import create_demo_pki
    from signers.report import render_table
    from signers.services import listening_socket, running_services
    from signers.verify import verify_document

    from .archive import demo as archive
    from .archive import layout as archive_layout
    from .circuit.demo import run_circuit_demo
    from .signatories import expected_for_package

    speedups.enable()  # as ctg verify and ctg archive (unless SIGNERS_SPEEDUPS=off)

    conv = load_convention(data)
    build = build_package(data, BuildOptions(output_root=output_root, seal_field=True))
    say(f"1. package built: {build.package} ({build.pages} pages, "
        f"{build.signatories} signature fields)")
    folder = build.package.parent
    sock = listening_socket()  # bound before the certificates name its port
    pki_dir = folder / "demo-pki"
    shutil.rmtree(pki_dir, ignore_errors=True)
    people, seal = demo_subjects(conv)
    pki = create_demo_pki(people, pki_dir, organisation_seal=seal,
                          services_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    say(f"2. demonstration PKI, one key per signatory (unfit for real signatures): "
        f"{pki_dir}")
    with running_services(pki_dir, sock=sock) as services:
        say(f"3. timestamp, OCSP and CRL services on {services.url}")
        circuit = run_circuit_demo(data, build.package, pki, services.tsa_url, folder, say)
        report = verify_document(circuit.document, trust_roots=[pki.root_cert],
                                 expected=expected_for_package(circuit.document, None))
        # the circuit's document, with its journal (found beside it)
        bundle = archive.archive_signed(circuit.document, data, pki, services.tsa_url,
                                        folder / archive.BUNDLE_NAME, say)
    say("11. services stopped")
    check = archive.verify_archived(bundle.path, pki, say)
    archived = folder / LTA_NAME
    shutil.copyfile(bundle.path / archive_layout.PDF, archived)
    return DemoResult(
        package=build.package, signed=circuit.document, circuit=circuit.circuit,
        store=circuit.store, archived=archived, bundle=bundle.path,
        bundle_valid=check.valid, pki=pki_dir, trust_anchor=pki.root_cert,
        signatures=circuit.signatures, mayors_seconds=circuit.mayors_seconds,
        valid=report.valid, complete=report.complete, report=render_table(report))
