"""Tests of the Word templates, their rendering and ``check-templates``."""

from __future__ import annotations

import datetime as dt
import io
import json
import shutil
import subprocess
import zipfile
from pathlib import Path

import docx
import pytest
from lxml import etree

from ctgdocs.exceptions import TemplateError
from ctgdocs.load import load_convention
from ctgdocs.model import Convention, signatories
from ctgdocs.render import (
    ANNEX_TEMPLATE,
    MAIN_TEMPLATE,
    annex_context,
    annex_filename,
    french_date,
    french_datetime,
    french_number,
    french_years,
    main_context,
    render_bytes,
    render_docx,
)
from ctgdocs.templates_check import (
    TemplateProblem,
    check_template,
    check_templates,
    declared_contexts,
    sample_convention,
)

SEE_README = "(see templates/README.md for the declared keys)"


@pytest.fixture(scope="session")
def templates(root: Path) -> Path:
    """The project's templates folder."""
    return root / "templates"


@pytest.fixture(scope="session")
def samples(root: Path) -> Path:
    """``tests/resources/templates`` (broken templates, see its README)."""
    return root / "tests" / "resources" / "templates"


@pytest.fixture(scope="session")
def reference(root: Path) -> Convention:
    """The 13-commune reference convention."""
    return load_convention(root / "examples" / "vallee-herault" / "convention.yaml")


