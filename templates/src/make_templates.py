"""Author templates/convention.docx, templates/annexe-commune.docx and
templates/rapport-signatures.docx with python-docx.

The .docx files are the source of truth (edit them in Word or LibreOffice); this script
records how they were first written and can regenerate them:

    .venv/bin/python templates/src/make_templates.py [output-folder]
"""

from __future__ import annotations

import datetime as dt
import io
import re
import sys
import zipfile
from pathlib import Path

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.style import WD_STYLE_TYPE
from docx.enum.table import WD_ROW_HEIGHT_RULE, WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_BREAK, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Cm, Pt, RGBColor
from docx.table import Table, _Cell, _Row
from docx.text.paragraph import Paragraph
from lxml import etree

FONT = "Noto Sans"
BLUE = RGBColor(0x1F, 0x38, 0x64)
GREY = RGBColor(0x80, 0x80, 0x80)
HEADER_FILL = "DCE3EF"
TEXT_WIDTH = Cm(16)
FIXED_DATE = dt.datetime(2024, 1, 1, 0, 0, 0)

SIGNATURE_AREA = Cm(2.6)
"""Height of the empty area where the signature field is placed (contract: ≥ 2.4 cm)."""


def fr(text: str) -> str:
    """French typography for static text: no-break spaces before « : ; » and inside « »."""
    return (text.replace(" :", "\u00a0:").replace(" ;", "\u202f;")
            .replace("« ", "«\u00a0").replace(" »", "\u00a0»"))


# --- styles ---------------------------------------------------------------------------------

def _set_font(style: object, size: float | None, bold: bool | None = None,
              color: RGBColor | None = None) -> None:
    font = style.font  # type: ignore[attr-defined]
    font.name = FONT
    if size is not None:
        font.size = Pt(size)
    if bold is not None:
        font.bold = bold
    if color is not None:
        font.color.rgb = color
    rpr = style.element.get_or_add_rPr()  # type: ignore[attr-defined]
    fonts = rpr.find(qn("w:rFonts"))
    for attr in ("w:ascii", "w:hAnsi", "w:cs", "w:eastAsia"):
        fonts.set(qn(attr), FONT)
    for attr in ("w:asciiTheme", "w:hAnsiTheme", "w:cstheme", "w:eastAsiaTheme"):
        fonts.attrib.pop(qn(attr), None)


def _french_defaults(doc: DocumentObject) -> None:
    rpr = doc.styles.element.find(qn("w:docDefaults")).find(qn("w:rPrDefault")).find(qn("w:rPr"))
    lang = rpr.find(qn("w:lang"))
    if lang is None:
        lang = OxmlElement("w:lang")
        rpr.append(lang)
    lang.set(qn("w:val"), "fr-FR")
    lang.set(qn("w:eastAsia"), "fr-FR")


def _paragraph_style(doc: DocumentObject, name: str, base: str, size: float,
                     bold: bool = False, color: RGBColor | None = None) -> object:
    style = doc.styles.add_style(name, WD_STYLE_TYPE.PARAGRAPH)
    style.base_style = doc.styles[base]
    _set_font(style, size, bold, color)
    return style


def setup_styles(doc: DocumentObject) -> None:
    """Normal, headings, list and the custom table and signature styles."""
    _french_defaults(doc)
    normal = doc.styles["Normal"]
    _set_font(normal, 11)
    normal.paragraph_format.space_after = Pt(6)
    normal.paragraph_format.line_spacing = 1.2
    normal.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    for name, size, before in (("Heading 1", 14, 18), ("Heading 2", 12, 12),
                               ("Heading 3", 10.5, 8)):
        style = doc.styles[name]
        _set_font(style, size, bold=True, color=BLUE)
        style.paragraph_format.space_before = Pt(before)
        style.paragraph_format.space_after = Pt(6)
        style.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT
    for name in ("Title", "Subtitle", "List Bullet", "Header", "Footer"):
        _set_font(doc.styles[name], None)
    _set_font(doc.styles["Title"], 26, bold=True, color=BLUE)
    _set_font(doc.styles["Subtitle"], 14, color=BLUE)
    _set_font(doc.styles["Footer"], 8, color=GREY)
    table_text = _paragraph_style(doc, "Texte tableau", "Normal", 9)
    table_text.paragraph_format.space_after = Pt(2)  # type: ignore[attr-defined]
    table_text.paragraph_format.line_spacing = 1.0  # type: ignore[attr-defined]
    table_text.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT  # type: ignore[attr-defined]
    _paragraph_style(doc, "En-tête tableau", "Texte tableau", 9, bold=True)
    bullet = _paragraph_style(doc, "Liste tableau", "List Bullet", 9)
    bullet.paragraph_format.space_after = Pt(2)  # type: ignore[attr-defined]
    bullet.paragraph_format.alignment = WD_ALIGN_PARAGRAPH.LEFT  # type: ignore[attr-defined]
    _signature_styles(doc)


def _signature_styles(doc: DocumentObject) -> None:
    capacity = _paragraph_style(doc, "Signature qualité", "Normal", 10, bold=True)
    name = _paragraph_style(doc, "Signature nom", "Normal", 10)
    area = _paragraph_style(doc, "Signature zone", "Normal", 10)
    field = _paragraph_style(doc, "Signature champ", "Normal", 7, color=GREY)
    for style in (capacity, name, area, field):
        fmt = style.paragraph_format  # type: ignore[attr-defined]
        fmt.alignment = WD_ALIGN_PARAGRAPH.LEFT
        fmt.space_before = Pt(0)
        fmt.space_after = Pt(0)
        fmt.keep_together = True
    area_fmt = area.paragraph_format  # type: ignore[attr-defined]
    area_fmt.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    area_fmt.line_spacing = SIGNATURE_AREA
    field_fmt = field.paragraph_format  # type: ignore[attr-defined]
    field_fmt.space_after = Pt(14)
    field_ppr = field.element.get_or_add_pPr()  # type: ignore[attr-defined]
    field_ppr.append(OxmlElement("w:suppressAutoHyphens"))


