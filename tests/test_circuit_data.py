"""The CTG side of the circuit: ``signing.circuit`` validated like the other rules,
default stages, deliberation reasons, French messages for every code, settings and the
server secret."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from ctgdocs.circuit.messages import MESSAGES, message_for
from ctgdocs.circuit.settings import CircuitSettings
from ctgdocs.circuit.stages import circuit_slots, deliberation_text
from ctgdocs.exceptions import CircuitError, DataError
from ctgdocs.load import load_convention
from ctgdocs.model import Deliberation
from ctgdocs.render import french_date
from signers.circuit.errors import StoreError
from signers.circuit.tokens import load_or_create_secret, read_secret_file

INVALID = {
    "unknown-signatory.yaml": [
        "unknown-signatory.yaml:14:7 signing.circuit.stages: signatories missing from the "
        "circuit: maire-aniane; add each to a stage",
        "unknown-signatory.yaml:14:10 signing.circuit.stages[0][0]: unknown signatory "
        "'maire-anianne'; did you mean 'maire-aniane'?"],
    "duplicate-signatory.yaml": [
        "duplicate-signatory.yaml:15:10 signing.circuit.stages[1][0]: signatory "
        "'maire-aniane' is already in stages[0][0]; list each signatory once"],
    "missing-signatory.yaml": [
        "missing-signatory.yaml:14:7 signing.circuit.stages: signatories missing from the "
        "circuit: caf-directeur; add each to a stage"],
    "empty-stage.yaml": [
        "empty-stage.yaml:15:9 signing.circuit.stages[1]: must list at least 1 item(s)"],
    "bad-reminders.yaml": [
        "bad-reminders.yaml:15:54 signing.circuit.coordinator.email: not an e-mail "
        "address: 'partenariats.caf.fr' (expected name@domain.fr)",
        "bad-reminders.yaml:17:17 signing.reminders.every_days: must be at least 1, got '0'"],
}


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_circuit_sections(name: str, resources: Path,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(resources / "invalid" / "circuit")
    with pytest.raises(DataError) as info:
        load_convention(name)
    assert info.value.problems == INVALID[name]
    assert {p.name for p in Path().glob("*.yaml")} == set(INVALID)


def test_default_stages_and_reasons(root: Path) -> None:
    conv = load_convention(root / "examples" / "vallee-herault" / "convention.yaml")
    ids = [s.id for s in conv.signatories]
    slots = circuit_slots(conv, [*ids, "cachet-caf"])
    stages: dict[int, list[str]] = {}
    for slot in slots:
        stages.setdefault(slot.stage, []).append(slot.id)
    assert stages[1] == ["cachet-caf"] and len(stages[2]) == 13
    assert all(sid.startswith("maire-") for sid in stages[2])
    assert [stages[3], stages[4], stages[5]] == [["epci-president"], ["caf-president"],
                                                 ["caf-directeur"]]
    aniane = next(s for s in slots if s.id == "maire-aniane")
    assert aniane.reason == "Délibération du conseil municipal n° 2022-071 du 8 décembre 2022"
    assert aniane.details["deliberation"]["number"] == "2022-071"
    assert next(s for s in slots if s.id == "cachet-caf").seal
    no_seal = circuit_slots(conv, ids)
    assert min(s.stage for s in no_seal if s.id.startswith("maire-")) == 1
    with pytest.raises(CircuitError, match="no signature field"):
        circuit_slots(conv, ids[:-1])


def test_french_dates_and_deliberations() -> None:
    assert french_date(dt.date(2023, 3, 1)) == "1er mars 2023"
    assert deliberation_text(Deliberation(body="assemblée départementale", number="12",
                                          date=dt.date(2022, 8, 15))) == \
        "Délibération de l'assemblée départementale n° 12 du 15 août 2022"
    assert deliberation_text(Deliberation(body="commission permanente", number="CP-4",
                                          date=dt.date(2022, 2, 2))).startswith(
        "Délibération de la commission permanente")


def test_every_engine_code_has_a_french_message() -> None:
    import re

    source = "".join(p.read_text() for p in
                     (Path(__file__).parent.parent / "signers" / "circuit").glob("*.py"))
    codes = set(re.findall(r'(?:Refused|Conflict|NotFound|Gone|TooLarge|UnsupportedMedia|'
                           r'ServiceUnavailable)\(\s*"([a-z-]+)"', source)) | {"busy"}
    assert codes - set(MESSAGES) == set()
    assert "« maire-gignac »" in message_for("wrong-field", {"field": "maire-gignac"})


def test_settings_refuse_weak_or_missing_secrets(tmp_path: Path) -> None:
    for weak in ("changeme", "short"):
        with pytest.raises(ValueError, match="default or short"):
            CircuitSettings(store=str(tmp_path), secret=weak)
    with pytest.raises(ValueError, match="PostgreSQL store needs the server secret"):
        CircuitSettings(store="postgresql://u@/db")
    assert CircuitSettings(store="postgresql://u@/db", dev=True).dev
    settings = CircuitSettings(store=str(tmp_path / "store"))
    secret = settings.secret_bytes()
    assert len(secret) == 64 and settings.secret_bytes() == secret
    assert (tmp_path / "store" / "secret.key").stat().st_mode & 0o777 == 0o600


def test_secret_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret.key"
    load_or_create_secret(path)
    os.chmod(path, 0o644)
    with pytest.raises(StoreError, match="chmod 600"):
        read_secret_file(path)
    os.chmod(path, 0o600)
    path.write_text("trop court")
    with pytest.raises(StoreError, match="too short"):
        read_secret_file(path)
