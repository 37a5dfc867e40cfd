"""A small synthetic convention filling every optional part of the model: the data the
template checks render the templates with (``ctg check-templates``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .model import Convention, slugify

__all__ = ["sample_convention"]


def sample_convention() -> Convention:
    """A small synthetic convention that fills every optional part of the model, so that
    its contexts show every key the templates may use."""
    from . import model as m

    def person(civility: str, first: str, last: str) -> dict[str, Any]:
        return {"civility": civility, "first_name": first, "last_name": last,
                "email": f"{slugify(first)}.{slugify(last)}@example.fr"}

    def delib(body: str, number: str) -> dict[str, Any]:
        return {"body": body, "date": dt.date(2022, 12, 1), "number": number}

    fig = {"label": "Enfants de moins de 3 ans", "value": "120", "source": "Insee RP 2019"}
    communes = [{
        "name": name, "insee": insee, "population": pop, "mayor": person(civ, "Alex", name),
        "deliberation": delib("conseil municipal", f"2022-{i}"),
        "competences_kept": ["Accueil périscolaire"],
        "diagnostic": {"key_figures": [fig], "text": f"Analyse de {name}."},
        "actions": [{"title": "Action communale", "field": "jeunesse",
                     "description": "Description.", "years": [2023, 2024]}],
        "services": ["Crèche"], "commitments": ["Mettre à disposition une salle."],
    } for i, (name, insee, pop, civ) in enumerate([("Aubaine", "34001", 1200, "M."),
                                                   ("Le Bourg", "34002", 800, "Mme"),
                                                   ("Cazes", "34003", 15000, "M.")])]
    action = {"code": "A1.1", "title": "Créer une crèche", "field": "petite-enfance",
              "objectives": ["Accueillir"], "lead": "CC", "partners": ["Caf"],
              "communes": ["Aubaine"], "years": [2023], "indicators": ["Places ouvertes"]}
    return m.Convention.model_validate({
        "id": "exemple", "title": "Convention territoriale globale 2023-2027",
        "territory": "Exemple", "period": {"start": 2023, "end": 2027},
        "signing": {"date": dt.date(2023, 3, 1), "place": "Aubaine"},
        "fields": ["petite-enfance", "jeunesse"],
        "caf": {"name": "Caisse d'allocations familiales de l'Exemple",
                "short_name": "Caf de l'Exemple", "address": "1 rue A, 34000 Ville",
                "director": person("Mme", "Claire", "Dir"),
                "board_president": person("M.", "Paul", "Pres"),
                "board_deliberation": delib("conseil d'administration", "CA-1")},
        "epci": {"name": "Communauté de communes Exemple", "short_name": "CCE",
                 "siren": "123456789", "address": "2 rue B, 34000 Ville",
                 "president": person("M.", "Jean", "Pres"),
                 "deliberation": delib("conseil communautaire", "CC-1")},
        "communes": communes,
        "partners": [{"id": "departement", "kind": "departement", "name": "Département",
                      "representative": person("Mme", "Ana", "Dep"),
                      "capacity": "La Présidente du Département",
                      "deliberation": delib("conseil départemental", "CD-1")}],
        "diagnostic": {"summary": "Résumé.", "key_figures": [fig],
                       "findings": [{"field": "jeunesse", "text": "Constat."}]},
        "action_plan": [{"title": "Axe 1 — Accueillir", "actions": [action]}],
        "governance": {"steering": {"members": ["Élus"], "frequency": "une fois par an"},
                       "technical": {"members": ["Techniciens"], "frequency": "chaque mois"}},
        "contracts": [{"name": "PEDT", "description": "Articulé."}],
    })