# --- page layout ----------------------------------------------------------------------------

def setup_page(doc: DocumentObject) -> None:
    """A4 portrait, 2.5 cm side margins, 2 cm top and bottom."""
    section = doc.sections[0]
    section.page_width, section.page_height = Cm(21), Cm(29.7)
    section.left_margin = section.right_margin = Cm(2.5)
    section.top_margin, section.bottom_margin = Cm(2), Cm(2)
    section.header_distance = section.footer_distance = Cm(1)


def _field(paragraph: Paragraph, instruction: str) -> None:
    """Insert a Word field (PAGE, NUMPAGES) as begin / instruction / separate / end runs."""
    for kind, text in (("begin", None), (None, instruction), ("separate", None),
                       (None, "1"), ("end", None)):
        run = paragraph.add_run()
        if kind:
            char = OxmlElement("w:fldChar")
            char.set(qn("w:fldCharType"), kind)
            run._r.append(char)
        elif text == instruction:
            instr = OxmlElement("w:instrText")
            instr.set(qn("xml:space"), "preserve")
            instr.text = f" {instruction} "
            run._r.append(instr)
        else:
            run.text = text or ""


def setup_footer(doc: DocumentObject, first_line: str, title_page: bool) -> None:
    """Footer: a caption line and "Page X / Y" (fields); optionally none on the first page."""
    section = doc.sections[0]
    section.different_first_page_header_footer = title_page
    footer = section.footer
    caption = footer.paragraphs[0]
    caption.text = first_line
    caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
    pages = footer.add_paragraph(style="Footer")
    pages.alignment = WD_ALIGN_PARAGRAPH.CENTER
    pages.add_run("Page ")
    _field(pages, "PAGE")
    pages.add_run(" / ")
    _field(pages, "NUMPAGES")


def set_properties(doc: DocumentObject, title: str) -> None:
    """Fixed core properties so that regenerating gives the same metadata."""
    props = doc.core_properties
    props.title = title
    props.author = props.last_modified_by = "ctgdocs"
    props.created = props.modified = FIXED_DATE
    props.revision = 1
    props.language = "fr-FR"


# --- building blocks ------------------------------------------------------------------------

def para(doc: DocumentObject | _Cell, text: str = "", style: str | None = None,
         bold: bool = False) -> Paragraph:
    """A paragraph with one run (tags must stay in one run to survive editing)."""
    paragraph = doc.add_paragraph(style=style)
    if text:
        paragraph.add_run(text).bold = bold or None
    return paragraph


def heading(doc: DocumentObject, text: str, level: int, new_page: bool = False) -> Paragraph:
    """A "Titre 1/2/3" heading (the built-in Heading styles, shown translated in Word)."""
    paragraph = doc.add_heading(fr(text), level=level)
    paragraph.paragraph_format.page_break_before = new_page or None
    return paragraph


def bullets(doc: DocumentObject, items: list[str]) -> None:
    """Static bulleted paragraphs."""
    for item in items:
        para(doc, fr(item), "List Bullet")


def loop(doc: DocumentObject, header: str, body: list[tuple[str, str | None]],
         footer: str = "{%p endfor %}") -> None:
    """A paragraph loop: ``{%p for … %}`` paragraph, body paragraphs, ``{%p endfor %}``."""
    para(doc, header)
    for text, style in body:
        para(doc, text, style)
    para(doc, footer)


def _widths(table: Table, widths: list[float]) -> None:
    """Column widths in cm, in the grid (LibreOffice) and in every cell (Word)."""
    table.autofit = False
    for col, width in zip(table.columns, widths, strict=True):
        col.width = Cm(width)
        for cell in col.cells:
            cell.width = Cm(width)


def _shade(cell: _Cell, fill: str) -> None:
    shd = OxmlElement("w:shd")
    shd.set(qn("w:val"), "clear")
    shd.set(qn("w:color"), "auto")
    shd.set(qn("w:fill"), fill)
    cell._tc.get_or_add_tcPr().append(shd)


def _row_flag(row: _Row, tag: str) -> None:
    row._tr.get_or_add_trPr().append(OxmlElement(tag))


def _fill_cell(cell: _Cell, text: str, style: str) -> None:
    cell.paragraphs[0].style = cell.part.document.styles[style]
    if text:
        cell.paragraphs[0].add_run(text)


def data_table(doc: DocumentObject, headers: list[str], widths: list[float],
               loop_tag: str, cells: list[str]) -> Table:
    """A grid table: a repeated shaded header row, then one row per item of a ``{%tr``
    loop (the rows holding the ``{%tr for %}`` and ``{%tr endfor %}`` tags disappear)."""
    table = doc.add_table(rows=4, cols=len(headers))
    table.style = doc.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, widths)
    for cell, text in zip(table.rows[0].cells, headers, strict=True):
        _fill_cell(cell, fr(text), "En-tête tableau")
        _shade(cell, HEADER_FILL)
    _row_flag(table.rows[0], "w:tblHeader")
    _fill_cell(table.rows[1].cells[0], loop_tag, "Texte tableau")
    for cell, text in zip(table.rows[2].cells, cells, strict=True):
        _fill_cell(cell, text, "Texte tableau")
    _row_flag(table.rows[2], "w:cantSplit")
    _fill_cell(table.rows[3].cells[0], "{%tr endfor %}", "Texte tableau")
    para(doc, "")
    return table


def _no_borders(table: Table) -> None:
    borders = OxmlElement("w:tblBorders")
    for side in ("top", "left", "bottom", "right", "insideH", "insideV"):
        edge = OxmlElement(f"w:{side}")
        edge.set(qn("w:val"), "nil")
        borders.append(edge)
    table._tbl.tblPr.append(borders)


