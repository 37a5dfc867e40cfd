"""Every page of the portal, at desktop and phone widths, through axe-core (no serious or
critical violation) and without sideways overflow, each one screenshotted; the main
pages also at 200 % zoom (a 1280-pixel window zoomed twice is 640 CSS pixels wide)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fixtures_portal import VIEWPORTS, PortalWorld, check_page, overflows, screenshot
from test_portal_pages import link
from test_portal_story import text


@pytest.mark.parametrize("viewport", ["bureau", "telephone"])
def test_every_page(portal_world: PortalWorld, open_page: Any, tmp_path: Path,
                    viewport: str) -> None:
    world = portal_world
    started = world.start()
    gignac, aniane = link(world, started, "maire-gignac"), link(world, started, "maire-aniane")
    coord = started.coordinator["link"]
    page = open_page(viewport)

    def visit(url: str, name: str, *, full: bool = True) -> None:
        page.goto(url)
        page.wait_for_load_state("networkidle")
        check_page(page, name, full=full)

    visit(gignac, "accueil")
    visit(f"{gignac}/document", "document", full=False)
    page.locator("figure.page-bloc").scroll_into_view_if_needed()
    page.wait_for_load_state("networkidle")
    screenshot(page, "document-bloc", full=False)
    visit(f"{gignac}/signer", "signer")
    page.locator("details.installation summary").click()
    check_page(page, "signer-installation")

    # an upload refused (the unsigned document itself), then an accepted one
    unsigned = tmp_path / "document.pdf"
    unsigned.write_bytes(world.engine.head_bytes(started.circuit))
    page.set_input_files("#fichier", str(unsigned))
    page.get_by_role("button", name="Déposer le document signé").click()
    page.locator("#resultat").wait_for()
    assert "aucune nouvelle signature dans le fichier" in text(page)
    check_page(page, "depot-refuse")
    signed = world.sign(unsigned, "maire-gignac", tmp_path / "signe.pdf")
    page.set_input_files("#fichier", str(signed))
    page.get_by_role("button", name="Déposer le document signé").click()
    page.wait_for_selector("text=Votre signature est acceptée")
    check_page(page, "signature-acceptee")
    visit(gignac, "etat-deja-signe")

    visit(link(world, started, "caf-directeur"), "etat-pas-encore")
    visit(f"{world.url}/s/{'x' * 43}", "lien-inconnu")

    visit(coord, "tableau-de-bord")
    visit(f"{coord}/journal", "journal")
    visit(f"{coord}/relancer", "relancer-tous")
    visit(f"{coord}/relancer?signataire=maire-aniane", "relancer-un")
    visit(f"{coord}/remplacer/maire-aniane", "remplacer")
    page.get_by_role("button", name="Continuer").click()
    check_page(page, "remplacer-erreurs")
    visit(f"{coord}/annuler", "annuler")

    # the decline, then the circuit closed, then the reopening form
    visit(f"{aniane}/refuser", "refuser")
    page.get_by_role("button", name="Continuer").click()
    check_page(page, "refuser-motif-manquant")
    page.fill("#motif", "Le conseil municipal n'a pas encore délibéré sur cette convention.")
    page.get_by_role("button", name="Continuer").click()
    check_page(page, "refuser-confirmation")
    page.get_by_role("button", name="Confirmer le refus").click()
    check_page(page, "refus-enregistre")
    visit(aniane, "etat-circuit-clos")
    visit(coord, "tableau-de-bord-refus")
    visit(f"{coord}/rouvrir", "rouvrir")


@pytest.mark.parametrize("path", ["", "/document", "/signer"])
def test_signatory_pages_at_200_percent_zoom(portal_world: PortalWorld, chromium: Any,
                                             path: str) -> None:
    world = portal_world
    started = world.start()
    _zoomed(chromium, link(world, started, "maire-gignac") + path,
            f"zoom-200{path.replace('/', '-') or '-accueil'}")


@pytest.mark.parametrize("path", ["", "/journal"])
def test_coordinator_pages_at_200_percent_zoom(portal_world: PortalWorld, chromium: Any,
                                               path: str) -> None:
    started = portal_world.start()
    _zoomed(chromium, started.coordinator["link"] + path,
            f"zoom-200-coordination{path.replace('/', '-')}")


def _zoomed(chromium: Any, url: str, name: str) -> None:
    """``url`` in a 1280 × 900 window at 200 % zoom: all of it readable, nothing cut."""
    size = VIEWPORTS["bureau"]
    context = chromium.new_context(viewport={"width": size["width"] // 2,
                                             "height": size["height"] // 2},
                                   device_scale_factor=2, locale="fr-FR")
    try:
        page = context.new_page()
        page.viewport_name = "zoom"
        page.goto(url)
        page.wait_for_load_state("networkidle")
        screenshot(page, name)
        assert not overflows(page), f"{name}: wider than the window at 200 %"
    finally:
        context.close()
