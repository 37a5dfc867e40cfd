"""The portal's tasks in Chromium: uploading and declining with JavaScript off, the
pages of each state, the coordinator's actions (each confirmed, each in the journal,
each visible on the dashboard), and a keyboard-only signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fixtures_portal import PortalWorld, check_page, mail_link, mail_text
from test_portal_story import text


def link(world: PortalWorld, started: Any, slot: str) -> str:
    token = next(s["token"] for s in started.signatories if s["id"] == slot)
    return f"{world.url}/s/{token}"


def download(page: Any, name: str, target: Path) -> Path:
    with page.expect_download() as info:
        page.get_by_role("link", name=name).first.click()
    info.value.save_as(target)
    return target


def test_upload_and_decline_without_javascript(portal_world: PortalWorld, open_page: Any,
                                               tmp_path: Path) -> None:
    world = portal_world
    started = world.start()
    cid = started.circuit

    # upload by the plain form: the server's page answers
    page = open_page(javascript=False)
    page.goto(link(world, started, "maire-gignac") + "/signer")
    pdf = download(page, "Téléchargez le document (PDF)", tmp_path / "document.pdf")
    signed = world.sign(pdf, "maire-gignac", tmp_path / "signe.pdf")
    page.set_input_files("#fichier", str(signed))
    page.get_by_role("button", name="Déposer le document signé").click()
    page.wait_for_url("**/signer")
    assert "Votre signature a été vérifiée et ajoutée : 1 signature sur 16." in text(page)
    page.goto(link(world, started, "maire-gignac"))
    assert "Vous avez signé ce document" in text(page)
    check_page(page, "etat-deja-signe")

    # decline: the reason is required, then confirmed
    other = open_page(javascript=False)
    aniane = link(world, started, "maire-aniane")
    other.goto(aniane)
    other.get_by_role("link", name="Refuser de signer et en indiquer le motif").click()
    other.get_by_role("button", name="Continuer").click()
    assert "Indiquez le motif de votre refus." in text(other)
    assert other.get_attribute("#motif", "aria-invalid") == "true"
    check_page(other, "refus-motif-manquant")
    other.fill("#motif", "Le conseil municipal doit délibérer à nouveau.")
    other.get_by_role("button", name="Continuer").click()
    assert "Confirmez-vous votre refus de signer ?" in text(other)
    assert world.engine.status(cid).state == "open"
    check_page(other, "refus-confirmation")
    other.get_by_role("button", name="Confirmer le refus").click()
    assert "Votre refus est enregistré" in text(other)
    check_page(other, "refus-enregistre")
    view = world.engine.status(cid)
    assert view.state == "declined"
    assert view.slot("maire-aniane").decline_reason == \
        "Le conseil municipal doit délibérer à nouveau."
    note = world.mail.wait_for("coordination@ccvh.example.fr", "Signature refusée",
                               text="délibérer à nouveau")[0]
    assert "Philippe Roux" in mail_text(note)
    other.goto(aniane)
    assert "Le circuit de signature est clos" in text(other)
    assert "Vous avez refusé de signer" in text(other)
    check_page(other, "etat-circuit-clos")

    # the coordinator, also without JavaScript, sees it and reopens
    board = open_page(javascript=False)
    board.goto(started.coordinator["link"])
    assert "Arrêté : une signature a été refusée" in text(board)
    assert "Motif : « Le conseil municipal doit délibérer à nouveau. »" in text(board)
    board.get_by_role("link", name="Rouvrir le circuit").click()
    check_page(board, "action-rouvrir")
    board.get_by_role("button", name="Confirmer la réouverture").click()
    assert "Le circuit est rouvert" in text(board)
    assert world.engine.status(cid).slot("maire-aniane").state == "invited"
    assert world.kinds(cid)[-2:] == ["reopened", "invited"]
    other.goto(aniane)
    navigation = other.get_by_role("navigation")
    assert navigation.get_by_role("link", name="Signer", exact=True).count() == 1

    # and cancels: every signatory's page says so
    board.get_by_role("link", name="Annuler le circuit").click()
    check_page(board, "action-annuler")
    board.fill("#motif", "Convention à revoir")
    board.get_by_role("button", name="Annuler définitivement le circuit").click()
    assert "Le circuit est annulé" in text(board)
    assert world.kinds(cid)[-1] == "cancelled"
    other.goto(aniane)
    assert "Le coordinateur a annulé ce circuit" in text(other)
    page.goto(link(world, started, "maire-gignac"))
    assert "Vous avez signé ce document" in text(page) and "Annulé" in text(page)


def test_not_yet_your_turn_names_who_is_awaited(portal_world: PortalWorld,
                                                open_page: Any) -> None:
    world = portal_world
    started = world.start()
    page = open_page()
    page.goto(link(world, started, "caf-directeur"))
    body = text(page)
    assert "Ce n'est pas encore votre tour de signer" in body
    assert "Vous signerez à l'étape 4" in body
    assert "Philippe Roux (Le Maire d'Aniane)" in body and "Marie Soulier" in body
    assert page.get_by_role("link", name="Signer", exact=True).count() == 0
    page.goto(link(world, started, "caf-directeur") + "/signer")
    assert "Ce n'est pas encore votre tour de signer" in text(page)
    check_page(page, "etat-pas-encore")


def test_coordinator_actions(portal_world: PortalWorld, open_page: Any) -> None:
    world = portal_world
    started = world.start()
    cid = started.circuit
    board = open_page()
    board.goto(started.coordinator["link"])

    # remind one signatory
    row = board.locator("tr", has_text="Olivier Garcia")
    row.get_by_role("link", name="Relancer").click()
    assert "Relancer Olivier Garcia ?" in text(board)
    check_page(board, "action-relancer-un")
    board.get_by_role("button", name="Confirmer la relance").click()
    assert "Relance envoyée" in text(board)
    reminder = world.mail.wait_for("maire@ville-gignac.fr", "Rappel",
                                   text=link(world, started, "maire-gignac"))[0]
    assert "toujours attendue" in mail_text(reminder)
    event = world.engine.journal(cid)[0][-1]
    assert (event.kind, event.data["slot"], event.data["by"]) == (
        "reminded", "maire-gignac", "coordinator portal")
    relances = board.locator("tr", has_text="Olivier Garcia").locator(
        "td[data-label='Relances']").inner_text()
    assert relances.strip() == "1"

    # remind every awaited signatory
    board.get_by_role("link", name="Relancer les 13 signataires attendus").click()
    check_page(board, "action-relancer-tous")
    board.get_by_role("button", name="Confirmer la relance").click()
    assert "Relance envoyée : 13 courriels de rappel partent maintenant." in text(board)
    assert world.kinds(cid).count("reminded") == 14
    world.mail.wait_for("mairie@pouzols.fr", "Rappel", text=link(world, started,
                                                                "maire-pouzols"))

    # replace a signatory: the form checks, a confirmation, the new link
    old = link(world, started, "maire-pouzols")
    board.locator("tr", has_text="Marie Soulier").get_by_role("link", name="Remplacer").click()
    board.fill("#nom", "")
    board.fill("#courriel", "pas-une-adresse")
    board.fill("#empreinte", "1234")
    board.get_by_role("button", name="Continuer").click()
    body = text(board)
    assert "Le formulaire contient 3 erreurs" in body
    assert "Indiquez une adresse électronique valable" in body
    check_page(board, "action-remplacer-erreurs")
    board.fill("#nom", "Paul Adjoint")
    board.fill("#courriel", "p.adjoint@pouzols.example.fr")
    board.fill("#qualite", "Le premier adjoint au maire de Pouzols, par délégation")
    board.fill("#empreinte", "")
    board.get_by_role("button", name="Continuer").click()
    assert "Confirmez-vous le remplacement ?" in text(board)
    check_page(board, "action-remplacer-confirmation")
    board.get_by_role("button", name="Confirmer le remplacement").click()
    assert "Remplacement enregistré" in text(board)
    new_link = board.locator("pre.commande code").inner_text().strip()
    check_page(board, "action-remplace")
    invitation = world.mail.wait_for("p.adjoint@pouzols.example.fr", "À signer")[0]
    assert mail_link(invitation) == new_link
    event = world.engine.journal(cid)[0][-2]
    assert event.kind == "replaced" and event.data["new"]["name"] == "Paul Adjoint"
    page = open_page()
    assert page.goto(old).status == 404
    assert "Ce lien n'est pas valable" in text(page)
    page.goto(new_link)
    assert "Paul Adjoint" in text(page)
    assert "Le premier adjoint au maire de Pouzols, par délégation" in text(page)

    # the journal tells all of it
    board.goto(started.coordinator["link"] + "/journal")
    journal = text(board)
    assert "Relance n° 1 envoyée à la demande du coordinateur à Olivier Garcia" in journal
    assert "Marie Soulier (La Maire de Pouzols) est remplacé(e) par Paul Adjoint" in journal


def test_keyboard_only_signature(portal_world: PortalWorld, open_page: Any,
                                 tmp_path: Path) -> None:
    """From the landing page to the accepted upload with the Tab, Enter and Space keys
    only; every element reached shows where the focus is."""
    world = portal_world
    started = world.start()
    start = link(world, started, "maire-gignac")
    pdf = tmp_path / "document.pdf"
    pdf.write_bytes(world.engine.head_bytes(started.circuit))
    signed = world.sign(pdf, "maire-gignac", tmp_path / "signe.pdf")
    page = open_page()
    # a listener from the start: Playwright intercepts file choosers only once one
    # listens, and turning that on is not awaited by expect_file_chooser below
    page.on("filechooser", lambda chooser: None)
    page.goto(start)
    reached = tab_to(page, "Signer", "A")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{start}/signer")
    tab_to(page, "fichier", "INPUT", by="id")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(str(signed))
    tab_to(page, "Déposer le document signé", "BUTTON")
    page.keyboard.press("Enter")
    page.locator("#resultat").wait_for()
    assert "Votre signature a été vérifiée et ajoutée" in text(page)
    assert page.evaluate("document.activeElement.id") == "resultat"
    assert reached >= 2  # the skip link and the tabs came first


def tab_to(page: Any, name: str, tag: str, *, by: str = "text", limit: int = 60) -> int:
    """Press Tab until the element ``name`` has the focus (checking that each focused
    element shows it); returns how many presses it took."""
    for count in range(1, limit + 1):
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => {
            const e = document.activeElement;
            const s = getComputedStyle(e);
            return {tag: e.tagName, id: e.id, text: (e.innerText || e.value || "").trim(),
                    visible: s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2
                             || s.boxShadow !== "none"};
        }""")
        assert focused["visible"], f"no visible focus on {focused}"
        key = focused["id"] if by == "id" else focused["text"]
        if focused["tag"] == tag and key == name:
            return count
    raise AssertionError(f"{name} not reached with Tab")