def _signature_cell(cell: _Cell, side: str, optional: bool) -> None:
    """One block: capacity, formal name, empty signature area, field caption."""
    def guarded(text: str) -> str:
        return f"{{% if row.{side} %}}{text}{{% endif %}}" if optional else text

    cell.paragraphs[0].style = cell.part.document.styles["Signature qualité"]
    cell.paragraphs[0].add_run(guarded(f"{{{{ row.{side}.capacity }}}}"))
    cell.add_paragraph(style="Signature nom").add_run(guarded(f"{{{{ row.{side}.name }}}}"))
    cell.add_paragraph(style="Signature zone")
    caption = f"Champ de signature : {{{{ row.{side}.id }}}}"
    cell.add_paragraph(style="Signature champ").add_run(guarded(caption))


def signature_table(doc: DocumentObject) -> Table:
    """The borderless 2-column table of signature blocks (2 per row, rows never split)."""
    table = doc.add_table(rows=3, cols=2)
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _no_borders(table)
    _widths(table, [8, 8])
    table.rows[0].cells[0].paragraphs[0].add_run("{%tr for row in signature_rows %}")
    block = table.rows[1]
    _row_flag(block, "w:cantSplit")
    block.height = Cm(4.2)
    block.height_rule = WD_ROW_HEIGHT_RULE.AT_LEAST
    _signature_cell(block.cells[0], "left", optional=False)
    _signature_cell(block.cells[1], "right", optional=True)
    table.rows[2].cells[0].paragraphs[0].add_run("{%tr endfor %}")
    return table


def page_break(doc: DocumentObject) -> None:
    """A paragraph holding a page break."""
    doc.add_paragraph().add_run().add_break(WD_BREAK.PAGE)


def new_document(title: str, footer: str, title_page: bool) -> DocumentObject:
    """An empty A4 document with the house styles, footer and properties."""
    doc = Document()
    setup_styles(doc)
    setup_page(doc)
    setup_footer(doc, footer, title_page)
    set_properties(doc, title)
    return doc


