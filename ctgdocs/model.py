"""The CTG data model: pydantic models for a whole convention, its cross-field rules and
its signatories."""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
"""A non-empty string (surrounding spaces stripped)."""

Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=64)]
"""Lower-case ASCII words joined by single hyphens, e.g. ``vallee-herault-2022``."""

_EMAIL = re.compile(r"^[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}$")


def slugify(text: str) -> str:
    """ASCII slug of a French name: ``Saint-André-de-Sangonis`` → ``saint-andre-de-sangonis``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def de(name: str) -> str:
    """French contraction of "de" before a proper name: ``Le Pouget`` → ``du Pouget``."""
    if name.startswith("Le "):
        return "du " + name[3:]
    if name.startswith("Les "):
        return "des " + name[4:]
    if name[:1].upper() in "AEIOUYÉÈÊÂÎÔH" and not name.startswith("La "):
        return "d'" + name
    return "de " + name


class _Model(BaseModel):
    """Base: unknown keys are errors, instances are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class InterventionField(StrEnum):
    """A field of intervention of the CTG (the YAML value is the slug)."""

    PETITE_ENFANCE = "petite-enfance"
    ENFANCE = "enfance"
    JEUNESSE = "jeunesse"
    PARENTALITE = "parentalite"
    ANIMATION_VIE_SOCIALE = "animation-vie-sociale"
    ACCES_AUX_DROITS = "acces-aux-droits"
    LOGEMENT = "logement"
    HANDICAP = "handicap"
    INCLUSION_NUMERIQUE = "inclusion-numerique"
    AUTRE = "autre"

    @property
    def label(self) -> str:
        """The French label printed in the documents."""
        return FIELD_LABELS[self]


FIELD_LABELS: dict[InterventionField, str] = {
    InterventionField.PETITE_ENFANCE: "Petite enfance",
    InterventionField.ENFANCE: "Enfance",
    InterventionField.JEUNESSE: "Jeunesse",
    InterventionField.PARENTALITE: "Parentalité",
    InterventionField.ANIMATION_VIE_SOCIALE: "Animation de la vie sociale",
    InterventionField.ACCES_AUX_DROITS: "Accès aux droits",
    InterventionField.LOGEMENT: "Logement",
    InterventionField.HANDICAP: "Handicap",
    InterventionField.INCLUSION_NUMERIQUE: "Inclusion numérique",
    InterventionField.AUTRE: "Autre",
}


class Person(_Model):
    """A natural person who represents an organisation."""

    civility: Literal["M.", "Mme"]
    """"M." or "Mme"; chooses "Le"/"La" in capacity lines."""
    first_name: Text
    """First name(s), e.g. "Jean-François"."""
    last_name: Text
    """Family name, e.g. "Soto"."""
    email: str | None = None
    """E-mail address (required for mayors: the signing circuit writes to it)."""
    certificates: list[str] = Field(default_factory=list)
    """Pinned SHA-256 fingerprints (hex, colons allowed) of the certificates this person
    may sign with; when given, only those certificates are accepted for their field."""

    @field_validator("certificates")
    @classmethod
    def _fingerprints(cls, values: list[str]) -> list[str]:
        result = []
        for value in values:
            digits = value.strip().replace(":", "").replace(" ", "").lower()
            if not re.fullmatch(r"[0-9a-f]{64}", digits):
                raise ValueError(f"not a SHA-256 certificate fingerprint: {value!r} (write "
                                 "its 64 hexadecimal digits, colons allowed)")
            result.append(digits)
        return result

    @field_validator("email")
    @classmethod
    def _email(cls, value: str | None) -> str | None:
        if value is not None and not _EMAIL.match(value.strip()):
            raise ValueError(f"not an e-mail address: {value!r} (expected name@domain.fr)")
        return value.strip() if value else value

    @property
    def full_name(self) -> str:
        """First and last name, e.g. "Jean-François Soto"."""
        return f"{self.first_name} {self.last_name}"

    @property
    def formal_name(self) -> str:
        """Civility and full name, e.g. "M. Jean-François Soto"."""
        return f"{self.civility} {self.full_name}"

    @property
    def article(self) -> str:
        """"Le" or "La", for capacity lines."""
        return "La" if self.civility == "Mme" else "Le"


class Deliberation(_Model):
    """The decision of an assembly authorising its representative to sign."""

    body: Text = "conseil municipal"
    """The deciding assembly, e.g. "conseil communautaire"."""
    date: dt.date
    """Date of the sitting (must precede the signing date)."""
    number: Text
    """Number of the deliberation, e.g. "2022-118"."""


