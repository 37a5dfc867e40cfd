"""Tests of ctgdocs.load: the reference data, synthetic data and precise error reports."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from ctgdocs.exceptions import DataError, InputError
from ctgdocs.load import load_convention, load_convention_text
from ctgdocs.model import Convention

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
SYNTHETIC = ROOT / "examples" / "synthetic.py"

REFERENCE_COMMUNES = [
    "Aniane", "Gignac", "La Boissière", "Le Pouget", "Montarnaud", "Saint-André-de-Sangonis",
    "Saint-Jean-de-Fos", "Saint-Pargoire", "Saint-Paul-et-Valmalle", "Vendémian",
    "Montpeyroux", "Argelliers", "Pouzols",
]


def _synthetic_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synthetic", SYNTHETIC)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def reference() -> Convention:
    return load_convention(REFERENCE)


# --------------------------------------------------------------------------- reference data


def test_reference_loads(reference: Convention) -> None:
    assert reference.id == "vallee-herault-2022-2026"
    assert [c.name for c in reference.communes] == REFERENCE_COMMUNES
    assert (reference.period.start, reference.period.end) == (2022, 2026)
    assert reference.epci.siren == "243400694"
    assert reference.partners == []


def test_reference_is_substantive(reference: Convention) -> None:
    assert len(reference.actions) >= 12
    assert len(reference.action_plan) >= 4
    assert len({a.field for a in reference.actions}) >= 6
    assert len(reference.diagnostic.key_figures) >= 8
    for commune in reference.communes:
        assert 3 <= len(commune.diagnostic.key_figures) <= 5, commune.name
        assert len(commune.actions) >= 2, commune.name
        assert commune.services and commune.commitments, commune.name


def test_reference_signatories(reference: Convention) -> None:
    signatories = reference.signatories
    ids = [s.id for s in signatories]
    assert ids == [
        "caf-directeur", "caf-president", "epci-president",
        "maire-aniane", "maire-gignac", "maire-la-boissiere", "maire-le-pouget",
        "maire-montarnaud", "maire-saint-andre-de-sangonis", "maire-saint-jean-de-fos",
        "maire-saint-pargoire", "maire-saint-paul-et-valmalle", "maire-vendemian",
        "maire-montpeyroux", "maire-argelliers", "maire-pouzols",
    ]
    capacity = {s.id: s.capacity for s in signatories}
    assert capacity["caf-directeur"] == "Le Directeur de la Caf de l'Hérault"
    assert capacity["caf-president"] == (
        "Le Président du conseil d'administration de la Caf de l'Hérault")
    assert capacity["epci-president"] == (
        "Le Président de la Communauté de communes Vallée de l'Hérault")
    assert capacity["maire-le-pouget"] == "Le Maire du Pouget"
    assert capacity["maire-aniane"] == "Le Maire d'Aniane"
    assert capacity["maire-la-boissiere"] == "Le Maire de La Boissière"
    assert capacity["maire-montarnaud"] == "La Maire de Montarnaud"


def test_reference_people(reference: Convention) -> None:
    assert reference.caf.director.formal_name == "M. Thierry Mathieu"
    assert reference.caf.board_president.formal_name == "M. Laurent Teissier"
    assert reference.epci.president.formal_name == "M. Jean-François Soto"
    assert reference.epci.deliberation.body == "conseil communautaire"
    assert reference.signing is not None
    assert str(reference.signing.date) == "2023-02-06"
    assert str(reference.signing.time) == "17:00:00"
    assert reference.signing.place == "Gignac"


# --------------------------------------------------------------------------- synthetic data


def test_synthetic_50_communes_loads() -> None:
    text = _synthetic_module().synthetic_convention_yaml(50, seed=7)
    conv = load_convention_text(text, "synthetic.yaml")
    assert len(conv.communes) == 50
    assert len(conv.signatories) == 53
    assert len({s.id for s in conv.signatories}) == 53


def test_synthetic_is_deterministic_and_seeded() -> None:
    module = _synthetic_module()
    assert module.synthetic_convention_yaml(20, seed=3) == module.synthetic_convention_yaml(
        20, seed=3)
    assert module.synthetic_convention_yaml(20, seed=3) != module.synthetic_convention_yaml(
        20, seed=4)


@pytest.mark.parametrize(("communes", "partners"), [(1, 0), (13, 2), (300, 6)])
def test_synthetic_sizes_load(communes: int, partners: int) -> None:
    text = _synthetic_module().synthetic_convention_yaml(communes, seed=1, partners=partners)
    conv = load_convention_text(text, "synthetic.yaml")
    assert len(conv.signatories) == 3 + communes + partners


def test_synthetic_cli_writes_a_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "big.yaml"
    subprocess.run([sys.executable, str(SYNTHETIC), "--communes", "50", "--seed", "2",
                    "--partners", "3", "-o", str(out)], check=True, capture_output=True)
    assert len(load_convention(out).signatories) == 56


# --------------------------------------------------------------------------- invalid data

INVALID: dict[str, list[str]] = {
    "typo-key.yaml": [
        "typo-key.yaml:34:7 communes[0].mayor.emial: unknown key 'emial'; "
        "did you mean 'email'?",
    ],
    "bad-email.yaml": [
        "bad-email.yaml:34:14 communes[0].mayor.email: not an e-mail address: "
        "'maire.aniane.fr' (expected name@domain.fr)",
    ],
    "bad-insee.yaml": [
        "bad-insee.yaml:28:12 communes[0].insee: not an INSEE code: '3401' "
        "(expected 5 characters, e.g. '34114', or '2A004' in Corsica)",
    ],
    "duplicate-commune.yaml": [
        "duplicate-commune.yaml:37:11 communes[1].name: duplicate commune 'Aniane' "
        "(already communes[0]); each commune once",
    ],
    "duplicate-insee.yaml": [
        "duplicate-insee.yaml:38:12 communes[1].insee: duplicate INSEE code '34010' "
        "(already communes[0])",
    ],
    "unknown-action-commune.yaml": [
        "unknown-action-commune.yaml:57:20 action_plan[0].actions[0].communes[0]: "
        "unknown commune 'Anianne'; did you mean 'Aniane'?",
    ],
    "year-outside-period.yaml": [
        "year-outside-period.yaml:58:23 action_plan[0].actions[0].years[1]: "
        "year 2027 is outside the period 2022–2026",
    ],
    "period-too-long.yaml": [
        "period-too-long.yaml:7:8 period.end: 2022–2028 covers 7 years; "
        "a CTG covers at most 5 years",
    ],
    "deliberation-after-signing.yaml": [
        "deliberation-after-signing.yaml:45:26 communes[1].deliberation.date: "
        "deliberation of 2023-02-10 is not before the signing date 2023-02-06; "
        "the assembly must decide before the signature",
    ],
    "empty-mayor-name.yaml": [
        "empty-mayor-name.yaml:43:18 communes[1].mayor.last_name: must not be empty; "
        "write a value",
    ],
    "wrong-field-enum.yaml": [
        "wrong-field-enum.yaml:54:16 action_plan[0].actions[0].field: invalid value "
        "'petite_enfance'; did you mean 'petite-enfance'? (allowed: petite-enfance, enfance, "
        "jeunesse, parentalite, animation-vie-sociale, acces-aux-droits, logement, handicap, "
        "inclusion-numerique, autre)",
    ],
    "bad-date.yaml": [
        "bad-date.yaml:35:26 communes[0].deliberation.date: not a date: '15/12/2022'; "
        "write YYYY-MM-DD",
    ],
    "yaml-syntax-error.yaml": [
        "yaml-syntax-error.yaml:13:4: YAML syntax error: did not find expected ',' or ']'; "
        "check the list '[' opened at line 12, column 9; close it with ']'",
    ],
    "duplicate-key.yaml": [
        "duplicate-key.yaml:30:5 communes[0].population: duplicate key 'population' "
        "(first at line 29); keep only one",
    ],
    "missing-key.yaml": [
        "missing-key.yaml:37:5 communes[1]: missing required key 'mayor'",
    ],
    "several-errors.yaml": [
        "several-errors.yaml:31:17 communes[0].mayor.civility: invalid value 'Mrs' "
        "(allowed: M., Mme)",
        "several-errors.yaml:34:7 communes[0].mayor.emial: unknown key 'emial'; "
        "did you mean 'email'?",
        "several-errors.yaml:38:12 communes[1].insee: not an INSEE code: '342O8' "
        "(expected 5 characters, e.g. '34114', or '2A004' in Corsica)",
        "several-errors.yaml:39:17 communes[1].population: not a whole number: "
        "'deux mille'; write digits only, e.g. 1250",
        "several-errors.yaml:44:14 communes[1].mayor.email: not an e-mail address: "
        "'mairie@lepouget' (expected name@domain.fr)",
        "several-errors.yaml:54:16 action_plan[0].actions[0].field: invalid value "
        "'petite_enfance'; did you mean 'petite-enfance'? (allowed: petite-enfance, enfance, "
        "jeunesse, parentalite, animation-vie-sociale, acces-aux-droits, logement, handicap, "
        "inclusion-numerique, autre)",
        "several-errors.yaml:60:3 governance: missing required key 'steering'",
    ],
}


def test_minimal_base_is_valid(resources: Path) -> None:
    conv = load_convention(resources / "minimal.yaml")
    assert [s.id for s in conv.signatories][-2:] == ["maire-aniane", "maire-le-pouget"]


def test_every_invalid_file_is_covered(resources: Path) -> None:
    on_disk = {p.name for p in (resources / "invalid").glob("*.yaml")}
    assert on_disk == set(INVALID)
    assert len(on_disk) >= 14


@pytest.mark.parametrize("name", sorted(INVALID))
def test_invalid_file_reports_exact_problems(
        name: str, resources: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(resources / "invalid")
    before = sorted(p.name for p in Path().iterdir())
    with pytest.raises(DataError) as info:
        load_convention(name)
    assert info.value.problems == INVALID[name]
    count = len(INVALID[name])
    noun = "problem" if count == 1 else "problems"
    assert str(info.value) == f"{name}: {count} {noun} in the convention data"
    assert sorted(p.name for p in Path().iterdir()) == before


def test_file_name_is_the_path_as_given(resources: Path) -> None:
    path = resources / "invalid" / "bad-email.yaml"
    with pytest.raises(DataError) as info:
        load_convention(path)
    assert info.value.problems[0].startswith(f"{path}:34:14 ")


# --------------------------------------------------------------------------- file-level errors


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.yaml"
    with pytest.raises(InputError) as info:
        load_convention(path)
    assert str(info.value) == f"{path}: no such file; check the path to the convention data"


def test_folder_instead_of_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="is a folder"):
        load_convention(tmp_path)


def test_not_utf8(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    Path("latin1.yaml").write_bytes("id: x\ntitle: Convention\nterritory: Hérault\n"
                                    .encode("latin-1"))
    with pytest.raises(DataError) as info:
        load_convention("latin1.yaml")
    assert info.value.problems == [
        "latin1.yaml:3:13: not valid UTF-8 (byte 0xe9); the file is probably Windows-1252 or "
        "Latin-1, where it is 'é'; save the file with UTF-8 encoding"]


@pytest.mark.parametrize("text", ["", "- a list\n", "just text\n"])
def test_document_must_be_a_mapping(text: str) -> None:
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert len(info.value.problems) == 1
    assert info.value.problems[0].startswith("c.yaml:1:1: the document must be a mapping")


def test_tabs_are_explained() -> None:
    with pytest.raises(DataError) as info:
        load_convention_text("id: x\nperiod:\n\tstart: 2022\n", "c.yaml")
    assert info.value.problems[0].startswith("c.yaml:3:1: YAML syntax error: ")
    assert info.value.problems[0].endswith("; indent with spaces, not tabs")


def test_several_documents_are_refused() -> None:
    with pytest.raises(DataError) as info:
        load_convention_text("id: x\n---\nid: y\n", "c.yaml")
    assert info.value.problems == [
        "c.yaml:2:1: YAML syntax error: expected a single document in the stream, "
        "but found another document; keep one convention per file (remove the '---' line)"]


def test_unknown_key_without_close_match_lists_allowed_keys(resources: Path) -> None:
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("  short_name: CCVT\n", "  short_name: CCVT\n  zzz: 1\n")
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert info.value.problems == [
        "c.yaml:22:3 epci.zzz: unknown key 'zzz'; allowed keys: name, short_name, siren, "
        "address, president, deliberation"]


def test_plain_scalars_stay_text(resources: Path) -> None:
    """Unquoted numbers keep their digits (leading zeros) where the model wants text."""
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace('insee: "34010"', "insee: 01004").replace('"2022-118"', "118")
    text = text.replace('time: "17:00"', "time: 17:00")
    conv = load_convention_text(text, "c.yaml")
    assert conv.communes[0].insee == "01004"
    assert conv.epci.deliberation.number == "118"
    assert conv.signing is not None and str(conv.signing.time) == "17:00:00"


def test_missing_mayor_email_points_at_the_mayor(resources: Path) -> None:
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("      email: mairie@lepouget.fr\n", "")
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert info.value.problems == [
        "c.yaml:41:7 communes[1].mayor.email: missing e-mail address for the mayor of "
        "Le Pouget; the signing circuit needs it"]


def test_alias_bomb_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ctgdocs.load._MAX_VALUES", 10_000)
    levels = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 9)]
    with pytest.raises(DataError) as info:
        load_convention_text("\n".join(levels) + "\n", "c.yaml")
    assert info.value.problems[0].endswith(
        ": the data expands to more than 10,000 values; check the aliases ('*name')")


def test_anchors_and_merge_keys(resources: Path) -> None:
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("  steering: {members: [Caf, CCVT], frequency: une fois par an}",
                        "  steering: &committee {members: [Caf, CCVT], frequency: une fois par an}")
    text = text.replace("  technical: {members: [Caf, CCVT], frequency: deux fois par an}",
                        "  technical: {<<: *committee, frequency: deux fois par an}")
    conv = load_convention_text(text, "c.yaml")
    assert conv.governance.technical.members == ["Caf", "CCVT"]
    assert conv.governance.technical.frequency == "deux fois par an"


@pytest.mark.parametrize(("empty", "col"), [("", 13), (" ~", 14), (" null", 14)])
def test_empty_plain_value_is_nothing(resources: Path, empty: str, col: int) -> None:
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("      email: mairie@lepouget.fr\n", f"      email:{empty}\n")
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert info.value.problems == [
        f"c.yaml:44:{col} communes[1].mayor.email: missing e-mail address for the mayor of "
        "Le Pouget; the signing circuit needs it"]


def test_quoted_empty_value_is_text(resources: Path) -> None:
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("      email: mairie@lepouget.fr\n", "      email: ''\n")
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert info.value.problems == [
        "c.yaml:44:14 communes[1].mayor.email: not an e-mail address: '' "
        "(expected name@domain.fr)"]


def test_pure_python_composer_gives_the_same_positions(
        resources: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml, PyYAML's Python composer is used; schema problems are identical."""
    import yaml

    monkeypatch.setattr("ctgdocs.load._Loader", yaml.SafeLoader)
    monkeypatch.chdir(resources / "invalid")
    for name, expected in INVALID.items():
        if name == "yaml-syntax-error.yaml":  # libyaml words syntax errors differently
            continue
        with pytest.raises(DataError) as info:
            load_convention(name)
        assert info.value.problems == expected, name
    assert len(load_convention(REFERENCE).communes) == 13