def save(doc: DocumentObject, path: Path) -> None:
    """Save the document, lean (see :func:`slim`), creating the folder if needed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    doc.save(buffer)
    path.write_bytes(slim(buffer.getvalue()))
    print(f"wrote {path}")


# --- lean packages --------------------------------------------------------------------------

_W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
_DROPPED = ("word/stylesWithEffects.xml", "docProps/thumbnail.jpeg")
"""Parts of python-docx's default document that nothing needs: Word 2010's duplicate of
the styles, and a thumbnail of an empty page."""
_STYLE_REFS = ("pStyle", "rStyle", "tblStyle", "numStyleLink", "styleLink")
_STYLE_LINKS = ("basedOn", "next", "link")


def _w(tag: str) -> str:
    return f"{{{_W}}}{tag}"


def _used_styles(parts: dict[str, bytes]) -> set[str]:
    used: set[str] = set()
    for name, data in parts.items():
        if name.startswith("word/") and name.endswith(".xml") and name != "word/styles.xml":
            root = etree.fromstring(data)
            for tag in _STYLE_REFS:
                used.update(e.get(_w("val")) for e in root.iter(_w(tag)))
    return used


def _prune_styles(styles_xml: bytes, used: set[str]) -> bytes:
    """Keep the styles in ``used``, the default ones, and what they are based on, link to
    or are followed by."""
    root = etree.fromstring(styles_xml)
    styles = {s.get(_w("styleId")): s for s in root.findall(_w("style"))}
    todo = [*used, *(i for i, s in styles.items() if s.get(_w("default")) == "1")]
    keep: set[str] = set()
    while todo:
        style_id = todo.pop()
        if style_id in keep or style_id not in styles:
            continue
        keep.add(style_id)
        for tag in _STYLE_LINKS:
            link = styles[style_id].find(_w(tag))
            if link is not None:
                todo.append(link.get(_w("val")))
    for style_id, style in styles.items():
        if style_id not in keep:
            root.remove(style)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", standalone=True)


def _drop_references(data: bytes) -> bytes:
    """Remove the content-type overrides and relationships of the dropped parts."""
    for part in _DROPPED:
        target = re.escape(part.rsplit("/", 1)[-1].encode())
        data = re.sub(rb"<(?:Override|Relationship)\b[^>]*" + target + rb"[^>]*/>", b"", data)
    return data


def slim(docx: bytes) -> bytes:
    """python-docx's default document carries 171 style definitions (350 KB) and a second
    copy of them; LibreOffice imports all of them for every rendered document, which made
    each conversion ~40 % slower. Keep only the styles the template uses."""
    with zipfile.ZipFile(io.BytesIO(docx)) as src:
        parts = {i.filename: src.read(i.filename) for i in src.infolist()
                 if i.filename not in _DROPPED}
    parts["word/styles.xml"] = _prune_styles(parts["word/styles.xml"], _used_styles(parts))
    for name in ("[Content_Types].xml", "_rels/.rels", "word/_rels/document.xml.rels"):
        parts[name] = _drop_references(parts[name])
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name, data in parts.items():
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE.timetuple()[:6])
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            dst.writestr(info, data)
    return out.getvalue()


# --- the convention -------------------------------------------------------------------------

DELIB = ("par délibération du {{ %(d)s.body }} n° {{ %(d)s.number }} "
         "du {{ %(d)s.date }}")


def title_page(doc: DocumentObject) -> None:
    """Title, territory, period and the three parties."""
    for _ in range(5):
        para(doc, "")
    for text, style in (("{{ title }}", "Title"), ("{{ territory }}", "Subtitle"),
                        ("Du 1er janvier {{ period.start }} au 31 décembre {{ period.end }}",
                         "Subtitle")):
        para(doc, text, style).alignment = WD_ALIGN_PARAGRAPH.CENTER
    for _ in range(4):
        para(doc, "")
    for text, bold in (("Convention conclue entre", False), ("la {{ caf.name }},", True),
                       ("la {{ epci.name }}", True),
                       ("et ses {{ communes|length }} communes membres", True)):
        paragraph = para(doc, text, bold=bold)
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
        paragraph.runs[0].font.size = Pt(13)
    page_break(doc)


def parties(doc: DocumentObject) -> None:
    """"Entre les soussignés": Caf, EPCI, each commune, partners."""
    heading(doc, "Entre les soussignés", 1)
    para(doc, fr("La {{ caf.name }}, dont le siège est situé {{ caf.address }}, représentée "
                 "par {{ caf.president.name }}, {{ caf.president.title }}, et par "
                 "{{ caf.director.name }}, {{ caf.director.title }}, {{ caf.authorised }}"
                 "{% if caf.deliberation %} " + DELIB % {"d": "caf.deliberation"}
                 + "{% endif %},"))
    para(doc, fr("ci-après dénommée « la {{ caf.short_name }} »,"))
    para(doc, "")
    para(doc, fr("La {{ epci.name }}, dont le siège est situé {{ epci.address }}, identifiée "
                 "sous le numéro SIREN {{ epci.siren }}, représentée par "
                 "{{ epci.president.name }}, {{ epci.president.title }}, dûment "
                 "autorisé{{ epci.president.e }} " + DELIB % {"d": "epci.deliberation"} + ","))
    para(doc, fr("ci-après dénommée « la {{ epci.short_name }} »,"))
    para(doc, "")
    para(doc, fr("Et les communes membres de la {{ epci.short_name }} :"))
    loop(doc, "{%p for c in communes %}", [(
        fr("la commune {{ c.de_name }}, représentée par {{ c.mayor.name }}, "
           "{{ c.mayor.title }}, dûment autorisé{{ c.mayor.e }} " + DELIB % {"d": "c.deliberation"}
           + "{% if loop.last %}.{% else %} ;{% endif %}"), "List Bullet")])
    para(doc, fr("ci-après dénommées « les communes »,"))
    para(doc, "{%p if partners %}")
    para(doc, "")
    para(doc, fr("En présence et avec la signature des partenaires suivants :"))
    loop(doc, "{%p for p in partners %}", [(
        fr("{{ p.name }}, en la personne de {{ p.representative.name }}, "
           "{{ p.representative.title }}{% if p.deliberation %}, dûment "
           "autorisé{{ p.representative.e }} " + DELIB % {"d": "p.deliberation"}
           + "{% endif %}{% if loop.last %}.{% else %} ;{% endif %}"), "List Bullet")])
    para(doc, "{%p endif %}")
    para(doc, "")
    para(doc, fr("ensemble dénommées « les parties »."))


def preamble(doc: DocumentObject) -> None:
    """Legal references and the purpose of a CTG."""
    heading(doc, "Préambule", 1, new_page=True)
    bullets(doc, [
        "Vu le Code de la sécurité sociale, notamment ses articles L. 223-1 et L. 263-1 ;",
        "Vu le Code général des collectivités territoriales ;",
        "Vu la convention d'objectifs et de gestion en vigueur, conclue entre l'État et la "
        "Caisse nationale des allocations familiales (Cnaf) ;",
        "Vu les délibérations des assemblées des parties autorisant la signature de la "
        "présente convention.",
    ])
    for text in (
        "La convention territoriale globale (CTG) est une convention de partenariat qui vise à "
        "renforcer l'efficacité, la cohérence et la coordination des actions en direction des "
        "habitants d'un territoire. Elle prend la forme d'un accord-cadre politique conclu "
        "entre la {{ caf.short_name }}, la {{ epci.short_name }} et ses communes membres, pour "
        "une durée pluriannuelle.",
        "Elle s'appuie sur un diagnostic partagé, qui permet de définir les priorités et les "
        "moyens dans le cadre d'un plan d'action adapté. Elle mobilise l'ensemble des "
        "ressources du territoire, renforce les coopérations et contribue ainsi à une plus "
        "grande efficacité et complémentarité d'interventions.",
        "La CTG se substitue progressivement aux contrats enfance jeunesse (CEJ) arrivés à "
        "échéance ; les financements correspondants sont désormais versés sous la forme de "
        "bonus « territoire CTG » aux équipements et services du territoire.",
        "Le territoire de la {{ epci.name }} regroupe {{ communes|length }} communes et "
        "{{ population }} habitants. Les parties ont souhaité s'engager ensemble dans une "
        "démarche de projet social de territoire au bénéfice des familles.",
    ):
        para(doc, fr(text))
    para(doc, "Il est convenu ce qui suit.", bold=True)


def article_objet(doc: DocumentObject) -> None:
    """Article 1."""
    heading(doc, "Article 1 – Objet de la convention", 1)
    para(doc, fr("La présente convention territoriale globale a pour objet de définir le projet "
                 "stratégique global du territoire de la {{ epci.name }} ainsi que ses modalités "
                 "de mise en œuvre, pour la période du 1er janvier {{ period.start }} au "
                 "31 décembre {{ period.end }}. Elle vise à :"))
    bullets(doc, [
        "identifier les besoins prioritaires sur le territoire, sur la base du diagnostic "
        "partagé ;",
        "définir les champs d'intervention à privilégier au regard de l'action des parties ;",
        "pérenniser et optimiser l'offre de services existante, par une mobilisation des "
        "cofinancements ;",
        "développer des actions nouvelles, répondant aux besoins non couverts ;",
        "organiser la gouvernance, le suivi et l'évaluation du projet.",
    ])


def article_champs(doc: DocumentObject) -> None:
    """Article 2."""
    heading(doc, "Article 2 – Champs d'intervention", 1)
    para(doc, fr("Au regard du diagnostic partagé, les parties conviennent d'agir "
                 "prioritairement dans les champs d'intervention suivants :"))
    loop(doc, "{%p for f in fields %}", [("{{ f }}{% if loop.last %}.{% else %} ;{% endif %}",
                                          "List Bullet")])
    para(doc, fr("Ces champs structurent le plan d'action défini à l'article 4."))


def article_diagnostic(doc: DocumentObject) -> None:
    """Article 3: summary, key figures table, findings by field."""
    heading(doc, "Article 3 – Diagnostic partagé", 1, new_page=True)
    para(doc, "{{ diagnostic.summary }}")
    heading(doc, "3.1 – Chiffres clés du territoire", 2)
    data_table(doc, ["Indicateur", "Valeur", "Source"], [8.5, 3, 4.5],
               "{%tr for k in diagnostic.key_figures %}",
               ["{{ k.label }}", "{{ k.value }}", "{{ k.source }}"])
    heading(doc, "3.2 – Constats par champ d'intervention", 2)
    para(doc, "{%p for g in diagnostic.findings %}")
    heading(doc, "{{ g.field }}", 3)
    loop(doc, "{%p for t in g.texts %}", [("{{ t }}", "List Bullet")])
    para(doc, "{%p endfor %}")


def article_plan(doc: DocumentObject) -> None:
    """Article 4: one table per axis, then one sheet per action."""
    heading(doc, "Article 4 – Plan d'action", 1, new_page=True)
    para(doc, fr("Le plan d'action traduit les priorités du diagnostic en actions concrètes. "
                 "Il est organisé en {{ axes|length }} axes stratégiques. Pour chaque action, "
                 "le tableau ci-dessous précise son pilote, les partenaires associés, les "
                 "communes concernées et les années de mise en œuvre."))
    para(doc, "{%p for axis in axes %}")
    heading(doc, "Axe {{ axis.number }} – {{ axis.title }}", 2)
    data_table(doc, ["Code", "Intitulé", "Champ", "Pilote", "Partenaires", "Communes",
                     "Années"], [1.3, 3.7, 2.1, 1.7, 2.5, 2.7, 2.0],
               "{%tr for a in axis.actions %}",
               ["{{ a.code }}", "{{ a.title }}", "{{ a.field }}", "{{ a.lead }}",
                "{{ a.partners }}", "{{ a.communes }}", "{{ a.years }}"])
    para(doc, "{%p endfor %}")
    heading(doc, "Fiches actions", 2)
    para(doc, fr("Chaque action du plan fait l'objet d'une fiche qui précise ses objectifs et "
                 "ses indicateurs de suivi."))
    para(doc, "{%p for axis in axes %}")
    para(doc, "{%p for a in axis.actions %}")
    heading(doc, "Fiche action {{ a.code }} – {{ a.title }}", 3, new_page=True)
    action_sheet(doc)
    para(doc, "{%p endfor %}")
    para(doc, "{%p endfor %}")


def action_sheet(doc: DocumentObject) -> None:
    """One action as a two-column sheet: label, value (objectives, indicators as lists)."""
    rows = [("Axe", "{{ axis.number }} – {{ axis.title }}"), ("Champ", "{{ a.field }}"),
            ("Pilote", "{{ a.lead }}"), ("Partenaires", "{{ a.partners }}"),
            ("Communes concernées", "{{ a.communes }}"), ("Années", "{{ a.years }}"),
            ("Objectifs", None), ("Indicateurs de suivi", None)]
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = doc.styles["Table Grid"]
    for row, (label, value) in zip(table.rows, rows, strict=True):
        _fill_cell(row.cells[0], label, "En-tête tableau")
        _shade(row.cells[0], HEADER_FILL)
        _row_flag(row, "w:cantSplit")
        if value is not None:
            _fill_cell(row.cells[1], value, "Texte tableau")
    _widths(table, [4.5, 11.5])
    _cell_list(table.rows[6].cells[1], "o", "a.objectives")
    _cell_list(table.rows[7].cells[1], "i", "a.indicators")
    para(doc, "")


def _cell_list(cell: _Cell, var: str, items: str) -> None:
    """A bulleted paragraph loop inside a cell, with a last paragraph that keeps the cell
    valid when the list is empty."""
    _fill_cell(cell, f"{{%p for {var} in {items} %}}", "Texte tableau")
    cell.add_paragraph(style="Liste tableau").add_run(f"{{{{ {var} }}}}")
    cell.add_paragraph(style="Texte tableau").add_run("{%p endfor %}")
    cell.add_paragraph(style="Texte tableau").add_run(
        f"{{% if not {items} %}}Non renseigné{{% endif %}}")


def article_engagements(doc: DocumentObject) -> None:
    """Article 5: commitments of each party."""
    heading(doc, "Article 5 – Engagements des parties", 1, new_page=True)
    heading(doc, "5.1 – Engagements de la {{ caf.short_name }}", 2)
    bullets(doc, [
        "mobiliser ses financements de droit commun (prestations de service, bonus "
        "« territoire CTG ») et, le cas échéant, ses fonds locaux, dans la limite de ses "
        "disponibilités budgétaires ;",
        "mettre à disposition des parties les données statistiques utiles au diagnostic et à "
        "l'évaluation ;",
        "apporter son expertise et son appui technique par l'intermédiaire d'un chargé de "
        "coopération territoriale ;",
        "participer aux instances de pilotage et de suivi de la convention.",
    ])
    heading(doc, "5.2 – Engagements de la {{ epci.short_name }}", 2)
    bullets(doc, [
        "assurer la coordination du projet à l'échelle intercommunale et désigner un "
        "coordinateur CTG ;",
        "mettre en œuvre les actions dont elle assure le pilotage, dans le cadre de ses "
        "compétences ;",
        "organiser, avec la Caf, les comités de pilotage et les comités techniques ;",
        "informer la Caf de tout projet de création, de modification ou de fermeture "
        "d'équipement relevant des champs de la convention.",
    ])
    heading(doc, "5.3 – Engagements des communes", 2)
    bullets(doc, [
        "mettre en œuvre les actions relevant de leurs compétences, décrites dans leur fiche "
        "communale annexée à la présente convention ;",
        "contribuer au diagnostic, au suivi et à l'évaluation en transmettant les données "
        "nécessaires ;",
        "participer aux instances de gouvernance de la convention ;",
        "relayer auprès des familles l'information sur les services et les droits.",
    ])
    para(doc, "{%p if partners %}")
    heading(doc, "5.4 – Engagements des partenaires", 2)
    para(doc, fr("Les partenaires signataires s'engagent à contribuer, dans la limite de leurs "
                 "compétences et de leurs moyens, à la mise en œuvre des actions auxquelles ils "
                 "sont associés et à participer aux instances de gouvernance."))
    para(doc, "{%p endif %}")


def article_gouvernance(doc: DocumentObject) -> None:
    """Article 6: steering and technical committees."""
    heading(doc, "Article 6 – Gouvernance", 1)
    para(doc, fr("La mise en œuvre de la convention est suivie par deux instances."))
    for key, name, role in (
        ("steering", "6.1 – Comité de pilotage",
         "Le comité de pilotage définit les orientations, valide le plan d'action et ses "
         "évolutions, et arrête le bilan annuel. Il est composé de :"),
        ("technical", "6.2 – Comité technique",
         "Le comité technique prépare les travaux du comité de pilotage, assure le suivi "
         "opérationnel des actions et propose les ajustements nécessaires. Il est composé "
         "de :"),
    ):
        heading(doc, name, 2)
        para(doc, fr(role))
        loop(doc, f"{{%p for m in governance.{key}.members %}}", [("{{ m }}", "List Bullet")])
        para(doc, fr(f"Il se réunit {{{{ governance.{key}.frequency }}}}."))


def article_suivi(doc: DocumentObject) -> None:
    """Article 7: monitoring and evaluation, indicator table."""
    heading(doc, "Article 7 – Suivi et évaluation", 1, new_page=True)
    para(doc, fr("Les parties conviennent d'évaluer chaque année l'avancement du plan d'action "
                 "et, au terme de la convention, ses effets sur le territoire. L'évaluation "
                 "s'appuie sur les indicateurs suivants :"))
    data_table(doc, ["Code", "Action", "Indicateurs"], [1.5, 6.5, 8],
               "{%tr for a in indicator_rows %}",
               ["{{ a.code }}", "{{ a.title }}", "{{ a.indicators }}"])
    para(doc, fr("Un bilan annuel est présenté au comité de pilotage. Une évaluation finale est "
                 "conduite au cours de la dernière année, en vue du renouvellement éventuel "
                 "de la convention."))


def articles_end(doc: DocumentObject) -> None:
    """Articles 8 to 13: communication, other contracts, term, amendments, end, disputes."""
    heading(doc, "Article 8 – Communication", 1)
    para(doc, fr("Les parties s'engagent à mentionner leur partenariat dans toute action de "
                 "communication relative aux actions de la convention, en faisant figurer le "
                 "logotype de chacune d'elles sur les supports produits."))
    heading(doc, "Article 9 – Articulation avec les autres contrats", 1)
    para(doc, "{%p if contracts %}")
    para(doc, fr("La présente convention s'articule avec les démarches contractuelles suivantes :"))
    loop(doc, "{%p for k in contracts %}", [(fr("{{ k.name }} : {{ k.description }}"),
                                             "List Bullet")])
    para(doc, "{%p else %}")
    para(doc, fr("La présente convention tient compte des autres démarches contractuelles "
                 "conduites sur le territoire, dans un souci de cohérence."))
    para(doc, "{%p endif %}")
    heading(doc, "Article 10 – Durée", 1)
    para(doc, fr("La présente convention est conclue pour la période du 1er janvier "
                 "{{ period.start }} au 31 décembre {{ period.end }}. Elle ne peut être "
                 "renouvelée par tacite reconduction."))
    heading(doc, "Article 11 – Révision", 1)
    para(doc, fr("Toute modification des conditions ou des modalités d'exécution de la "
                 "présente convention, définie d'un commun accord entre les parties, fait "
                 "l'objet d'un avenant signé par l'ensemble des parties."))
    heading(doc, "Article 12 – Résiliation", 1)
    para(doc, fr("En cas de non-respect par l'une des parties des engagements prévus par la "
                 "présente convention, celle-ci peut être résiliée de plein droit par l'une "
                 "des autres parties, à l'expiration d'un délai de trois mois suivant l'envoi "
                 "d'une lettre recommandée avec accusé de réception valant mise en demeure "
                 "restée sans effet."))
    heading(doc, "Article 13 – Litiges", 1)
    para(doc, fr("En cas de différend portant sur l'interprétation ou l'exécution de la "
                 "présente convention, les parties s'engagent à rechercher une solution "
                 "amiable. À défaut, le litige est porté devant le tribunal administratif "
                 "de Montpellier."))


def annex_list(doc: DocumentObject) -> None:
    """Article 14: list of annexes, one per commune."""
    heading(doc, "Article 14 – Annexes", 1, new_page=True)
    para(doc, fr("Les annexes suivantes font partie intégrante de la présente convention :"))
    data_table(doc, ["Annexe", "Commune", "Code INSEE", "Population", "Maire"],
               [1.8, 4.4, 2.3, 2.5, 5], "{%tr for c in communes %}",
               ["n° {{ c.number }}", "{{ c.name }}", "{{ c.insee }}", "{{ c.population }}",
                "{{ c.mayor.name }}"])
    para(doc, fr("Population totale du territoire : {{ population }} habitants."))


def signature_pages(doc: DocumentObject) -> None:
    """The signature pages: new page, "Signatures", place and date, the blocks."""
    heading(doc, "Signatures", 1, new_page=True)
    para(doc, "Fait à {{ signing.place }}, le {{ signing.date }}, en un exemplaire "
              "électronique.")
    para(doc, "")
    signature_table(doc)


def build_convention() -> DocumentObject:
    """The whole convention template."""
    doc = new_document("Convention territoriale globale",
                       "{{ title }} – {{ territory }}", title_page=True)
    for part in (title_page, parties, preamble, article_objet, article_champs,
                 article_diagnostic, article_plan, article_engagements, article_gouvernance,
                 article_suivi, articles_end, annex_list, signature_pages):
        part(doc)
    return doc


# --- the annex ------------------------------------------------------------------------------

def annex_identity(doc: DocumentObject) -> None:
    """Title and identity table of the commune."""
    para(doc, "Annexe n° {{ annex.number }}", "Title").alignment = WD_ALIGN_PARAGRAPH.CENTER
    para(doc, fr("à la convention territoriale globale {{ period.start }}-{{ period.end }} de "
                 "la {{ epci.name }}"), "Subtitle").alignment = WD_ALIGN_PARAGRAPH.CENTER
    heading(doc, "Fiche communale : {{ commune.name }}", 1)
    heading(doc, "1 – Identité de la commune", 2)
    table = doc.add_table(rows=7, cols=2)
    table.style = doc.styles["Table Grid"]
    rows = [("Rubrique", "Information"), ("Commune", "{{ commune.name }}"),
            ("Code INSEE", "{{ commune.insee }}"),
            ("Population municipale", "{{ commune.population }} habitants"),
            ("Maire", "{{ commune.mayor.name }}"),
            ("Délibération autorisant la signature",
             "Délibération du {{ commune.deliberation.body }} n° "
             "{{ commune.deliberation.number }} du {{ commune.deliberation.date }}"),
            ("Compétences conservées", "{{ commune.competences_kept }}")]
    for row, (label, value) in zip(table.rows, rows, strict=True):
        style = "En-tête tableau" if row is table.rows[0] else "Texte tableau"
        _fill_cell(row.cells[0], fr(label), "En-tête tableau")
        _fill_cell(row.cells[1], value, style)
        _shade(row.cells[0], HEADER_FILL)
    _row_flag(table.rows[0], "w:tblHeader")
    _widths(table, [5.5, 10.5])
    para(doc, "")


def annex_diagnostic(doc: DocumentObject) -> None:
    """Figures and analysis of the commune."""
    heading(doc, "2 – Diagnostic communal", 2)
    data_table(doc, ["Indicateur", "Valeur", "Source"], [8.5, 3, 4.5],
               "{%tr for k in commune.diagnostic.key_figures %}",
               ["{{ k.label }}", "{{ k.value }}", "{{ k.source }}"])
    para(doc, "{{ commune.diagnostic.text }}")


def annex_actions(doc: DocumentObject) -> None:
    """The commune's own actions and the plan actions that concern it."""
    heading(doc, "3 – Actions", 2)
    heading(doc, "3.1 – Actions portées par la commune", 3)
    para(doc, "{%p if commune.actions %}")
    data_table(doc, ["Action", "Champ", "Description", "Années"], [4, 2.5, 7, 2.5],
               "{%tr for a in commune.actions %}",
               ["{{ a.title }}", "{{ a.field }}", "{{ a.description }}", "{{ a.years }}"])
    para(doc, "{%p else %}")
    para(doc, fr("La commune ne porte pas d'action propre au titre de la présente convention."))
    para(doc, "{%p endif %}")
    heading(doc, "3.2 – Actions du plan d'action territorial concernant la commune", 3)
    data_table(doc, ["Code", "Intitulé", "Champ", "Pilote", "Années"], [1.3, 6.2, 2.8, 3.2, 2.5],
               "{%tr for a in plan_actions %}",
               ["{{ a.code }}", "{{ a.title }}", "{{ a.field }}", "{{ a.lead }}",
                "{{ a.years }}"])