class KeyFigure(_Model):
    """One figure of a diagnostic."""

    label: Text
    """What is measured, e.g. "Enfants de moins de 3 ans"."""
    value: Text
    """The figure as printed, e.g. "1 250" or "18 %"."""
    source: str | None = None
    """Where it comes from, e.g. "Insee RP 2019"."""


class Finding(_Model):
    """A finding of the shared diagnostic in one field of intervention."""

    field: InterventionField
    """The field of intervention concerned."""
    text: Text
    """The finding, in French."""


class SharedDiagnostic(_Model):
    """The diagnostic shared by all the parties."""

    summary: Text
    """An introductory paragraph."""
    key_figures: list[KeyFigure] = Field(default_factory=list)
    """Territory-wide figures."""
    findings: list[Finding] = Field(default_factory=list)
    """Findings grouped by field of intervention."""


class Action(_Model):
    """An action of the shared action plan."""

    code: Text
    """Short unique code, e.g. "A1.2"."""
    title: Text
    """Title of the action."""
    field: InterventionField
    """Main field of intervention."""
    objectives: list[Text] = Field(min_length=1)
    """What the action aims at."""
    lead: Text
    """The partner leading it, e.g. "CCVH"."""
    partners: list[Text] = Field(default_factory=list)
    """Other partners involved."""
    communes: list[Text] = Field(default_factory=list)
    """Names of the communes concerned; empty means the whole territory."""
    years: list[int] = Field(min_length=1)
    """Years of implementation (inside the period)."""
    indicators: list[Text] = Field(default_factory=list)
    """Monitoring indicators."""


class Axis(_Model):
    """A strategic axis grouping actions."""

    title: Text
    """Title of the axis."""
    actions: list[Action] = Field(min_length=1)
    """Actions of this axis."""


class CommuneAction(_Model):
    """An action carried by one commune, printed in its annex."""

    title: Text
    """Title of the action."""
    field: InterventionField
    """Field of intervention."""
    description: Text
    """What is done."""
    years: list[int] = Field(min_length=1)
    """Years of implementation (inside the period)."""


class CommuneDiagnostic(_Model):
    """A commune's own diagnostic."""

    key_figures: list[KeyFigure] = Field(default_factory=list)
    """Figures of the commune."""
    text: Text
    """The commune's analysis."""


class Commune(_Model):
    """A member commune of the EPCI that co-signs the convention."""

    name: Text
    """Official name, e.g. "Saint-André-de-Sangonis"."""
    insee: (
        Annotated[str, StringConstraints(pattern=r"^(\d{5}|2[AB]\d{3})$")] | None
    ) = None
    """INSEE code (5 characters), e.g. "34114"."""
    population: int = Field(gt=0)
    """Municipal population."""
    mayor: Person
    """The mayor, who signs for the commune."""
    deliberation: Deliberation
    """Council deliberation authorising the mayor to sign."""
    competences_kept: list[Text] = Field(default_factory=list)
    """Competences the commune kept (not transferred to the EPCI)."""
    diagnostic: CommuneDiagnostic
    """The commune's own diagnostic."""
    actions: list[CommuneAction] = Field(default_factory=list)
    """The commune's own actions."""
    services: list[Text] = Field(default_factory=list)
    """Services and equipment for families on the commune."""
    commitments: list[Text] = Field(default_factory=list)
    """Specific commitments of the commune."""

    @property
    def slug(self) -> str:
        """ASCII slug used in ids and file names."""
        return slugify(self.name)


class Caf(_Model):
    """The Caisse d'allocations familiales."""

    name: Text
    """Full name, e.g. "Caisse d'allocations familiales de l'Hérault"."""
    short_name: Text
    """Short name, e.g. "Caf de l'Hérault"."""
    address: Text
    """Postal address."""
    director: Person
    """The director, who signs."""
    board_president: Person
    """The president of the board of directors, who signs."""
    board_deliberation: Deliberation | None = None
    """Board decision authorising the signature, if any."""


class Epci(_Model):
    """The intercommunality (EPCI)."""

    name: Text
    """Full name, e.g. "Communauté de communes Vallée de l'Hérault"."""
    short_name: Text
    """Acronym, e.g. "CCVH"."""
    siren: Annotated[str, StringConstraints(pattern=r"^\d{9}$")]
    """SIREN number, 9 digits."""
    address: Text
    """Postal address of the seat."""
    president: Person
    """The president, who signs."""
    deliberation: Deliberation
    """Community council deliberation authorising the president to sign."""


class PartnerKind(StrEnum):
    """Kind of co-signing partner."""

    ETAT = "etat"
    DEPARTEMENT = "departement"
    MSA = "msa"
    CPAM = "cpam"
    REGION = "region"
    AUTRE = "autre"


