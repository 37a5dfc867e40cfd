"""Write the small broken Word templates used by tests/test_templates.py.

    .venv/bin/python tests/resources/templates/make_samples.py
"""

from __future__ import annotations

from pathlib import Path

import docx
from docx.document import Document
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls

HERE = Path(__file__).resolve().parent


def _document(paragraphs: list[str]) -> Document:
    doc = docx.Document()
    for text in paragraphs:
        doc.add_paragraph(text)
    return doc


def undeclared_variable() -> Document:
    """An annex using ``commune.maire_nom`` (paragraph 3 and a table cell) and ``foo``."""
    doc = _document(["Fiche communale", "{{ commune.name }}",
                     "Maire : {{ commune.maire_nom }}", "Code : {{ foo }}"])
    table = doc.add_table(rows=1, cols=2)
    table.cell(0, 0).paragraphs[0].add_run("Maire")
    table.cell(0, 1).paragraphs[0].add_run("{{ commune.maire_nom }}")
    return doc


def unclosed_for() -> Document:
    """A ``{%p for %}`` loop without its ``{%p endfor %}``."""
    return _document(["Plan d'action", "{%p for axis in axes %}", "{{ axis.title }}", "Fin."])


def broken_tag() -> Document:
    """``{{ title }`` (one closing brace missing)."""
    return _document(["Titre", "Convention : {{ title }", "Fin."])


def unknown_filter() -> Document:
    """``{{ title|frdate }}``: no such filter."""
    return _document(["Titre", "{{ title|frdate }}"])


def split_runs() -> Document:
    """``{{ title }}`` typed in two runs with different formatting: docxtpl merges them."""
    doc = _document(["Titre"])
    paragraph = doc.add_paragraph()
    paragraph.add_run("{{ ti").bold = True
    paragraph.add_run("tle }}").italic = True
    return doc


def tracked_deletion() -> Document:
    """``{{ title }}`` with a tracked deletion between its two braces: Word shows the tag,
    docxtpl does not see it."""
    doc = _document(["Titre"])
    paragraph = doc.add_paragraph()
    paragraph.add_run("{")
    paragraph._p.append(parse_xml(
        f'<w:del {nsdecls("w")} w:id="1" w:author="A" w:date="2024-01-01T00:00:00Z">'
        "<w:r><w:delText>x</w:delText></w:r></w:del>"))
    paragraph.add_run("{ title }}")
    return doc


SAMPLES = {
    "undeclared-variable.docx": undeclared_variable,
    "unclosed-for.docx": unclosed_for,
    "broken-tag.docx": broken_tag,
    "unknown-filter.docx": unknown_filter,
    "split-runs.docx": split_runs,
    "tracked-deletion.docx": tracked_deletion,
}


def main() -> None:
    """Write every sample next to this script."""
    for name, build in SAMPLES.items():
        build().save(str(HERE / name))
        print(f"wrote {HERE / name}")


if __name__ == "__main__":
    main()