@pytest.fixture(scope="session")
def rendered(reference: Convention, templates: Path,
             tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference convention and its 13 annexes, rendered once."""
    out = tmp_path_factory.mktemp("rendered")
    render_docx(templates / MAIN_TEMPLATE, main_context(reference), out / "convention.docx")
    for index, commune in enumerate(reference.communes):
        render_docx(templates / ANNEX_TEMPLATE, annex_context(reference, index),
                    out / annex_filename(commune))
    return out


def _text(path: Path) -> str:
    document = docx.Document(str(path))
    lines = [p.text for p in document.paragraphs]
    for table in document.tables:
        lines += [p.text for row in table.rows for cell in row.cells for p in cell.paragraphs]
    return "\n".join(lines)


# --- check-templates ------------------------------------------------------------------------

def test_real_templates_check_clean(templates: Path) -> None:
    assert check_templates(templates) == []


def test_undeclared_variable_is_located(samples: Path) -> None:
    path = samples / "undeclared-variable.docx"
    problems = check_template(path, declared_contexts()[ANNEX_TEMPLATE])
    maire = f'undeclared variable "commune.maire_nom": no key "maire_nom" here {SEE_README}'
    assert problems == [
        TemplateProblem(path.name, "paragraph 3", "Maire : {{ commune.maire_nom }}", maire),
        TemplateProblem(path.name, "paragraph 4", "Code : {{ foo }}",
                        'undeclared variable "foo": not in the context of '
                        "undeclared-variable.docx (see templates/README.md)"),
        TemplateProblem(path.name, "table 1, row 1, cell 2, paragraph 1",
                        "{{ commune.maire_nom }}", maire),
    ]


def test_unclosed_for_is_located_at_its_opening(samples: Path) -> None:
    path = samples / "unclosed-for.docx"
    assert check_template(path, declared_contexts()[MAIN_TEMPLATE]) == [TemplateProblem(
        path.name, "paragraph 2", "{%p for axis in axes %}",
        '"{% for %}" is never closed: add "{% endfor %}" (or "{%p endfor %}" in its own '
        "paragraph)")]


def test_broken_tag_is_located(samples: Path) -> None:
    path = samples / "broken-tag.docx"
    assert check_template(path, declared_contexts()[MAIN_TEMPLATE]) == [TemplateProblem(
        path.name, "paragraph 2", "Convention : {{ title }",
        'unclosed tag "{{": no matching "}}" in this paragraph (a tag must open and close in '
        "the same paragraph)")]


def test_unknown_filter_is_reported(samples: Path) -> None:
    path = samples / "unknown-filter.docx"
    assert check_template(path, declared_contexts()[MAIN_TEMPLATE]) == [TemplateProblem(
        path.name, "paragraph 2", "{{ title|frdate }}", 'unknown filter "frdate"')]


def test_tag_split_by_tracked_change_is_reported(samples: Path) -> None:
    path = samples / "tracked-deletion.docx"
    [problem] = check_template(path, declared_contexts()[MAIN_TEMPLATE])
    assert (problem.location, problem.excerpt) == ("paragraph 2", "{{ title }}")
    assert problem.message.startswith('tag "{{ title }}" is split across Word runs')


def test_tag_split_across_formatted_runs_still_works(samples: Path, outdir: Path) -> None:
    path = samples / "split-runs.docx"
    assert check_template(path, declared_contexts()[MAIN_TEMPLATE]) == []
    render_docx(path, {"title": "Convention X"}, outdir / "out.docx")
    assert "Convention X" in _text(outdir / "out.docx")


def test_missing_template_is_reported(tmp_path: Path, templates: Path) -> None:
    shutil.copy(templates / MAIN_TEMPLATE, tmp_path / MAIN_TEMPLATE)
    [problem] = check_templates(tmp_path)
    assert (problem.template, problem.location) == (ANNEX_TEMPLATE, "file")
    assert "missing template" in problem.message


def test_declared_contexts_have_the_reference_keys(reference: Convention) -> None:
    declared = declared_contexts()
    assert declared[MAIN_TEMPLATE].keys() == main_context(reference).keys()
    assert declared[ANNEX_TEMPLATE]["commune"].keys() == annex_context(reference, 0)[
        "commune"].keys()


# --- rendering ------------------------------------------------------------------------------

def test_undefined_variable_is_an_error_not_a_blank(samples: Path, outdir: Path) -> None:
    context = annex_context(sample_convention(), 0) | {"foo": "x"}
    with pytest.raises(TemplateError, match=r"undeclared-variable\.docx.*maire_nom"):
        render_docx(samples / "undeclared-variable.docx", context, outdir / "out.docx")
    assert list(outdir.iterdir()) == []


def test_broken_template_is_a_template_error(samples: Path, outdir: Path) -> None:
    with pytest.raises(TemplateError, match=r"broken-tag\.docx"):
        render_docx(samples / "broken-tag.docx", main_context(sample_convention()),
                    outdir / "out.docx")


def test_contexts_are_plain_json(reference: Convention) -> None:
    for context in (main_context(reference), annex_context(reference, 4)):
        assert json.loads(json.dumps(context, sort_keys=True)) == context


def test_main_context_ignores_commune_details(reference: Convention) -> None:
    commune = reference.communes[3]
    changed_diag = commune.diagnostic.model_copy(update={"text": "Autre analyse."})
    changed = commune.model_copy(update={"diagnostic": changed_diag,
                                         "services": ["Nouvelle crèche"]})
    communes = [changed if c is commune else c for c in reference.communes]
    other = reference.model_copy(update={"communes": communes})
    assert main_context(other) == main_context(reference)
    assert annex_context(other, 3) != annex_context(reference, 3)
    assert annex_context(other, 2) == annex_context(reference, 2)


def test_reference_convention_names_every_party(rendered: Path, reference: Convention) -> None:
    text = _text(rendered / "convention.docx")
    for commune in reference.communes:
        assert commune.mayor.formal_name in text
        assert f"n° {commune.deliberation.number} du " in text
    assert reference.epci.deliberation.number in text
    assert "tribunal administratif de Montpellier" in text
    assert "{{" not in text and "{%" not in text


def test_reference_annexes(rendered: Path, reference: Convention) -> None:
    for number, commune in enumerate(reference.communes, start=1):
        text = _text(rendered / annex_filename(commune))
        assert f"Annexe n° {number}" in text
        assert commune.mayor.formal_name in text
        assert commune.deliberation.number in text
        assert commune.diagnostic.text in text
        assert "{{" not in text and "{%" not in text


def test_signature_blocks_follow_the_contract(rendered: Path, reference: Convention) -> None:
    document = docx.Document(str(rendered / "convention.docx"))
    headings = [p for p in document.paragraphs if p.text == "Signatures"]
    assert len(headings) == 1 and headings[0].paragraph_format.page_break_before
    assert any(p.text == "Fait à Gignac, le 6 février 2023, en un exemplaire électronique."
               for p in document.paragraphs)
    table = document.tables[-1]
    cells = [cell for row in table.rows for cell in row.cells]
    expected = signatories(reference)
    for cell, signatory in zip(cells, expected, strict=False):
        capacity, name, area, caption = cell.paragraphs
        assert capacity.text == signatory.capacity and capacity.runs[0].bold is not False
        assert capacity.style.font.bold
        assert name.text == signatory.person.formal_name
        assert area.text == "" and area.style.paragraph_format.line_spacing.cm >= 2.4
        assert caption.text == f"Champ de signature : {signatory.id}"
        assert caption.style.font.size.pt == 7
    assert [c.paragraphs[-1].text for c in cells if c.paragraphs[-1].text] == [
        f"Champ de signature : {s.id}" for s in expected]
    for row in table.rows:
        assert row._tr.trPr.find(docx.oxml.ns.qn("w:cantSplit")) is not None


def test_rendering_is_deterministic(reference: Convention, templates: Path) -> None:
    from ctgdocs.render import _Template

    context = main_context(reference)
    _Template._patched.clear()  # the first rendering cleans the XML up, the second reuses it
    first = render_bytes(templates / MAIN_TEMPLATE, context)
    assert _Template._patched
    assert render_bytes(templates / MAIN_TEMPLATE, context) == first
    with zipfile.ZipFile(io.BytesIO(first)) as archive:
        assert {i.date_time for i in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


@pytest.mark.parametrize("name", [MAIN_TEMPLATE, ANNEX_TEMPLATE])
def test_rendered_zip_is_docxtpl_save_normalised(reference: Convention, templates: Path,
                                                 name: str) -> None:
    """The zip is written in one pass, with the very bytes docxtpl's ``save`` followed by
    ``normalise_zip`` gives (as earlier builds wrote them)."""
    from ctgdocs.render import _Template, jinja_environment, normalise_zip

    context = main_context(reference) if name == MAIN_TEMPLATE else annex_context(reference, 0)
    doc = _Template(io.BytesIO((templates / name).read_bytes()))
    doc.render(context, jinja_environment(), autoescape=True)
    saved = io.BytesIO()
    doc.save(saved)
    assert render_bytes(templates / name, context) == normalise_zip(saved.getvalue())


def test_rendering_without_python_docx_writer_internals(reference: Convention,
                                                        templates: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A python-docx whose package writer lacks the steps the one-pass writer calls:
    rendering uses python-docx's own save instead, same bytes (no template error)."""
    from docx.opc.phys_pkg import PhysPkgWriter
    from docx.opc.pkgwriter import PackageWriter

    context = annex_context(reference, 0)
    expected = render_bytes(templates / ANNEX_TEMPLATE, context)
    steps = {name: getattr(PackageWriter, name) for name in
             ("_write_content_types_stream", "_write_pkg_rels", "_write_parts")}

    def write(pkg_file: object, pkg_rels: object, parts: object) -> None:
        # a reorganised writer: the same zip, written without those static methods
        phys = PhysPkgWriter(pkg_file)
        steps["_write_content_types_stream"](phys, parts)
        steps["_write_pkg_rels"](phys, pkg_rels)
        steps["_write_parts"](phys, parts)
        phys.close()

    for name in steps:
        monkeypatch.delattr(PackageWriter, name)
    monkeypatch.setattr(PackageWriter, "write", staticmethod(write))
    assert render_bytes(templates / ANNEX_TEMPLATE, context) == expected


@pytest.mark.parametrize("name", [MAIN_TEMPLATE, ANNEX_TEMPLATE])
def test_templates_are_lean(templates: Path, name: str) -> None:
    """LibreOffice imports every style definition of every rendered document: the shipped
    templates keep only the styles they use (and what those are based on or link to)."""
    w = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
    with zipfile.ZipFile(templates / name) as archive:
        names = set(archive.namelist())
        assert not names & {"word/stylesWithEffects.xml", "docProps/thumbnail.jpeg"}
        styles = etree.fromstring(archive.read("word/styles.xml"))
        text = b"".join(archive.read(n) for n in names
                        if n.startswith("word/") and n != "word/styles.xml")
    defined = {s.get(f"{w}styleId"): s for s in styles.findall(f"{w}style")}
    referenced = {link.get(f"{w}val") for s in defined.values()
                  for link in s if link.tag in (f"{w}basedOn", f"{w}next", f"{w}link")}
    unused = [i for i, s in defined.items()
              if s.get(f"{w}default") != "1" and i not in referenced
              and f'w:val="{i}"'.encode() not in text]
    assert unused == [], "regenerate the templates with templates/src/make_templates.py"
    assert len(defined) < 40


def test_french_formatting() -> None:
    assert french_date(dt.date(2023, 2, 6)) == "6 février 2023"
    assert french_date(dt.date(2022, 12, 1)) == "1er décembre 2022"
    # one wording for every date and time people read (mails, portal, archive report):
    # Paris time, the hour without a leading zero
    assert french_datetime(dt.datetime(2023, 2, 6, 16, 0, tzinfo=dt.UTC)) \
        == "6 février 2023 à 17 h 00"
    assert french_datetime(dt.datetime(2023, 7, 1, 7, 5, tzinfo=dt.UTC)) \
        == "1er juillet 2023 à 9 h 05"
    assert french_number(12345) == "12\u202f345"
    assert french_number(950) == "950"
    assert french_years([2024, 2023, 2025]) == "2023 à 2025"
    assert french_years([2023, 2025]) == "2023 et 2025"
    assert french_years([2026]) == "2026"


def test_annex_filename(reference: Convention) -> None:
    names = [annex_filename(c) for c in reference.communes]
    assert "annexe-saint-andre-de-sangonis.docx" in names
    assert len(set(names)) == len(names)


# --- the PDF, through LibreOffice -----------------------------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(shutil.which("soffice") is None or shutil.which("pdftotext") is None,
                    reason="LibreOffice and poppler-utils are needed (make setup)")