class Partner(_Model):
    """Another co-signing partner (État, Département, MSA…)."""

    id: Slug
    """Stable slug, used in the signatory id ``partenaire-<id>``."""
    kind: PartnerKind
    """Kind of partner."""
    name: Text
    """Full name, e.g. "Département de l'Hérault"."""
    representative: Person
    """Who signs for the partner."""
    capacity: Text
    """Capacity line printed under the signature, e.g. "Le Président du Département"."""
    deliberation: Deliberation | None = None
    """Authorising decision, if any."""


class GovernanceBody(_Model):
    """A steering or technical committee."""

    members: list[Text] = Field(min_length=1)
    """Who sits in it."""
    frequency: Text
    """How often it meets, e.g. "deux fois par an"."""


class Governance(_Model):
    """Governance of the convention."""

    steering: GovernanceBody
    """Comité de pilotage."""
    technical: GovernanceBody
    """Comité technique."""


class Contract(_Model):
    """Another contract the CTG articulates with (contrat de ville, CRTE, PEDT…)."""

    name: Text
    """Name of the contract."""
    description: Text
    """How the CTG articulates with it."""


class Period(_Model):
    """The period of the convention, in whole years."""

    start: int = Field(ge=2000, le=2100)
    """First year."""
    end: int = Field(ge=2000, le=2100)
    """Last year (at most 5 years in all)."""


class Coordinator(_Model):
    """Who follows the signing circuit (receives declines, completion, deadline
    warnings, and the links of signatories without an e-mail address)."""

    name: Text
    """Name, e.g. "Service partenariats de la Caf"."""
    email: str
    """E-mail address."""

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value.strip()):
            raise ValueError(f"not an e-mail address: {value!r} (expected name@domain.fr)")
        return value.strip()


class CircuitPlan(_Model):
    """The order of the signing circuit (``ctg circuit start``)."""

    stages: list[Annotated[list[Slug], Field(min_length=1)]] = Field(min_length=1)
    """Stages in order, each a list of signatory ids signing in any order (e.g. the
    mayors); every signatory exactly once. ``cachet-caf`` names the Caf's seal."""
    coordinator: Coordinator | None = None
    """Who follows the circuit."""


class Reminders(_Model):
    """When the signing circuit reminds a signatory who has not signed."""

    first_after_days: int = Field(default=3, ge=1, le=60)
    """Days after the invitation before the first reminder."""
    every_days: int = Field(default=3, ge=1, le=60)
    """Days between reminders."""
    at_most: int = Field(default=3, ge=0, le=20)
    """At most this many reminders per signatory."""
    deadline_warning_days: int = Field(default=2, ge=0, le=60)
    """Days before the deadline when the coordinator is warned."""


class Signing(_Model):
    """Planned signing date and place."""

    date: dt.date
    """Planned signing date."""
    time: dt.time | None = None
    """Planned time, e.g. 17:00."""
    place: Text | None = None
    """Place, e.g. "Gignac"."""
    circuit: CircuitPlan | None = None
    """Order of the signing circuit (default: the seal, the mayors together, the EPCI
    president, the partners together, the Caf board president, the Caf director)."""
    reminders: Reminders | None = None
    """Reminder settings of the signing circuit."""


class Convention(_Model):
    """A whole Convention territoriale globale."""

    id: Slug
    """Stable slug, names the output folder."""
    title: Text
    """Title, e.g. "Convention territoriale globale 2022-2026"."""
    territory: Text
    """Territory covered, e.g. "Vallée de l'Hérault"."""
    period: Period
    """Years covered."""
    signing: Signing | None = None
    """Planned signing date and place."""
    fields: list[InterventionField] = Field(min_length=1)
    """Fields of intervention covered."""
    caf: Caf
    """The Caf."""
    epci: Epci
    """The EPCI."""
    communes: list[Commune] = Field(min_length=1)
    """Member communes, in the order they appear and sign."""
    partners: list[Partner] = Field(default_factory=list)
    """Other co-signing partners."""
    diagnostic: SharedDiagnostic
    """The shared diagnostic."""
    action_plan: list[Axis] = Field(min_length=1)
    """The action plan, by axis."""
    governance: Governance
    """Steering and technical committees."""
    contracts: list[Contract] = Field(default_factory=list)
    """Other contracts the CTG articulates with."""

    @property
    def actions(self) -> list[Action]:
        """All actions of the plan, in order."""
        return [action for axis in self.action_plan for action in axis.actions]

    @property
    def signatories(self) -> list[Signatory]:
        """The signatories in stable order (see :func:`signatories`)."""
        return signatories(self)


