"""The portal over plain HTTP against ``ctg circuit serve``: security headers on every
page, nothing inline and nothing external, CSRF on every state-changing form (403,
nothing changes), upload limits before the body is read whole, previews rendered once
per head and page, one answer for unknown, replaced and expired links."""

from __future__ import annotations

import html
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fixtures_circuit import CircuitKit, serve_app, stop_server
from fixtures_portal import UPLOAD_MB, PortalWorld

from ctgdocs.circuit.app import create_app
from ctgdocs.circuit.mailer import OutboxMailer
from ctgdocs.circuit.settings import CircuitSettings

CSRF = re.compile(r'name="csrf" value="([0-9a-f]{64})"')


def csrf_of(html: str) -> str:
    """The CSRF token of a page's forms."""
    found = CSRF.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


def read(answer: httpx.Response) -> str:
    """The page's text as a reader sees it (entities decoded, spaces normalised)."""
    return " ".join(html.unescape(answer.text).replace("\u00a0", " ").split())


def state(world: PortalWorld, circuit: str) -> tuple[Any, ...]:
    """What a refused request must leave as it was: the journal and the status."""
    events, tokens = world.engine.journal(circuit)
    view = world.engine.status(circuit)
    return (len(events), len(tokens), view.state, view.head,
            tuple((s.id, s.state, s.generation, s.reminders_sent, s.spec) for s in view.slots))


@pytest.fixture
def circuit(portal_world: PortalWorld) -> tuple[PortalWorld, Any]:
    """A fresh circuit on the served store."""
    return portal_world, portal_world.start()


def pages_of(world: PortalWorld, started: Any) -> dict[str, str]:
    sig = f"{world.url}/s/{started.signatories[1]['token']}"
    waiting = next(s for s in started.signatories if s["state"] == "waiting")
    coord = started.coordinator["link"]
    return {"landing": sig, "document": f"{sig}/document", "sign": f"{sig}/signer",
            "decline": f"{sig}/refuser", "waiting": f"{world.url}/s/{waiting['token']}",
            "dashboard": coord, "journal": f"{coord}/journal", "remind": f"{coord}/relancer",
            "replace": f"{coord}/remplacer/{started.signatories[0]['id']}",
            "reopen": f"{coord}/rouvrir", "cancel": f"{coord}/annuler",
            "unknown": f"{world.url}/s/{'x' * 43}"}


