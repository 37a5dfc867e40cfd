"""The annexes converted as one document (real LibreOffice), split again page for page."""

from __future__ import annotations

import dataclasses
import re
import subprocess
import zipfile
from pathlib import Path

import pytest
from pypdf import PdfReader

from ctgdocs.build import BuildOptions, build_package
from ctgdocs.combine import NotCombinable, combine_annexes, split_combined
from ctgdocs.convert import ConversionJob, make_converter
from ctgdocs.convert.base import check_pdfa
from ctgdocs.convert.local import LocalConverter
from ctgdocs.exceptions import ConversionError
from ctgdocs.load import load_convention
from ctgdocs.paths import ANNEX_TEMPLATE, TEMPLATES_DIR
from ctgdocs.render import annex_context, annex_filename, render_docx

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
ANNEXES = 5
"""Annexes rendered for these tests (two of them run over three pages)."""


@pytest.fixture(autouse=True)
def profile_cache(tmp_path_factory: pytest.TempPathFactory,
                  monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path_factory.getbasetemp() / "lo-cache"
    monkeypatch.setenv("CTGDOCS_CACHE", str(cache))
    return cache


@pytest.fixture(scope="module")
def annexes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The first annexes of the reference convention, rendered from the real template."""
    conv = load_convention(REFERENCE)
    folder = tmp_path_factory.mktemp("annexes")
    paths = []
    for i in range(ANNEXES):
        path = folder / annex_filename(conv.communes[i])
        render_docx(TEMPLATES_DIR / ANNEX_TEMPLATE, annex_context(conv, i), path)
        paths.append(path)
    return paths


@pytest.fixture(scope="module")
def converted(annexes: list[Path], tmp_path_factory: pytest.TempPathFactory
              ) -> tuple[list[Path], list[Path], list[int]]:
    """Each annex converted alone, and the same annexes converted as one document and
    split: (alone, split, page counts of the split)."""
    folder = tmp_path_factory.mktemp("converted")
    alone = [folder / f"{p.stem}.pdf" for p in annexes]
    combined = folder / "annexes.docx"
    combine_annexes(annexes, combined)
    with make_converter(None, jobs=2, timeout=60) as converter:
        assert isinstance(converter, LocalConverter) and converter.destinations
        converter.convert([ConversionJob(p.stem, p, pdf) for p, pdf in zip(annexes, alone,
                                                                           strict=True)]
                          + [ConversionJob("ensemble", combined, folder / "annexes.pdf",
                                           destinations=True)])
    split = [folder / f"{p.stem}-split.pdf" for p in annexes]
    counts = split_combined(folder / "annexes.pdf", split)
    return alone, split, counts


def _pages_text(pdf: Path) -> list[str]:
    count = len(PdfReader(pdf).pages)
    return [subprocess.run(["pdftotext", "-layout", "-f", str(i), "-l", str(i), str(pdf),
                            "-"], capture_output=True, text=True, check=True).stdout
            for i in range(1, count + 1)]


def test_split_annexes_read_page_for_page_as_converted_alone(converted) -> None:
    alone, split, counts = converted
    assert counts == [len(PdfReader(p).pages) for p in alone]
    assert max(counts) >= 3 and min(counts) >= 2
    for one, other in zip(alone, split, strict=True):
        assert _pages_text(other) == _pages_text(one), other.name
    # each annex's footer counts its own pages
    for pdf, count in zip(split, counts, strict=True):
        assert [re.findall(r"Page (\d+) / (\d+)", text) for text in _pages_text(pdf)] == \
            [[(str(page), str(count))] for page in range(1, count + 1)]


def test_split_annexes_are_pdfa_files(converted) -> None:
    _, split, _ = converted
    for pdf in split:
        data = pdf.read_bytes()
        check_pdfa(ConversionJob(pdf.stem, pdf, pdf), data)
        assert "No syntax or stream encoding errors" in subprocess.run(
            ["qpdf", "--check", str(pdf)], capture_output=True, text=True).stdout
        fonts = subprocess.run(["pdffonts", str(pdf)], capture_output=True, text=True,
                               check=True).stdout.splitlines()[2:]
        assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts
        reader = PdfReader(pdf)
        assert reader.trailer.get("/ID") is not None
        assert "/OutputIntents" in reader.root_object and "/Names" not in reader.root_object
        assert reader.metadata is not None and reader.metadata.producer.startswith("LibreOffice")
        assert b"pdf:Producer>LibreOffice" in reader.root_object["/Metadata"].get_data()


def test_a_pdf_without_the_closing_bookmarks_is_not_split(converted, tmp_path) -> None:
    alone, _, _ = converted
    with pytest.raises(NotCombinable, match="no destination ctgdocsfin1"):
        split_combined(alone[0], [tmp_path / "a.pdf", tmp_path / "b.pdf"])
    assert not list(tmp_path.iterdir())


def _edited(src: Path, dst: Path, part: str, edit) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            if item.filename == part:
                data = edit(data.decode("utf-8")).encode("utf-8")
            zout.writestr(item, data)
    return dst


_FIRST_PARAGRAPH = re.compile(r"<w:p>")


@pytest.mark.parametrize("part, edit, reason", [
    ("word/document.xml",
     lambda x: x.replace('<w:pStyle w:val="ListBullet"/>', '<w:pStyle w:val="ListNumber"/>'),
     "numbered lists"),
    ("word/document.xml",
     lambda x: _FIRST_PARAGRAPH.sub('<w:p><w:bookmarkStart w:id="1" w:name="ici"/>'
                                    '<w:bookmarkEnd w:id="1"/>', x, count=1),
     "a bookmark"),
    ("word/document.xml",
     lambda x: _FIRST_PARAGRAPH.sub('<w:p><w:r><w:instrText> NUMPAGES </w:instrText></w:r>',
                                    x, count=1),
     "page-count field"),
    ("word/document.xml",
     lambda x: x.replace("<w:p>", r'<w:p><w:r><w:instrText> TOC \o "1-3" </w:instrText>'
                                  "</w:r>", 1),
     "a field TOC"),
    ("word/footer1.xml",
     lambda x: x.replace(" NUMPAGES ", " SEQ Figure "), "a field SEQ"),
    ("word/document.xml",
     lambda x: x.replace("<w:pgSz", '<w:pgNumType w:start="5"/><w:pgSz', 1),
     "not numbered 1, 2, 3"),
    ("word/document.xml",
     lambda x: x.replace("<w:pgSz", '<w:pgNumType w:fmt="lowerRoman"/><w:pgSz', 1),
     "not numbered 1, 2, 3"),
    ("word/styles.xml", lambda x: x.replace("</w:styles>", "<!-- autre --></w:styles>"),
     "differ in word/styles.xml"),
    ("word/footer1.xml",
     lambda x: x.replace('<w:instrText xml:space="preserve"> NUMPAGES </w:instrText>',
                         '<w:instrText xml:space="preserve"> NUM</w:instrText></w:r><w:r>'
                         '<w:instrText xml:space="preserve">PAGES </w:instrText>'),
     "split across runs"),
    ("word/document.xml",
     lambda x: x.replace("<w:sectPr", "<w:tbl><w:tr><w:tc><w:p/></w:tc></w:tr></w:tbl>"
                         "<w:sectPr", 1),
     "does not end with a paragraph"),
])
def test_what_cannot_be_combined_is_refused(annexes, tmp_path, part, edit, reason) -> None:
    odd = _edited(annexes[1], tmp_path / annexes[1].name, part, edit)
    assert zipfile.ZipFile(odd).read(part) != zipfile.ZipFile(annexes[1]).read(part)
    with pytest.raises(NotCombinable, match=reason):
        combine_annexes([annexes[0], odd], tmp_path / "ensemble.docx")
    with pytest.raises(NotCombinable, match="fewer than two"):
        combine_annexes([annexes[0]], tmp_path / "ensemble.docx")


def test_build_converts_uncombinable_annexes_one_by_one(tmp_path, caplog) -> None:
    """A template whose annexes use a numbered list is converted annex by annex (found
    once: the other runs of annexes are not tried)."""
    caplog.set_level("INFO", logger="ctgdocs.combine")
    templates = tmp_path / "templates"
    templates.mkdir()
    for name in ("convention.docx", ANNEX_TEMPLATE):
        src = TEMPLATES_DIR / name
        if name == ANNEX_TEMPLATE:
            _edited(src, templates / name, "word/document.xml",
                    lambda x: x.replace('<w:pStyle w:val="ListBullet"/>',
                                        '<w:pStyle w:val="ListNumber"/>', 1))
        else:
            (templates / name).write_bytes(src.read_bytes())
    result = build_package(REFERENCE, BuildOptions(output_root=tmp_path / "out",
                                                   templates=templates))
    assert result.converted == 14
    text = subprocess.run(["pdftotext", "-layout", str(result.package), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert len(re.findall(r"Annexe n° 13 – Commune de Pouzols", text)) >= 2
    assert caplog.text.count("annexes converted one by one: the annexes use numbered") == 1


class _FailingCombined(LocalConverter):
    """Real LibreOffice workers that refuse the combined document, as a LibreOffice that
    crashes on it would."""

    def convert(self, jobs, progress=None) -> None:  # type: ignore[no-untyped-def]
        jobs = list(jobs)
        for job in jobs:
            if job.destinations:
                raise ConversionError("simulated crash", job=job.name)
        super().convert(jobs, progress)


class _NoDestinations(LocalConverter):
    """Real LibreOffice workers exporting no destinations, as an older LibreOffice
    ignoring the option would: the combined PDF cannot be split."""

    def convert(self, jobs, progress=None) -> None:  # type: ignore[no-untyped-def]
        super().convert([dataclasses.replace(job, destinations=False) for job in jobs],
                        progress)


@pytest.mark.parametrize("converter_class, reason", [
    (_FailingCombined, "simulated crash"),
    (_NoDestinations, "has no destination ctgdocsfin1"),
])
def test_build_starts_again_one_by_one_when_combining_fails(
        tmp_path, caplog, converter_class, reason) -> None:
    """The combined conversion fails, or its PDF cannot be split: the build starts again,
    converting the annexes one by one, and gives the whole package."""
    with converter_class(workers=2, timeout=60) as converter:
        result = build_package(REFERENCE, BuildOptions(output_root=tmp_path / "out"),
                               converter=converter)
    assert result.converted == 14 and result.pages == 62
    assert reason in caplog.text and "one by one" in caplog.text
    text = subprocess.run(["pdftotext", "-layout", str(result.package), "-"],
                          capture_output=True, text=True, check=True).stdout
    assert len(re.findall(r"Annexe n° 13 – Commune de Pouzols", text)) >= 2
    assert not [p for p in result.package.parent.iterdir() if p.name.startswith(".")]
