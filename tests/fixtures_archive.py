"""pytest plugin: signed conventions to archive (the reference data and the minimal one),
each with its own demonstration PKI (qualified certificates as in ``ctg demo``), its
services on 127.0.0.1, the circuit's journal, and the bundles made from them."""

from __future__ import annotations

import datetime as dt
import shutil
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ctgdocs.archive import ArchiveOptions, BundleResult, create_bundle
from ctgdocs.build import BuildOptions, build_package
from ctgdocs.demo import circuit_order, demo_subjects
from ctgdocs.load import load_convention
from ctgdocs.model import Convention
from ctgdocs.signatories import SEAL_FIELD, expected_signers, seal_expected
from ctgdocs.wording import signing_reason
from signers.demo_pki import DemoPki, create_demo_pki
from signers.journal import JournalEvent, next_event, timestamp_event, write_journal
from signers.services import RunningServices, listening_socket, running_services

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
MINIMAL = ROOT / "tests" / "resources" / "minimal.yaml"
JOURNAL_TOKENS = (10, 19)
"""Events of the test journal whose hash is timestamped."""


@dataclass
class Signed:
    """A built and signed convention with its PKI and running services."""

    conv: Convention
    data: Path
    folder: Path
    package: Path
    signed: Path
    pki: DemoPki
    services: RunningServices
    fields: list[str] = field(default_factory=list)

    def sign(self, src: Path, dst: Path, signatory_id: str) -> Path:
        """Sign the field ``signatory_id`` of ``src`` into ``dst`` as in the demo."""
        from signers.credentials import Pkcs12Credentials
        from signers.sign import seal_package, sign_field

        expected = {e.field: e for e in [*expected_signers(self.conv),
                                          seal_expected(self.conv)]}
        creds = Pkcs12Credentials(self.pki.pkcs12(signatory_id), self.pki.passphrase)
        if signatory_id == SEAL_FIELD:
            seal_package(src, dst, creds, expected=expected[SEAL_FIELD],
                         tsa_url=self.services.tsa_url)
        else:
            signatory = next(s for s in self.conv.signatories if s.id == signatory_id)
            sign_field(src, dst, signatory_id, creds, expected=expected[signatory_id],
                       tsa_url=self.services.tsa_url,
                       reason=signing_reason(self.conv, signatory))
        return dst

    def options(self, out: Path, **kw: object) -> ArchiveOptions:
        """Archive options trusting this PKI, its TSA, writing ``out``."""
        kw.setdefault("trust", (self.pki.root_cert,))
        kw.setdefault("tsa_url", self.services.tsa_url)
        kw.setdefault("data", self.data)
        return ArchiveOptions(output=out, **kw)  # type: ignore[arg-type]


def _signed(data: Path, base: Path, *, sign: bool = True) -> Iterator[Signed]:
    conv = load_convention(data)
    build = build_package(data, BuildOptions(output_root=base, seal_field=True))
    sock = listening_socket()  # bound before the certificates name its port
    port = sock.getsockname()[1]
    people, seal = demo_subjects(conv)
    pki = create_demo_pki(people, base / "pki", organisation_seal=seal,
                          services_url=f"http://127.0.0.1:{port}")
    with running_services(pki.directory, sock=sock) as services:
        world = Signed(conv, data, build.package.parent, build.package,
                       build.package.parent / "convention-signee.pdf", pki, services)
        if sign:
            src = build.package
            for signatory in [SEAL_FIELD, *(s.id for s in circuit_order(conv))]:
                src = world.sign(src, world.signed, signatory)
                world.fields.append(signatory)
        yield world


def write_test_journal(world: Signed, path: Path) -> list[JournalEvent]:
    """A circuit journal for ``world``: started, one accepted signature per field,
    completed; tokens from the TSA over events :data:`JOURNAL_TOKENS`."""
    t0 = dt.datetime(2023, 2, 6, 9, 0, tzinfo=dt.UTC)
    events: list[JournalEvent] = []
    kinds = ["started", *(["signature-accepted"] * len(world.fields)), "completed"]
    details = [{}, *({"field": f} for f in world.fields), {}]
    for i, (kind, data) in enumerate(zip(kinds, details, strict=True)):
        events.append(next_event(events[-1] if events else None, journal="circuit-test",
                                 kind=kind, data=data, at=t0 + dt.timedelta(minutes=i)))
    tokens = {seq: timestamp_event(events[seq - 1], world.services.tsa_url)
              for seq in JOURNAL_TOKENS if seq <= len(events)}
    write_journal(events, path, tokens)
    return events


@pytest.fixture(scope="session")
def reference_signed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Signed]:
    """The reference convention (13 communes), sealed and signed by its 16 signatories,
    with its circuit journal beside the package (``journal.jsonl``)."""
    world_iter = _signed(REFERENCE, tmp_path_factory.mktemp("archive-ref"))
    world = next(world_iter)
    write_test_journal(world, world.folder / "journal.jsonl")
    yield world
    next(world_iter, None)


@pytest.fixture(scope="session")
def reference_bundle(reference_signed: Signed,
                     tmp_path_factory: pytest.TempPathFactory) -> BundleResult:
    """The bundle (folder) of the reference convention, with the demonstration trusted
    list and the journal found beside the package. Never modified: copy it first."""
    out = tmp_path_factory.mktemp("bundles") / "archive"
    return create_bundle(reference_signed.signed, reference_signed.options(
        out, trusted_lists=(reference_signed.pki.trusted_list,),
        archival_agency="FRAD034", transferring_agency="SIREN-534010212"))


@pytest.fixture
def bundle_copy(reference_bundle: BundleResult, tmp_path: Path) -> Path:
    """A copy of the reference bundle a test may change."""
    copy = tmp_path / "bundle"
    shutil.copytree(reference_bundle.path, copy)
    return copy


@contextmanager
def network_blocked() -> Iterator[list[object]]:
    """Within: any attempt to open a network connection fails (and is recorded), as if
    the services were stopped and the machine offline."""
    attempts: list[object] = []

    def refuse(self: socket.socket, address: object, *args: object) -> None:
        attempts.append(address)
        raise OSError("network access refused by the test")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        yield attempts


@pytest.fixture
def no_network() -> Iterator[list[object]]:
    """The whole test runs with :func:`network_blocked`."""
    with network_blocked() as attempts:
        yield attempts


@pytest.fixture
def minimal_unsigned(tmp_path: Path) -> Iterator[Signed]:
    """The minimal convention (2 communes), built, not signed, with its own PKI and
    services (stopped at the end of the test)."""
    yield from _signed(MINIMAL, tmp_path / "minimal", sign=False)
