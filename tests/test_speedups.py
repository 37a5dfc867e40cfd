"""The speed-ups' house: one explicit switch, exact-version gate, SIGNERS_SPEEDUPS=off,
patches applied in one place and removable, loud on conflict; faults injected inside the
speed-ups cost time, never a verdict; and the speed-ups' path and pyHanko's plain path
agree verdict for verdict (honest package, every tamper variant, 16 signatures)."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from pyhanko.pdf_utils import generic
from test_tamper import _field_change, _flip_signature_value, _incremental, _with_orphans
from test_verify import (
    EXPECTED,
    FIELDS,
    HONEST,
    World,
    archive,
    make_unsigned,
    world_fixture,  # noqa: F401  (the ``world`` fixture)
)

from signers import sign, speedups, verify
from signers.credentials import Pkcs12Credentials
from signers.demo_pki import DemoSubject, create_demo_pki
from signers.exceptions import SigningRefused
from signers.model import ExpectedSigner
from signers.report import DocumentReport, render_table
from signers.services import listening_socket, running_services
from signers.sign import sign_field
from signers.speedups import _patches, diffcache, digests, fastread, formlist, refgraph
from signers.verify import verify_document

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(speedups.switched_off(),
                                reason="SIGNERS_SPEEDUPS=off: nothing to compare")


@pytest.fixture(autouse=True)
def switched_on() -> Iterator[None]:
    """Each test starts with the speed-ups applied and leaves them so."""
    assert speedups.enable().enabled, speedups.status().reason
    yield
    if not _patches.applied():
        assert speedups.enable().enabled


# --------------------------------------------------------------------------- the switch


def _originals() -> dict[str, object]:
    return {p.label: _patches.unpatched(*_owner(p)) for p in _patches.PATCHES}


def _owner(patch: _patches.Patch) -> tuple[object, str]:
    import importlib

    owner: object = importlib.import_module(patch.module)
    *classes, name = patch.path.split(".")
    for cls in classes:
        owner = getattr(owner, cls)
    return owner, name


def _current(patch: _patches.Patch) -> object:
    owner, name = _owner(patch)
    raw = owner.__dict__[name]  # type: ignore[attr-defined]
    return raw.__func__ if isinstance(raw, staticmethod) else raw


def test_patches_are_applied_by_enable_and_removed_by_disable() -> None:
    originals = _originals()
    assert all(_current(p) is not originals[p.label] for p in _patches.PATCHES)
    speedups.disable()
    assert not speedups.status().enabled and not _patches.applied()
    assert all(_current(p) is originals[p.label] for p in _patches.PATCHES)
    assert not speedups.wanted(None) and speedups.wanted(False) is False
    assert speedups.wanted(True)  # enables them again
    assert all(_current(p) is not originals[p.label] for p in _patches.PATCHES)


def test_importing_sign_and_verify_applies_nothing() -> None:
    code = ("import signers.sign, signers.verify, signers.speedups\n"
            "from pyhanko.pdf_utils import generic\n"
            "from asn1crypto import x509\n"
            "assert generic._read_string_literal_bytes.__module__ == generic.__name__\n"
            "assert x509.NameTypeAndValue._ldap_string_prep.__module__ == x509.__name__\n"
            "assert not signers.speedups.status().enabled\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, env=dict(os.environ))
    assert done.returncode == 0, done.stderr


def test_environment_turns_them_off_with_one_log_line(monkeypatch: pytest.MonkeyPatch,
                                                      caplog: pytest.LogCaptureFixture
                                                      ) -> None:
    monkeypatch.setenv("SIGNERS_SPEEDUPS", "off")
    monkeypatch.setattr(speedups, "_told", set())
    with caplog.at_level(logging.INFO, logger="signers.speedups"):
        assert not speedups.enable().enabled
        assert not speedups.enable().enabled
    assert speedups.status().reason == "SIGNERS_SPEEDUPS=off"
    assert not speedups.wanted(None) and not speedups.wanted(True)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and "SIGNERS_SPEEDUPS=off" in lines[0]


def test_other_versions_turn_them_off_with_one_log_line(monkeypatch: pytest.MonkeyPatch,
                                                        caplog: pytest.LogCaptureFixture
                                                        ) -> None:
    speedups.disable()
    monkeypatch.setitem(speedups.TESTED_WITH, "pyHanko", "0.37.0")
    monkeypatch.setattr(speedups, "_told", set())
    with caplog.at_level(logging.INFO, logger="signers.speedups"):
        status = speedups.enable()
        speedups.enable()
    assert not status.enabled and not _patches.applied()
    assert "pyHanko 0.38.0 is installed" in status.reason and "0.37.0" in status.reason
    assert [r.levelname for r in caplog.records] == ["WARNING"]


def test_tested_versions_fit_the_upper_bounds_of_pyproject() -> None:
    """The versions the speed-ups accept are installable, and each dependency they reach
    into carries an upper bound."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    requirements = {Requirement(r).name.lower(): Requirement(r)
                    for r in project["project"]["dependencies"]}
    for name, version in speedups.TESTED_WITH.items():
        requirement = requirements[name.lower()]
        assert any(s.operator in ("<", "<=", "==", "~=") for s in requirement.specifier), name
        assert requirement.specifier.contains(version), (name, version)


