"""The main job: the 16-signature story on the reference data (what ``make demo`` runs)."""

from __future__ import annotations

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
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    lines: list[str] = []
    result = run_demo(REFERENCE, tmp_path_factory.mktemp("demo"), say=lines.append)
    assert any("sealed" in line for line in lines)
    return result


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