# --------------------------------------------------------------------------- hostile text
# (whole files through `ctg check` / `ctg build`: tests/test_hostile_data.py)

LOADERS = [pytest.param("C", id="libyaml"), pytest.param("Python", id="pure-python")]


@pytest.fixture(params=LOADERS)
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Each test runs with libyaml's parser and with PyYAML's pure-Python one."""
    import yaml

    if request.param == "Python":
        monkeypatch.setattr("ctgdocs.load._Loader", yaml.SafeLoader)
    return str(request.param)


def _plain_with_positions(node, loc=(), positions=None):
    """A PyYAML composer's tree as plain data and {path: (line, col)} (reference only:
    no aliases, merges or nulls there)."""
    from yaml.nodes import MappingNode, SequenceNode

    positions = {} if positions is None else positions
    positions.setdefault(loc, (node.start_mark.line + 1, node.start_mark.column + 1))
    if isinstance(node, MappingNode):
        return {k.value: _plain_with_positions(v, (*loc, k.value), positions)[0]
                for k, v in node.value}, positions
    if isinstance(node, SequenceNode):
        return [_plain_with_positions(v, (*loc, i), positions)[0]
                for i, v in enumerate(node.value)], positions
    return node.value, positions


@pytest.mark.parametrize("communes", [0, 50])
def test_event_composer_matches_pyyaml_composer(communes: int, loader: str) -> None:
    """The tree built from the parser's events has the data and positions of the tree
    libyaml's recursive composer builds (0 = the reference convention)."""
    import yaml

    from ctgdocs import load

    text = (REFERENCE.read_text(encoding="utf-8") if not communes else
            _synthetic_module().synthetic_convention_yaml(communes, seed=5))
    data, positions = _plain_with_positions(yaml.compose(text, Loader=yaml.CSafeLoader))
    doc = load._parse(text)
    assert doc.problems == []
    assert doc.data == data
    assert doc.values == positions


