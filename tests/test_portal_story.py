"""The portal's story end to end in Chromium: the coordinator starts the circuit with
``ctg circuit start``, the invitation arrives at a real SMTP server, a mayor opens its
link, reads the landing page and the document, downloads it, signs it with ``ctg sign``
and uploads it; another mayor's wrong-field upload gets the French explanation; the
coordinator's dashboard and journal show each change."""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures_portal import COORDINATOR, MAIL_FROM, PortalWorld, check_page, mail_link, mail_text

from ctgdocs.circuit.stages import deliberation_text
from ctgdocs.load import load_convention

FRENCH_DATE = r"\d{1,2}(er)? (janvier|février|mars|avril|mai|juin|juillet|août|septembre|" \
              r"octobre|novembre|décembre) \d{4} à \d{1,2} h \d{2}\b"


def text(page: Any, selector: str = "main") -> str:
    """The visible text of ``selector``, spaces normalised (non-breaking ones too)."""
    return " ".join(page.inner_text(selector).replace("\u00a0", " ").split())


def cli_start(world: PortalWorld, circuit: str) -> dict[str, Any]:
    """``ctg circuit start --json`` on the served store, mails sent by SMTP."""
    proc = subprocess.run(
        [sys.executable, "-m", "ctgdocs", "circuit", "start", str(world.package), "--data",
         str(world.data), "--store", str(world.store), "--base-url", world.url, "--smtp",
         world.mail.url, "--id", circuit, "--coordinator-name", COORDINATOR[0],
         "--coordinator-email", COORDINATOR[1], "--json"],
        capture_output=True, text=True, timeout=180,
        env={**world.env, "CTGDOCS_MAIL_FROM": MAIL_FROM})
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def drop_file(page: Any, path: Path) -> None:
    """Drag and drop ``path`` onto the upload zone (the script's enhancement)."""
    page.evaluate("""([data, name]) => {
        const bytes = Uint8Array.from(atob(data), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], name, {type: "application/pdf"}));
        const zone = document.querySelector(".depot-zone");
        for (const kind of ["dragenter", "dragover", "drop"]) {
            zone.dispatchEvent(new DragEvent(kind, {dataTransfer: transfer, bubbles: true,
                                                    cancelable: true}));
        }
    }""", [base64.b64encode(path.read_bytes()).decode(), path.name])


