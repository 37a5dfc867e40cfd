"""The main job on the reference data (what ``make demo`` runs): the circuit collects the
seal and 16 signatures, each with its signatory's own key, the result and the journal
verify, and the archive bundle holds offline."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
from pathlib import Path

import pytest

from ctgdocs.cli import main
from ctgdocs.demo import DemoResult, circuit_order, run_demo
from ctgdocs.exceptions import ExitCode
from ctgdocs.load import load_convention

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoResult, list[str]]:
    lines: list[str] = []
    result = run_demo(REFERENCE, tmp_path_factory.mktemp("demo"), say=lines.append)
    return result, lines


@pytest.fixture(scope="module")
def demo(story: tuple[DemoResult, list[str]]) -> DemoResult:
    return story[0]


def test_the_story_goes_through_the_circuit(story: tuple[DemoResult, list[str]]) -> None:
    """Each step is told, in order; the signatures come through the circuit (13 mayors
    at once, one of them on a token), the journal and the bundle are verified."""
    result, lines = story
    numbered = [int(m.group(1)) for m in map(re.compile(r"^(\d+)\. ").match, lines) if m]
    assert numbered == list(range(1, 13)), lines
    said = "\n".join(lines)
    assert "sealed (certified) by the Caf through the circuit" in said
    assert "13 mayors signed at the same time" in said and "1 SoftHSM2 token" in said
    assert "ctg circuit journal --verify" in said and "chain intact" in said
    assert "bundle verified offline: holds" in said
    assert result.bundle_valid and (result.bundle / "bordereau-seda.xml").is_file()


def test_circuit_order_mayors_first_caf_director_last() -> None:
    order = [s.id for s in circuit_order(load_convention(REFERENCE))]
    assert order[:13] == [s.id for s in load_convention(REFERENCE).signatories][3:]
    assert order[13:] == ["epci-president", "caf-president", "caf-directeur"]


def test_demo_is_valid_and_complete(demo: DemoResult) -> None:
    assert demo.valid and demo.complete
    assert demo.signatures == 17
    # the services are stopped now: only the B-LTA copy verifies (offline, from its DSS)
    assert main(["verify", str(demo.archived), "--offline", "--complete", "--trust",
                 str(demo.trust_anchor)]) == ExitCode.OK
    assert main(["verify", str(demo.signed), "--offline", "--trust",
                 str(demo.trust_anchor)]) == ExitCode.VERIFICATION_FAILED


def test_pdfsig_calls_every_signature_valid(demo: DemoResult) -> None:
    out = subprocess.run(["pdfsig", str(demo.signed)], capture_output=True, text=True).stdout
    verdicts = re.findall(r"Signature Validation: (.+)", out)
    assert len(verdicts) == 17
    assert set(verdicts) == {"Signature is Valid."}


def test_unsigned_package_is_untouched(demo: DemoResult) -> None:
    out = subprocess.run(["pdfsig", str(demo.package)], capture_output=True, text=True)
    assert "Signature Validation" not in out.stdout
    assert out.stdout.count("The signature form field is not signed.") == 17


def test_seal_is_expected_and_matched(demo: DemoResult) -> None:
    from ctgdocs.signatories import expected_for_package
    from signers.verify import verify_document

    expected = expected_for_package(demo.archived, None)
    assert expected is not None and expected[-1].field == "cachet-caf"
    report = verify_document(demo.archived, expected=expected, offline=True,
                             trust_roots=[demo.trust_anchor])
    assert report.complete and "cachet-caf" in report.signed and not report.unexpected
    with_data = expected_for_package(demo.archived, REFERENCE)
    assert with_data is not None and [e.field for e in with_data] == [
        e.field for e in expected]


def test_info_and_xmp_agree_in_every_copy(demo: DemoResult) -> None:
    """PDF/A wants the info dictionary and XMP to say the same: pyHanko rewrites both at
    each signature and at archiving, and they must still agree (producer, dates)."""
    from pypdf import PdfReader

    for pdf in (demo.package, demo.signed, demo.archived):
        reader = PdfReader(pdf)
        info, xmp = reader.metadata, reader.xmp_metadata
        assert info is not None and xmp is not None, pdf
        assert (xmp.pdfaid_part, xmp.pdfaid_conformance) == ("2", "B"), pdf
        assert info.producer == xmp.pdf_producer, pdf
        assert info.creator == xmp.xmp_creator_tool == "ctgdocs", pdf
        assert info.title == xmp.dc_title["x-default"], pdf
        info_date, xmp_date = info.modification_date, xmp.xmp_modify_date
        assert info_date is not None and xmp_date is not None, pdf
        if xmp_date.tzinfo is None:  # pypdf gives XMP's UTC dates without their zone
            xmp_date = xmp_date.replace(tzinfo=dt.UTC)
        assert abs((info_date - xmp_date).total_seconds()) < 1, pdf