class SignatoryRole(StrEnum):
    """Role of a signatory."""

    CAF_DIRECTOR = "caf-directeur"
    CAF_PRESIDENT = "caf-president"
    EPCI_PRESIDENT = "epci-president"
    MAYOR = "maire"
    PARTNER = "partenaire"


class Signatory(_Model):
    """Someone who signs the convention, derived from the data."""

    id: Slug
    """Stable id, also the signature field name, e.g. ``maire-gignac``."""
    role: SignatoryRole
    """Role of the signatory."""
    person: Person
    """Who signs."""
    organisation: Text
    """Organisation represented, e.g. "Commune de Gignac"."""
    capacity: Text
    """Capacity line printed under the signature, e.g. "Le Maire de Gignac"."""


def signatories(conv: Convention) -> list[Signatory]:
    """Signatories in stable order: Caf director, Caf board president, EPCI president,
    the mayors in data order, then the partners."""
    caf, epci = conv.caf, conv.epci
    result = [
        Signatory(
            id="caf-directeur", role=SignatoryRole.CAF_DIRECTOR, person=caf.director,
            organisation=caf.name,
            capacity=f"{caf.director.article} {_fem('Directeur', caf.director)} "
            f"{de_article(caf.short_name)}",
        ),
        Signatory(
            id="caf-president", role=SignatoryRole.CAF_PRESIDENT, person=caf.board_president,
            organisation=caf.name,
            capacity=f"{caf.board_president.article} {_fem('Président', caf.board_president)}"
            f" du conseil d'administration {de_article(caf.short_name)}",
        ),
        Signatory(
            id="epci-president", role=SignatoryRole.EPCI_PRESIDENT, person=epci.president,
            organisation=epci.name,
            capacity=f"{epci.president.article} {_fem('Président', epci.president)} "
            f"{de_article(epci.name)}",
        ),
    ]
    for commune in conv.communes:
        result.append(Signatory(
            id=f"maire-{commune.slug}", role=SignatoryRole.MAYOR, person=commune.mayor,
            organisation=f"Commune {de(commune.name)}",
            capacity=f"{commune.mayor.article} Maire {de(commune.name)}",
        ))
    for partner in conv.partners:
        result.append(Signatory(
            id=f"partenaire-{partner.id}", role=SignatoryRole.PARTNER,
            person=partner.representative, organisation=partner.name,
            capacity=partner.capacity,
        ))
    return result


def de_article(name: str) -> str:
    """"de" before a common noun phrase: ``Caf de l'Hérault`` → ``de la Caf de l'Hérault``,
    ``Communauté de communes …`` → ``de la Communauté de communes …``."""
    first = name.split(" ", 1)[0]
    if first in {"Caf", "Communauté", "Métropole", "Caisse"}:
        return "de la " + name
    return de(name)


def _fem(title: str, person: Person) -> str:
    if person.civility != "Mme":
        return title
    return {"Directeur": "Directrice", "Président": "Présidente"}.get(title, title)


Location = tuple[str | int, ...]
"""A path into the data, e.g. ``("communes", 4, "mayor", "email")``."""


def check_rules(conv: Convention) -> list[tuple[Location, str]]:
    """Cross-field rules; returns every violation as (path, message with the fix)."""
    problems: list[tuple[Location, str]] = []
    period = conv.period
    years = f"{period.start}–{period.end}"
    if period.end < period.start:
        problems.append((("period", "end"), f"ends before it starts ({years}); "
                         "set end to a year ≥ start"))
    elif period.end - period.start + 1 > 5:
        problems.append((("period", "end"), f"{years} covers {period.end - period.start + 1} "
                         "years; a CTG covers at most 5 years"))
    problems += _unique_communes(conv)
    names = {c.name for c in conv.communes}
    for a_index, axis in enumerate(conv.action_plan):
        for i, action in enumerate(axis.actions):
            loc: Location = ("action_plan", a_index, "actions", i)
            for j, name in enumerate(action.communes):
                if name not in names:
                    hint = _closest(name, names)
                    problems.append(((*loc, "communes", j), f"unknown commune {_clip(name)!r}"
                                     + (f"; did you mean {hint!r}?" if hint else
                                        "; use a name listed under communes")))
            problems += _check_years(action.years, period, (*loc, "years"))
    codes: dict[str, Location] = {}
    for a_index, axis in enumerate(conv.action_plan):
        for i, action in enumerate(axis.actions):
            if action.code in codes:
                problems.append((("action_plan", a_index, "actions", i, "code"),
                                 f"duplicate action code {action.code!r}; codes must be unique"))
            codes.setdefault(action.code, ("action_plan", a_index, "actions", i))
    for c_index, commune in enumerate(conv.communes):
        if len(commune.slug) > 58 or not commune.slug:
            problems.append((("communes", c_index, "name"), f"{commune.name!r} gives the "
                             f"signatory id 'maire-{commune.slug}', which must have 1 to 58 "
                             "letters or digits after 'maire-'; shorten the name"))
        for i, c_action in enumerate(commune.actions):
            problems += _check_years(c_action.years, period,
                                     ("communes", c_index, "actions", i, "years"))
        if commune.mayor.email is None:
            problems.append((("communes", c_index, "mayor", "email"),
                             f"missing e-mail address for the mayor of {commune.name}; "
                             "the signing circuit needs it"))
    problems += _check_deliberations(conv)
    problems += _check_circuit(conv)
    return problems