def annex_services(doc: DocumentObject) -> None:
    """Services, commitments and the link to the main convention."""
    heading(doc, "4 – Services et équipements pour les familles", 2)
    para(doc, "{%p if commune.services %}")
    loop(doc, "{%p for s in commune.services %}", [("{{ s }}", "List Bullet")])
    para(doc, "{%p else %}")
    para(doc, fr("Aucun service ou équipement n'est recensé sur la commune."))
    para(doc, "{%p endif %}")
    heading(doc, "5 – Engagements de la commune", 2)
    para(doc, fr("Outre les engagements communs prévus à l'article 5.3 de la convention, la "
                 "commune {{ commune.de_name }} s'engage à :"))
    para(doc, "{%p if commune.commitments %}")
    loop(doc, "{%p for e in commune.commitments %}", [("{{ e }}", "List Bullet")])
    para(doc, "{%p else %}")
    para(doc, fr("mettre en œuvre les actions du plan d'action qui la concernent.",),
         "List Bullet")
    para(doc, "{%p endif %}")
    heading(doc, "6 – Portée de la présente annexe", 2)
    para(doc, fr("La présente fiche constitue l'annexe n° {{ annex.number }} (sur "
                 "{{ annex.count }}) de la convention intitulée « {{ title }} », conclue "
                 "entre la {{ caf.name }}, la "
                 "{{ epci.name }} et ses communes membres. Elle en fait partie intégrante et "
                 "est approuvée par la signature de la convention par "
                 "{{ commune.mayor.name }}, {{ commune.mayor.title }}."))


