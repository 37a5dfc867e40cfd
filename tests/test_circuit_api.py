"""The circuit's HTTP API served by uvicorn on 127.0.0.1: every answer code with a
request that provokes it, the same 404 for unknown and dead links, rate limits,
security headers, OpenAPI, the coordinator's status."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fixtures_circuit import CircuitKit, LiveServer, serve_app, stop_server
from test_circuit_acceptance import MAYORS, head, signed

from ctgdocs.circuit.agent import sign_remote
from ctgdocs.circuit.app import create_app
from ctgdocs.circuit.mailer import OutboxMailer
from ctgdocs.circuit.settings import CircuitSettings
from signers.credentials import Pkcs12Credentials


@pytest.fixture
def served(kit: CircuitKit, tmp_path: Path) -> Iterator[tuple[CircuitKit, LiveServer, Any]]:
    """The kit's engine behind a live server (small limits to provoke them)."""
    settings = CircuitSettings(store=str(tmp_path / "unused"), max_upload_mb=0.2,
                               rate_failures=6, sweep_seconds=3600)
    app = create_app(settings, engine=kit.engine, mailer=OutboxMailer(tmp_path / "out"))
    live = serve_app(app)
    started = kit.start(MAYORS)
    try:
        yield kit, live, started
    finally:
        stop_server(live)


def api(live: LiveServer, token: str, path: str = "") -> str:
    return f"{live.url}/api/v1/invitations/{token}{path}"


def test_invitation_is_read_only_and_document_download_is_journaled(served: Any) -> None:
    kit, live, started = served
    token = started.tokens["maire-gignac"]
    before = len(kit.engine.journal("c1")[0])
    answer = httpx.get(api(live, token))
    assert answer.status_code == 200
    body = answer.json()
    assert (body["signatory"], body["field"], body["state"], body["stage"]) == (
        "maire-gignac", "maire-gignac", "invited", 1)
    assert body["reason"].startswith("Délibération du conseil municipal")
    assert body["head"]["signatures"] == 0 and len(body["signatories"]) == 3
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["referrer-policy"] == "no-referrer"
    assert answer.headers["x-frame-options"] == "DENY"
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    assert len(kit.engine.journal("c1")[0]) == before  # GET changes nothing
    document = httpx.get(api(live, token, "/document"))
    assert document.status_code == 200 and document.content == head(kit)
    assert document.headers["etag"] == f'"{body["head"]["sha256"]}"'
    assert document.headers["content-disposition"].startswith("attachment")
    assert document.headers["x-content-type-options"] == "nosniff"
    opened = kit.engine.journal("c1")[0][-1]
    assert opened.kind == "opened" and opened.data["slot"] == "maire-gignac"
    assert opened.data["address"] == "127.0.0.1"


def test_upload_answers(served: Any, tmp_path: Path) -> None:
    kit, live, started = served
    gignac, aniane = started.tokens["maire-gignac"], started.tokens["maire-aniane"]
    pdf = {"Content-Type": "application/pdf"}
    base = head(kit)
    good = signed(kit, base, "maire-gignac", "maire-gignac", tmp_path)
    assert httpx.post(api(live, gignac, "/document"), content=good,
                      headers={"Content-Type": "text/plain"}).status_code == 415
    answer = httpx.post(api(live, gignac, "/document"), content=b"GIF89a", headers=pdf)
    assert (answer.status_code, answer.json()["code"]) == (415, "not-pdf")
    big = base + b"%" * 300_000
    answer = httpx.post(api(live, gignac, "/document"), content=big, headers=pdf)
    assert (answer.status_code, answer.json()["code"]) == (413, "too-large")
    wrong = signed(kit, base, "maire-aniane", "maire-aniane", tmp_path)
    answer = httpx.post(api(live, gignac, "/document"), content=wrong, headers=pdf)
    assert answer.status_code == 422
    error = answer.json()
    assert error["code"] == "wrong-field" and "« maire-gignac »" in error["message"]
    answer = httpx.post(api(live, gignac, "/document"), content=good,
                        headers={**pdf, "If-Match": f'"{kit.engine.status("c1").head.sha256}"'})
    assert answer.status_code == 201, answer.text
    assert answer.json()["signed"] == 1 and answer.json()["expected"] == 3
    answer = httpx.post(api(live, aniane, "/document"), content=wrong, headers=pdf)
    assert (answer.status_code, answer.json()["code"]) == (409, "head-moved")
    assert "Téléchargez la nouvelle version" in answer.json()["message"]
    answer = httpx.post(api(live, gignac, "/document"), content=good, headers=pdf)
    assert (answer.status_code, answer.json()["code"]) == (409, "already-signed")
    answer = httpx.post(api(live, started.tokens["caf-directeur"], "/document"),
                        content=good, headers=pdf)
    assert (answer.status_code, answer.json()["code"]) == (409, "not-your-turn")
    codes = [e.data["code"] for e in kit.engine.journal("c1")[0] if e.kind == "upload-refused"]
    assert codes == ["not-pdf", "not-pdf", "too-large", "wrong-field", "head-moved",
                     "already-signed", "not-your-turn"]