@pytest.mark.parametrize(("text", "problem"), [
    ("id: [" + "[" * 5000, "c.yaml:1:104: nested more than 100 levels deep (a convention "
     "needs 6); check the brackets '[', '{' and the indentation"),
    ("id: &a [x, *a]\n", "c.yaml:1:12: the alias '*a' is inside the node it repeats (a "
     "loop); an alias may only repeat a node complete before it"),
    ("id: &a {b: *a}\n", "c.yaml:1:12: the alias '*a' is inside the node it repeats (a "
     "loop); an alias may only repeat a node complete before it"),
    ("id: &a x\ntitle: &a y\n", "c.yaml:2:8: the anchor '&a' is already defined at line 1, "
     "column 5; give each anchor its own name"),
    ("id: *nowhere\n", "c.yaml:1:5: YAML syntax error: found undefined alias 'nowhere'; "
     "define the anchor '&name' before using '*name'"),
    ("id: x\ntitle: a\x00b\n", "c.yaml:2:9: the NUL character (U+0000) is not allowed in "
     "YAML text; delete it (the file may be damaged)"),
    ("id: Vallée\ntitle: \x85\x9f\n", "c.yaml:2:9: the control character U+009F is not "
     "allowed in YAML text; delete it (the file may be damaged)"),
    ("id: \ufffe\n", "c.yaml:1:5: the character U+FFFE is not allowed in YAML text; delete "
     "it (the file may be damaged)"),
])
def test_hostile_text_is_a_located_problem(text: str, problem: str, loader: str) -> None:
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert info.value.problems == [problem]