def test_story(portal_world: PortalWorld, open_page: Any, tmp_path: Path) -> None:
    world = portal_world
    started = cli_start(world, "story")
    tokens = {s["id"]: s["token"] for s in started["signatories"]}
    conv = load_convention(world.data)
    gignac = next(c for c in conv.communes if c.slug == "gignac")

    # the invitation arrives by e-mail with the personal link
    invitation = world.mail.wait_for("maire@ville-gignac.fr", "À signer",
                                     text=tokens["maire-gignac"])[0]
    assert deliberation_text(gignac.deliberation) in mail_text(invitation)
    link = mail_link(invitation)
    assert link == f"{world.url}/s/{tokens['maire-gignac']}"

    # the landing page says who asks, what, by when; opening it changes nothing
    before = world.kinds("story")
    page = open_page()
    response = page.goto(link)
    assert response.status == 200
    landing = text(page)
    for expected in (conv.title, conv.caf.name, conv.epci.name, "Le Maire de Gignac",
                     gignac.mayor.full_name, deliberation_text(gignac.deliberation),
                     "« maire-gignac »", "62", "0 sur 16", "2022 – 2026",
                     "Étape 1 : Les maires des communes"):
        assert expected in landing, expected
    assert re.search(FRENCH_DATE, landing)
    assert world.kinds("story") == before
    check_page(page, "story-01-accueil")

    # the coordinator's dashboard before anything happened
    board = open_page()
    board.goto(started["coordinator"]["link"])
    row = board.locator("tr", has_text="Olivier Garcia")
    assert "Signature attendue" in row.inner_text()
    assert "—" in row.locator("td[data-label='Document ouvert le']").inner_text()

    # reading is a deliberate action: journaled, then the previews with the block
    page.get_by_role("button", name="Lire le document").click()
    page.wait_for_url(f"{link}/document")
    assert world.kinds("story")[len(before):] == ["opened"]
    block = page.locator("figure.page-bloc")
    assert "votre bloc de signature est encadré" in block.inner_text()
    assert block.locator("rect.bloc").count() == 1
    image = page.request.get(f"{link}/document/page-{block.get_attribute('id')[5:]}.png")
    assert image.status == 200 and image.headers["content-type"] == "image/png"
    block.scroll_into_view_if_needed()
    check_page(page, "story-02-document", full=False)
    board.reload()
    opened = board.locator("tr", has_text="Olivier Garcia").locator(
        "td[data-label='Document ouvert le']").inner_text()
    assert re.search(FRENCH_DATE, opened.replace("\u00a0", " ")), opened

    # download, sign locally with ctg sign, upload through the page
    with page.expect_download() as download:
        page.get_by_role("link", name="Télécharger le PDF").first.click()
    original = tmp_path / "convention.pdf"
    download.value.save_as(original)
    assert original.read_bytes() == world.engine.head_bytes("story")
    signed = world.sign(original, "maire-gignac", tmp_path / "convention-signee.pdf")
    page.get_by_role("navigation").get_by_role("link", name="Signer", exact=True).click()
    assert "ctg sign-remote " + link in text(page)
    check_page(page, "story-03-signer")
    page.set_input_files("#fichier", str(signed))
    page.get_by_role("button", name="Déposer le document signé").click()
    page.locator("#resultat").wait_for()
    assert "Votre signature a été vérifiée et ajoutée : 1 signature sur 16." in text(page)
    assert page.evaluate("document.activeElement.id") == "resultat"
    check_page(page, "story-04-acceptee")
    assert world.engine.status("story").slot("maire-gignac").state == "signed"
    assert world.kinds("story")[-1] == "signature-accepted"

    # another mayor signs in a field that is not hers: the French explanation
    aniane_link = mail_link(world.mail.wait_for("maire@aniane.fr", "À signer",
                                                text=tokens["maire-aniane"])[0])
    other = open_page()
    other.goto(aniane_link + "/signer")
    with other.expect_download() as download:
        other.get_by_role("link", name="Téléchargez le document (PDF)").click()
    current = tmp_path / "version-2.pdf"
    download.value.save_as(current)
    wrong = world.sign(current, "maire-aniane", tmp_path / "mauvais-champ.pdf",
                       field_name="maire-la-boissiere")
    drop_file(other, wrong)
    assert "Fichier choisi : « mauvais-champ.pdf »" in text(other).replace("\u00a0", " ")
    other.get_by_role("button", name="Déposer le document signé").click()
    other.locator("#resultat").wait_for()
    refusal = text(other)
    assert "Votre document n'a pas été accepté" in refusal
    assert "signature dans un autre champ que le vôtre" in refusal
    assert "signez dans le champ « maire-aniane »" in refusal
    check_page(other, "story-05-refus-mauvais-champ")
    events = world.engine.journal("story")[0]
    assert events[-1].kind == "upload-refused" and events[-1].data["code"] == "wrong-field"
    assert world.engine.status("story").slot("maire-aniane").state == "invited"

    # the coordinator sees both: the signature, the holder, the refusal in the journal
    board.reload()
    row = board.locator("tr", has_text="Olivier Garcia")
    assert "Signé" in row.inner_text() and "PAdES B-T" in row.inner_text()
    holder = row.locator("td[data-label='Titulaire du certificat']").inner_text()
    assert holder.strip() == "Olivier Garcia"
    assert "1 sur 16" in text(board)
    check_page(board, "story-06-tableau-de-bord")
    board.get_by_role("navigation").get_by_role("link", name="Journal").click()
    journal = text(board)
    assert "Journal intègre" in journal
    assert "Signature d'Olivier Garcia (Le Maire de Gignac) acceptée" in journal
    assert "Dépôt refusé pour Philippe Roux (Le Maire d'Aniane) : signature dans un " \
           "autre champ que le vôtre (code wrong-field)" in journal
    assert "Olivier Garcia (Le Maire de Gignac) a ouvert le document" in journal
    assert "Horodaté" in journal
    check_page(board, "story-07-journal")