def test_unknown_and_dead_links_get_the_same_404(served: Any) -> None:
    kit, live, started = served
    old = started.tokens["maire-gignac"]
    kit.engine.replace("c1", "maire-gignac", name="Marc Adjoint", email="m@gignac.example.fr",
                       label="Le premier adjoint au maire de Gignac, par délégation")
    dead = httpx.get(api(live, old))
    unknown = httpx.get(api(live, "A" * 43))
    assert dead.status_code == unknown.status_code == 404
    assert dead.json() == unknown.json() and dead.json()["code"] == "unknown-link"
    assert httpx.post(api(live, old, "/decline"), json={"reason": "x"}).json() == dead.json()


def test_failures_are_rate_limited_per_address(served: Any) -> None:
    _, live, started = served
    answers = [httpx.get(api(live, f"unknown-{i:040d}")).status_code for i in range(6)]
    assert answers == [404] * 6
    limited = httpx.get(api(live, started.tokens["maire-gignac"]))
    assert limited.status_code == 429 and limited.json()["code"] == "rate-limited"
    assert int(limited.headers["retry-after"]) > 0


def test_remote_signing_decline_and_coordinator(served: Any) -> None:
    kit, live, started = served
    link = f"{live.url}/s/{started.tokens['maire-aniane']}"
    lines: list[str] = []
    result = sign_remote(link, lambda: Pkcs12Credentials(kit.pki.pkcs12("maire-aniane"),
                                                         kit.pki.passphrase),
                         yes=True, wait=30, say=lines.append)
    assert result["signed"] == 1 and result["level"] == "B-T"
    assert any("Délibération du conseil municipal" in line for line in lines)
    answer = httpx.post(api(live, started.tokens["maire-gignac"], "/decline"),
                        json={"reason": "Le conseil doit délibérer à nouveau"})
    assert answer.json() == {"state": "declined"}
    circuit = f"{live.url}/api/v1/circuits/c1"
    assert httpx.get(circuit).status_code == 404
    assert httpx.get(circuit, headers={
        "Authorization": f"Bearer {started.tokens['maire-gignac']}"}).status_code == 404
    status = httpx.get(circuit, headers={
        "Authorization": f"Bearer {started.coordinator_token}"}).json()
    assert status["state"] == "declined"
    assert [s["state"] for s in status["signatories"]] == ["declined", "signed", "waiting"]
    doc = httpx.get(f"{circuit}/document",
                    headers={"Authorization": f"Bearer {started.coordinator_token}"})
    assert doc.content == head(kit)


def test_busy_session_gets_409_with_retry_after(served: Any,
                                                make_kit: Callable[..., Any]) -> None:
    import base64

    from signers.circuit.remote import certificate_chain
    from signers.credentials import open_signer

    kit, live, started = served
    kit.engine.config = type(kit.engine.config)(**{**kit.engine.config.__dict__,
                                                   "lease_wait": 0.0})
    bodies = {}
    for sid in ("maire-gignac", "maire-aniane"):
        with open_signer(Pkcs12Credentials(kit.pki.pkcs12(sid), kit.pki.passphrase)) as s:
            bodies[sid] = {"certificates": [base64.b64encode(c).decode()
                                            for c in certificate_chain(s)]}
    first = httpx.post(api(live, started.tokens["maire-gignac"], "/signing-sessions"),
                       json=bodies["maire-gignac"], timeout=60)
    assert first.status_code == 201 and first.json()["digest_algorithm"] == "sha256"
    busy = httpx.post(api(live, started.tokens["maire-aniane"], "/signing-sessions"),
                      json=bodies["maire-aniane"], timeout=60)
    assert (busy.status_code, busy.json()["code"]) == (409, "busy")
    assert int(busy.headers["retry-after"]) >= 1
    mismatch = httpx.post(api(live, started.tokens["maire-aniane"], "/signing-sessions"),
                          json=bodies["maire-gignac"], timeout=60)
    assert (mismatch.status_code, mismatch.json()["code"]) == (422, "signer-mismatch")


def test_openapi_is_served(served: Any) -> None:
    _, live, _ = served
    spec = httpx.get(f"{live.url}/api/v1/openapi.json").json()
    assert "/api/v1/invitations/{token}/signing-sessions/{session}" in spec["paths"]
    assert "/api/v1/circuits/{circuit}" in spec["paths"]