def test_pdf_signature_captions_stay_on_one_line(rendered: Path, reference: Convention,
                                                 tmp_path: Path) -> None:
    subprocess.run(["soffice", f"-env:UserInstallation=file://{tmp_path}/profile",
                    "--headless", "--convert-to", "pdf", "--outdir", str(tmp_path),
                    str(rendered / "convention.docx")], check=True, capture_output=True,
                   timeout=180)
    pdf = tmp_path / "convention.pdf"
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout
    pages = text.split("\f")
    signature_pages = [p for p in pages if "Champ de signature" in p]
    start = next(i for i, p in enumerate(pages) if p.lstrip().startswith("Signatures"))
    assert pages[start].lstrip().startswith("Signatures")
    found = [line.split("Champ de signature : ")[1:] for page in signature_pages
             for line in page.splitlines()]
    ids = [part.split()[0] for parts in found for part in parts]
    # each id whole on one line (left and right captions of a row may be on different lines)
    assert sorted(ids) == sorted(s.id for s in signatories(reference))
    assert 25 <= len([p for p in pages if p.strip()]) <= 40


_RENDER_ANNEX = """
import io, sys, zipfile
from pathlib import Path
from ctgdocs.load import load_convention
from ctgdocs.render import ANNEX_TEMPLATE, annex_context, render_bytes
conv = load_convention(Path(sys.argv[1]))
data = render_bytes(Path(sys.argv[2]) / ANNEX_TEMPLATE, annex_context(conv, 1))
sys.stdout.write(zipfile.ZipFile(io.BytesIO(data)).read("word/document.xml").decode())
"""