SEAL_ID = "cachet-caf"
"""Id of the Caf's organisation seal in a circuit's stages."""


def _check_circuit(conv: Convention) -> list[tuple[Location, str]]:
    """Every signatory exactly once in ``signing.circuit.stages``, no unknown id."""
    if conv.signing is None or conv.signing.circuit is None:
        return []
    known = [s.id for s in conv.signatories]
    problems: list[tuple[Location, str]] = []
    seen: dict[str, Location] = {}
    for i, stage in enumerate(conv.signing.circuit.stages):
        for j, sid in enumerate(stage):
            loc: Location = ("signing", "circuit", "stages", i, j)
            if sid not in known and sid != SEAL_ID:
                hint = _closest(sid, set(known))
                problems.append((loc, f"unknown signatory {_clip(sid)!r}" + (
                    f"; did you mean {hint!r}?" if hint else
                    f"; the signatories are {', '.join(known)}")))
            elif sid in seen:
                first = seen[sid]
                problems.append((loc, f"signatory {sid!r} is already in stages[{first[3]}]"
                                 f"[{first[4]}]; list each signatory once"))
            seen.setdefault(sid, loc)
    missing = [sid for sid in known if sid not in seen]
    if missing:
        problems.append((("signing", "circuit", "stages"), "signatories missing from the "
                         f"circuit: {', '.join(missing)}; add each to a stage"))
    return problems


def _unique_communes(conv: Convention) -> list[tuple[Location, str]]:
    problems: list[tuple[Location, str]] = []
    seen_names: dict[str, int] = {}
    seen_insee: dict[str, int] = {}
    for i, commune in enumerate(conv.communes):
        key = commune.slug
        if key in seen_names:
            problems.append((("communes", i, "name"), f"duplicate commune {commune.name!r} "
                             f"(already communes[{seen_names[key]}]); each commune once"))
        seen_names.setdefault(key, i)
        if commune.insee is not None:
            if commune.insee in seen_insee:
                first = seen_insee[commune.insee]
                problems.append((("communes", i, "insee"), f"duplicate INSEE code "
                                 f"{commune.insee!r} (already communes[{first}])"))
            seen_insee.setdefault(commune.insee, i)
    return problems


def _check_years(years: list[int], period: Period, loc: Location) -> list[tuple[Location, str]]:
    return [((*loc, i), f"year {year} is outside the period {period.start}–{period.end}")
            for i, year in enumerate(years) if not period.start <= year <= period.end]


def _check_deliberations(conv: Convention) -> list[tuple[Location, str]]:
    if conv.signing is None:
        return []
    signing = conv.signing.date
    delibs: list[tuple[Location, Deliberation | None]] = [
        (("epci", "deliberation"), conv.epci.deliberation),
        (("caf", "board_deliberation"), conv.caf.board_deliberation),
    ]
    delibs += [(("communes", i, "deliberation"), c.deliberation)
               for i, c in enumerate(conv.communes)]
    delibs += [(("partners", i, "deliberation"), p.deliberation)
               for i, p in enumerate(conv.partners)]
    return [((*loc, "date"), f"deliberation of {d.date.isoformat()} is not before the signing "
             f"date {signing.isoformat()}; the assembly must decide before the signature")
            for loc, d in delibs if d is not None and d.date >= signing]


def _clip(text: str, limit: int = 60) -> str:
    """``text`` cut to ``limit`` characters for a message."""
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _closest(name: str, names: set[str]) -> str | None:
    """The known name closest to ``name`` (a typo hint); none for a name over 100
    characters (no typo, and difflib's cost grows with its square)."""
    import difflib

    if len(name) > 100:
        return None
    matches = difflib.get_close_matches(name, sorted(names), n=1, cutoff=0.75)
    return matches[0] if matches else None
