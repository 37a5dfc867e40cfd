"""The report template: written by templates/src/make_templates.py (which leaves the
other two templates byte-identical), every tag declared, French dates and labels."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

from ctgdocs.archive.report import REPORT_TEMPLATE, french_time, qualification_label, sample_context
from ctgdocs.paths import TEMPLATES_DIR
from ctgdocs.render import render_bytes
from ctgdocs.templates_check import check_template

ROOT = Path(__file__).resolve().parent.parent


def test_make_templates_writes_the_three_templates_as_committed(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(ROOT / "templates" / "src" / "make_templates.py"),
                    str(tmp_path)], check=True, capture_output=True)
    for name in ("convention.docx", "annexe-commune.docx", REPORT_TEMPLATE):
        assert (tmp_path / name).read_bytes() == (TEMPLATES_DIR / name).read_bytes(), name


def test_report_template_uses_only_declared_variables_and_renders() -> None:
    template = TEMPLATES_DIR / REPORT_TEMPLATE
    assert check_template(template, sample_context()) == []
    assert render_bytes(template, sample_context())[:2] == b"PK"


def test_french_time_is_in_paris_time() -> None:
    winter = dt.datetime(2023, 2, 6, 16, 0, tzinfo=dt.UTC)
    summer = dt.datetime(2023, 7, 1, 6, 5, tzinfo=dt.UTC)
    assert french_time(winter) == "6 février 2023 à 17 h 00"
    assert french_time(summer) == "1er juillet 2023 à 8 h 05"
    assert french_time(None) == "—"


def test_qualification_labels_are_french() -> None:
    assert qualification_label("QESig") == "signature électronique qualifiée"
    assert qualification_label("AdESig-QC") == (
        "signature électronique avancée reposant sur un certificat qualifié")
    assert qualification_label("AdESig") == "signature électronique avancée"
    assert qualification_label("not assessed") == "qualification non évaluée"
