"""Generate a valid synthetic CTG convention YAML of any size, deterministically from a seed.

Usage::

    python examples/synthetic.py --communes 50 [-o FILE] [--seed N] [--partners K]

Every name, person, figure and date is invented. ``synthetic_convention_yaml`` is importable.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from ctgdocs.model import slugify

FIELDS = ["petite-enfance", "enfance", "jeunesse", "parentalite", "animation-vie-sociale",
          "acces-aux-droits", "inclusion-numerique", "logement", "handicap"]

_BASES = [
    "Aubaret", "Bastide", "Belvezet", "Cabrières", "Campagnan", "Castelnau", "Caussiniojouls",
    "Cazevieille", "Combaillaux", "Fontanès", "Fontès", "Gabian", "Lauret", "Lavalette",
    "Lieuran", "Margon", "Montoulieu", "Mourèze", "Nébian", "Olmet", "Paulhan", "Péret",
    "Pradines", "Puéchabon", "Roquessels", "Salasc", "Soumont", "Tressan", "Valros",
    "Vailhan", "Usclas", "Rouet", "Brissac", "Cournon", "Ferrières", "Lodévois", "Vacquières",
    "Le Caylar", "Le Bosc", "Le Mas", "Le Cros", "Le Puech", "Le Soulié", "La Vacquerie",
    "La Salvetat", "La Rouvière", "La Bastide", "La Garrigue", "Les Aires", "Les Plans",
    "Les Salces", "Les Rives", "Saint-Martin", "Saint-Guilhem", "Saint-Félix", "Saint-Privat",
    "Saint-Étienne", "Saint-Saturnin", "Saint-Bauzille", "Saint-Clément", "Saint-Géniès",
    "Sainte-Croix", "Sainte-Colombe", "Sainte-Eulalie", "Saint-Jory", "Saint-Hilaire",
]
_QUALIFIERS = ["", "-le-Haut", "-le-Bas", "-les-Vignes", "-les-Pins", "-la-Vieille",
               "-en-Garrigue", "-du-Causse", "-des-Oliviers", "-la-Source", "-le-Vieux"]
_RIVERS = ["", "-sur-Hérault", "-de-Lergue", "-sur-Orb", "-de-Buège", "-sur-Vis", "-de-Thongue",
           "-sur-Lez", "-de-Boyne", "-sur-Peyne", "-de-Salagou", "-sur-Mosson", "-de-Larzac",
           "-sur-Libron", "-de-Lamalou"]
_FIRST = {"M.": ["Alain", "Bruno", "Christian", "Daniel", "Éric", "François", "Gilles",
                 "Jacques", "Julien", "Laurent", "Marc", "Nicolas", "Pascal", "Pierre",
                 "Sébastien", "Thomas", "Yves"],
          "Mme": ["Anne", "Brigitte", "Catherine", "Christine", "Delphine", "Élodie", "Françoise",
                  "Isabelle", "Julie", "Laure", "Martine", "Nadia", "Sophie", "Sylvie",
                  "Valérie", "Yasmina"]}
_LAST = ["Albert", "Arnaud", "Blanc", "Bonnet", "Boyer", "Castel", "Chabert", "Combes", "Fabre",
         "Fournier", "Gaillard", "Garcia", "Gautier", "Girard", "Guiraud", "Julien", "Lopez",
         "Marty", "Mercier", "Michel", "Molinier", "Pagès", "Perrin", "Poujol", "Reynaud",
         "Rouquette", "Roux", "Sanchez", "Serre", "Teisseire", "Vidal", "Vincent"]
_SERVICES = ["École primaire avec accueil périscolaire", "Accueil de loisirs du mercredi",
             "Bibliothèque municipale", "Salle polyvalente", "City-stade",
             "Multi-accueil intercommunal", "Espace jeunes", "Centre communal d'action sociale",
             "Maison d'assistants maternels", "Point numérique en mairie"]
_COMMITMENTS = ["Désigner un élu référent CTG", "Relayer l'information de la Caf aux familles",
                "Mettre des locaux à disposition des actions de la CTG",
                "Maintenir une tarification modulée selon le quotient familial",
                "Participer au comité technique"]
_ACTIONS = {
    "petite-enfance": "Développer l'accueil du jeune enfant", "enfance": "Ouvrir un accueil de "
    "loisirs de proximité", "jeunesse": "Créer un espace ados", "parentalite": "Organiser des "
    "ateliers parents-enfants", "animation-vie-sociale": "Soutenir la vie associative locale",
    "acces-aux-droits": "Accueillir une permanence d'accès aux droits",
    "inclusion-numerique": "Ouvrir des ateliers numériques", "logement": "Repérer les "
    "logements non décents", "handicap": "Former les animateurs à l'accueil du handicap",
}
_PARTNERS = [
    ("etat", "Préfecture de l'Hérault", "Préfet de l'Hérault"),
    ("departement", "Département de l'Hérault", "Président du Département de l'Hérault"),
    ("msa", "MSA Languedoc", "Directeur général de la MSA Languedoc"),
    ("cpam", "Caisse primaire d'assurance maladie de l'Hérault", "Directeur de la CPAM"),
    ("region", "Région Occitanie", "Président de la Région Occitanie"),
    ("autre", "Union départementale des associations familiales", "Président de l'Udaf"),
]
_FEMININE = {"Préfet": "Préfète", "Président": "Présidente", "Directeur": "Directrice"}
PERIOD = (2022, 2026)
SIGNING = dt.date(2023, 2, 6)


def commune_names(count: int, rng: random.Random) -> list[str]:
    """``count`` unique, realistic-looking invented commune names (unique slugs too)."""
    candidates: dict[str, str] = {}
    for base in _BASES:
        for qualifier in _QUALIFIERS:
            for river in _RIVERS:
                name = f"{base}{qualifier}{river}"
                if len(slugify(name)) <= 58:
                    candidates.setdefault(slugify(name), name)
    if count > len(candidates):
        raise ValueError(f"at most {len(candidates)} synthetic communes, not {count}")
    simple = [n for n in candidates.values() if n.count("-") <= 2 or n.startswith("Saint")]
    pool = simple if count <= len(simple) else list(candidates.values())
    return rng.sample(sorted(pool), count)


def _person(rng: random.Random, email: str | None = None) -> dict[str, Any]:
    civility = rng.choice(["M.", "Mme"])
    person = {"civility": civility, "first_name": rng.choice(_FIRST[civility]),
              "last_name": rng.choice(_LAST)}
    if email:
        person["email"] = email
    return person


def _years(rng: random.Random) -> list[int]:
    start = rng.randint(PERIOD[0] + 1, PERIOD[1])
    return list(range(start, rng.randint(start, PERIOD[1]) + 1))


def _date_before_signing(rng: random.Random) -> str:
    return (SIGNING - dt.timedelta(days=rng.randint(10, 100))).isoformat()


def _commune(name: str, insee: int, rng: random.Random) -> dict[str, Any]:
    slug = slugify(name)
    population = rng.randint(250, 9000)
    return {
        "name": name,
        "insee": f"{insee:05d}",
        "population": population,
        "mayor": _person(rng, f"{rng.choice(['mairie', 'maire'])}@{slug}.fr"),
        "deliberation": {"body": "conseil municipal", "date": _date_before_signing(rng),
                         "number": f"2022-{rng.randint(1, 160):03d}"},
        "competences_kept": ["Accueil périscolaire et restauration scolaire"],
        "diagnostic": {
            "key_figures": [
                {"label": "Enfants de moins de 6 ans", "value": str(population * 7 // 100)},
                {"label": "Familles allocataires", "value": str(population * 12 // 100)},
                {"label": "Familles monoparentales", "value": f"{rng.randint(12, 30)} %"},
            ],
            "text": f"Commune de {population} habitants (données fictives), {name} accueille "
                    "de jeunes familles et souhaite renforcer l'offre de services de proximité.",
        },
        "actions": [_commune_action(field, rng) for field in rng.sample(FIELDS, 2)],
        "services": rng.sample(_SERVICES, 3),
        "commitments": rng.sample(_COMMITMENTS, 2),
    }


def _commune_action(field: str, rng: random.Random) -> dict[str, Any]:
    return {"title": _ACTIONS[field], "field": field,
            "description": "Action communale inscrite dans la CTG (description fictive).",
            "years": _years(rng)}


def _action_plan(names: list[str], rng: random.Random) -> list[dict[str, Any]]:
    axes = []
    for a in range(4):
        actions = []
        for i in range(3):
            field = FIELDS[(a * 3 + i) % len(FIELDS)]
            actions.append({
                "code": f"A{a + 1}.{i + 1}", "title": _ACTIONS[field], "field": field,
                "objectives": ["Améliorer le service rendu aux familles"],
                "lead": "EPCI", "partners": ["Caf de l'Hérault"],
                "communes": rng.sample(names, min(len(names), rng.randint(0, 3))),
                "years": _years(rng), "indicators": ["Nombre de familles concernées"],
            })
        axes.append({"title": f"Axe {a + 1}", "actions": actions})
    return axes


def _partner(index: int, rng: random.Random) -> dict[str, Any]:
    kind, name, title = _PARTNERS[index % len(_PARTNERS)]
    rank = index // len(_PARTNERS)
    person = _person(rng)
    if person["civility"] == "Mme":
        first, _, rest = title.partition(" ")
        title = f"{_FEMININE.get(first, first)} {rest}"
    return {"id": kind if rank == 0 else f"{kind}-{rank + 1}", "kind": kind,
            "name": name if rank == 0 else f"{name} ({rank + 1})", "representative": person,
            "capacity": f"{'La' if person['civility'] == 'Mme' else 'Le'} {title}",
            "deliberation": {"body": "assemblée", "date": _date_before_signing(rng),
                             "number": f"P-{index + 1:03d}"}}


def synthetic_convention(communes: int, seed: int = 0, partners: int = 0) -> dict[str, Any]:
    """The synthetic convention as plain data."""
    if communes < 1:
        raise ValueError("a convention needs at least one commune")
    rng = random.Random(seed)
    names = commune_names(communes, rng)
    low = 34001 if communes < 999 else 1001
    codes = rng.sample(range(low, low + max(999, communes * 2)), communes)
    return {
        "id": f"synthetique-{communes}-{seed}",
        "title": f"Convention territoriale globale {PERIOD[0]}-{PERIOD[1]} (synthétique)",
        "territory": f"Territoire synthétique de {communes} communes",
        "period": {"start": PERIOD[0], "end": PERIOD[1]},
        "signing": {"date": SIGNING.isoformat(), "time": "17:00", "place": names[0]},
        "fields": FIELDS,
        "caf": {"name": "Caisse d'allocations familiales de l'Hérault",
                "short_name": "Caf de l'Hérault",
                "address": "139 avenue de Lodève, 34943 Montpellier Cedex 9",
                "director": _person(rng), "board_president": _person(rng)},
        "epci": {"name": "Communauté de communes du Territoire synthétique",
                 "short_name": "CCTS", "siren": f"2434{rng.randint(0, 99999):05d}",
                 "address": f"1 place de la Mairie, 34000 {names[0]}",
                 "president": _person(rng),
                 "deliberation": {"body": "conseil communautaire",
                                  "date": _date_before_signing(rng), "number": "2022-100"}},
        "communes": [_commune(n, c, rng) for n, c in zip(names, codes, strict=True)],
        "partners": [_partner(i, rng) for i in range(partners)],
        "diagnostic": {"summary": "Diagnostic synthétique (toutes les données sont fictives).",
                       "key_figures": [{"label": "Communes", "value": str(communes)}],
                       "findings": [{"field": f, "text": "Constat fictif."} for f in FIELDS]},
        "action_plan": _action_plan(names, rng),
        "governance": {"steering": {"members": ["Caf", "EPCI", "Maires"],
                                    "frequency": "une fois par an"},
                       "technical": {"members": ["Caf", "EPCI"],
                                     "frequency": "deux fois par an"}},
        "contracts": [{"name": "Projet éducatif territorial",
                       "description": "Articulation fictive."}],
    }


def synthetic_convention_yaml(communes: int, seed: int = 0, partners: int = 0) -> str:
    """A valid convention YAML with ``communes`` communes and ``partners`` partners."""
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.allow_unicode = True
    yaml.width = 100
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    out = io.StringIO()
    out.write(f"# Synthetic CTG generated by examples/synthetic.py --communes {communes} "
              f"--seed {seed} --partners {partners}\n# Every name, figure and date is "
              "invented.\n")
    yaml.dump(synthetic_convention(communes, seed, partners), out)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the YAML to ``-o FILE`` or to stdout."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--communes", type=int, required=True, help="number of communes")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--partners", type=int, default=0, help="co-signing partners")
    parser.add_argument("-o", "--output", type=Path, help="output file (default stdout)")
    args = parser.parse_args(argv)
    try:
        text = synthetic_convention_yaml(args.communes, args.seed, args.partners)
    except ValueError as e:
        parser.error(str(e))
    if args.output is None:
        sys.stdout.write(text)
    else:
        tmp = args.output.with_name(args.output.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(args.output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
