"""The README is the user's manual: its exit-code table is ``ExitCode``, and every
environment variable the code reads is in its table."""

from __future__ import annotations

import re
from pathlib import Path

from ctgdocs.exceptions import ExitCode

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    start = README.index(f"## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start:end if end != -1 else None]


def test_exit_code_table_is_exit_code() -> None:
    rows = re.findall(r"^\| (\d+) \|", _section("Exit codes"), flags=re.M)
    assert sorted(int(r) for r in rows) == sorted(int(c) for c in ExitCode)


def test_every_environment_variable_read_is_documented() -> None:
    table = _section("Environment variables")
    read = set()
    for source in [*ROOT.joinpath("ctgdocs").rglob("*.py"),
                   *ROOT.joinpath("signers").rglob("*.py")]:
        text = source.read_text(encoding="utf-8")
        read |= set(re.findall(r"[\"'`]((?:CTGDOCS|SIGNERS)_[A-Z_]+)[\"'`=]", text))
    assert read, "the scan found no variable at all"
    missing = sorted(v for v in read if v not in table)
    assert not missing, f"not in the README's environment table: {missing}"
