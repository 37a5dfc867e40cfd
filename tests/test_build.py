"""The whole generation pipeline on the reference data, with the real LibreOffice."""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pypdf import PdfReader, PdfWriter

from ctgdocs.build import BuildOptions, build_package
from ctgdocs.cli import main
from ctgdocs.exceptions import ConversionError, ExitCode
from ctgdocs.load import load_convention

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "examples" / "vallee-herault" / "convention.yaml"
STAND_INS = ROOT / "tests" / "resources" / "stand-ins"


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory):
    """The reference package, built once for the session."""
    out = tmp_path_factory.mktemp("build")
    result = build_package(REFERENCE, BuildOptions(output_root=out))
    return result


@pytest.fixture(scope="session")
def reader(built) -> PdfReader:
    return PdfReader(built.package)


@pytest.fixture(scope="session")
def conv():
    return load_convention(REFERENCE)


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True,
                         text=True, check=True).stdout
    return re.sub(r"\s+", " ", out)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_package_structure(built, reader, conv) -> None:
    assert built.pages == len(reader.pages) > 20
    assert [p.name for p in built.parts] == ["convention"] + [
        f"annexe-{c.slug}" for c in conv.communes]
    assert len(reader.outline) == 14
    assert reader.outline[0].title == conv.title
    assert reader.outline[2].title == "Annexe 2 – Commune de Gignac"
    assert reader.page_labels[0] == "1"
    second = built.parts[0].pages + built.parts[1].pages
    assert reader.page_labels[second] == "A2-1"
    assert reader.page_labels[-1] == f"A13-{built.parts[-1].pages}"
    # an object of its own: the catalog, which every signature rewrites, stays small
    from pypdf.generic import IndirectObject

    assert isinstance(reader.trailer["/Root"].raw_get("/PageLabels"), IndirectObject)


def test_every_mayor_and_deliberation_in_text(built, conv) -> None:
    text = _text(built.package)
    for commune in conv.communes:
        assert commune.mayor.formal_name in text, commune.name
        assert commune.deliberation.number in text, commune.name
    assert "Thierry Mathieu" in text and "Laurent Teissier" in text
    assert "Jean-François Soto" in text
    assert "tribunal administratif de Montpellier" in text


def test_sixteen_empty_fields_inside_their_blocks(built, reader, conv) -> None:
    fields = reader.get_fields() or {}
    ids = [s.id for s in conv.signatories]
    assert sorted(fields) == sorted(ids) and len(ids) == 16
    record = json.loads(built.build_json.read_text(encoding="utf-8"))
    by_id = {f["id"]: f for f in record["fields"]}
    words = _page_words(built.package)
    for sig in conv.signatories:
        assert fields[sig.id].get("/V") is None, f"{sig.id} is not empty"
        widget = _widget(reader, sig.id)
        page_index = by_id[sig.id]["page"] - 1
        assert widget["/P"].get_object() == reader.pages[page_index].get_object()
        x1, y1, x2, y2 = (float(v) for v in widget["/Rect"])
        assert [round(v, 1) for v in (x1, y1, x2, y2)] == [round(v, 1)
                                                           for v in by_id[sig.id]["rect"]]
        assert x2 - x1 > 150 and y2 - y1 >= 40
        # the formal name sits just above the field, starting at its left edge
        name_words = sig.person.formal_name.split()
        height = float(reader.pages[page_index].mediabox.height)
        hits = [w for w in words[page_index] if w[4] == name_words[0]
                and abs(w[0] - x1) < 3 and 0 <= (height - w[3]) - y2 < 12]
        assert hits, f"{sig.id}: name not found just above the field"
        lock = widget["/Lock"].get_object()
        assert lock["/Action"] == "/Exclude"
        assert sorted(lock["/Fields"]) == sorted(i for i in ids if i != sig.id)


def test_fields_do_not_overlap(reader, conv) -> None:
    rects = {}
    for sig in conv.signatories:
        w = _widget(reader, sig.id)
        rects[sig.id] = (id(w["/P"].get_object()), [float(v) for v in w["/Rect"]])
    items = list(rects.items())
    for i, (a, (pa, ra)) in enumerate(items):
        for b, (pb, rb) in items[i + 1:]:
            overlap = ra[0] < rb[2] and rb[0] < ra[2] and ra[1] < rb[3] and rb[1] < ra[3]
            assert not (pa == pb and overlap), f"{a} overlaps {b}"