def test_alias_chain_deeper_than_the_limit_points_at_the_outermost_alias(loader: str) -> None:
    text = "a0: &a0 [x]\n" + "".join(f"a{i}: &a{i} [*a{i - 1}]\n" for i in range(1, 120))
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert info.value.problems == [  # a99's list holds *a98 ... down to a0: 101 levels
        "c.yaml:100:12: the data nests more than 100 levels deep through aliases; check the "
        "aliases ('*name')"]


@pytest.mark.parametrize("text", ["id: x\ntitle: a\x00b\n", "id: Vallée\ntitle: é\x07\n"])
def test_a_character_the_parser_refuses_is_located_even_if_unforeseen(
        text: str, loader: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Were the character check to miss one, the parser's own refusal (a byte offset from
    libyaml, a character index from PyYAML) still becomes the same located problem."""
    import re

    with pytest.raises(DataError) as expected:
        load_convention_text(text, "c.yaml")
    monkeypatch.setattr("ctgdocs.load._NOT_YAML", re.compile("(?!)"))
    with pytest.raises(DataError) as info:
        load_convention_text(text, "c.yaml")
    assert info.value.problems == expected.value.problems
    assert info.value.problems[0].startswith("c.yaml:2:")


def test_aliases_and_merges_through_aliases(resources: Path, loader: str) -> None:
    text = (resources / "minimal.yaml").read_text(encoding="utf-8")
    text = text.replace("  steering: {members: [Caf, CCVT], frequency: une fois par an}",
                        "  steering: &committee {members: &members [Caf, CCVT], "
                        "frequency: une fois par an}")
    text = text.replace("  technical: {members: [Caf, CCVT], frequency: deux fois par an}",
                        "  technical: {<<: [*committee], members: *members, "
                        "frequency: deux fois par an}")
    conv = load_convention_text(text, "c.yaml")
    assert conv.governance.technical.members == ["Caf", "CCVT"]
    assert conv.governance.technical.frequency == "deux fois par an"


def test_long_values_and_keys_are_clipped_in_messages() -> None:
    key, value = "k" * 500, "v" * 500
    with pytest.raises(DataError) as info:
        load_convention_text(f"id: {value}\n{key}: 1\n", "c.yaml")
    on_id = next(p for p in info.value.problems if p.startswith("c.yaml:1:5 id: "))
    assert len(on_id) < 200 and "'" + "v" * 59 + "…'" in on_id
    assert any(p.startswith(f"c.yaml:2:1 {'k' * 59}…: unknown key '{'k' * 59}…'; ")
               for p in info.value.problems), info.value.problems


def test_limits_keep_the_largest_synthetic_conventions() -> None:
    """1,000 communes (about 50,000 values, 1.3 MB) load: the limits are far above any
    real CTG (the largest French intercommunality has 158 communes)."""
    text = _synthetic_module().synthetic_convention_yaml(1000, seed=1)
    assert len(text.encode("utf-8")) < 2 * 2**20
    assert len(load_convention_text(text, "big.yaml").communes) == 1000


def test_no_typo_hint_for_long_words() -> None:
    """difflib indexes the whole word: an 8 MB value would cost 300 MB for a hint."""
    from ctgdocs.load import _close_match

    assert _close_match("titel", ["id", "title"]) == "title"
    assert _close_match("t" * 101, ["t" * 100]) is None