def _render_annex_in_new_process(templates: Path, cache: Path, **env: str
                                 ) -> subprocess.CompletedProcess[str]:
    import os
    import sys

    reference = templates.parent / "examples" / "vallee-herault" / "convention.yaml"
    return subprocess.run([sys.executable, "-c", _RENDER_ANNEX, str(reference), str(templates)],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, "CTGDOCS_CACHE": str(cache), **env})


def test_template_cache_is_used_by_later_processes(templates: Path, tmp_path: Path) -> None:
    """docxtpl's cleaned-up XML and the compiled Jinja code are kept on disk; a later
    process uses them (shown by marking a cached entry), a damaged entry is replaced."""
    cache = tmp_path / "cache"
    first = _render_annex_in_new_process(templates, cache).stdout
    entries = sorted((cache / "templates").iterdir())
    assert {p.name.split("-")[0] for p in entries} == {"patched", "code"}
    assert (cache / "templates").stat().st_mode & 0o777 == 0o700
    assert _render_annex_in_new_process(templates, cache).stdout == first
    # mark the cleaned-up XML of the annex body: the next process must render the mark
    import hashlib

    patched = max((p for p in entries if p.name.startswith("patched-")),
                  key=lambda p: p.stat().st_size)
    magic, _, payload = patched.read_bytes().split(b"\n", 2)
    marked = payload.replace(b"<w:t>", b"<w:t>MARQUE ", 1)
    assert marked != payload
    patched.write_bytes(magic + b"\n" + hashlib.sha256(marked).hexdigest().encode()
                        + b"\n" + marked)
    assert "MARQUE" in _render_annex_in_new_process(templates, cache).stdout
    assert "MARQUE" not in _render_annex_in_new_process(
        templates, cache, CTGDOCS_TEMPLATE_CACHE="off").stdout
    # a damaged entry (content not matching its digest) is not used, and is replaced
    patched.write_bytes(magic + b"\n" + hashlib.sha256(payload).hexdigest().encode()
                        + b"\n" + marked)
    assert _render_annex_in_new_process(templates, cache).stdout == first
    assert b"MARQUE" not in patched.read_bytes()


def test_template_cache_not_private_is_not_used(templates: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "templates").mkdir(parents=True)
    (cache / "templates").chmod(0o755)
    done = _render_annex_in_new_process(templates, cache)
    assert "not a folder private to this user" in done.stderr
    assert not any((cache / "templates").iterdir())


def test_check_templates_also_checks_the_archive_report(tmp_path: Path, resources: Path) -> None:
    """``ctg check-templates`` checks ``rapport-signatures.docx`` (the archive's French
    report) when the folder holds one, against the report's own context; a folder
    without it (``ctg build --templates DIR``) is not at fault."""
    from ctgdocs.paths import TEMPLATES_DIR
    from ctgdocs.templates_check import check_templates

    for name in ("convention.docx", "annexe-commune.docx"):
        shutil.copy(TEMPLATES_DIR / name, tmp_path / name)
    assert check_templates(tmp_path) == []
    shutil.copy(TEMPLATES_DIR / "rapport-signatures.docx", tmp_path)
    assert check_templates(tmp_path) == []
    shutil.copy(resources / "templates" / "undeclared-variable.docx",
                tmp_path / "rapport-signatures.docx")
    problems = check_templates(tmp_path)
    assert problems and {p.template for p in problems} == {"rapport-signatures.docx"}