def test_a_foreign_patch_is_a_loud_conflict_and_nothing_is_applied(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    speedups.disable()
    hex_reader = generic.read_hex_string_from_stream

    def someone_elses(stream: object) -> bytes:
        return b""

    monkeypatch.setattr(generic, "_read_string_literal_bytes", someone_elses)
    with pytest.raises(_patches.PatchConflict, match="not the dependency's own function"):
        _patches.apply_all()
    assert generic.read_hex_string_from_stream is hex_reader  # all or nothing
    with caplog.at_level(logging.WARNING, logger="signers.speedups"):
        status = speedups.enable()
    assert not status.enabled and "_read_string_literal_bytes" in status.reason
    assert any("speed-ups off" in r.getMessage() for r in caplog.records)
    assert generic._read_string_literal_bytes is someone_elses


def test_a_changed_signature_is_a_conflict(monkeypatch: pytest.MonkeyPatch) -> None:
    speedups.disable()

    def decode_pdfdocencoding(byte_array: bytes, errors: str) -> str:
        return ""

    decode_pdfdocencoding.__module__ = generic.__name__  # as if pyHanko changed it
    decode_pdfdocencoding.__qualname__ = "decode_pdfdocencoding"
    monkeypatch.setattr(generic, "decode_pdfdocencoding", decode_pdfdocencoding)
    with pytest.raises(_patches.PatchConflict, match=r"takes \(byte_array, errors\)"):
        _patches.apply_all()
    assert not _patches.applied()


def test_removing_is_loud_when_someone_replaced_a_patch(monkeypatch: pytest.MonkeyPatch
                                                        ) -> None:
    def later(stream: object) -> bytes:
        return b""

    monkeypatch.setattr(generic, "read_hex_string_from_stream", later)
    with pytest.raises(_patches.PatchConflict, match="replaced by someone else"):
        speedups.disable()
    assert generic.read_hex_string_from_stream is later  # left in place
    assert generic._read_string_literal_bytes is fastread._original_read  # others restored


def test_patches_take_the_fast_path_only_inside_an_attempt(monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """Outside a speed-up attempt (another thread, another library) pyHanko's own
    function runs even while the patches are applied."""
    def broken(buf: bytes) -> tuple[bytes, int]:
        raise RuntimeError("injected")

    monkeypatch.setattr(fastread, "_literal", broken)
    raw = b"(caf\\351)"
    assert generic.read_object(io.BytesIO(raw), None) == "café"
    with speedups.attempt("test") as attempt, pytest.raises(RuntimeError, match="injected"):
        generic.read_object(io.BytesIO(raw), None)
    assert attempt.failed and "_read_string_literal_bytes" in attempt.failures[0]


def test_ctg_turns_them_on_unless_switched_off(world: World) -> None:
    def ctg(env: dict[str, str]) -> str:
        done = subprocess.run([sys.executable, "-m", "ctgdocs", "-v", "verify",
                               str(world.honest), "--trust", str(world.pki.root_cert)],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, **env})
        assert done.returncode == 0, done.stderr
        return done.stderr

    assert "speed-ups off" not in ctg({"SIGNERS_SPEEDUPS": "on"})
    assert "speed-ups off: SIGNERS_SPEEDUPS=off" in ctg({"SIGNERS_SPEEDUPS": "off"})


# --------------------------------------------------------------------------- faults


def _plain(pdf: Path, world: World) -> DocumentReport:
    return world.verify(pdf, speedups=False)


def _fast(pdf: Path, world: World) -> DocumentReport:
    return world.verify(pdf, speedups=True)


def _raise(*args: object, **kwargs: object) -> object:
    raise RuntimeError("injected fault")


def _renamed(*args: object, **kwargs: object) -> object:
    raise AttributeError("'XRefCache' object has no attribute '_xref_sections'")


FAULTS = {
    "field listing": (formlist, "_raw_field", _raise),
    "reference graph": (refgraph.ReferenceGraph, "install", _raise),
    "a private name gone": (refgraph, "_install_xref_lookups", _renamed),
    "string reader (patched into pyHanko)": (fastread, "_literal", _raise),
    "shared digests": (digests, "_digest_all", _raise),
}


@pytest.mark.parametrize("fault", FAULTS)
def test_a_failing_speed_up_costs_time_not_a_verdict(world: World, fault: str,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Each fault raises inside the speed-ups (pyHanko may turn it into an "invalid"
    verdict itself): the document is verified again on the plain path and the plain
    verdict is reported — valid for the honest package, tampered for a tampered one."""
    tampered = _incremental(world.honest, world.folder / "fault-text.pdf", "text")
    expected = {pdf: _verdicts(_plain(pdf, world)) for pdf in (world.honest, tampered)}
    monkeypatch.setattr(*FAULTS[fault])
    with caplog.at_level(logging.INFO, logger="signers"):
        honest = _fast(world.honest, world)
    assert honest.valid, render_table(honest)
    assert any("a speed-up failed" in r.getMessage() or "stopped" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    assert _verdicts(honest) == expected[world.honest]
    assert _verdicts(_fast(tampered, world)) == expected[tampered]


def test_a_wrong_fast_verdict_is_never_reported(world: World, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    """A speed-up that, without raising, judges every later revision a violation (as a
    changed private name might make it): the honest package is still reported valid,
    confirmed by the plain path, and the disagreement is logged."""
    def always(self: object, field_mdp: object, doc_mdp: object) -> object:
        return diffcache.SuspiciousModification("injected")

    monkeypatch.setattr(diffcache.RevisionStep, "mdp_violation", always)
    with caplog.at_level(logging.WARNING, logger="signers"):
        report = _fast(world.honest, world)
    assert report.valid and not report.tampered, render_table(report)
    assert any("differs from pyHanko's plain path" in r.getMessage() for r in caplog.records)


def test_signing_survives_a_failing_speed_up(world: World, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Faults in the pre-signing check and in the parsing while signing: the check and
    the signature are made again on the plain path; the result verifies. A wrong
    refusal by the speed-ups is overturned; a tampered package is still refused."""
    monkeypatch.setattr(formlist, "_raw_field", _raise)
    monkeypatch.setattr(fastread, "_literal", _raise)
    monkeypatch.setattr(diffcache.RevisionStep, "mdp_violation",
                        lambda self, f, d: diffcache.SuspiciousModification("injected"))
    out = world.sign(world.honest, tmp_path / "signed.pdf", FIELDS[HONEST])
    report = _plain(out, world)
    assert report.valid and len(report.signatures) == HONEST + 1, render_table(report)
    tampered = _incremental(world.honest, tmp_path / "tampered.pdf", "text")
    with pytest.raises(SigningRefused, match="refusing to sign"):
        world.sign(tampered, tmp_path / "never.pdf", FIELDS[HONEST])
    assert not (tmp_path / "never.pdf").exists()


def test_demo_timestamps_survive_a_failing_speed_up(world: World, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from signers.speedups.demotsa import KeyOnceTimeStamper

    monkeypatch.setattr(KeyOnceTimeStamper, "_sign_once_parsed", _raise)
    out = world.sign(world.honest, tmp_path / "stamped.pdf", FIELDS[HONEST])
    last = _plain(out, world).signatures[-1]
    assert last.valid and last.pades_level == "B-T" and last.timestamp_time


# --------------------------------------------------------------------------- agreement


def _verdicts(report: DocumentReport) -> tuple[object, ...]:
    """Everything a verdict is made of (the wording of pyHanko's complaints aside)."""
    sigs = tuple((s.field, s.kind, s.revision, s.expected_signer, s.signer_matches,
                  s.fingerprint, s.pades_level, s.intact, s.signature_valid, s.trusted,
                  s.revocation, s.coverage, s.modification_level, s.docmdp_ok,
                  s.changes_after, s.tampered_revision, s.pyhanko_valid, s.valid,
                  tuple(p.split(" — ")[0] for p in s.problems), s.reason)
                 for s in report.signatures)
    revisions = tuple((r.revision, r.made_by, r.after, r.modification_level,
                       r.changed_fields, r.legitimate) for r in report.revisions)
    return (sigs, revisions, report.signed, report.missing, report.unexpected,
            report.tampered, tuple(t.split(":")[0] for t in report.tampering),
            report.problems, report.valid, report.complete)


@dataclass
class _Raw:
    report: DocumentReport
    failures: list[str]


def _raw(pdf: Path, world: World, *, fast: bool, trust: Path | None = None) -> _Raw:
    """The report of one path as it comes out, before any confirmation or fallback."""
    async def run() -> _Raw:
        job = verify._Job(str(pdf), pdf.read_bytes(), tuple(EXPECTED),
                          [verify._load_root(trust or world.pki.root_cert)], False, None)
        fetching = verify._Fetching(False, {})
        try:
            if fast:
                with speedups.attempt("agreement") as attempt:
                    report = await verify._verify(job, fetching, fast=True)
                return _Raw(report, attempt.failures)
            with speedups.plain():
                return _Raw(await verify._verify(job, fetching, fast=False), [])
        finally:
            await fetching.aclose()

    return asyncio.run(run())


def _variants(world: World, folder: Path) -> dict[str, Path]:
    honest = world.honest
    out = {"honest": honest, "all six": world.signed[HONEST]}
    for change in ("text", "annotation", "page"):
        out[change] = _incremental(honest, folder / f"{change}.pdf", change)
    out["orphans"] = _with_orphans(honest, folder / "orphans.pdf")
    for change in ("rename", "label", "byte-string name", "type as a string"):
        out[change] = _field_change(honest, folder / f"{change}.pdf", change)
    appended = folder / "appended.pdf"
    appended.write_bytes(honest.read_bytes() + b"\n%% not part of any revision\n1 0 obj\n")
    out["appended"] = appended
    from pypdf import PdfReader, PdfWriter

    rewritten = folder / "rewritten.pdf"
    with rewritten.open("wb") as f:
        PdfWriter(clone_from=PdfReader(honest)).write(f)
    out["rewritten"] = rewritten
    _flip_signature_value(honest, folder / "value.pdf")
    out["signature value"] = folder / "value.pdf"
    out["archived (B-LTA)"] = archive(world, world.signed[2], folder / "lta.pdf")
    return out


@pytest.fixture(scope="module")
def variants(world: World, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return _variants(world, tmp_path_factory.mktemp("variants"))


@pytest.mark.parametrize("name", ["honest", "all six", "text", "annotation", "page",
                                  "orphans", "rename", "label", "byte-string name",
                                  "type as a string", "appended", "rewritten",
                                  "signature value", "archived (B-LTA)"])
def test_both_paths_agree_verdict_for_verdict(world: World, variants: dict[str, Path],
                                              name: str) -> None:
    fast, plain = _raw(variants[name], world, fast=True), _raw(variants[name], world,
                                                              fast=False)
    assert not fast.failures, fast.failures  # the speed-ups did the work themselves
    assert _verdicts(fast.report) == _verdicts(plain.report), (
        render_table(fast.report), render_table(plain.report))
    # and the public function reports the same, whichever path it takes
    assert _verdicts(_fast(variants[name], world)) == _verdicts(plain.report)


def test_both_paths_agree_on_an_untrusted_root(world: World) -> None:
    fast = _raw(world.honest, world, fast=True, trust=world.other_pki.root_cert)
    plain = _raw(world.honest, world, fast=False, trust=world.other_pki.root_cert)
    assert not fast.report.valid and not fast.failures
    assert _verdicts(fast.report) == _verdicts(plain.report)


@pytest.mark.parametrize("name", ["honest", "all six", "text", "annotation", "page",
                                  "orphans", "rename", "label", "appended", "rewritten",
                                  "signature value"])
def test_both_paths_agree_before_signing(world: World, variants: dict[str, Path],
                                         name: str) -> None:
    """The pre-signing check accepts or refuses alike on both paths."""
    pdf = variants[name]

    def check(fast: bool) -> str:
        job = sign._Check(pdf, pdf.read_bytes(), FIELDS[-1], None,
                          sign._pre_sign_context([], None), None)
        try:
            with speedups.attempt("agreement") if fast else speedups.plain():
                target, certify = sign._check_once(job, fast=fast)
        except SigningRefused as exc:
            return f"refused: {str(exc).split(':')[0]}"
        return f"accepted: {target.name}, certify={certify}"

    assert check(True) == check(False)


SIXTEEN = tuple(DemoSubject(f"maire-{i:02d}", f"Prénom{i:02d} Nom{i:02d}",
                            f"Commune {i:02d}", f"Le Maire de Commune {i:02d}",
                            f"maire{i:02d}@commune{i:02d}.example.fr") for i in range(1, 17))


def test_both_paths_agree_on_sixteen_signatures(tmp_path: Path) -> None:
    sock = listening_socket()
    pki = create_demo_pki(SIXTEEN, tmp_path / "pki",
                          services_url=f"http://127.0.0.1:{sock.getsockname()[1]}")
    expected = [ExpectedSigner(s.id, s.title or "", (s.name,), (s.email or "",))
                for s in SIXTEEN]
    pdf = make_unsigned(tmp_path / "unsigned.pdf", [s.id for s in SIXTEEN], pages=4)
    with running_services(pki.directory, sock=sock) as services:
        signed = tmp_path / "signed.pdf"
        for s, exp in zip(SIXTEEN, expected, strict=True):
            sign_field(pdf, signed, s.id, Pkcs12Credentials(pki.pkcs12(s.id), pki.passphrase),
                       expected=exp, tsa_url=services.tsa_url, speedups=True)
            pdf = signed
        reports = [verify_document(signed, expected=expected, trust_roots=[pki.root_cert],
                                   speedups=on) for on in (True, False)]
    assert reports[0].valid and reports[0].complete, render_table(reports[0])
    assert _verdicts(reports[0]) == _verdicts(reports[1])