def test_pdfa_identification_metadata_and_id(built, reader) -> None:
    xmp = reader.xmp_metadata
    assert xmp is not None and xmp.pdfaid_part == "2" and xmp.pdfaid_conformance == "B"
    assert "/OutputIntents" in reader.trailer["/Root"]
    info = reader.metadata
    assert info is not None and info.title == xmp.dc_title["x-default"]
    assert info.subject == xmp.dc_description["x-default"]
    assert xmp.dc_language == ["fr-FR"]
    assert reader.trailer["/Root"]["/Lang"] == "fr-FR"
    # PDF/A: the info dictionary and XMP agree after pyHanko wrote the fields too
    assert info.producer == xmp.pdf_producer and info.creator == xmp.xmp_creator_tool
    main_part = PdfReader(built.package.parent / "parts" / "convention.pdf")
    assert reader.trailer["/ID"][0] == main_part.trailer["/ID"][0]


def test_qpdf_check_and_fonts_embedded(built) -> None:
    check = subprocess.run(["qpdf", "--check", str(built.package)], capture_output=True,
                           text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "No syntax or stream encoding errors found" in check.stdout
    fonts = subprocess.run(["pdffonts", str(built.package)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts
    for line in fonts:
        assert line.split()[-5] == "yes", f"font not embedded: {line}"


def test_word_positions_are_read_without_the_output_intent(built, tmp_path) -> None:
    """pdftotext reads a copy whose catalog has no PDF/A output intent (poppler builds
    colour transforms from it on every page): the same words at the same places."""
    from ctgdocs.poppler import page_words, text_source

    part = built.package.parent / "parts" / "convention.pdf"
    pages = len(PdfReader(part).pages)
    with text_source(part) as (source, count):
        assert source != part and count == pages
        copy = PdfReader(source)
        assert "/OutputIntents" not in copy.trailer["/Root"]
        assert "/OutputIntents" in PdfReader(part).trailer["/Root"]
        check = subprocess.run(["qpdf", "--check", str(source)], capture_output=True)
        assert check.returncode == 0, check.stdout
        assert page_words(source, first=pages - 5) == page_words(part, first=pages - 5)
        assert source.read_bytes().startswith(part.read_bytes())
    assert not source.exists()
    plain = tmp_path / "plain.pdf"  # no output intent: read as it is
    writer = PdfWriter()
    writer.add_blank_page(200, 200)
    writer.write(plain)
    with text_source(plain) as (source, count):
        assert (source, count) == (plain, 1)


def test_one_annex_per_worker_is_rendered_before_the_convention(conv) -> None:
    """The workers start on annexes (10 ms to render) while the convention renders."""
    from ctgdocs.build import TEMPLATES_DIR
    from ctgdocs.pipeline.steps import _parts, _render_order

    parts = _parts(conv, TEMPLATES_DIR)
    names = [p.name for p in _render_order(parts, workers=2)]
    assert names[:3] == ["annexe-aniane", "annexe-gignac", "convention"]
    assert sorted(names) == sorted(p.name for p in parts)
    assert [p.name for p in _render_order(parts[:1], workers=2)] == ["convention"]
    assert [p.name for p in _render_order(parts[3:5], workers=1)] == [
        "annexe-la-boissiere", "annexe-le-pouget"]


@pytest.mark.parametrize("broken", [0, 2], ids=["first-part", "third-part"])
def test_parts_the_strict_parser_refuses_are_merged_leniently(built, conv, tmp_path,
                                                               broken) -> None:
    """Parts are read with pypdf's strict parser (faster); a part it refuses (here a
    startxref pointing 3 bytes off) is merged with the lenient one, and the package is
    the same as from intact parts."""
    from pypdf.errors import PdfReadError

    from ctgdocs.assemble import Assembly, PartPdf
    from ctgdocs.pipeline.steps import metadata as _metadata

    parts_dir = built.package.parent / "parts"
    names = [p.name for p in built.parts[:4]]
    pdfs = []
    for i, name in enumerate(names):
        data = (parts_dir / f"{name}.pdf").read_bytes()
        if i == broken:
            at = data.rindex(b"startxref")
            offset = int(data[at + 9:].split()[0])
            data = data[:at] + f"startxref\n{offset + 3}\n%%EOF\n".encode()
            with pytest.raises(PdfReadError):
                PdfReader(io.BytesIO(data), strict=True)
        (tmp_path / f"{name}.pdf").write_bytes(data)
        pdfs.append(PartPdf(tmp_path / f"{name}.pdf", name, f"P{i}-"))

    def assembled(parts: list[PartPdf], out: Path) -> tuple[bool, list[str]]:
        assembly = Assembly(parts[0])
        for part in parts[1:]:
            assembly.append(part)
        result = assembly.finish(out, _metadata(conv))
        reader = PdfReader(out)
        assert len(reader.pages) == result.pages
        return assembly.strict, [page.extract_text()[:60] for page in reader.pages]

    intact = [PartPdf(parts_dir / f"{n}.pdf", n, f"P{i}-") for i, n in enumerate(names)]
    assert assembled(intact, tmp_path / "intact.pdf")[0] is True
    strict, texts = assembled(pdfs, tmp_path / "lenient.pdf")
    assert strict is False
    assert texts == assembled(intact, tmp_path / "intact.pdf")[1]
    check = subprocess.run(["qpdf", "--check", str(tmp_path / "lenient.pdf")],
                           capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_build_json_records_hashes_versions_and_fields(built) -> None:
    record = json.loads(built.build_json.read_text(encoding="utf-8"))
    assert record["package"]["sha256"] == _sha(built.package)
    assert record["data"]["sha256"] == _sha(REFERENCE)
    assert set(record["templates"]) == {"convention.docx", "annexe-commune.docx"}
    assert record["versions"]["pyhanko"] and record["versions"]["pypdf"]
    assert "LibreOffice" in record["versions"]["libreoffice"]
    assert len(record["fields"]) == 16
    for part in record["parts"]:
        pdf = built.package.parent / "parts" / f"{part['name']}.pdf"
        assert _sha(pdf) == part["pdf_sha256"]
        assert (pdf.with_suffix(".docx")).is_file()


def _copy_build(built, tmp_path: Path) -> Path:
    root = tmp_path / "out"
    shutil.copytree(built.package.parent, root / built.convention_id)
    return root


def test_unchanged_rebuild_converts_nothing(built, tmp_path) -> None:
    root = _copy_build(built, tmp_path)
    result = build_package(REFERENCE, BuildOptions(output_root=root))
    assert result.up_to_date and result.converted == 0


def test_changing_one_commune_converts_one_part(built, tmp_path) -> None:
    root = _copy_build(built, tmp_path)
    text = REFERENCE.read_text(encoding="utf-8")
    conv = load_convention(REFERENCE)
    old = conv.communes[1].diagnostic.key_figures[0].value
    data = tmp_path / "convention.yaml"
    data.write_text(text.replace(f'value: "{old}"', 'value: "9 999"', 1)
                    if f'value: "{old}"' in text else text.replace(f"value: {old}",
                                                                   "value: 9 999", 1),
                    encoding="utf-8")
    assert load_convention(data).communes[1].diagnostic.key_figures[0].value == "9 999"
    result = build_package(data, BuildOptions(output_root=root))
    assert [p.name for p in result.parts if p.converted] == [f"annexe-{conv.communes[1].slug}"]
    assert "9 999" in _text(root / conv.id / "parts" / f"annexe-{conv.communes[1].slug}.pdf")


def test_up_to_date_rebuild_reads_no_data(built, tmp_path) -> None:
    """Same data bytes, templates, options and code: answered from build.json without
    loading pydantic, the YAML parser, docxtpl, pypdf, pyHanko or LibreOffice."""
    root = _copy_build(built, tmp_path)
    heavy = ("pydantic", "yaml", "docxtpl", "pypdf", "pyhanko", "uno")
    code = ("import sys; from ctgdocs.cli import main; "
            f"rc = main(['build', {str(REFERENCE)!r}, '-o', {str(root)!r}]); "
            f"print(rc, [m for m in {heavy!r} if m in sys.modules])")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert "(up to date)" in proc.stdout and proc.stdout.splitlines()[-1] == "0 []"
    assert not list(tmp_path.glob("**/soffice.log"))


def test_comment_change_is_up_to_date_and_remembered(built, tmp_path) -> None:
    root = _copy_build(built, tmp_path)
    record = root / built.convention_id / "build.json"
    data = tmp_path / "convention.yaml"
    data.write_text("# a comment\n" + REFERENCE.read_text(encoding="utf-8"), encoding="utf-8")
    before = json.loads(record.read_text(encoding="utf-8"))
    result = build_package(data, BuildOptions(output_root=root))
    assert result.up_to_date and result.converted == 0
    after = json.loads(record.read_text(encoding="utf-8"))
    assert after["quick_key"] != before["quick_key"]
    assert {k: v for k, v in after.items() if k != "quick_key"} == \
        {k: v for k, v in before.items() if k != "quick_key"}
    # a damaged package is never "up to date", whichever way it is checked
    package = root / built.convention_id / "convention-package.pdf"
    package.write_bytes(package.read_bytes() + b"\n% tampered\n")
    result = build_package(data, BuildOptions(output_root=root))
    assert not result.up_to_date and result.converted == 0
    assert b"% tampered" not in package.read_bytes()
    assert _sha(package) == json.loads(record.read_text(encoding="utf-8"))["package"]["sha256"]


def test_package_is_untagged_parts_keep_their_tags(built, reader) -> None:
    """pypdf cannot merge structure trees: the package carries none rather than one
    describing the first part only."""
    assert "/StructTreeRoot" not in reader.trailer["/Root"]
    assert "/MarkInfo" not in reader.trailer["/Root"]
    assert not [i for i, page in enumerate(reader.pages) if "/StructParents" in page]
    part = PdfReader(built.package.parent / "parts" / "convention.pdf")
    assert "/StructTreeRoot" in part.trailer["/Root"]


def test_invalid_data_is_reported_before_missing_libreoffice(tmp_path, monkeypatch,
                                                            capsys) -> None:
    """LibreOffice starts while the data loads; its absence matters only if something
    has to be converted."""
    bad = tmp_path / "bad.yaml"
    bad.write_text(REFERENCE.read_text(encoding="utf-8").replace("period:", "periode:", 1),
                   encoding="utf-8")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv("CTGDOCS_SOFFICE", raising=False)
    assert main(["build", str(bad), "-o", str(tmp_path / "out")]) == ExitCode.DATA_ERROR
    assert "bad.yaml:" in capsys.readouterr().err
    assert main(["build", str(REFERENCE), "-o", str(tmp_path / "out")]) \
        == ExitCode.MISSING_DEPENDENCY
    assert "apt-get install" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


@pytest.mark.parametrize("stand_in, message", [
    ("hang", "within 3 s"),
    ("fail", "could not convert convention.docx.*simulated failure"),
])
def test_broken_libreoffice_leaves_previous_package(built, tmp_path, monkeypatch,
                                                    stand_in, message) -> None:
    root = _copy_build(built, tmp_path)
    out = root / built.convention_id
    before = {p.name: _sha(p) for p in out.rglob("*") if p.is_file()}
    monkeypatch.setenv("PATH", f"{STAND_INS / stand_in}:/usr/bin:/bin")
    monkeypatch.delenv("CTGDOCS_SOFFICE", raising=False)
    with pytest.raises(ConversionError, match=re.compile(message, re.S)):
        build_package(REFERENCE, BuildOptions(output_root=root, force=True, timeout=3))
    after = {p.name: _sha(p) for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_fifty_communes(tmp_path) -> None:
    sys.path.insert(0, str(ROOT / "examples"))
    from synthetic import synthetic_convention_yaml

    data = tmp_path / "synthetic.yaml"
    data.write_text(synthetic_convention_yaml(50), encoding="utf-8")
    result = build_package(data, BuildOptions(output_root=tmp_path / "out"))
    reader = PdfReader(result.package)
    assert result.signatories == 53 and len(reader.get_fields() or {}) == 53
    assert len(reader.outline) == 51


def test_cli_build_and_data_error(tmp_path, capsys) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(REFERENCE.read_text(encoding="utf-8").replace("period:", "periode:", 1),
                   encoding="utf-8")
    assert main(["build", str(bad), "-o", str(tmp_path / "out")]) == ExitCode.DATA_ERROR
    assert "bad.yaml:" in capsys.readouterr().err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_cli_subprocess_check() -> None:
    proc = subprocess.run([sys.executable, "-m", "ctgdocs", "check", str(REFERENCE)],
                          capture_output=True, text=True)
    assert proc.returncode == ExitCode.OK, proc.stderr
    assert "13 communes" in proc.stdout and "16 signatories" in proc.stdout


def _widget(reader: PdfReader, name: str):
    for page in reader.pages:
        for annot in page.get("/Annots", []) or []:
            a = annot.get_object()
            if a.get("/T") == name:
                return a
    raise AssertionError(f"no widget for {name}")


def _page_words(pdf: Path) -> list[list[tuple[float, float, float, float, str]]]:
    xhtml = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout
    pages = []
    for page in re.findall(r"<page .*?</page>", xhtml, re.S):
        pages.append([(float(a), float(b), float(c), float(d), t) for a, b, c, d, t in
                      re.findall(r'xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" '
                                 r'yMax="([\d.]+)">(.*?)</word>', page)])
    return pages


def test_garbage_collector_thresholds_are_raised_during_a_build_only() -> None:
    import gc

    from ctgdocs.collector import THRESHOLDS, fewer_collections

    before = gc.get_threshold()
    with pytest.raises(RuntimeError), fewer_collections():
        assert gc.get_threshold() == THRESHOLDS != before
        raise RuntimeError("a failed build")
    assert gc.get_threshold() == before


def test_new_code_reassembles_the_package_from_reused_parts(built, tmp_path) -> None:
    """Another ctgdocs (here: the same source with one comment more) may assemble the
    package differently: it is assembled again, and no part is converted again."""
    root = _copy_build(built, tmp_path)
    code = tmp_path / "code"
    for folder in ("ctgdocs", "signers", "templates"):
        shutil.copytree(ROOT / folder, code / folder,
                        ignore=shutil.ignore_patterns("__pycache__"))
    package = root / built.convention_id / "convention-package.pdf"
    record = root / built.convention_id / "build.json"
    run = ("from pathlib import Path; from ctgdocs.build import BuildOptions, build_package; "
           f"r = build_package(Path({str(REFERENCE)!r}), "
           f"BuildOptions(output_root=Path({str(root)!r}))); "
           "print(r.up_to_date, r.converted)")
    env = {**os.environ, "PYTHONPATH": str(code)}

    def build() -> str:
        proc = subprocess.run([sys.executable, "-c", run], capture_output=True, text=True,
                              env=env, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split("\n")[-2]

    assert build() == "True 0"  # the same code: nothing to do
    before = json.loads(record.read_text(encoding="utf-8"))
    inode = package.stat().st_ino
    with (code / "ctgdocs" / "assemble.py").open("a", encoding="utf-8") as f:
        f.write("# another version\n")
    assert build() == "False 0"
    after = json.loads(record.read_text(encoding="utf-8"))
    assert package.stat().st_ino != inode and after["inputs_key"] != before["inputs_key"]
    assert after["built_at"] >= before["built_at"]

    def kept(rec: dict) -> list[dict]:
        return [{k: v for k, v in p.items() if k != "converted"} for p in rec["parts"]]

    assert kept(after) == kept(before) and not any(p["converted"] for p in after["parts"])
    assert _sha(package) == after["package"]["sha256"]
    assert build() == "True 0"


def test_ctg_build_leaves_no_process_behind(tmp_path, marker) -> None:
    """``ctg build`` as a real process: once it returns, nothing it started (LibreOffice
    workers included) is running, and the workers' pipes are gone from /tmp."""
    proc = subprocess.Popen([sys.executable, "-m", "ctgdocs", "build", str(REFERENCE), "-o",
                             str(tmp_path / "out")], env=marker.env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == ExitCode.OK, err
    assert "(14 part(s) converted)" in out
    assert marker.alive() == []
    assert not list(Path("/tmp").glob(f"OSL_PIPE_{os.getuid()}_ctgdocs-{proc.pid}-*"))


def test_sigterm_stops_a_build_and_its_libreoffice(built, tmp_path, marker) -> None:
    """SIGTERM (``kill``) during a build stops it as Ctrl-C does: exit 130, LibreOffice
    stopped with anything it started, the previous package untouched. LibreOffice is a
    stand-in that hangs, so that the build cannot be over before the signal."""
    root = _copy_build(built, tmp_path)
    out = root / built.convention_id
    before = {p.name: _sha(p) for p in out.rglob("*") if p.is_file()}
    pids = tmp_path / "stand-in-pids"
    env = {**marker.env, "PATH": f"{STAND_INS / 'hang'}:/usr/bin:/bin",
           "CTGDOCS_STANDIN_PIDS": str(pids)}
    env.pop("CTGDOCS_SOFFICE", None)
    proc = subprocess.Popen([sys.executable, "-m", "ctgdocs", "build", str(REFERENCE), "-o",
                             str(root), "--force", "--timeout", "600"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not (pids.exists() and pids.read_text().strip()) and proc.poll() is None \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is None, proc.communicate()
        assert [p for p in marker.alive() if "soffice" in p]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert "ctg: interrupted" in err
    assert marker.alive() == []  # the stand-in and its child included
    assert {p.name: _sha(p) for p in out.rglob("*") if p.is_file()} == before
    assert not [p for p in out.iterdir() if p.name.startswith(".")]


def test_assembled_package_metadata_agree_and_declare_pdfa(built, conv, tmp_path) -> None:
    """The package as assembled (before its fields): the XMP packet, written with pypdf's
    XMP API, says what the info dictionary says (PDF/A requires it), declares PDF/A-2b,
    and the file keeps the convention part's /ID."""
    import datetime as dt

    from ctgdocs.assemble import PRODUCER, PartPdf, assemble
    from ctgdocs.convert import ConversionJob
    from ctgdocs.convert.base import check_pdfa
    from ctgdocs.pipeline.steps import metadata

    parts_dir = built.package.parent / "parts"
    out = tmp_path / "assembled.pdf"
    now = dt.datetime(2023, 2, 6, 10, 30, 15, 123456, tzinfo=dt.UTC)
    meta = metadata(conv)
    result = assemble([PartPdf(parts_dir / f"{p.name}.pdf", p.title, "") for p in built.parts],
                      out, meta, now)
    assert result.pdfa_part == "2"
    check_pdfa(ConversionJob("package", out, out), out.read_bytes())
    reader = PdfReader(out)
    info, xmp = reader.metadata, reader.xmp_metadata
    assert info is not None and xmp is not None
    assert (xmp.pdfaid_part, xmp.pdfaid_conformance) == ("2", "B")
    assert xmp.dc_title == {"x-default": info.title} and info.title == meta.title
    assert xmp.dc_description == {"x-default": info.subject} and "13 communes" in info.subject
    assert xmp.dc_creator == [info.author] and xmp.pdf_keywords == info["/Keywords"]
    assert xmp.pdf_producer == info.producer == PRODUCER
    assert xmp.xmp_creator_tool == info.creator == "ctgdocs"
    assert xmp.dc_language == ["fr-FR"] and reader.trailer["/Root"]["/Lang"] == "fr-FR"
    second = now.replace(microsecond=0)
    for moment in (xmp.xmp_create_date, xmp.xmp_modify_date, xmp.xmp_metadata_date):
        assert moment.replace(tzinfo=dt.UTC) == second
    assert info.creation_date == info.modification_date == second
    stream = reader.trailer["/Root"]["/Metadata"]
    assert (stream["/Type"], stream["/Subtype"]) == ("/Metadata", "/XML")
    assert "/Filter" not in stream
    assert "é" in stream.get_data().decode("utf-8")  # "Hérault", UTF-8 as PDF/A requires
    main_part = PdfReader(parts_dir / "convention.pdf")
    assert reader.trailer["/ID"][0] == main_part.trailer["/ID"][0]
    check = subprocess.run(["qpdf", "--check", str(out)], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout


def test_quick_key_does_not_read_a_pipe_or_a_device(tmp_path) -> None:
    """The "up to date" check hashes the data file before anything loads it: a named pipe
    would block it and /dev/zero never end. It gives up on them (the data loader then
    refuses them with a located error)."""
    from ctgdocs.pipeline.record import quick_key

    fifo = tmp_path / "convention.yaml"
    os.mkfifo(fifo)
    options = BuildOptions(output_root=tmp_path / "out")
    assert quick_key(fifo, options) is None
    assert quick_key(Path("/dev/zero"), options) is None
    assert quick_key(REFERENCE, options) is not None