def build_annex() -> DocumentObject:
    """The per-commune annex template."""
    doc = new_document("Annexe communale à la convention territoriale globale",
                       "Annexe n° {{ annex.number }} – Commune {{ commune.de_name }} – "
                       "{{ title }}", title_page=False)
    for part in (annex_identity, annex_diagnostic, annex_actions, annex_services):
        part(doc)
    return doc

# --- the signature report of the archive ------------------------------------------------

def kv_table(doc: DocumentObject | _Cell, rows: list[tuple[str, str]],
             widths: tuple[float, float] = (4.6, 11.4)) -> Table:
    """A two-column grid table of labels (shaded) and values, rows never split."""
    table = doc.add_table(rows=len(rows), cols=2)
    table.style = doc.part.document.styles["Table Grid"]  # type: ignore[union-attr]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    _widths(table, list(widths))
    for index, (row, (label, value)) in enumerate(zip(table.rows, rows, strict=True)):
        _fill_cell(row.cells[0], fr(label), "En-tête tableau")
        _shade(row.cells[0], HEADER_FILL)
        _fill_cell(row.cells[1], value, "Texte tableau")
        _row_flag(row, "w:cantSplit")
        if index < len(rows) - 1:  # the table stays on one page
            for cell in row.cells:
                cell.paragraphs[0].paragraph_format.keep_with_next = True
    return table