def test_every_page_sends_the_security_headers_and_nothing_inline(circuit: Any) -> None:
    world, started = circuit
    with httpx.Client() as client:
        for name, url in pages_of(world, started).items():
            answer = client.get(url)
            assert answer.status_code == (404 if name == "unknown" else 200), name
            headers = answer.headers
            assert headers["content-type"] == "text/html; charset=utf-8", name
            assert headers["cache-control"] == "no-store", name
            assert headers["referrer-policy"] == "no-referrer", name
            assert headers["x-content-type-options"] == "nosniff", name
            assert headers["x-frame-options"] == "DENY", name
            csp = headers["content-security-policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, name
            assert "unsafe-inline" not in csp, name
            html = answer.text
            assert '<html lang="fr">' in html, name
            assert not re.search(r"<script(?![^>]*\bsrc=)", html), f"{name}: inline script"
            assert "<style" not in html and not re.search(r"\sstyle=", html), \
                f"{name}: inline style"
            assert not re.search(r"\son[a-z]+=", html), f"{name}: inline event handler"
            for resource in re.findall(r'<(?:script|img|image|link)\b[^>]*\b(?:src|href)="([^"]+)"',
                                       html):
                assert resource.startswith("/"), f"{name}: {resource} is not the app's"
        for asset in ("portal.css", "portal.js", "fonts/noto-sans-regular.woff",
                      "fonts/noto-sans-bold.woff", "favicon.svg"):
            answer = client.get(f"{world.url}/static/{asset}")
            assert answer.status_code == 200, asset
            assert "immutable" in answer.headers["cache-control"], asset
            assert answer.headers["x-content-type-options"] == "nosniff", asset
            if asset.endswith((".css", ".js")):
                assert not re.search(r"(https?:)?//", re.sub(r"/\*.*?\*/", "", answer.text,
                                                              flags=re.S)), asset
        assert client.get(f"{world.url}/static/../app.py").status_code == 404
        assert client.get(f"{world.url}/static/portal.py").status_code == 404


def test_every_form_needs_its_csrf_token(circuit: Any, tmp_path: Path) -> None:
    world, started = circuit
    cid = started.circuit
    sig = f"{world.url}/s/{started.signatories[1]['token']}"
    other = f"{world.url}/s/{started.signatories[2]['token']}"
    coord = started.coordinator["link"]
    slot = started.signatories[1]["id"]
    signed = world.sign(_download(sig, tmp_path), slot, tmp_path / "signe.pdf")
    forms = [(f"{sig}/ouvrir", {}), (f"{sig}/refuser", {"motif": "Non", "confirmation": "oui"}),
             (f"{coord}/relancer", {}), (f"{coord}/relancer", {"signataire": slot}),
             (f"{coord}/remplacer/{slot}", {"nom": "Marc Adjoint", "courriel": "m@x.fr",
                                            "qualite": "Adjoint", "confirmation": "oui"}),
             (f"{coord}/annuler", {"motif": "x"}), (f"{coord}/rouvrir", {})]
    before = state(world, cid)
    with httpx.Client() as client:
        wrong = csrf_of(client.get(other).text)  # another link's token
        for url, fields in forms:
            for extra in ({}, {"csrf": wrong}, {"csrf": "0" * 64}):
                answer = client.post(url, data={**fields, **extra})
                assert answer.status_code == 403, (url, extra)
                assert "Demande refusée" in answer.text and "rien n'a été fait" in read(answer)
        for extra in ({}, {"csrf": wrong}):
            answer = client.post(f"{sig}/signer", data=extra,
                                 files={"fichier": ("signe.pdf", signed.read_bytes(),
                                                    "application/pdf")})
            assert answer.status_code == 403
        assert state(world, cid) == before
        # the same valid file with the page's token is accepted
        token = csrf_of(client.get(f"{sig}/signer").text)
        answer = client.post(f"{sig}/signer", data={"csrf": token},
                             files={"fichier": ("signe.pdf", signed.read_bytes(),
                                                "application/pdf")})
        assert answer.status_code == 200 and "vérifiée et ajoutée" in read(answer)


def _download(link: str, tmp_path: Path) -> Path:
    path = tmp_path / "document.pdf"
    path.write_bytes(httpx.get(f"{link}/telecharger").content)
    return path


def test_uploads_are_limited_before_they_are_read_whole(circuit: Any) -> None:
    world, started = circuit
    cid = started.circuit
    sig = f"{world.url}/s/{started.signatories[1]['token']}"
    with httpx.Client() as client:
        token = csrf_of(client.get(f"{sig}/signer").text)
        big = b"%PDF-1.7\n" + b"0" * (UPLOAD_MB * 1024 * 1024 + 1)
        answer = client.post(f"{sig}/signer", data={"csrf": token},
                             files={"fichier": ("gros.pdf", big, "application/pdf")})
        assert answer.status_code == 413
        assert "fichier trop volumineux" in read(answer)
        assert "Rien n'a été modifié" in read(answer)
        events = world.engine.journal(cid)[0]
        assert (events[-1].kind, events[-1].data["code"]) == ("upload-refused", "too-large")
        answer = client.post(f"{sig}/signer", data={"csrf": token},
                             files={"fichier": ("image.pdf", b"GIF89a...", "application/pdf")})
        assert answer.status_code == 415 and "n'est pas un PDF" in read(answer)
    # a body declared far larger than the limit is answered at once, nothing read
    host, port = urlsplit(world.url).hostname, urlsplit(world.url).port
    with socket.create_connection((host, port), timeout=30) as raw:
        raw.sendall((f"POST {urlsplit(sig).path}/signer HTTP/1.1\r\nHost: {host}\r\n"
                     "Content-Type: multipart/form-data; boundary=x\r\n"
                     "Content-Length: 10000000000\r\n\r\n").encode())
        head = raw.recv(65536).decode("utf-8", "replace")
    assert head.startswith("HTTP/1.1 413"), head[:200]
    assert world.engine.status(cid).slot(started.signatories[1]["id"]).state == "invited"


def test_previews_are_rendered_once_per_head_and_page(circuit: Any, tmp_path: Path) -> None:
    world, started = circuit
    cid = started.circuit
    sig = f"{world.url}/s/{started.signatories[1]['token']}"
    head = world.engine.status(cid).head.sha256
    cached = world.store / "previews" / head / "page-0002.png"
    with httpx.Client() as client:
        first = client.get(f"{sig}/document/page-2.png")
        assert first.status_code == 200 and first.headers["content-type"] == "image/png"
        assert first.headers["cache-control"] == "no-store"
        assert first.content.startswith(b"\x89PNG") and cached.read_bytes() == first.content
        stamp = cached.stat()
        second = client.get(f"{sig}/document/page-2.png")
        assert second.content == first.content
        again = cached.stat()
        assert (again.st_ino, again.st_mtime_ns) == (stamp.st_ino, stamp.st_mtime_ns)
        for wrong in ("63", "0", "abc", "1e3", "00000001"):
            assert client.get(f"{sig}/document/page-{wrong}.png").status_code == 404, wrong
        # a new signature makes a new head: its pages are rendered for it
        signed = world.sign(_download(sig, tmp_path), started.signatories[1]["id"],
                            tmp_path / "signe.pdf")
        token = csrf_of(client.get(f"{sig}/signer").text)
        assert client.post(f"{sig}/signer", data={"csrf": token}, files={
            "fichier": ("s.pdf", signed.read_bytes(), "application/pdf")}).status_code == 200
        new_head = world.engine.status(cid).head.sha256
        assert new_head != head
        third = client.get(f"{sig}/document/page-2.png")
        assert (world.store / "previews" / new_head / "page-0002.png").read_bytes() \
            == third.content
    assert cached.stat().st_mtime_ns == stamp.st_mtime_ns


def test_unknown_replaced_and_coordinator_links_get_one_page(circuit: Any) -> None:
    world, started = circuit
    slot = started.signatories[0]
    old = f"{world.url}/s/{slot['token']}"
    world.engine.replace(started.circuit, slot["id"], name="Marc Adjoint",
                         email="m.adjoint@example.fr", label="Le premier adjoint")
    with httpx.Client() as client:
        answers = [client.get(url) for url in (
            old, f"{old}/signer", f"{world.url}/s/{'A' * 43}",
            f"{world.url}/s/{started.coordinator['token']}",
            f"{world.url}/c/{started.signatories[1]['token']}")]
    assert {a.status_code for a in answers} == {404}
    assert len({a.text for a in answers}) == 1
    assert "Ce lien n'est pas valable" in read(answers[0])
    # any other address under a link leads to the link's first page
    live = f"{world.url}/s/{started.signatories[1]['token']}"
    for base in (live, started.coordinator["link"]):
        answer = httpx.get(f"{base}/ouvrir/etc")
        assert (answer.status_code, answer.headers["location"]) == (303, urlsplit(base).path)
    assert httpx.get(f"{old}/ailleurs", follow_redirects=True).text == answers[0].text


def test_an_expired_link_gets_the_unknown_link_page(make_kit: Callable[..., CircuitKit],
                                                    tmp_path: Path) -> None:
    """On a circuit without convention facts (no Caf, no EPCI): the pages still read;
    after the deadline, the link answers as an unknown one."""
    kit = make_kit(str(tmp_path / "store"))
    settings = CircuitSettings(store=str(tmp_path / "unused"), sweep_seconds=3600)
    live = serve_app(create_app(settings, engine=kit.engine,
                                mailer=OutboxMailer(tmp_path / "out")))
    try:
        started = kit.start([["maire-gignac", "maire-aniane"], ["caf-directeur"]])
        link = f"{live.url}/s/{started.tokens['maire-gignac']}"
        landing = httpx.get(link)
        assert landing.status_code == 200 and "Convention de test" in landing.text
        assert "Caisse" not in landing.text
        kit.clock.advance(days=21)
        expired = httpx.get(link)
        unknown = httpx.get(f"{live.url}/s/{'B' * 43}")
        assert expired.status_code == unknown.status_code == 404
        assert expired.text == unknown.text
    finally:
        stop_server(live)