def report_summary(doc: DocumentObject) -> None:
    """Title block, the archived document and the summary."""
    for text, style in (("Rapport de vérification des signatures", "Title"),
                        ("{{ title }}", "Subtitle")):
        para(doc, text, style).alignment = WD_ALIGN_PARAGRAPH.LEFT
    para(doc, fr("Territoire : {{ territory }} – période {{ period }} – référence "
                 "{{ reference }}"))
    heading(doc, "Document archivé", 1)
    kv_table(doc, [("Fichier", "{{ document.file }}"),
                   ("Taille", "{{ document.size }}, {{ document.pages }} pages"),
                   ("Empreinte SHA-256", "{{ document.sha256 }}"),
                   ("Empreinte SHA-512", "{{ document.sha512 }}"),
                   ("Horodatage d'archive", "{{ archived_at }}, par {{ tsa }}"),
                   ("À renouveler avant le", "{{ renewal_due }}"),
                   ("Ancres de confiance", "{{ anchors }}")])
    para(doc, "")
    heading(doc, "Résumé", 1)
    for item in ("Signatures présentes : {{ count }} ; valides : {{ valid }}.",
                 "Tous les signataires attendus ont signé : {{ complete }}.",
                 "{{ qualification_note }}"):
        para(doc, fr(item), "List Bullet").alignment = WD_ALIGN_PARAGRAPH.LEFT
    para(doc, fr("Chaque signature a été validée selon l'algorithme de validation à long "
                 "terme (ETSI EN 319 102-1), à partir des seules données de validation "
                 "intégrées au document (certificats, réponses OCSP, listes de révocation) "
                 "et de son horodatage d'archive, avec pour seules ancres de confiance "
                 "celles indiquées ci-dessus. Le rapport technique complet est le fichier "
                 "rapport-validation.xml (ETSI TS 119 102-2) du même paquet."))


def report_signatures(doc: DocumentObject) -> None:
    """One heading and one table per signature (a paragraph loop)."""
    heading(doc, "Signatures", 1, new_page=True)
    para(doc, "{%p for s in signatures %}")
    heading(doc, "{{ s.number }}. {{ s.capacity }}", 2).paragraph_format.keep_with_next = True
    kv_table(doc, [("Signataire", "{{ s.name }} ({{ s.organisation }})"),
                   ("Délibération ou motif", "{{ s.deliberation }}"),
                   ("Titulaire du certificat", "{{ s.holder }}"),
                   ("Émetteur du certificat", "{{ s.issuer }}"),
                   ("Empreinte SHA-256 du certificat", "{{ s.fingerprint }}"),
                   ("Heure déclarée par le signataire", "{{ s.signing_time }}"),
                   ("Horodatage de la signature", "{{ s.timestamp_time }}, par "
                    "{{ s.timestamp_tsa }}"),
                   ("Niveau PAdES", "{{ s.level }}"),
                   ("Validité", "{{ s.trust }}"),
                   ("Révocation", "{{ s.revocation }}"),
                   ("Qualification (eIDAS)", "{{ s.qualification }}"),
                   ("Champ de signature", "{{ s.field }}")])
    para(doc, "")
    para(doc, "{%p endfor %}")


def report_journal(doc: DocumentObject) -> None:
    """The circuit's journal, when there is one, and how to check again."""
    para(doc, "{%p if journal %}")
    heading(doc, "Journal du circuit de signature", 1)
    para(doc, fr("Le journal journal.jsonl enchaîne {{ journal.events }} événements, "
                 "chacun portant l'empreinte du précédent ; {{ journal.tokens }} jetons "
                 "d'horodatage (dossier journal) en attestent la tête. Empreinte SHA-256 du "
                 "dernier événement :"))
    para(doc, "{{ journal.head }}", "Texte tableau")
    para(doc, "{%p endif %}")
    heading(doc, "Vérifier de nouveau", 1)
    para(doc, fr("Le paquet se vérifie sans réseau, par exemple : ctg archive verify "
                 "DOSSIER --trust RACINE.pem. Le manifeste (manifest.json) donne la taille "
                 "et les empreintes SHA-256 et SHA-512 de chaque fichier ; son jeton "
                 "d'horodatage (manifest.tsr) en atteste la date."))


def build_report() -> DocumentObject:
    """The French report of the signatures of an archived convention."""
    doc = new_document("Rapport de vérification des signatures",
                       "Rapport des signatures – {{ title }}", title_page=False)
    for part in (report_summary, report_signatures, report_journal):
        part(doc)
    return doc


def main(argv: list[str]) -> int:
    """Write the three templates into ``argv[0]`` (default: the templates folder)."""
    out = Path(argv[0]) if argv else Path(__file__).resolve().parent.parent
    save(build_convention(), out / "convention.docx")
    save(build_annex(), out / "annexe-commune.docx")
    save(build_report(), out / "rapport-signatures.docx")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
